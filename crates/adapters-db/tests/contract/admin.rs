//! What administrators do to users (docs/api.md §9): list them, change
//! them, delete them; each change with its event, in its transaction.

use std::sync::{Arc, Barrier};
use std::thread;

use adapters_db::DbPool;
use adapters_db::schema::{audit_events, sessions, user_details, users};
use diesel::prelude::*;
use domain::{
    Action, DetailsUpdate, FullName, Grants, PasswordHash, SessionRepository, UpdateUserError,
    User, UserChange, UserPage, UserQuery, UserRepository,
};

use crate::{
    NOW, Sessions, TestDb, active_user, audit_actions, audit_rows, email, event, event_about,
    live_families, name, phone, scopes, session, session_count, set_all, stored,
};

contract!(
    a_list_pages_in_id_order_and_counts_every_match,
    a_search_ignores_ascii_case_and_takes_wildcards_literally,
    an_update_sets_each_field_it_names_and_keeps_the_others,
    a_new_password_moves_the_credential_on_and_revokes_every_session,
    a_revocation_alone_keeps_the_credential,
    a_refused_update_changes_nothing_and_records_nothing,
    updating_an_unknown_user_is_not_found,
    an_empty_update_changes_and_records_nothing,
    no_session_outlives_a_concurrent_new_password,
    a_grant_change_applies_only_while_the_grants_are_as_read,
    no_grant_change_is_lost_to_a_concurrent_one,
    a_deletion_takes_the_details_and_sessions_and_keeps_the_events,
);

fn query(page: u32, per_page: u32, contains: Option<&str>) -> UserQuery {
    UserQuery {
        page,
        per_page,
        username_contains: contains.map(str::to_owned),
    }
}

fn names(page: &UserPage) -> Vec<&str> {
    page.users
        .iter()
        .map(|user| user.username.as_ref())
        .collect()
}

/// An administrator's change, recorded as `admin.user_updated` of
/// `username` by `root`.
fn update(s: &Sessions, user: &User, change: &UserChange) -> Result<User, UpdateUserError> {
    let event = domain::NewEvent {
        actor: Some(name("root")),
        ..event_about(Action::AdminUserUpdated, user.username.as_ref())
    };
    s.users.update(user.id, change, &event)
}

fn a_list_pages_in_id_order_and_counts_every_match(db: &TestDb) {
    let s = db.sessions(2);
    // Created out of name order: the list follows the ids.
    for username in ["echo", "alpha", "delta", "charlie", "bravo"] {
        s.user(username);
    }
    s.users
        .update_details(
            stored(&s.users, "alpha").id,
            &set_all("alpha@example.com", "+11111111", "Alpha"),
            &event(Action::ProfileUpdated),
        )
        .unwrap();
    let list = |page, per_page| s.users.list(&query(page, per_page, None)).unwrap();

    let first = list(1, 2);
    assert_eq!(names(&first), ["echo", "alpha"]);
    assert_eq!(first.total, 5);
    // Each user whole, details and all.
    assert_eq!(first.users[1], stored(&s.users, "alpha"));
    assert_eq!(names(&list(2, 2)), ["delta", "charlie"]);
    let last = list(3, 2);
    assert_eq!(names(&last), ["bravo"]);
    assert_eq!(last.total, 5);
    let beyond = list(4, 2);
    assert!(beyond.users.is_empty());
    assert_eq!(beyond.total, 5);
    assert_eq!(names(&list(1, 200)).len(), 5);
    // Page 0 is read as the first.
    assert_eq!(names(&list(0, 2)), ["echo", "alpha"]);
}

