//! Refresh-token families: created, rotated, revoked, each only as its
//! owner's.

use adapters_db::DbPool;
use adapters_db::schema::{sessions, users};
use diesel::prelude::*;
use domain::{Action, NewSession, RotationOutcome, Scopes, SessionRepository};

use crate::{
    NOW, TestDb, audit_actions, audit_rows, device, event, event_about, live_families, race,
    rotation, scopes, session, session_count,
};

contract!(
    a_family_rotates_once_from_each_token,
    creating_a_session_deletes_only_that_users_expired_ones,
    a_rotation_sets_the_new_expiry,
    a_revoked_family_does_not_rotate,
    an_expired_family_does_not_rotate,
    revoking_all_of_a_user_spares_other_users,
    concurrent_rotations_of_one_token_have_exactly_one_winner,
    deleting_a_user_deletes_their_sessions,
    a_family_of_another_user_neither_rotates_nor_is_revoked,
    expired_and_revoked_sessions_are_pruned_once_expired,
    a_session_keeps_its_scopes_and_a_rotation_answers_them,
    a_rotation_records_its_event_only_when_it_rotates,
    a_session_records_its_event_only_when_stored,
    the_scopes_of_a_family_are_only_its_owners,
    a_revocation_records_its_event_only_when_it_revokes,
    concurrent_revocations_of_one_family_record_one_event,
    revoking_all_of_a_user_always_records_the_event,
    a_session_records_its_device_and_a_rotation_moves_it,
    only_the_owners_live_sessions_are_listed_newest_first,
    a_session_is_revoked_by_id_only_by_its_owner_while_live,
);

fn a_session_records_its_device_and_a_rotation_moves_it(db: &TestDb) {
    let s = db.sessions(2);
    let agent = s.user("agent47");
    assert!(s.start("fam", agent.id, "jti-1", NOW + 3600));
    let listed = s.sessions.list_live(agent.id, NOW).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].family, "fam");
    assert_eq!(listed[0].device, device("10.0.0.1", "login-agent"));
    assert_eq!(listed[0].created_at, NOW - 10);
    assert_eq!(listed[0].last_used_at, Some(NOW - 10));
    assert!(s.rotates(agent.id, "fam", "jti-1", "jti-2", NOW + 5));
    let listed = s.sessions.list_live(agent.id, NOW + 5).unwrap();
    assert_eq!(listed[0].device, device("10.0.0.2", "refresh-agent"));
    assert_eq!(listed[0].last_used_at, Some(NOW + 5));
    assert_eq!(listed[0].expires_at, NOW + 5 + 3600);
    assert_eq!(listed[0].created_at, NOW - 10, "a rotation keeps its start");
}

fn only_the_owners_live_sessions_are_listed_newest_first(db: &TestDb) {
    let s = db.sessions(2);
    let agent = s.user("agent47");
    let other = s.user("agent48");
    assert!(s.start("old", agent.id, "j1", NOW + 3600));
    assert!(s.start("revoked", agent.id, "j2", NOW + 3600));
    assert!(s.start("expiring", agent.id, "j3", NOW + 20));
    assert!(s.start("new", agent.id, "j4", NOW + 3600));
    assert!(s.start("theirs", other.id, "j5", NOW + 3600));
    assert!(s.revoke("revoked", agent.id));
    let families = |now| -> Vec<String> {
        s.sessions
            .list_live(agent.id, now)
            .unwrap()
            .into_iter()
            .map(|info| info.family)
            .collect()
    };
    assert_eq!(families(NOW), ["new", "expiring", "old"]);
    assert_eq!(families(NOW + 20), ["new", "old"], "expired at its expiry");
}

