//! The audit trail (docs/api.md §9): recorded, listed newest first by
//! subject and action a page at a time, pruned by age.

use adapters_db::{DieselAuditRepository, schema::audit_events};
use diesel::prelude::*;
use domain::{Action, AuditRepository, Event, EventQuery, NewEvent, Origin, Username};

use crate::{NOW, TestDb, name};

contract!(
    an_event_reads_back_as_recorded,
    events_are_listed_newest_first_a_page_at_a_time,
    events_are_filtered_by_subject_and_action,
    events_older_than_the_bound_are_pruned,
    ids_are_not_reused_after_a_prune,
    the_current_account_reads_only_its_own_trail,
);

fn audit(db: &TestDb) -> DieselAuditRepository {
    DieselAuditRepository::new(db.pool(2))
}

fn at(action: Action, subject: Option<&str>, at: u64) -> NewEvent {
    NewEvent {
        at,
        action,
        actor: subject.map(name),
        subject: subject.map(name),
        origin: Origin::default(),
    }
}

fn all(subject: Option<Username>, action: Option<Action>) -> EventQuery {
    EventQuery {
        current_account_only: false,
        subject,
        action,
        before: None,
        limit: EventQuery::MAX_LIMIT,
    }
}

fn ids(events: &[Event]) -> Vec<i64> {
    events.iter().map(|event| event.id).collect()
}

fn an_event_reads_back_as_recorded(db: &TestDb) {
    let audit = audit(db);
    let origin = Origin::new(
        Some("2001:db8::1".into()),
        Some("Mozilla/5.0 (X11) ✓"),
        Some("req-42"),
    );
    audit
        .record(&NewEvent {
            at: NOW,
            action: Action::AdminUserUnlocked,
            actor: Some(name("root")),
            subject: Some(name("agent47")),
            origin: origin.clone(),
        })
        .unwrap();
    // The system, about no one, from nowhere.
    audit
        .record(&NewEvent {
            at: NOW + 1,
            action: Action::LoginFailed,
            actor: None,
            subject: None,
            origin: Origin::default(),
        })
        .unwrap();

    let events = audit.list(&all(None, None)).unwrap();

    assert_eq!(events.len(), 2);
    assert!(events[0].id > events[1].id);
    assert_eq!(
        events[1],
        Event {
            id: events[1].id,
            at: NOW,
            action: "admin.user_unlocked".to_owned(),
            actor: Some("root".to_owned()),
            subject: Some("agent47".to_owned()),
            origin,
        }
    );
    assert_eq!(
        events[0],
        Event {
            id: events[0].id,
            at: NOW + 1,
            action: "login.failed".to_owned(),
            actor: None,
            subject: None,
            origin: Origin::default(),
        }
    );
}

fn events_are_listed_newest_first_a_page_at_a_time(db: &TestDb) {
    let audit = audit(db);
    for i in 0..7 {
        audit
            .record(&at(Action::LoginSucceeded, Some("agent47"), NOW + i))
            .unwrap();
    }
    let every = audit.list(&all(None, None)).unwrap();
    assert_eq!(every.len(), 7);
    let times: Vec<u64> = every.iter().map(|event| event.at).collect();
    assert_eq!(times, (0..7).rev().map(|i| NOW + i).collect::<Vec<_>>());

    // Pages of three, each after the last id of the one before.
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = audit
            .list(&EventQuery {
                current_account_only: false,
                before,
                limit: 3,
                ..all(None, None)
            })
            .unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        pages.push(ids(&page));
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(pages.concat(), ids(&every));
    assert!(
        audit
            .list(&EventQuery {
                current_account_only: false,
                limit: 0,
                ..all(None, None)
            })
            .unwrap()
            .is_empty()
    );
}

