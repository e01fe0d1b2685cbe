//! Migrations: idempotent, once across concurrent start-ups, from the
//! schemas of earlier releases, and reversible.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use adapters_db::migrations::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use adapters_db::schema::{sessions, users};
use adapters_db::{
    AnyConnection, DbPool, DieselAuditRepository, DieselLoginFailureRepository,
    DieselSessionRepository, DieselUserRepository, build_pool, connect, run_migrations,
};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use domain::{
    Action, AuditRepository, EventQuery, LoginFailureRepository, NewUser, Reservation,
    RotationOutcome, SessionRepository, UserRepository,
};

use crate::{
    NOW, TIMEOUT, TestDb, active_user, attempt, create, event, event_about, name, new_user,
    rotation, scopes, session,
};

contract!(
    migrations_run_twice_are_a_no_op,
    concurrent_start_ups_migrate_once,
    a_database_at_the_first_migration_gets_the_others,
    a_database_of_the_previous_release_gets_grants_and_the_audit_trail,
    the_last_migrations_revert_and_apply_again,
);

const ALL: [&str; 7] = [
    "20261124000001",
    "20261124000002",
    "20261130000003",
    "20261202000004",
    "20261202000005",
    "20261202000006",
    "20261205000007",
];

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Applies the first `count` migrations only: a database as an earlier
/// release left it.
fn migrate_first(conn: &mut AnyConnection, count: usize) {
    for expected in &ALL[..count] {
        let applied = match &mut *conn {
            AnyConnection::Postgresql(pg) => pg.run_next_migration(POSTGRES_MIGRATIONS),
            AnyConnection::Sqlite(sqlite) => sqlite.run_next_migration(SQLITE_MIGRATIONS),
        }
        .unwrap();
        assert_eq!(applied.to_string(), *expected);
    }
}

fn migrations_run_twice_are_a_no_op(db: &TestDb) {
    let pool = build_pool(&db.url, 2, TIMEOUT).unwrap();
    let mut conn = pool.get().unwrap();

    let first = run_migrations(&mut conn).unwrap();
    assert_eq!(first, ALL);
    drop(conn);
    let repo = DieselUserRepository::new(pool.clone());
    let user = active_user(&repo, "survivor");

    let second = run_migrations(&mut pool.get().unwrap()).unwrap();
    assert!(second.is_empty(), "applied again: {second:?}");
    // A restart migrates again, and keeps the data.
    let repo = DieselUserRepository::new(connect(&db.url, 2).unwrap());
    assert_eq!(
        repo.find_by_username(&name("survivor")).unwrap(),
        Some(user)
    );
}