fn a_session_is_revoked_by_id_only_by_its_owner_while_live(db: &TestDb) {
    let s = db.sessions(4);
    let agent = s.user("agent47");
    let other = s.user("agent48");
    assert!(s.start("fam", agent.id, "jti-1", NOW + 3600));
    let id = s.sessions.list_live(agent.id, NOW).unwrap()[0].id;
    let revoke = |user_id, now| {
        s.sessions
            .revoke_by_id(id, user_id, now, &event(Action::SessionRevoked))
            .unwrap()
    };
    assert!(!revoke(other.id, NOW), "another user's session");
    assert!(!revoke(agent.id, NOW + 3600), "an expired session");
    let revoked = race(4, |_| revoke(agent.id, NOW));
    assert_eq!(revoked.iter().filter(|done| **done).count(), 1);
    assert_eq!(
        audit_actions(&s.pool)
            .iter()
            .filter(|action| *action == "session.revoked")
            .count(),
        1
    );
    assert!(!s.rotates(agent.id, "fam", "jti-1", "jti-2", NOW + 1));
    assert!(s.sessions.list_live(agent.id, NOW).unwrap().is_empty());
}

fn families(pool: &DbPool) -> Vec<String> {
    sessions::table
        .select(sessions::family)
        .order(sessions::family)
        .load(&mut pool.get().unwrap())
        .unwrap()
}

fn creating_a_session_deletes_only_that_users_expired_ones(db: &TestDb) {
    let s = db.sessions(2);
    let agent = s.user("agent47");
    let other = s.user("agent48");
    // Started long ago, before any of them expired: nothing is pruned yet.
    for (family, user, expires_at) in [
        ("a-expired", agent.id, NOW - 100),
        ("a-expires-as-the-next-starts", agent.id, NOW - 10),
        ("a-live", agent.id, NOW + 3600),
        ("b-expired", other.id, NOW - 100),
    ] {
        s.sessions
            .create(
                &NewSession {
                    created_at: NOW - 500,
                    ..session(family, user, &format!("jti-{family}"), expires_at)
                },
                &event(Action::LoginSucceeded),
            )
            .unwrap();
    }
    assert_eq!(session_count(&s.pool), 4);

    // `session` starts it at NOW - 10.
    s.start("a-new", agent.id, "jti-new", NOW + 3600);
    assert_eq!(
        families(&s.pool),
        ["a-live", "a-new", "b-expired"].map(String::from)
    );
}

fn a_family_rotates_once_from_each_token(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    s.start("fam-1", user.id, "jti-1", NOW + 3600);

    assert!(s.rotates(user.id, "fam-1", "jti-1", "jti-2", NOW));
    // The old token is spent; the new one works once.
    assert!(!s.rotates(user.id, "fam-1", "jti-1", "jti-x", NOW));
    assert!(s.rotates(user.id, "fam-1", "jti-2", "jti-3", NOW));
    assert!(!s.rotates(user.id, "fam-1", "jti-2", "jti-y", NOW));
    // An unknown family, or the right token under another family: no.
    assert!(!s.rotates(user.id, "fam-2", "jti-3", "jti-4", NOW));
    assert!(s.rotates(user.id, "fam-1", "jti-3", "jti-4", NOW));
}

fn a_rotation_sets_the_new_expiry(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    s.start("fam-1", user.id, "jti-1", NOW + 10);

    // Past the first expiry, within the one the rotation set.
    assert!(s.rotates(user.id, "fam-1", "jti-1", "jti-2", NOW));
    assert!(s.rotates(user.id, "fam-1", "jti-2", "jti-3", NOW + 100));
    // That rotation moved the expiry to NOW + 100 + 3600.
    assert!(!s.rotates(user.id, "fam-1", "jti-3", "jti-4", NOW + 3700));
    assert!(s.rotates(user.id, "fam-1", "jti-3", "jti-4", NOW + 3699));
}

fn a_revoked_family_does_not_rotate(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    s.start("fam-1", user.id, "jti-1", NOW + 3600);
    s.start("fam-2", user.id, "jti-1b", NOW + 3600);

    assert!(s.revoke("fam-1", user.id));
    // Again, and an unknown family: nothing to do.
    assert!(!s.revoke("fam-1", user.id));
    assert!(!s.revoke("no-such-family", user.id));

    assert!(!s.rotates(user.id, "fam-1", "jti-1", "jti-2", NOW));
    // Only that family.
    assert!(s.rotates(user.id, "fam-2", "jti-1b", "jti-2b", NOW));
}