fn events_are_filtered_by_subject_and_action(db: &TestDb) {
    let audit = audit(db);
    for (action, subject) in [
        (Action::LoginSucceeded, Some("alice")),
        (Action::LoginFailed, Some("alice")),
        (Action::LoginSucceeded, Some("bob")),
        (Action::LoginFailed, None),
        (Action::LoginSucceeded, Some("alice")),
        (Action::PasswordChanged, Some("Alice")),
    ] {
        audit.record(&at(action, subject, NOW)).unwrap();
    }
    let every = audit.list(&all(None, None)).unwrap();
    let pick = |wanted: &[usize]| -> Vec<i64> {
        // `every` is newest first: index 0 is the last recorded.
        let mut picked: Vec<i64> = wanted.iter().map(|&i| every[5 - i].id).collect();
        picked.sort_unstable_by(|a, b| b.cmp(a));
        picked
    };

    let list =
        |subject: Option<&str>, action| ids(&audit.list(&all(subject.map(name), action)).unwrap());
    assert_eq!(list(Some("alice"), None), pick(&[0, 1, 4]));
    // Usernames are compared exactly.
    assert_eq!(list(Some("Alice"), None), pick(&[5]));
    assert_eq!(list(None, Some(Action::LoginFailed)), pick(&[1, 3]));
    assert_eq!(
        list(Some("alice"), Some(Action::LoginSucceeded)),
        pick(&[0, 4])
    );
    assert!(list(Some("carol"), None).is_empty());
    assert!(list(Some("bob"), Some(Action::LoginFailed)).is_empty());
    // With a page bound too.
    let newest_alice = pick(&[4])[0];
    let older = audit
        .list(&EventQuery {
            current_account_only: false,
            before: Some(newest_alice),
            limit: 1,
            ..all(Some(name("alice")), None)
        })
        .unwrap();
    assert_eq!(ids(&older), pick(&[1]));
}

fn events_older_than_the_bound_are_pruned(db: &TestDb) {
    let audit = audit(db);
    for offset in [0, 10, 99, 100, 101, 500] {
        audit
            .record(&at(Action::LoginFailed, Some("agent47"), NOW + offset))
            .unwrap();
    }

    assert_eq!(audit.prune(NOW + 100).unwrap(), 3);

    let left: Vec<u64> = audit
        .list(&all(None, None))
        .unwrap()
        .iter()
        .map(|event| event.at)
        .collect();
    assert_eq!(left, [NOW + 500, NOW + 101, NOW + 100]);
    assert_eq!(audit.prune(NOW + 100).unwrap(), 0);
    assert_eq!(audit.prune(NOW + 1000).unwrap(), 3);
    let count: i64 = audit_events::table
        .count()
        .get_result(&mut db.pool(1).get().unwrap())
        .unwrap();
    assert_eq!(count, 0);
}

fn ids_are_not_reused_after_a_prune(db: &TestDb) {
    // A page bound (`before`) names an id: a new event must never take the
    // id of a pruned one, not even of the newest.
    let audit = audit(db);
    for _ in 0..3 {
        audit.record(&at(Action::LoginFailed, None, NOW)).unwrap();
    }
    let newest = audit.list(&all(None, None)).unwrap()[0].id;
    assert_eq!(audit.prune(NOW + 1).unwrap(), 3);

    audit
        .record(&at(Action::LoginFailed, None, NOW + 2))
        .unwrap();

    let after = audit.list(&all(None, None)).unwrap();
    assert_eq!(after.len(), 1);
    assert!(after[0].id > newest, "{} reused", after[0].id);
}

fn the_current_account_reads_only_its_own_trail(db: &TestDb) {
    // docs/api.md §9 "one's own": a new account of a deleted user's name
    // starts at its own creation event.
    let audit = audit(db);
    for (action, when) in [
        (Action::UserRegistered, NOW),
        (Action::LoginFailed, NOW + 1),
        (Action::AdminUserDeleted, NOW + 2),
        (Action::AdminUserCreated, NOW + 3),
        (Action::LoginSucceeded, NOW + 4),
    ] {
        audit.record(&at(action, Some("alice"), when)).unwrap();
    }
    audit
        .record(&at(Action::LoginFailed, Some("bob"), NOW + 5))
        .unwrap();
    let actions = |current_account_only| {
        let query = EventQuery {
            current_account_only,
            ..all(Some(name("alice")), None)
        };
        let events = audit.list(&query).unwrap();
        events.into_iter().map(|e| e.action).collect::<Vec<_>>()
    };
    assert_eq!(actions(true), ["login.succeeded", "admin.user_created"]);
    assert_eq!(actions(false).len(), 5);
    // A name with no creation event (a user from before the trail) reads
    // every event of the name.
    let query = EventQuery {
        current_account_only: true,
        ..all(Some(name("bob")), None)
    };
    assert_eq!(audit.list(&query).unwrap().len(), 1);
}