fn a_search_ignores_ascii_case_and_takes_wildcards_literally(db: &TestDb) {
    let s = db.sessions(2);
    for username in ["agent_one", "agentxone", "Agent_Two", "bond", "AGENT.x"] {
        s.user(username);
    }
    let search = |contains: &str| s.users.list(&query(1, 50, Some(contains))).unwrap();

    let agents = search("aGeNt");
    assert_eq!(
        names(&agents),
        ["agent_one", "agentxone", "Agent_Two", "AGENT.x"]
    );
    assert_eq!(agents.total, 4);
    // `_` is an underscore, not "any one character".
    assert_eq!(names(&search("nt_o")), ["agent_one"]);
    assert_eq!(names(&search("T_")), ["agent_one", "Agent_Two"]);
    // `%` and the escape character are plain characters no name holds.
    for nothing in ["%", "a%e", "\\", "nt\\_o", "agent%one", "é", "ágent"] {
        let found = search(nothing);
        assert!(found.users.is_empty(), "{nothing}: {:?}", names(&found));
        assert_eq!(found.total, 0, "{nothing}");
    }
    // `.` is a plain character too.
    assert_eq!(names(&search(".X")), ["AGENT.x"]);
    // An empty search is no search.
    assert_eq!(search("").total, 5);
    // The total counts every match, not the page.
    let page = s.users.list(&query(2, 1, Some("agent"))).unwrap();
    assert_eq!(names(&page), ["agentxone"]);
    assert_eq!(page.total, 4);
}

/// A change, and what it makes of the stored user.
type Step = (UserChange, fn(&mut User));

fn an_update_sets_each_field_it_names_and_keeps_the_others(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    let other = s.user("other");
    s.start("a-1", user.id, "jti-1", NOW + 3600);
    let user = s
        .users
        .update_details(
            user.id,
            &set_all("a@example.com", "+44123456789", "Agent"),
            &event(Action::ProfileUpdated),
        )
        .unwrap();

    let steps: Vec<Step> = vec![
        (
            UserChange {
                is_active: Some(false),
                ..UserChange::default()
            },
            |u: &mut User| u.is_active = false,
        ),
        (
            UserChange {
                is_superuser: Some(true),
                ..UserChange::default()
            },
            |u: &mut User| u.is_superuser = true,
        ),
        (
            UserChange {
                scopes: Some(scopes("me admin items:read")),
                ..UserChange::default()
            },
            |u: &mut User| u.scopes = scopes("admin items:read me"),
        ),
        (
            UserChange {
                details: DetailsUpdate {
                    phone: Some(None),
                    full_name: Some(Some(FullName::parse("Agent 47").unwrap())),
                    ..DetailsUpdate::default()
                },
                ..UserChange::default()
            },
            |u: &mut User| {
                u.details.phone = None;
                u.details.full_name = Some(FullName::from_stored("Agent 47".into()));
            },
        ),
        (
            UserChange {
                is_active: Some(true),
                is_superuser: Some(false),
                scopes: Some(scopes("me")),
                details: DetailsUpdate {
                    email: Some(Some(email("B@example.com"))),
                    ..DetailsUpdate::default()
                },
                ..UserChange::default()
            },
            |u: &mut User| {
                u.is_active = true;
                u.is_superuser = false;
                u.scopes = scopes("me");
                u.details.email = Some(email("b@example.com"));
            },
        ),
    ];
    let mut expected = user;
    for (change, apply) in steps {
        apply(&mut expected);
        let updated = update(&s, &expected, &change).unwrap();
        assert_eq!(updated, expected, "after {change:?}");
        assert_eq!(stored(&s.users, "agent47"), expected);
    }

    // Without `revoke_sessions` the sessions and the credential stay.
    assert_eq!(expected.credential_version, 0);
    assert_eq!(live_families(&s.pool), ["a-1"]);
    assert_eq!(stored(&s.users, "other"), other);
    let updates = audit_rows(&s.pool)
        .into_iter()
        .filter(|(action, _)| action == "admin.user_updated")
        .collect::<Vec<_>>();
    assert_eq!(
        updates,
        vec![("admin.user_updated".to_owned(), Some("agent47".to_owned())); 5]
    );
}

