//! The refresh reuse grace (docs/api.md §11): a rotation under a grace
//! stores the pair it issued, and the token it retired, presented again
//! within the grace, gets that pair back and changes nothing.

use adapters_db::schema::sessions;
use diesel::prelude::*;
use domain::{
    AccessGrant, Action, IssuedPair, ReuseGrace, Rotation, RotationOutcome, SessionRepository,
};

use crate::{NOW, TestDb, audit_actions, event, race, rotation, scopes};

contract!(
    the_retired_token_within_the_grace_gets_the_stored_pair,
    the_retired_token_after_the_grace_is_refused,
    only_the_token_the_latest_rotation_retired_is_answered,
    a_rotation_without_a_grace_leaves_nothing_to_answer,
    a_revoked_expired_or_foreign_family_answers_nothing,
    concurrent_refreshes_with_one_token_share_the_winners_pair,
);

const GRACE: u64 = 10;

/// `current` to `next` at `now` under the grace, issuing access token
/// `access`.
fn graced(
    user_id: i64,
    family: &str,
    current: &str,
    next: &str,
    access: &str,
    now: u64,
) -> Rotation {
    Rotation {
        grace: Some(ReuseGrace {
            access: AccessGrant {
                token_id: access.to_owned(),
                scopes: scopes("me items:read"),
            },
            rotated_after: now.saturating_sub(GRACE),
        }),
        ..rotation(user_id, family, current, next, now)
    }
}

/// The pair a rotation to `next` with access token `access` at `at` issued.
fn pair(next: &str, access: &str, at: u64) -> RotationOutcome {
    RotationOutcome::Replayed(IssuedPair {
        refresh_token_id: next.to_owned(),
        access: AccessGrant {
            token_id: access.to_owned(),
            scopes: scopes("me items:read"),
        },
        issued_at: at,
    })
}

/// What the rotation `rotation` comes to.
fn outcome(db: &crate::Sessions, rotation: &Rotation) -> RotationOutcome {
    db.sessions
        .rotate(rotation, &event(Action::TokenRefreshed))
        .unwrap()
}

fn current_token(db: &crate::Sessions, family: &str) -> String {
    sessions::table
        .filter(sessions::family.eq(family))
        .select(sessions::current_token_id)
        .first(&mut db.pool.get().unwrap())
        .unwrap()
}

fn refreshed_events(db: &crate::Sessions) -> usize {
    audit_actions(&db.pool)
        .iter()
        .filter(|action| *action == "token.refreshed")
        .count()
}

fn the_retired_token_within_the_grace_gets_the_stored_pair(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    assert!(s.start("fam", user.id, "jti-1", NOW + 3600));
    let rotate = |rotation: &Rotation| outcome(&s, rotation);
    assert_eq!(
        rotate(&graced(user.id, "fam", "jti-1", "jti-2", "acc-2", NOW)),
        RotationOutcome::Rotated(scopes("me"))
    );

    // A second tab, a few seconds later, with the same token.
    for late in [0, 1, GRACE - 1] {
        assert_eq!(
            rotate(&graced(
                user.id,
                "fam",
                "jti-1",
                "jti-x",
                "acc-x",
                NOW + late
            )),
            pair("jti-2", "acc-2", NOW),
            "{late} s after the rotation"
        );
    }
    // It changed nothing: the family is still at the first tab's token,
    // which still rotates, and only the rotation was recorded.
    assert_eq!(current_token(&s, "fam"), "jti-2");
    assert_eq!(refreshed_events(&s), 1);
    assert!(s.rotates(user.id, "fam", "jti-2", "jti-3", NOW + 1));
}

fn the_retired_token_after_the_grace_is_refused(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    assert!(s.start("fam", user.id, "jti-1", NOW + 3600));
    let rotated = outcome(&s, &graced(user.id, "fam", "jti-1", "jti-2", "acc-2", NOW));
    assert_eq!(rotated, RotationOutcome::Rotated(scopes("me")));

    let replayed = outcome(
        &s,
        &graced(user.id, "fam", "jti-1", "jti-x", "acc-x", NOW + GRACE),
    );

    assert_eq!(replayed, RotationOutcome::Refused);
    assert_eq!(current_token(&s, "fam"), "jti-2");
}