fn concurrent_start_ups_migrate_once(db: &TestDb) {
    const INSTANCES: usize = 4;
    let barrier = Arc::new(Barrier::new(INSTANCES));
    let applied: Vec<Vec<String>> = (0..INSTANCES)
        .map(|_| {
            let url = db.url.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let pool = build_pool(&url, 1, TIMEOUT).unwrap();
                let mut conn = pool.get().unwrap();
                barrier.wait();
                run_migrations(&mut conn)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|handle| handle.join().unwrap().unwrap())
        .collect();

    let runs: Vec<_> = applied.iter().filter(|v| !v.is_empty()).collect();
    assert_eq!(runs.len(), 1, "migrations ran more than once: {applied:?}");
}

/// Works the repositories over `pool` as today's release does, for the
/// user `username` that an earlier release stored: they must read it (the
/// default grant `me`, not a superuser, created at the migration) and
/// every port must work on the migrated schema.
fn works_today(pool: &DbPool, username: &str, migrated_from: u64) {
    let users = DieselUserRepository::new(pool.clone());
    let user = users
        .find_by_username(&name(username))
        .unwrap()
        .expect("the user survives the migrations");
    assert_eq!(user.credential_version, 0);
    assert_eq!(user.scopes, scopes("me"));
    assert!(!user.is_superuser);
    assert!(
        (migrated_from..=now()).contains(&user.created_at),
        "created_at {} is not the migration's time",
        user.created_at
    );
    let sessions = DieselSessionRepository::new(pool.clone());
    assert!(
        sessions
            .create(
                &session("fam-new", user.id, "jti-1", NOW + 3600),
                &event_about(Action::LoginSucceeded, username),
            )
            .unwrap()
    );
    assert_eq!(
        sessions
            .rotate(
                &rotation(user.id, "fam-new", "jti-1", "jti-2", NOW),
                &event_about(Action::TokenRefreshed, username),
            )
            .unwrap(),
        RotationOutcome::Rotated(scopes("me"))
    );
    let reservation = DieselLoginFailureRepository::new(pool.clone())
        .reserve(&attempt(&[(&format!("user:{username}"), 1)], NOW))
        .unwrap();
    assert!(matches!(reservation, Reservation::Admitted(_)));
    let trail = DieselAuditRepository::new(pool.clone())
        .list(&EventQuery {
            current_account_only: false,
            subject: Some(name(username)),
            action: None,
            before: None,
            limit: 10,
        })
        .unwrap();
    let actions: Vec<_> = trail.iter().map(|event| event.action.as_str()).collect();
    assert_eq!(actions, ["token.refreshed", "login.succeeded"]);
    // A new user beside the old one.
    create(&users, &new_user("newcomer", "h", true));
    assert!(run_migrations(&mut pool.get().unwrap()).unwrap().is_empty());
}

fn a_database_at_the_first_migration_gets_the_others(db: &TestDb) {
    let pool = build_pool(&db.url, 2, TIMEOUT).unwrap();
    let mut conn = pool.get().unwrap();
    // A database as the first release left it: 000001 only.
    migrate_first(&mut conn, 1);
    // A user as that release stored it (today's repository reads columns
    // it did not have).
    diesel::insert_into(users::table)
        .values((users::username.eq("veteran"), users::password.eq("h")))
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    let migrated_from = now();

    let applied = run_migrations(&mut pool.get().unwrap()).unwrap();

    assert_eq!(applied, ALL[1..]);
    works_today(&pool, "veteran", migrated_from);
}

fn a_database_of_the_previous_release_gets_grants_and_the_audit_trail(db: &TestDb) {
    let pool = build_pool(&db.url, 2, TIMEOUT).unwrap();
    let mut conn = pool.get().unwrap();
    migrate_first(&mut conn, 3);
    // A user with a live session, as the previous release stored them.
    let id: i64 = diesel::insert_into(users::table)
        .values((users::username.eq("veteran"), users::password.eq("h")))
        .returning(users::id)
        .get_result(&mut conn)
        .unwrap();
    diesel::insert_into(sessions::table)
        .values((
            sessions::family.eq("fam-old"),
            sessions::user_id.eq(id),
            sessions::current_token_id.eq("jti-old"),
            sessions::created_at.eq(i64::try_from(NOW).unwrap() - 10),
            sessions::expires_at.eq(i64::try_from(NOW).unwrap() + 3600),
        ))
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    let migrated_from = now();

    let applied = run_migrations(&mut pool.get().unwrap()).unwrap();

    assert_eq!(applied, ALL[3..]);
    // The session started before scopes existed is a `me` session, and
    // still rotates.
    let sessions = DieselSessionRepository::new(pool.clone());
    assert_eq!(sessions.scopes("fam-old", id).unwrap(), Some(scopes("me")));
    assert_eq!(
        sessions
            .rotate(
                &rotation(id, "fam-old", "jti-old", "jti-next", NOW),
                &event(Action::TokenRefreshed),
            )
            .unwrap(),
        RotationOutcome::Rotated(scopes("me"))
    );
    works_today(&pool, "veteran", migrated_from);
}

fn the_last_migrations_revert_and_apply_again(db: &TestDb) {
    let pool = connect(&db.url, 2).unwrap();
    let users = DieselUserRepository::new(pool.clone());
    let admin = create(
        &users,
        &NewUser {
            is_superuser: true,
            scopes: scopes("admin me"),
            ..new_user("root", "h", true)
        },
    );
    let mut conn = pool.get().unwrap();

    let mut revert = || {
        match &mut *conn {
            AnyConnection::Postgresql(pg) => pg.revert_last_migration(POSTGRES_MIGRATIONS),
            AnyConnection::Sqlite(sqlite) => sqlite.revert_last_migration(SQLITE_MIGRATIONS),
        }
        .unwrap()
        .to_string()
    };
    assert_eq!(revert(), ALL[6]);
    assert_eq!(revert(), ALL[5]);
    assert_eq!(revert(), ALL[4]);
    assert_eq!(revert(), ALL[3]);
    // The schema before issue 12: no session devices, no API keys, no
    // audit trail, no new columns.
    for gone in [
        "SELECT previous_token_id FROM sessions",
        "SELECT client_address FROM sessions",
        "SELECT 1 FROM api_keys",
        "SELECT 1 FROM audit_events",
        "SELECT scopes FROM users",
        "SELECT is_superuser FROM users",
        "SELECT created_at FROM users",
        "SELECT scopes FROM sessions",
    ] {
        let result = match &mut *conn {
            // On Postgres a failed statement outside a transaction leaves
            // the connection usable.
            AnyConnection::Postgresql(pg) => pg.batch_execute(gone),
            AnyConnection::Sqlite(sqlite) => sqlite.batch_execute(gone),
        };
        assert!(result.is_err(), "{gone} still works");
    }
    let id: i64 = users::table
        .filter(users::username.eq("root"))
        .select(users::id)
        .first(&mut conn)
        .unwrap();
    assert_eq!(id, admin.id);

    assert_eq!(run_migrations(&mut conn).unwrap(), ALL[3..]);
    drop(conn);
    // Applied again, over the user the reverted release kept: the default
    // grant, as for any user from before.
    let again = users.find_by_username(&name("root")).unwrap().unwrap();
    assert_eq!(again.scopes, scopes("me"));
    assert!(!again.is_superuser);
}