fn an_expired_family_does_not_rotate(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    s.start("fam-1", user.id, "jti-1", NOW);
    s.start("fam-2", user.id, "jti-1", NOW + 1);

    // Expired at the very second of its expiry.
    assert!(!s.rotates(user.id, "fam-1", "jti-1", "jti-2", NOW));
    assert!(s.rotates(user.id, "fam-2", "jti-1", "jti-2", NOW));
}

fn revoking_all_of_a_user_spares_other_users(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    let other = s.user("other");
    for (family, owner) in [("a-1", user.id), ("a-2", user.id), ("b-1", other.id)] {
        s.start(family, owner, "jti-1", NOW + 3600);
    }

    s.revoke_all(user.id);

    assert!(!s.rotates(user.id, "a-1", "jti-1", "jti-2", NOW));
    assert!(!s.rotates(user.id, "a-2", "jti-1", "jti-2", NOW));
    assert!(s.rotates(other.id, "b-1", "jti-1", "jti-2", NOW));
    // A user without sessions: nothing to do.
    s.revoke_all(other.id + 1000);
}

fn concurrent_rotations_of_one_token_have_exactly_one_winner(db: &TestDb) {
    // Several rounds: one race can happen to be won cleanly even by a
    // read-then-write, especially on SQLite's single writer.
    const THREADS: usize = 8;
    const ROUNDS: usize = 10;
    let s = db.sessions(THREADS as u32);
    let user = s.user("agent47");

    for round in 0..ROUNDS {
        let family = format!("fam-{round}");
        s.start(&family, user.id, "jti-0", NOW + 3600);
        let rotations: Vec<_> = (0..THREADS)
            .map(|i| rotation(user.id, &family, "jti-0", &format!("next-{i}"), NOW))
            .collect();

        let results = race(THREADS, |i| {
            s.sessions
                .rotate(&rotations[i], &event(Action::TokenRefreshed))
                .unwrap()
                != RotationOutcome::Refused
        });

        assert_eq!(
            results.iter().filter(|won| **won).count(),
            1,
            "round {round}: {results:?}"
        );
        let refreshed = audit_actions(&s.pool)
            .iter()
            .filter(|action| *action == "token.refreshed")
            .count();
        assert_eq!(refreshed, round + 1, "round {round}: one event per winner");
        let winner = results.iter().position(|won| *won).unwrap();
        let current: String = sessions::table
            .filter(sessions::family.eq(&family))
            .select(sessions::current_token_id)
            .first(&mut s.pool.get().unwrap())
            .unwrap();
        assert_eq!(current, format!("next-{winner}"), "round {round}");
    }
}

fn deleting_a_user_deletes_their_sessions(db: &TestDb) {
    // Needs foreign keys enforced: on SQLite only the pragma does that.
    let s = db.sessions(2);
    let gone = s.user("gone");
    let kept = s.user("kept");
    s.start("gone-1", gone.id, "jti-1", NOW + 3600);
    s.start("kept-1", kept.id, "jti-1", NOW + 3600);

    diesel::delete(users::table.filter(users::id.eq(gone.id)))
        .execute(&mut s.pool.get().unwrap())
        .unwrap();

    assert_eq!(session_count(&s.pool), 1);
    assert!(s.rotates(kept.id, "kept-1", "jti-1", "jti-2", NOW));
    // And a session for a user that does not exist is not stored.
    let orphan = s.sessions.create(
        &session("orphan", gone.id, "jti-1", NOW + 3600),
        &event(Action::LoginSucceeded),
    );
    assert!(!orphan.unwrap());
    assert_eq!(session_count(&s.pool), 1);
}

fn a_family_of_another_user_neither_rotates_nor_is_revoked(db: &TestDb) {
    let s = db.sessions(2);
    let alice = s.user("alice");
    let bob = s.user("bob");
    s.start("alice-1", alice.id, "jti-1", NOW + 3600);

    // A token naming bob that carries alice's family and current jti.
    assert!(!s.rotates(bob.id, "alice-1", "jti-1", "jti-2", NOW));
    assert!(!s.revoke("alice-1", bob.id));

    assert_eq!(live_families(&s.pool), ["alice-1"]);
    assert!(s.rotates(alice.id, "alice-1", "jti-1", "jti-2", NOW));
}