fn only_the_token_the_latest_rotation_retired_is_answered(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    assert!(s.start("fam", user.id, "jti-1", NOW + 3600));
    let rotate = |rotation: &Rotation| outcome(&s, rotation);
    rotate(&graced(user.id, "fam", "jti-1", "jti-2", "acc-2", NOW));
    rotate(&graced(user.id, "fam", "jti-2", "jti-3", "acc-3", NOW + 1));

    // Two rotations old: a replay, even within the grace of both.
    assert_eq!(
        rotate(&graced(user.id, "fam", "jti-1", "jti-x", "acc-x", NOW + 2)),
        RotationOutcome::Refused
    );
    assert_eq!(
        rotate(&graced(user.id, "fam", "jti-2", "jti-x", "acc-x", NOW + 2)),
        pair("jti-3", "acc-3", NOW + 1)
    );
    // A token never issued in the family.
    assert_eq!(
        rotate(&graced(user.id, "fam", "jti-9", "jti-x", "acc-x", NOW + 2)),
        RotationOutcome::Refused
    );
}

fn a_rotation_without_a_grace_leaves_nothing_to_answer(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    assert!(s.start("fam", user.id, "jti-1", NOW + 3600));
    // Under a grace first, then (the setting turned off) without one: the
    // second rotation replaces what the first stored.
    outcome(&s, &graced(user.id, "fam", "jti-1", "jti-2", "acc-2", NOW));
    assert!(s.rotates(user.id, "fam", "jti-2", "jti-3", NOW + 1));

    for retired in ["jti-1", "jti-2"] {
        assert_eq!(
            outcome(
                &s,
                &graced(user.id, "fam", retired, "jti-x", "acc-x", NOW + 2)
            ),
            RotationOutcome::Refused,
            "{retired}"
        );
    }
    // And a refresh that asks for no grace is never answered with a pair.
    assert!(s.start("fam-b", user.id, "jti-1", NOW + 3600));
    outcome(
        &s,
        &graced(user.id, "fam-b", "jti-1", "jti-2", "acc-2", NOW),
    );
    assert!(!s.rotates(user.id, "fam-b", "jti-1", "jti-x", NOW + 1));
}

fn a_revoked_expired_or_foreign_family_answers_nothing(db: &TestDb) {
    let s = db.sessions(2);
    let user = s.user("agent47");
    let other = s.user("other");
    for family in ["revoked", "expiring", "foreign"] {
        assert!(s.start(family, user.id, "jti-1", NOW + 3600));
        outcome(
            &s,
            &Rotation {
                expires_at: NOW + 5,
                ..graced(user.id, family, "jti-1", "jti-2", "acc-2", NOW)
            },
        );
    }
    assert!(s.revoke("revoked", user.id));
    let replay = |user_id, family: &str, now| {
        outcome(&s, &graced(user_id, family, "jti-1", "jti-x", "acc-x", now))
    };

    assert_eq!(
        replay(user.id, "revoked", NOW + 1),
        RotationOutcome::Refused
    );
    assert_eq!(
        replay(user.id, "expiring", NOW + 5),
        RotationOutcome::Refused
    );
    assert_eq!(
        replay(other.id, "foreign", NOW + 1),
        RotationOutcome::Refused
    );
    // The same replays, live and the owner's, are answered.
    assert_eq!(
        replay(user.id, "expiring", NOW + 4),
        pair("jti-2", "acc-2", NOW)
    );
    assert_eq!(
        replay(user.id, "foreign", NOW + 1),
        pair("jti-2", "acc-2", NOW)
    );
}

fn concurrent_refreshes_with_one_token_share_the_winners_pair(db: &TestDb) {
    // Several browser tabs refreshing at once: one rotates, every other
    // gets its pair, none is refused (which would revoke the family).
    const THREADS: usize = 8;
    const ROUNDS: usize = 10;
    let s = db.sessions(THREADS as u32);
    let user = s.user("agent47");

    for round in 0..ROUNDS {
        let family = format!("fam-{round}");
        assert!(s.start(&family, user.id, "jti-0", NOW + 3600));
        let rotations: Vec<_> = (0..THREADS)
            .map(|i| {
                graced(
                    user.id,
                    &family,
                    "jti-0",
                    &format!("next-{i}"),
                    &format!("acc-{i}"),
                    NOW,
                )
            })
            .collect();

        let outcomes = race(THREADS, |i| outcome(&s, &rotations[i]));

        let winners: Vec<_> = (0..THREADS)
            .filter(|i| matches!(outcomes[*i], RotationOutcome::Rotated(_)))
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        let winner = winners[0];
        let expected = pair(&format!("next-{winner}"), &format!("acc-{winner}"), NOW);
        for (i, outcome) in outcomes.iter().enumerate() {
            if i != winner {
                assert_eq!(*outcome, expected, "round {round}, thread {i}");
            }
        }
        assert_eq!(current_token(&s, &family), format!("next-{winner}"));
        assert_eq!(refreshed_events(&s), round + 1);
    }
}
