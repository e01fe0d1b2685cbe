//! Migrations: idempotent, once across concurrent start-ups, and from the
//! previous release's schema.

use std::sync::{Arc, Barrier};
use std::thread;

use adapters_db::migrations::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use adapters_db::schema::users;
use adapters_db::{
    AnyConnection, DieselLoginFailureRepository, DieselSessionRepository, DieselUserRepository,
    build_pool, connect, run_migrations,
};
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use domain::{LoginFailureRepository, Reservation, SessionRepository, UserRepository};

use crate::{NOW, TIMEOUT, TestDb, active_user, attempt, name, rotation, session};

contract!(
    migrations_run_twice_are_a_no_op,
    concurrent_start_ups_migrate_once,
    a_database_at_the_first_migration_gets_the_second,
);

fn migrations_run_twice_are_a_no_op(db: &TestDb) {
    let pool = build_pool(&db.url, 2, TIMEOUT).unwrap();
    let mut conn = pool.get().unwrap();

    let first = run_migrations(&mut conn).unwrap();
    assert_eq!(
        first,
        ["20261124000001", "20261124000002", "20261130000003"]
    );
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

fn a_database_at_the_first_migration_gets_the_second(db: &TestDb) {
    let pool = build_pool(&db.url, 2, TIMEOUT).unwrap();
    let mut conn = pool.get().unwrap();
    // A database as the previous release left it: 000001 only.
    let first = match &mut *conn {
        AnyConnection::Postgresql(pg) => pg.run_next_migration(POSTGRES_MIGRATIONS),
        AnyConnection::Sqlite(sqlite) => sqlite.run_next_migration(SQLITE_MIGRATIONS),
    }
    .unwrap();
    assert_eq!(first.to_string(), "20261124000001");
    // A user as that release stored it (today's repository reads columns
    // it did not have).
    diesel::insert_into(users::table)
        .values((users::username.eq("veteran"), users::password.eq("h")))
        .execute(&mut conn)
        .unwrap();
    drop(conn);

    let applied = run_migrations(&mut pool.get().unwrap()).unwrap();

    assert_eq!(applied, ["20261124000002", "20261130000003"]);
    let user = DieselUserRepository::new(pool.clone())
        .find_by_username(&name("veteran"))
        .unwrap()
        .expect("the veteran survives the migrations");
    assert_eq!(user.credential_version, 0);
    let sessions = DieselSessionRepository::new(pool.clone());
    sessions
        .create(&session("fam-1", user.id, "jti-1", NOW + 3600))
        .unwrap();
    assert!(
        sessions
            .rotate(&rotation(user.id, "fam-1", "jti-1", "jti-2", NOW))
            .unwrap()
    );
    let reservation = DieselLoginFailureRepository::new(pool.clone())
        .reserve(&attempt(&[("user:veteran", 1)], NOW))
        .unwrap();
    assert!(matches!(reservation, Reservation::Admitted(_)));
    assert!(run_migrations(&mut pool.get().unwrap()).unwrap().is_empty());
}
