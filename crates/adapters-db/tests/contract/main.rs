//! The contracts of `UserRepository`, `SessionRepository`, `ApiKeyRepository`,
//! `LoginFailureRepository` and `AuditRepository`, once, run against SQLite (a temporary file)
//! and Postgres (a fresh database per test). One module per subject, each
//! listing its tests in `contract!`; this file holds the databases and the
//! fixtures the modules share.
//!
//! Postgres tests skip with a notice unless `ZENTRA_TEST_POSTGRES_URL` is
//! set; with `ZENTRA_REQUIRE_POSTGRES=1` a missing server fails them.

use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use adapters_db::schema;
use adapters_db::test_support::{TestPostgres, fresh_sqlite};
use adapters_db::{DatabaseUrl, DbPool, DieselSessionRepository, DieselUserRepository, connect};
use diesel::prelude::*;
use domain::{
    Action, Attempt, AttemptLimit, DetailsUpdate, Email, FullName, NewEvent, NewSession, NewUser,
    Origin, PasswordHash, Phone, Rotation, RotationOutcome, Scopes, SessionRepository, User,
    UserDetails, UserRepository, Username,
};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A database for one test; dropping it removes the database.
struct TestDb {
    url: DatabaseUrl,
    _keep: Keep,
}

enum Keep {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] TestPostgres),
}

impl TestDb {
    fn sqlite() -> Self {
        let (dir, url) = fresh_sqlite();
        Self {
            url: DatabaseUrl::parse(&url).unwrap(),
            _keep: Keep::Sqlite(dir),
        }
    }

    fn postgres(test: &str) -> Option<Self> {
        let Some(db) = TestPostgres::from_env() else {
            eprintln!("skipping postgres::{test}: ZENTRA_TEST_POSTGRES_URL is not set");
            return None;
        };
        Some(Self {
            url: DatabaseUrl::parse(&db.url).unwrap(),
            _keep: Keep::Postgres(db),
        })
    }

    fn pool(&self, size: u32) -> DbPool {
        connect(&self.url, size).unwrap()
    }

    fn repo(&self, size: u32) -> (DieselUserRepository, DbPool) {
        let pool = self.pool(size);
        (DieselUserRepository::new(pool.clone()), pool)
    }

    fn sessions(&self, size: u32) -> Sessions {
        let pool = self.pool(size);
        Sessions {
            users: DieselUserRepository::new(pool.clone()),
            sessions: DieselSessionRepository::new(pool.clone()),
            pool,
        }
    }
}

/// The user and session repositories of one test, on one pool.
struct Sessions {
    users: DieselUserRepository,
    sessions: DieselSessionRepository,
    pool: DbPool,
}

impl Sessions {
    fn user(&self, name: &str) -> User {
        active_user(&self.users, name)
    }

    /// An active user whose stored hash is `hash`, at credential version 0.
    fn user_with_hash(&self, name: &str, hash: &str) -> User {
        create(&self.users, &new_user(name, hash, true))
    }

    /// Whether the password change from credential `version` went through.
    fn change_password(&self, user_id: i64, version: i64, hash: &str) -> bool {
        self.users
            .change_password(
                user_id,
                version,
                &PasswordHash::new(hash),
                &event(Action::PasswordChanged),
            )
            .unwrap()
    }

    /// The stored hash and credential version of `name`.
    fn credential(&self, name: &str) -> (String, i64) {
        let user = stored(&self.users, name);
        (
            user.password_hash.as_ref().to_owned(),
            user.credential_version,
        )
    }

    /// Stores a session as `session` builds it; false if it was refused.
    fn start(&self, family: &str, user_id: i64, token: &str, expires_at: u64) -> bool {
        self.sessions
            .create(
                &session(family, user_id, token, expires_at),
                &event(Action::LoginSucceeded),
            )
            .unwrap()
    }

    /// Whether `current` rotates to `next`, as `rotation` builds it.
    fn rotates(&self, user_id: i64, family: &str, current: &str, next: &str, now: u64) -> bool {
        self.sessions
            .rotate(
                &rotation(user_id, family, current, next, now),
                &event(Action::TokenRefreshed),
            )
            .unwrap()
            != RotationOutcome::Refused
    }

    /// Revokes `family` as `user_id`'s logout; whether it revoked anything.
    fn revoke(&self, family: &str, user_id: i64) -> bool {
        self.sessions
            .revoke_family(family, user_id, &event(Action::SessionLogout))
            .unwrap()
    }

    fn revoke_all(&self, user_id: i64) {
        self.sessions
            .revoke_all_for_user(user_id, &event(Action::SessionLogoutAll))
            .unwrap();
    }
}

/// Instantiates every contract test of a module once per backend, as
/// `<module>::sqlite::<test>` and `<module>::postgres::<test>`.
macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $test() {
                    super::$test(&$crate::TestDb::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $test() {
                    if let Some(db) = $crate::TestDb::postgres(stringify!($test)) {
                        super::$test(&db);
                    }
                }
            )*
        }
    };
}