fn a_new_password_moves_the_credential_on_and_revokes_every_session(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user_with_hash("agent47", "old-hash");
    let other = s.user("other");
    for (family, owner) in [("a-1", user.id), ("a-2", user.id), ("b-1", other.id)] {
        assert!(s.start(family, owner, "jti-1", NOW + 3600));
    }

    let updated = update(
        &s,
        &user,
        &UserChange {
            password_hash: Some(PasswordHash::new("new-hash")),
            revoke_sessions: true,
            ..UserChange::default()
        },
    )
    .unwrap();

    assert_eq!(updated.password_hash.as_ref(), "new-hash");
    assert_eq!(updated.credential_version, 1);
    assert_eq!(stored(&s.users, "agent47"), updated);
    assert_eq!(live_families(&s.pool), ["b-1"]);
    // A login that verified the old password finishes too late.
    assert!(!s.start("late", user.id, "jti-1", NOW + 3600));
    // A change of the old password loses too.
    assert!(!s.change_password(user.id, 0, "stale"));
    // And every later password change moves it on again, and ends the
    // sessions of the password before, even unasked.
    assert!(
        s.sessions
            .create(
                &domain::NewSession {
                    credential_version: 1,
                    ..session("a-3", user.id, "jti-1", NOW + 3600)
                },
                &event(Action::LoginSucceeded),
            )
            .unwrap()
    );
    let again = update(
        &s,
        &user,
        &UserChange {
            password_hash: Some(PasswordHash::new("newer-hash")),
            ..UserChange::default()
        },
    )
    .unwrap();
    assert_eq!(again.credential_version, 2);
    assert_eq!(live_families(&s.pool), ["b-1"]);
}

fn a_revocation_alone_keeps_the_credential(db: &TestDb) {
    // A deactivation: the sessions end, the password stays valid.
    let s = db.sessions(2);
    let user = s.user("agent47");
    s.start("a-1", user.id, "jti-1", NOW + 3600);

    let updated = update(
        &s,
        &user,
        &UserChange {
            is_active: Some(false),
            revoke_sessions: true,
            ..UserChange::default()
        },
    )
    .unwrap();

    assert!(!updated.is_active);
    assert_eq!(updated.credential_version, 0);
    assert!(live_families(&s.pool).is_empty());
    assert!(!s.rotates(user.id, "a-1", "jti-1", "jti-2", NOW));
}

fn a_refused_update_changes_nothing_and_records_nothing(db: &TestDb) {
    let s = db.sessions(2);
    let owner = s.user("owner");
    s.users
        .update_details(
            owner.id,
            &set_all("taken@example.com", "+11111111", "Owner"),
            &event(Action::ProfileUpdated),
        )
        .unwrap();
    let user = s.user("agent47");
    s.start("a-1", user.id, "jti-1", NOW + 3600);
    let before = stored(&s.users, "agent47");
    let events = audit_rows(&s.pool);
    // Everything at once, and one detail that is someone else's.
    let everything = |details: DetailsUpdate| UserChange {
        is_active: Some(false),
        is_superuser: Some(true),
        scopes: Some(scopes("admin me")),
        grants_as_read: Some(Grants::of(&before)),
        password_hash: Some(PasswordHash::new("new-hash")),
        details,
        revoke_sessions: true,
    };

    let email_taken = update(
        &s,
        &user,
        &everything(DetailsUpdate {
            email: Some(Some(email("TAKEN@example.com"))),
            full_name: Some(None),
            ..DetailsUpdate::default()
        }),
    );
    let phone_taken = update(
        &s,
        &user,
        &everything(DetailsUpdate {
            phone: Some(Some(phone("+11111111"))),
            ..DetailsUpdate::default()
        }),
    );

    assert!(
        matches!(email_taken, Err(UpdateUserError::EmailTaken)),
        "{email_taken:?}"
    );
    assert!(
        matches!(phone_taken, Err(UpdateUserError::PhoneTaken)),
        "{phone_taken:?}"
    );
    assert_eq!(stored(&s.users, "agent47"), before);
    assert_eq!(live_families(&s.pool), ["a-1"]);
    assert_eq!(audit_rows(&s.pool), events);
}

fn updating_an_unknown_user_is_not_found(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    let mut gone = user.clone();
    gone.id += 1000;
    let events = audit_rows(&s.pool);

    for change in [
        UserChange::default(),
        UserChange {
            is_active: Some(false),
            revoke_sessions: true,
            ..UserChange::default()
        },
        UserChange {
            details: set_all("a@example.com", "+44123456789", "A"),
            ..UserChange::default()
        },
    ] {
        let result = update(&s, &gone, &change);
        assert!(
            matches!(result, Err(UpdateUserError::NotFound)),
            "{change:?}: {result:?}"
        );
    }
    assert_eq!(audit_rows(&s.pool), events);
    assert_eq!(stored(&s.users, "agent47"), user);
}

fn an_empty_update_changes_and_records_nothing(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    let events = audit_rows(&s.pool);

    assert_eq!(update(&s, &user, &UserChange::default()).unwrap(), user);
    assert_eq!(audit_rows(&s.pool), events);
}