fn expired_and_revoked_sessions_are_pruned_once_expired(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    for (family, expires_at) in [
        ("expired", NOW - 100),
        ("expires-now", NOW),
        ("live", NOW + 1),
        ("revoked-expired", NOW - 1),
        ("revoked-live", NOW + 3600),
    ] {
        // Started long ago, before any of them expired.
        assert!(
            s.sessions
                .create(
                    &NewSession {
                        created_at: NOW - 500,
                        ..session(family, user.id, &format!("jti-{family}"), expires_at)
                    },
                    &event(Action::LoginSucceeded)
                )
                .unwrap()
        );
    }
    assert!(s.revoke("revoked-expired", user.id));
    assert!(s.revoke("revoked-live", user.id));

    assert_eq!(s.sessions.prune(NOW).unwrap(), 3);
    // A revoked family stays while its refresh tokens could be presented.
    assert_eq!(families(&s.pool), ["live", "revoked-live"]);
    assert_eq!(s.sessions.prune(NOW).unwrap(), 0);
    assert_eq!(s.sessions.prune(NOW + 3600).unwrap(), 2);
    assert!(families(&s.pool).is_empty());
}

fn a_session_keeps_its_scopes_and_a_rotation_answers_them(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    let granted = scopes("items:read me admin");
    for (family, granted) in [("wide", granted.clone()), ("none", Scopes::empty())] {
        assert!(
            s.sessions
                .create(
                    &NewSession {
                        scopes: granted,
                        ..session(family, user.id, "jti-1", NOW + 3600)
                    },
                    &event(Action::LoginSucceeded),
                )
                .unwrap()
        );
    }

    let rotated = s
        .sessions
        .rotate(
            &rotation(user.id, "wide", "jti-1", "jti-2", NOW),
            &event(Action::TokenRefreshed),
        )
        .unwrap();

    assert_eq!(rotated, RotationOutcome::Rotated(granted.clone()));
    // Stored in the canonical text form.
    let stored: String = sessions::table
        .filter(sessions::family.eq("wide"))
        .select(sessions::scopes)
        .first(&mut s.pool.get().unwrap())
        .unwrap();
    assert_eq!(stored, "admin items:read me");
    // A session granted nothing is a session still.
    assert_eq!(
        s.sessions
            .rotate(
                &rotation(user.id, "none", "jti-1", "jti-2", NOW),
                &event(Action::TokenRefreshed),
            )
            .unwrap(),
        RotationOutcome::Rotated(Scopes::empty())
    );
    assert_eq!(s.sessions.scopes("wide", user.id).unwrap(), Some(granted));
}

fn a_rotation_records_its_event_only_when_it_rotates(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    s.start("fam-1", user.id, "jti-1", NOW + 3600);
    s.start("fam-2", user.id, "jti-a", NOW + 3600);
    assert!(s.revoke("fam-2", user.id));
    let before = audit_rows(&s.pool);

    let refresh = |current: &str, next: &str, family: &str, now: u64| {
        s.sessions
            .rotate(
                &rotation(user.id, family, current, next, now),
                &event_about(Action::TokenRefreshed, "agent47"),
            )
            .unwrap()
    };
    assert_eq!(
        refresh("jti-1", "jti-2", "fam-1", NOW),
        RotationOutcome::Rotated(scopes("me"))
    );
    // Spent, unknown, revoked, expired, someone else's: refused, unrecorded.
    assert_eq!(
        refresh("jti-1", "jti-x", "fam-1", NOW),
        RotationOutcome::Refused
    );
    assert_eq!(
        refresh("jti-2", "jti-x", "fam-9", NOW),
        RotationOutcome::Refused
    );
    assert_eq!(
        refresh("jti-a", "jti-b", "fam-2", NOW),
        RotationOutcome::Refused
    );
    assert_eq!(
        refresh("jti-2", "jti-x", "fam-1", NOW + 3600 * 2),
        RotationOutcome::Refused
    );
    assert_eq!(
        s.sessions
            .rotate(
                &rotation(user.id + 1, "fam-1", "jti-2", "jti-x", NOW),
                &event(Action::TokenRefreshed),
            )
            .unwrap(),
        RotationOutcome::Refused
    );

    let mut expected = before;
    expected.push(("token.refreshed".to_owned(), Some("agent47".to_owned())));
    assert_eq!(audit_rows(&s.pool), expected);
}

