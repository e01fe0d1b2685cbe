//! Creating and finding users, and the pool under them.

use std::time::Duration;

use adapters_db::schema::{user_details, users};
use adapters_db::{
    DbPool, DieselUserRepository, build_pool, connect, ping, shared_lookup_connections,
};
use diesel::prelude::*;
use domain::{
    Action, CreateUserError, FullName, NewEvent, NewUser, Origin, Scopes, User, UserDetails,
    UserRepository,
};

use crate::{
    NOW, TestDb, active_user, audit_actions, audit_rows, email, event, name, new_user, phone, race,
    scopes,
};

contract!(
    a_created_user_is_found_with_empty_details,
    an_unknown_username_is_not_found,
    usernames_are_case_sensitive,
    a_taken_username_is_refused_and_adds_no_details_row,
    concurrent_creations_of_one_name_have_exactly_one_winner,
    the_details_row_exists_after_create,
    deleting_a_user_deletes_the_details,
    an_exhausted_pool_is_unavailable,
    ping_answers,
    a_created_user_keeps_its_grants_flags_and_time,
    a_user_is_created_with_their_details_and_the_event,
    a_taken_email_or_phone_refuses_the_creation_and_records_nothing,
    concurrent_bootstraps_of_one_superuser_create_one_and_record_one_event,
    concurrent_lookups_each_find_their_own_user,
    a_lookup_sees_every_change_committed_before_it_under_concurrent_lookups,
    many_concurrent_lookups_hold_no_more_connections_than_promised,
);

fn count_rows(pool: &DbPool) -> (i64, i64) {
    let mut conn = pool.get().unwrap();
    let users: i64 = users::table.count().get_result(&mut conn).unwrap();
    let details: i64 = user_details::table.count().get_result(&mut conn).unwrap();
    (users, details)
}

fn a_created_user_is_found_with_empty_details(db: &TestDb) {
    let (repo, _) = db.repo(2);
    let hash = "$2b$04$abcdefghijklmnopqrstuu5Ih1k1Eo6cc7cvBnD0hXgGmvX4P6vba";

    let created = repo
        .create(
            &new_user("agent47", hash, true),
            &event(Action::UserRegistered),
        )
        .unwrap();
    let inactive = repo
        .create(
            &new_user("sleeper", "other", false),
            &event(Action::UserRegistered),
        )
        .unwrap();

    assert_eq!(created.username.as_ref(), "agent47");
    assert_eq!(created.password_hash.as_ref(), hash);
    assert!(created.is_active);
    assert_eq!(created.details, UserDetails::default());
    assert_ne!(created.id, inactive.id);

    let found = repo.find_by_username(&name("agent47")).unwrap().unwrap();
    assert_eq!(found, created);
    let found: User = repo.find_by_username(&name("sleeper")).unwrap().unwrap();
    assert_eq!(found, inactive);
    assert!(!found.is_active);
}

fn an_unknown_username_is_not_found(db: &TestDb) {
    let (repo, _) = db.repo(2);
    active_user(&repo, "agent47");

    assert_eq!(repo.find_by_username(&name("agent48")).unwrap(), None);
    assert_eq!(repo.find_by_username(&name("agent4")).unwrap(), None);
}

fn usernames_are_case_sensitive(db: &TestDb) {
    let (repo, pool) = db.repo(2);

    let upper = repo
        .create(
            &new_user("Agent", "upper-hash", true),
            &event(Action::UserRegistered),
        )
        .unwrap();
    let lower = repo
        .create(
            &new_user("agent", "lower-hash", true),
            &event(Action::UserRegistered),
        )
        .unwrap();

    assert_ne!(upper.id, lower.id);
    let found_upper = repo.find_by_username(&name("Agent")).unwrap().unwrap();
    let found_lower = repo.find_by_username(&name("agent")).unwrap().unwrap();
    assert_eq!(found_upper.password_hash.as_ref(), "upper-hash");
    assert_eq!(found_lower.password_hash.as_ref(), "lower-hash");
    assert_eq!(repo.find_by_username(&name("AGENT")).unwrap(), None);
    assert_eq!(count_rows(&pool), (2, 2));
}