fn no_session_outlives_a_concurrent_new_password(db: &TestDb) {
    // As for `change_password` (credentials.rs): logins that verified
    // version 0 race an administrator's new password on several
    // connections; once it has committed no live session of version 0 may
    // exist, whatever the interleaving.
    const LOGINS: usize = 6;
    const ROUNDS: usize = 10;
    let s = Arc::new(db.sessions(LOGINS as u32 + 1));
    for round in 0..ROUNDS {
        let user = s.user(&format!("racer{round}"));
        let barrier = Arc::new(Barrier::new(LOGINS + 1));
        let logins: Vec<_> = (0..LOGINS)
            .map(|i| {
                let (s, barrier) = (Arc::clone(&s), Arc::clone(&barrier));
                let family = format!("r{round}-{i}");
                thread::spawn(move || {
                    barrier.wait();
                    s.start(&family, user.id, "jti-1", NOW + 3600)
                })
            })
            .collect();
        let change = {
            let (s, barrier, user) = (Arc::clone(&s), Arc::clone(&barrier), user.clone());
            thread::spawn(move || {
                barrier.wait();
                update(
                    &s,
                    &user,
                    &UserChange {
                        password_hash: Some(PasswordHash::new("new-hash")),
                        revoke_sessions: true,
                        ..UserChange::default()
                    },
                )
                .unwrap()
            })
        };
        let started = logins
            .into_iter()
            .map(|login| login.join().unwrap())
            .filter(|started| *started)
            .count();
        assert_eq!(change.join().unwrap().credential_version, 1);

        let live: i64 = sessions::table
            .filter(sessions::user_id.eq(user.id))
            .filter(sessions::revoked.eq(false))
            .count()
            .get_result(&mut s.pool.get().unwrap())
            .unwrap();
        assert_eq!(
            live, 0,
            "round {round}: {started} started, {live} alive after the change"
        );
        // Each stored session recorded its login, and no refused one did.
        let logins = audit_actions(&s.pool)
            .iter()
            .filter(|action| *action == "login.succeeded")
            .count() as i64;
        let stored_sessions: i64 = sessions::table
            .count()
            .get_result(&mut s.pool.get().unwrap())
            .unwrap();
        assert_eq!(logins, stored_sessions, "round {round}");
    }
}

/// A change of `user`'s scopes to `to`, computed from their grants as
/// `user` holds them.
fn regrant(user: &User, to: &str) -> UserChange {
    UserChange {
        scopes: Some(scopes(to)),
        grants_as_read: Some(Grants::of(user)),
        ..UserChange::default()
    }
}

fn a_grant_change_applies_only_while_the_grants_are_as_read(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    let granted = update(&s, &user, &regrant(&user, "items:read me")).unwrap();
    assert_eq!(granted.scopes, scopes("items:read me"));
    let events = audit_rows(&s.pool);

    // Computed from the grants before that change: refused, nothing written.
    for stale in [
        regrant(&user, "me"),
        UserChange {
            is_superuser: Some(true),
            is_active: Some(false),
            revoke_sessions: true,
            grants_as_read: Some(Grants::of(&user)),
            ..UserChange::default()
        },
        UserChange {
            grants_as_read: Some(Grants {
                is_superuser: true,
                scopes: granted.scopes.clone(),
            }),
            ..regrant(&user, "me")
        },
    ] {
        let result = update(&s, &user, &stale);
        assert!(
            matches!(result, Err(UpdateUserError::GrantsChanged)),
            "{stale:?}: {result:?}"
        );
    }
    assert_eq!(stored(&s.users, "agent47"), granted);
    assert_eq!(audit_rows(&s.pool), events);

    // A user that is gone is not found, whatever the grants read.
    let mut gone = granted.clone();
    gone.id += 1000;
    let result = update(&s, &gone, &regrant(&granted, "me"));
    assert!(
        matches!(result, Err(UpdateUserError::NotFound)),
        "{result:?}"
    );
}

