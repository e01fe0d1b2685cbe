//! The upkeep half of the `SessionRepository` and `LoginFailureRepository`
//! contracts (`prune`), on SQLite and on Postgres, with explicit times.
//!
//! Postgres skips with a notice unless `ZENTRA_TEST_POSTGRES_URL` is set;
//! with `ZENTRA_REQUIRE_POSTGRES=1` a missing server fails it.

use adapters_db::schema::{login_failures, sessions};
use adapters_db::test_support::{TestPostgres, fresh_sqlite};
use adapters_db::{
    DatabaseUrl, DbPool, DieselLoginFailureRepository, DieselSessionRepository,
    DieselUserRepository, connect,
};
use diesel::prelude::*;
use domain::{
    Attempt, AttemptLimit, LoginFailureRepository, NewSession, NewUser, PasswordHash,
    SessionRepository, UserRepository, Username,
};

const NOW: u64 = 1_700_000_000;
const WINDOW: u64 = 900;

/// Runs `test` on a fresh SQLite file, then on a fresh Postgres database
/// (when there is a server to make one on).
fn on_both_backends(test: fn(&DbPool)) {
    let (_dir, url) = fresh_sqlite();
    test(&connect(&DatabaseUrl::parse(&url).unwrap(), 2).unwrap());
    match TestPostgres::from_env() {
        Some(database) => test(&connect(&DatabaseUrl::parse(&database.url).unwrap(), 2).unwrap()),
        None => eprintln!("skipping the Postgres half: ZENTRA_TEST_POSTGRES_URL is not set"),
    }
}

fn families(pool: &DbPool) -> Vec<String> {
    sessions::table
        .select(sessions::family)
        .order(sessions::family)
        .load(&mut pool.get().unwrap())
        .unwrap()
}

fn expired_and_revoked_sessions_are_pruned_once_expired(pool: &DbPool) {
    let users = DieselUserRepository::new(pool.clone());
    let sessions = DieselSessionRepository::new(pool.clone());
    let user = users
        .create(&NewUser {
            username: Username::parse("agent47").unwrap(),
            password_hash: PasswordHash::new("h"),
            is_active: true,
        })
        .unwrap();
    for (family, expires_at) in [
        ("expired", NOW - 100),
        ("expires-now", NOW),
        ("live", NOW + 1),
        ("revoked-expired", NOW - 1),
        ("revoked-live", NOW + 3600),
    ] {
        assert!(
            sessions
                .create(&NewSession {
                    family: family.to_owned(),
                    user_id: user.id,
                    credential_version: 0,
                    current_token_id: format!("jti-{family}"),
                    created_at: NOW - 500,
                    expires_at,
                })
                .unwrap()
        );
    }
    sessions.revoke_family("revoked-expired", user.id).unwrap();
    sessions.revoke_family("revoked-live", user.id).unwrap();

    assert_eq!(sessions.prune(NOW).unwrap(), 3);
    // A revoked family stays while its refresh tokens could be presented.
    assert_eq!(families(pool), ["live", "revoked-live"]);
    assert_eq!(sessions.prune(NOW).unwrap(), 0);
    assert_eq!(sessions.prune(NOW + 3600).unwrap(), 2);
    assert!(families(pool).is_empty());
}

fn failed_login_places_before_the_bound_are_pruned(pool: &DbPool) {
    let failures = DieselLoginFailureRepository::new(pool.clone());
    // Newest first: `reserve` itself forgets places older than its window.
    for (key, at) in [
        ("user:b", NOW),
        ("addr:1", NOW - WINDOW),
        ("user:a", NOW - WINDOW - 1),
    ] {
        failures
            .reserve(&Attempt {
                limits: vec![AttemptLimit {
                    key: key.to_owned(),
                    max: 10,
                }],
                now: at,
                window_secs: WINDOW,
            })
            .unwrap();
    }
    assert_eq!(failures.prune(NOW - WINDOW).unwrap(), 1);
    let left: Vec<String> = login_failures::table
        .select(login_failures::key)
        .order(login_failures::key)
        .load(&mut pool.get().unwrap())
        .unwrap();
    assert_eq!(left, ["addr:1", "user:b"]);
    assert_eq!(failures.prune(NOW + 1).unwrap(), 2);
}

#[test]
fn sessions_prune() {
    on_both_backends(expired_and_revoked_sessions_are_pruned_once_expired);
}

#[test]
fn login_failures_prune() {
    on_both_backends(failed_login_places_before_the_bound_are_pruned);
}