fn a_taken_username_is_refused_and_adds_no_details_row(db: &TestDb) {
    let (repo, pool) = db.repo(2);
    let first = repo
        .create(
            &new_user("agent47", "first", true),
            &event(Action::UserRegistered),
        )
        .unwrap();

    let second = repo.create(
        &new_user("agent47", "second", false),
        &event(Action::UserRegistered),
    );

    assert!(
        matches!(second, Err(CreateUserError::UsernameTaken)),
        "{second:?}"
    );
    assert_eq!(count_rows(&pool), (1, 1));
    let found = repo.find_by_username(&name("agent47")).unwrap().unwrap();
    assert_eq!(found, first);
    assert_eq!(audit_actions(&pool), ["user.registered"]);
}

fn concurrent_creations_of_one_name_have_exactly_one_winner(db: &TestDb) {
    const THREADS: usize = 8;
    let (repo, pool) = db.repo(THREADS as u32);

    let results = race(THREADS, |i| {
        repo.create(
            &new_user("racer", &format!("hash-{i}"), true),
            &event(Action::UserRegistered),
        )
    });

    let winners = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(CreateUserError::UsernameTaken)))
        .count();
    assert_eq!(
        (winners, taken),
        (1, THREADS - 1),
        "every loser must see UsernameTaken: {results:?}"
    );
    assert_eq!(count_rows(&pool), (1, 1));
    let winner = results.into_iter().find_map(Result::ok).unwrap();
    assert_eq!(
        repo.find_by_username(&name("racer")).unwrap().unwrap(),
        winner
    );
}

fn the_details_row_exists_after_create(db: &TestDb) {
    let (repo, pool) = db.repo(2);
    let user = active_user(&repo, "agent47");

    type DetailsRow = (i64, Option<String>, Option<String>, Option<String>);
    let rows: Vec<DetailsRow> = user_details::table
        .filter(user_details::user_id.eq(user.id))
        .select((
            user_details::user_id,
            user_details::email,
            user_details::phone,
            user_details::full_name,
        ))
        .load(&mut pool.get().unwrap())
        .unwrap();

    assert_eq!(rows, [(user.id, None, None, None)]);
}

fn deleting_a_user_deletes_the_details(db: &TestDb) {
    // Needs foreign keys enforced: on SQLite only the pragma does that.
    let (repo, pool) = db.repo(2);
    let gone = active_user(&repo, "gone");
    active_user(&repo, "kept");

    let mut conn = pool.get().unwrap();
    diesel::delete(users::table.filter(users::id.eq(gone.id)))
        .execute(&mut conn)
        .unwrap();
    drop(conn);

    assert_eq!(count_rows(&pool), (1, 1));
    assert_eq!(repo.find_by_username(&name("gone")).unwrap(), None);
    assert!(repo.find_by_username(&name("kept")).unwrap().is_some());
}

fn an_exhausted_pool_is_unavailable(db: &TestDb) {
    connect(&db.url, 1).unwrap();
    let pool = build_pool(&db.url, 1, Duration::from_millis(200)).unwrap();
    let repo = DieselUserRepository::new(pool.clone());
    let _held = pool.get().unwrap();

    let found = repo.find_by_username(&name("agent47"));
    let created = repo.create(
        &new_user("agent47", "h", true),
        &event(Action::UserRegistered),
    );
    let pinged = ping(&pool);

    assert!(
        matches!(found, Err(domain::InfraError::Unavailable(_))),
        "{found:?}"
    );
    assert!(
        matches!(
            created,
            Err(CreateUserError::Infra(domain::InfraError::Unavailable(_)))
        ),
        "{created:?}"
    );
    assert!(
        matches!(pinged, Err(domain::InfraError::Unavailable(_))),
        "{pinged:?}"
    );
}

fn ping_answers(db: &TestDb) {
    ping(&db.pool(1)).unwrap();
}

