//! Password changes and re-hashes against the sessions they end (docs/api.md §8).

use std::sync::{Arc, Barrier};
use std::thread;

use adapters_db::schema::sessions;
use adapters_db::{AnyConnection, DbPool};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use domain::{Action, NewSession, PasswordHash, SessionRepository, UserRepository};

use crate::{
    NOW, TestDb, audit_actions, event, live_families, new_user, session, session_count, set_all,
    stored,
};

contract!(
    a_password_change_stores_the_hash_moves_the_version_and_revokes_every_session,
    a_password_change_for_a_stale_version_changes_nothing,
    a_session_is_not_stored_once_the_credential_changed,
    a_rehash_keeps_the_version_and_the_sessions,
    a_password_change_is_one_transaction,
    no_session_outlives_a_concurrent_password_change,
);

fn a_password_change_stores_the_hash_moves_the_version_and_revokes_every_session(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user_with_hash("agent47", "old-hash");
    let other = s.user_with_hash("other", "other-hash");
    s.users
        .update_details(
            user.id,
            &set_all("a@example.com", "+44123456789", "Agent"),
            &event(Action::ProfileUpdated),
        )
        .unwrap();
    for (family, owner) in [("a-1", user.id), ("a-2", user.id), ("b-1", other.id)] {
        assert!(s.start(family, owner, "jti-1", NOW + 3600));
    }

    assert!(s.change_password(user.id, 0, "new-hash"));

    let found = stored(&s.users, "agent47");
    assert_eq!(found.password_hash.as_ref(), "new-hash");
    assert_eq!(found.credential_version, 1);
    assert_eq!(
        found.details.email.as_ref().map(AsRef::as_ref),
        Some("a@example.com")
    );
    assert_eq!(live_families(&s.pool), ["b-1"]);
    assert_eq!(stored(&s.users, "other"), other);
}

fn a_password_change_for_a_stale_version_changes_nothing(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user_with_hash("agent47", "old-hash");
    s.change_password(user.id, 0, "first");
    s.sessions
        .create(
            &NewSession {
                credential_version: 1,
                ..session("a-1", user.id, "jti-1", NOW + 3600)
            },
            &event(Action::LoginSucceeded),
        )
        .unwrap();

    let events = audit_actions(&s.pool);

    // A second change that verified the old password lost the race.
    assert!(!s.change_password(user.id, 0, "second"));

    // It records nothing either.
    assert_eq!(audit_actions(&s.pool), events);
    assert_eq!(
        events
            .iter()
            .filter(|action| *action == "password.changed")
            .count(),
        1
    );

    assert_eq!(s.credential("agent47"), ("first".to_owned(), 1));
    assert_eq!(live_families(&s.pool), ["a-1"]);
}

fn a_session_is_not_stored_once_the_credential_changed(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user_with_hash("agent47", "old-hash");
    s.change_password(user.id, 0, "new-hash");

    // A login that verified the old hash (version 0) finishes now.
    assert!(!s.start("late", user.id, "jti-1", NOW + 3600));
    assert_eq!(session_count(&s.pool), 0);
    // One that verified the new one is stored.
    assert!(
        s.sessions
            .create(
                &NewSession {
                    credential_version: 1,
                    ..session("fresh", user.id, "jti-1", NOW + 3600)
                },
                &event(Action::LoginSucceeded)
            )
            .unwrap()
    );
    assert_eq!(live_families(&s.pool), ["fresh"]);
}

fn a_rehash_keeps_the_version_and_the_sessions(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user_with_hash("agent47", "cheap-hash");
    s.start("a-1", user.id, "jti-1", NOW + 3600);

    assert!(
        s.users
            .rehash_password(user.id, 0, &PasswordHash::new("dear-hash"))
            .unwrap()
    );
    assert_eq!(s.credential("agent47"), ("dear-hash".to_owned(), 0));
    assert_eq!(live_families(&s.pool), ["a-1"]);

    // After a password change, a late re-hash of the old password loses.
    s.change_password(user.id, 0, "changed");
    assert!(
        !s.users
            .rehash_password(user.id, 0, &PasswordHash::new("stale-rehash"))
            .unwrap()
    );
    assert_eq!(
        stored(&s.users, "agent47").password_hash.as_ref(),
        "changed"
    );
}