fn no_grant_change_is_lost_to_a_concurrent_one(db: &TestDb) {
    // Administrators each add one scope to the same user at once, each
    // computing the new grants from the user as read and reading again
    // when the compare-and-set misses (as `AdminService` does): every
    // scope must be there at the end, and one event per change.
    const ADMINS: usize = 6;
    let s = Arc::new(db.sessions(ADMINS as u32 + 1));
    let user = s.user("agent47");
    let events = audit_rows(&s.pool).len();
    let barrier = Arc::new(Barrier::new(ADMINS));
    let admins: Vec<_> = (0..ADMINS)
        .map(|i| {
            let (s, barrier) = (Arc::clone(&s), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let mut misses = 0;
                loop {
                    let read = stored(&s.users, "agent47");
                    let wanted = read.scopes.union(&scopes(&format!("extra:{i}")));
                    let change = UserChange {
                        scopes: Some(wanted),
                        grants_as_read: Some(Grants::of(&read)),
                        ..UserChange::default()
                    };
                    match update(&s, &read, &change) {
                        Err(UpdateUserError::GrantsChanged) => misses += 1,
                        done => break (done.unwrap(), misses),
                    }
                }
            })
        })
        .collect();
    let misses: usize = admins.into_iter().map(|a| a.join().unwrap().1).sum();

    let everyone = (0..ADMINS).fold(user.scopes.clone(), |all, i| {
        all.union(&scopes(&format!("extra:{i}")))
    });
    assert_eq!(
        stored(&s.users, "agent47").scopes,
        everyone,
        "{misses} compare-and-set misses"
    );
    assert_eq!(audit_rows(&s.pool).len(), events + ADMINS);
}

fn counts(pool: &DbPool) -> (i64, i64, i64, i64) {
    let mut conn = pool.get().unwrap();
    (
        users::table.count().get_result(&mut conn).unwrap(),
        user_details::table.count().get_result(&mut conn).unwrap(),
        sessions::table.count().get_result(&mut conn).unwrap(),
        audit_events::table.count().get_result(&mut conn).unwrap(),
    )
}

fn a_deletion_takes_the_details_and_sessions_and_keeps_the_events(db: &TestDb) {
    // Needs foreign keys enforced: on SQLite only the pragma does that.
    let s = db.sessions(2);
    let gone = s.user("gone");
    let kept = s.user("kept");
    s.users
        .update_details(
            gone.id,
            &set_all("gone@example.com", "+11111111", "Gone"),
            &event_about(Action::ProfileUpdated, "gone"),
        )
        .unwrap();
    s.start("gone-1", gone.id, "jti-1", NOW + 3600);
    s.start("kept-1", kept.id, "jti-1", NOW + 3600);
    assert_eq!(counts(&s.pool), (2, 2, 2, 5));
    let deleted = domain::NewEvent {
        actor: Some(name("root")),
        ..event_about(Action::AdminUserDeleted, "gone")
    };

    assert!(s.users.delete(gone.id, &deleted).unwrap());

    assert_eq!(counts(&s.pool), (1, 1, 1, 6));
    assert_eq!(s.users.find_by_username(&name("gone")).unwrap(), None);
    assert_eq!(stored(&s.users, "kept"), kept);
    assert!(s.rotates(kept.id, "kept-1", "jti-1", "jti-2", NOW));
    assert_eq!(s.sessions.scopes("gone-1", gone.id).unwrap(), None);
    // The events about the user stay, the deletion last.
    let about_gone: Vec<String> = audit_rows(&s.pool)
        .into_iter()
        .filter(|(_, subject)| subject.as_deref() == Some("gone"))
        .map(|(action, _)| action)
        .collect();
    assert_eq!(
        about_gone,
        ["user.registered", "profile.updated", "admin.user_deleted"]
    );
    // Again, or a user that never was: nothing to do, nothing recorded.
    let after = counts(&s.pool);
    assert!(!s.users.delete(gone.id, &deleted).unwrap());
    assert!(!s.users.delete(kept.id + 1000, &deleted).unwrap());
    assert_eq!(counts(&s.pool), after);
    // The name is free again, and a session for the deleted id is refused.
    let back = active_user(&s.users, "gone");
    assert_ne!(back.id, gone.id);
    assert!(
        !s.sessions
            .create(
                &session("orphan", gone.id, "jti-1", NOW + 3600),
                &event(Action::LoginSucceeded),
            )
            .unwrap()
    );
    assert_eq!(session_count(&s.pool), 1);
}