fn a_created_user_keeps_its_grants_flags_and_time(db: &TestDb) {
    let (repo, pool) = db.repo(2);
    let grants = scopes("me items:read admin");

    let created = repo
        .create(
            &NewUser {
                is_superuser: true,
                scopes: grants.clone(),
                created_at: NOW + 5,
                ..new_user("root", "h", true)
            },
            &event(Action::AdminUserCreated),
        )
        .unwrap();
    let plain = repo
        .create(
            &NewUser {
                scopes: Scopes::empty(),
                ..new_user("nobody", "h", true)
            },
            &event(Action::UserRegistered),
        )
        .unwrap();

    assert!(created.is_superuser);
    assert_eq!(created.scopes, grants);
    assert_eq!(created.created_at, NOW + 5);
    assert_eq!(repo.find_by_username(&name("root")).unwrap(), Some(created));
    assert!(!plain.is_superuser);
    assert_eq!(plain.scopes, Scopes::empty());
    assert_eq!(repo.find_by_username(&name("nobody")).unwrap(), Some(plain));
    // Stored as the canonical text form.
    let stored: Vec<String> = users::table
        .order(users::id)
        .select(users::scopes)
        .load(&mut pool.get().unwrap())
        .unwrap();
    assert_eq!(stored, ["admin items:read me", ""]);
}

fn a_user_is_created_with_their_details_and_the_event(db: &TestDb) {
    let (repo, pool) = db.repo(2);
    let details = UserDetails {
        email: Some(email("Agent@Example.com")),
        phone: Some(phone("+44123456789")),
        full_name: Some(FullName::parse("Agent 47").unwrap()),
    };
    let origin = Origin::new(Some("10.0.0.1".into()), Some("curl/8"), Some("req-1"));

    let created = repo
        .create(
            &NewUser {
                details: details.clone(),
                ..new_user("agent47", "h", true)
            },
            &NewEvent {
                actor: Some(name("root")),
                ..NewEvent::by(&name("agent47"), Action::AdminUserCreated, &origin, NOW)
            },
        )
        .unwrap();

    assert_eq!(created.details, details);
    assert_eq!(
        repo.find_by_username(&name("agent47")).unwrap(),
        Some(created)
    );
    assert_eq!(
        audit_rows(&pool),
        [("admin.user_created".to_owned(), Some("agent47".to_owned()))]
    );
}

fn a_taken_email_or_phone_refuses_the_creation_and_records_nothing(db: &TestDb) {
    let (repo, pool) = db.repo(2);
    let with = |email_raw: Option<&str>, phone_raw: Option<&str>| UserDetails {
        email: email_raw.map(email),
        phone: phone_raw.map(phone),
        full_name: None,
    };
    repo.create(
        &NewUser {
            details: with(Some("owner@example.com"), Some("+11111111")),
            ..new_user("owner", "h", true)
        },
        &event(Action::UserRegistered),
    )
    .unwrap();

    let email_taken = repo.create(
        &NewUser {
            // Compared lower-cased: `Email` lower-cases on the way in.
            details: with(Some("OWNER@example.com"), Some("+22222222")),
            ..new_user("second", "h", true)
        },
        &event(Action::UserRegistered),
    );
    let phone_taken = repo.create(
        &NewUser {
            details: with(Some("third@example.com"), Some("+11111111")),
            ..new_user("third", "h", true)
        },
        &event(Action::UserRegistered),
    );

    assert!(
        matches!(email_taken, Err(CreateUserError::EmailTaken)),
        "{email_taken:?}"
    );
    assert!(
        matches!(phone_taken, Err(CreateUserError::PhoneTaken)),
        "{phone_taken:?}"
    );
    assert_eq!(count_rows(&pool), (1, 1));
    assert_eq!(repo.find_by_username(&name("second")).unwrap(), None);
    assert_eq!(audit_actions(&pool), ["user.registered"]);
    // Neither blocks the name it tried: without the clash it is created.
    repo.create(
        &NewUser {
            details: with(Some("second@example.com"), None),
            ..new_user("second", "h", true)
        },
        &event(Action::UserRegistered),
    )
    .unwrap();
}

fn concurrent_bootstraps_of_one_superuser_create_one_and_record_one_event(db: &TestDb) {
    // Instances starting together each create DB__FIRST_SUPERUSER.
    const THREADS: usize = 8;
    let (repo, pool) = db.repo(THREADS as u32);
    let superuser = NewUser {
        is_superuser: true,
        scopes: scopes("admin me"),
        ..new_user("root", "h", true)
    };
    let bootstrap = NewEvent {
        at: NOW,
        action: Action::AdminUserCreated,
        actor: None,
        subject: Some(name("root")),
        origin: Origin::default(),
    };

    let results = race(THREADS, |_| repo.create(&superuser, &bootstrap));

    let winners = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(CreateUserError::UsernameTaken)))
        .count();
    assert_eq!((winners, taken), (1, THREADS - 1), "{results:?}");
    assert_eq!(count_rows(&pool), (1, 1));
    assert_eq!(
        audit_rows(&pool),
        [("admin.user_created".to_owned(), Some("root".to_owned()))]
    );
    let winner = results.into_iter().find_map(Result::ok).unwrap();
    assert!(winner.is_superuser);
    assert_eq!(repo.find_by_username(&name("root")).unwrap(), Some(winner));
}