/// Installs a trigger that makes every UPDATE of `table` fail.
fn fail_updates_of(pool: &DbPool, table: &str) {
    let mut conn = pool.get().unwrap();
    let sql = match &*conn {
        AnyConnection::Sqlite(_) => format!(
            "CREATE TRIGGER fail_{table} BEFORE UPDATE ON {table} \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        ),
        AnyConnection::Postgresql(_) => format!(
            "CREATE FUNCTION fail_{table}() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$; \
             CREATE TRIGGER fail_{table} BEFORE UPDATE ON {table} \
             FOR EACH ROW EXECUTE FUNCTION fail_{table}();"
        ),
    };
    conn.batch_execute(&sql).unwrap();
}

fn a_password_change_is_one_transaction(db: &TestDb) {
    // The revocation fails after the hash was written: the hash must not
    // stay behind, or the old sessions would live on beside a password
    // their holder may not know.
    let s = db.sessions(2);
    let user = s.user_with_hash("agent47", "old-hash");
    s.start("a-1", user.id, "jti-1", NOW + 3600);
    fail_updates_of(&s.pool, "sessions");

    let result = s.users.change_password(
        user.id,
        0,
        &PasswordHash::new("new-hash"),
        &event(Action::PasswordChanged),
    );

    assert!(result.is_err(), "{result:?}");
    assert_eq!(s.credential("agent47"), ("old-hash".to_owned(), 0));
    assert_eq!(live_families(&s.pool), ["a-1"]);
    assert!(!audit_actions(&s.pool).contains(&"password.changed".to_owned()));
}

fn no_session_outlives_a_concurrent_password_change(db: &TestDb) {
    // Logins that verified version 0 race a password change, for real, on
    // several connections: whatever the interleaving, once the change has
    // committed no live session of version 0 may exist.
    const LOGINS: usize = 6;
    const ROUNDS: usize = 10;
    let s = db.sessions(LOGINS as u32 + 1);
    let users = Arc::new(s.users);
    let sessions = Arc::new(s.sessions);
    for round in 0..ROUNDS {
        let user = users
            .create(
                &new_user(&format!("racer{round}"), "old-hash", true),
                &event(Action::UserRegistered),
            )
            .unwrap();
        let barrier = Arc::new(Barrier::new(LOGINS + 1));
        let logins: Vec<_> = (0..LOGINS)
            .map(|i| {
                let (sessions, barrier) = (Arc::clone(&sessions), Arc::clone(&barrier));
                let family = format!("r{round}-{i}");
                thread::spawn(move || {
                    barrier.wait();
                    sessions
                        .create(
                            &session(&family, user.id, "jti-1", NOW + 3600),
                            &event(Action::LoginSucceeded),
                        )
                        .unwrap()
                })
            })
            .collect();
        let change = {
            let (users, barrier) = (Arc::clone(&users), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                users
                    .change_password(
                        user.id,
                        0,
                        &PasswordHash::new("new-hash"),
                        &event(Action::PasswordChanged),
                    )
                    .unwrap()
            })
        };
        let stored_sessions = logins
            .into_iter()
            .map(|login| login.join().unwrap())
            .filter(|stored| *stored)
            .count();
        assert!(change.join().unwrap());

        let live: i64 = sessions::table
            .filter(sessions::user_id.eq(user.id))
            .filter(sessions::revoked.eq(false))
            .count()
            .get_result(&mut s.pool.get().unwrap())
            .unwrap();
        assert_eq!(
            live, 0,
            "round {round}: {stored_sessions} stored, {live} alive after the change"
        );
    }
}