fn a_session_records_its_event_only_when_stored(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    assert!(s.change_password(user.id, 0, "new-hash"));
    let before = audit_actions(&s.pool);

    // Verified the old password: refused. For no user at all: refused.
    assert!(!s.start("late", user.id, "jti-1", NOW + 3600));
    assert!(!s.start("orphan", user.id + 1000, "jti-1", NOW + 3600));
    assert_eq!(audit_actions(&s.pool), before);

    assert!(
        s.sessions
            .create(
                &NewSession {
                    credential_version: 1,
                    ..session("fresh", user.id, "jti-1", NOW + 3600)
                },
                &event(Action::LoginSucceeded),
            )
            .unwrap()
    );
    assert_eq!(
        audit_actions(&s.pool),
        ["user.registered", "password.changed", "login.succeeded"]
    );
}

fn the_scopes_of_a_family_are_only_its_owners(db: &TestDb) {
    let s = db.sessions(2);
    let alice = s.user("alice");
    let bob = s.user("bob");
    assert!(
        s.sessions
            .create(
                &NewSession {
                    scopes: scopes("items:write me"),
                    ..session("alice-1", alice.id, "jti-1", NOW + 3600)
                },
                &event(Action::LoginSucceeded),
            )
            .unwrap()
    );

    assert_eq!(
        s.sessions.scopes("alice-1", alice.id).unwrap(),
        Some(scopes("items:write me"))
    );
    assert_eq!(s.sessions.scopes("alice-1", bob.id).unwrap(), None);
    assert_eq!(s.sessions.scopes("no-such-family", alice.id).unwrap(), None);
    // Revoked, the family still says what it was granted.
    assert!(s.revoke("alice-1", alice.id));
    assert_eq!(
        s.sessions.scopes("alice-1", alice.id).unwrap(),
        Some(scopes("items:write me"))
    );
}

fn a_revocation_records_its_event_only_when_it_revokes(db: &TestDb) {
    let s = db.sessions(2);
    let alice = s.user("alice");
    let bob = s.user("bob");
    s.start("alice-1", alice.id, "jti-1", NOW + 3600);
    let before = audit_actions(&s.pool);

    assert!(!s.revoke("alice-1", bob.id));
    assert!(!s.revoke("no-such-family", alice.id));
    assert_eq!(audit_actions(&s.pool), before);
    assert!(s.revoke("alice-1", alice.id));
    assert!(!s.revoke("alice-1", alice.id));

    let mut expected = before;
    expected.push("session.logout".to_owned());
    assert_eq!(audit_actions(&s.pool), expected);
}

fn concurrent_revocations_of_one_family_record_one_event(db: &TestDb) {
    const THREADS: usize = 8;
    let s = db.sessions(THREADS as u32);
    let user = s.user("agent47");
    s.start("fam-1", user.id, "jti-1", NOW + 3600);

    let results = race(THREADS, |_| s.revoke("fam-1", user.id));

    assert_eq!(results.iter().filter(|revoked| **revoked).count(), 1);
    let logouts = audit_actions(&s.pool)
        .into_iter()
        .filter(|action| action == "session.logout")
        .count();
    assert_eq!(logouts, 1);
}

fn revoking_all_of_a_user_always_records_the_event(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    s.start("a-1", user.id, "jti-1", NOW + 3600);

    s.revoke_all(user.id);
    // Nothing left to revoke: the logout is recorded all the same.
    s.revoke_all(user.id);

    assert!(live_families(&s.pool).is_empty());
    assert_eq!(
        audit_actions(&s.pool),
        [
            "user.registered",
            "login.succeeded",
            "session.logout_all",
            "session.logout_all"
        ]
    );
}