fn concurrent_lookups_each_find_their_own_user(db: &TestDb) {
    // On Postgres concurrent lookups share queries: each still gets its
    // own user (or none), whoever else was in its batch.
    const THREADS: usize = 12;
    let (repo, _) = db.repo(THREADS as u32);
    let names = ["alice", "bob", "carol", "dave"];
    for name in names {
        active_user(&repo, name);
    }
    let found = race(THREADS, |i| {
        (0..40)
            .map(|round| {
                let wanted = if (i + round) % 5 == 4 {
                    "nobody"
                } else {
                    names[(i + round) % 4]
                };
                let user = repo.find_by_username(&name(wanted)).unwrap();
                (wanted, user.map(|user| user.username.to_string()))
            })
            .collect::<Vec<_>>()
    });
    for (wanted, user) in found.into_iter().flatten() {
        if wanted == "nobody" {
            assert_eq!(user, None);
        } else {
            assert_eq!(user.as_deref(), Some(wanted));
        }
    }
}

fn a_lookup_sees_every_change_committed_before_it_under_concurrent_lookups(db: &TestDb) {
    // Other threads look the user up all the time, so on Postgres there is
    // always a batch in flight: a lookup made after a change has committed
    // must not be answered by a query that began before it (a deactivated
    // user is refused at the next request).
    const READERS: usize = 6;
    let (repo, _) = db.repo(READERS as u32 + 2);
    let user = active_user(&repo, "agent47");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..READERS {
            scope.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    repo.find_by_username(&name("agent47")).unwrap();
                }
            });
        }
        // The readers stop when the checks end, passed or failed.
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for round in 0..40 {
                let active = round % 2 == 1;
                repo.update(
                    user.id,
                    &domain::UserChange {
                        is_active: Some(active),
                        ..domain::UserChange::default()
                    },
                    &event(Action::AdminUserUpdated),
                )
                .unwrap();
                let seen = repo.find_by_username(&name("agent47")).unwrap().unwrap();
                assert_eq!(seen.is_active, active, "round {round}");
            }
        }));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Err(panic) = checked {
            std::panic::resume_unwind(panic);
        }
    });
}

/// The app sizes its lookup lane's connections by
/// `shared_lookup_connections` (many threads, a few connections): on
/// Postgres lookups from many threads at once never hold more. 24 threads
/// look up on a pool of 24 while a watcher counts the connections checked
/// out (checked: with batching off it sees a dozen and more).
fn many_concurrent_lookups_hold_no_more_connections_than_promised(db: &TestDb) {
    let Some(connections) = shared_lookup_connections(&db.url) else {
        // SQLite: each lookup takes a connection of its own.
        assert!(db.url.is_sqlite());
        return;
    };
    const THREADS: usize = 24;
    let (repo, pool) = db.repo(THREADS as u32);
    for index in 0..THREADS {
        active_user(&repo, &format!("user{index}"));
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    let most = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let state = pool.state();
                most = most.max(state.connections - state.idle_connections);
            }
            most
        });
        let lookups: Vec<_> = (0..THREADS)
            .map(|index| {
                let repo = &repo;
                scope.spawn(move || {
                    let mine = name(&format!("user{index}"));
                    for round in 0..100 {
                        let found = repo.find_by_username(&mine);
                        assert!(
                            matches!(&found, Ok(Some(user)) if user.username == mine),
                            "thread {index}, round {round}: {found:?}"
                        );
                    }
                })
            })
            .collect();
        for lookup in lookups {
            lookup.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        watcher.join().unwrap()
    });
    assert!(
        most <= connections,
        "{most} connections checked out at once (promised at most {connections})"
    );
}