mod admin;
mod api_keys;
mod attempts;
mod audit;
mod credentials;
mod details;
mod migrations;
mod reuse_grace;
mod sessions;
mod users;

/// A new user as registration makes one: no details, granted `me`,
/// created at `NOW`.
fn new_user(name: &str, hash: &str, is_active: bool) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        password_hash: PasswordHash::new(hash),
        is_active,
        is_superuser: false,
        scopes: scopes("me"),
        details: UserDetails::default(),
        created_at: NOW,
    }
}

/// Stores `user` as registration does (`user.registered` about them).
fn create(repo: &DieselUserRepository, user: &NewUser) -> User {
    repo.create(
        user,
        &event_about(Action::UserRegistered, user.username.as_ref()),
    )
    .unwrap()
}

fn scopes(raw: &str) -> Scopes {
    Scopes::parse(raw).unwrap()
}

/// An event of the system's at `NOW`, about no one: for the tests that
/// only need some event to hand over.
fn event(action: Action) -> NewEvent {
    NewEvent {
        at: NOW,
        action,
        actor: None,
        subject: None,
        origin: Origin::default(),
    }
}

/// An event `subject` caused on their own account, at `NOW`.
fn event_about(action: Action, subject: &str) -> NewEvent {
    NewEvent::by(&name(subject), action, &Origin::default(), NOW)
}

/// The `(action, subject)` of every stored event, oldest first.
fn audit_rows(pool: &DbPool) -> Vec<(String, Option<String>)> {
    use schema::audit_events;
    audit_events::table
        .order(audit_events::id)
        .select((audit_events::action, audit_events::subject))
        .load(&mut pool.get().unwrap())
        .unwrap()
}

/// The actions of every stored event, oldest first.
fn audit_actions(pool: &DbPool) -> Vec<String> {
    audit_rows(pool)
        .into_iter()
        .map(|(action, _)| action)
        .collect()
}

/// Runs `run(i)` for each `i` in `0..threads`, each on a thread of its own
/// and all released at once; the results in the order of `i`.
fn race<T: Send>(threads: usize, run: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(threads);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (barrier, run) = (&barrier, &run);
                scope.spawn(move || {
                    barrier.wait();
                    run(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    })
}

/// An active user with a placeholder hash.
fn active_user(repo: &DieselUserRepository, name: &str) -> User {
    create(repo, &new_user(name, "h", true))
}

fn name(raw: &str) -> Username {
    Username::parse(raw).unwrap()
}

fn stored(repo: &DieselUserRepository, username: &str) -> User {
    repo.find_by_username(&name(username)).unwrap().unwrap()
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

fn phone(raw: &str) -> Phone {
    Phone::parse(raw).unwrap()
}

fn set_all(email_raw: &str, phone_raw: &str, full_name: &str) -> DetailsUpdate {
    DetailsUpdate {
        email: Some(Some(email(email_raw))),
        phone: Some(Some(phone(phone_raw))),
        full_name: Some(Some(FullName::parse(full_name).unwrap())),
    }
}

const NOW: u64 = 1_800_000_000;

/// A session started 10 s before `NOW`, at credential version 0, granted
/// `me`.
fn session(family: &str, user_id: i64, token: &str, expires_at: u64) -> NewSession {
    NewSession {
        family: family.to_owned(),
        user_id,
        // A new user's credential is at version 0.
        credential_version: 0,
        current_token_id: token.to_owned(),
        created_at: NOW - 10,
        expires_at,
        scopes: scopes("me"),
        device: device("10.0.0.1", "login-agent"),
    }
}

fn device(address: &str, agent: &str) -> domain::Device {
    domain::Device {
        client_address: Some(address.to_owned()),
        user_agent: Some(agent.to_owned()),
    }
}

fn rotation(user_id: i64, family: &str, current: &str, next: &str, now: u64) -> Rotation {
    Rotation {
        family: family.to_owned(),
        user_id,
        current_token_id: current.to_owned(),
        next_token_id: next.to_owned(),
        expires_at: now + 3600,
        now,
        device: device("10.0.0.2", "refresh-agent"),
        grace: None,
    }
}

fn session_count(pool: &DbPool) -> i64 {
    schema::sessions::table
        .count()
        .get_result(&mut pool.get().unwrap())
        .unwrap()
}

fn live_families(pool: &DbPool) -> Vec<String> {
    use schema::sessions;
    sessions::table
        .filter(sessions::revoked.eq(false))
        .select(sessions::family)
        .order(sessions::family)
        .load(&mut pool.get().unwrap())
        .unwrap()
}

const WINDOW: u64 = 900;

fn attempt(limits: &[(&str, u32)], now: u64) -> Attempt {
    Attempt {
        limits: limits
            .iter()
            .map(|&(key, max)| AttemptLimit {
                key: key.to_owned(),
                max,
            })
            .collect(),
        now,
        window_secs: WINDOW,
    }
}
