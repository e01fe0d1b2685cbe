//! Login attempt reservations (docs/api.md §8).

use adapters_db::schema::login_failures;
use adapters_db::{DbPool, DieselLoginFailureRepository};
use diesel::prelude::*;
use domain::{LoginFailureRepository, Places, Reservation};

use crate::{NOW, TestDb, WINDOW, attempt, race};

contract!(
    a_key_admits_up_to_its_limit_then_says_how_long_to_wait,
    a_reservation_takes_a_place_under_every_key_or_none,
    released_places_and_cleared_keys_no_longer_count,
    reserving_forgets_old_places_of_every_key,
    concurrent_reservations_admit_no_more_than_the_limit,
    failed_login_places_before_the_bound_are_pruned,
);

fn failures(db: &TestDb, size: u32) -> (DieselLoginFailureRepository, DbPool) {
    let pool = db.pool(size);
    (DieselLoginFailureRepository::new(pool.clone()), pool)
}

fn admitted(reservation: Reservation) -> Places {
    match reservation {
        Reservation::Admitted(places) => places,
        Reservation::Refused { retry_after_secs } => {
            panic!("refused, retry after {retry_after_secs} s")
        }
    }
}

fn places_of(pool: &DbPool, key: &str) -> Vec<i64> {
    login_failures::table
        .filter(login_failures::key.eq(key))
        .order(login_failures::failed_at)
        .select(login_failures::failed_at)
        .load(&mut pool.get().unwrap())
        .unwrap()
}

fn a_key_admits_up_to_its_limit_then_says_how_long_to_wait(db: &TestDb) {
    let (repo, pool) = failures(db, 2);
    let t = NOW;
    for (i, at) in [t, t + 100, t + 200].into_iter().enumerate() {
        let places = admitted(repo.reserve(&attempt(&[("user:a", 3)], at)).unwrap());
        assert_eq!(places.0.len(), 1, "attempt {i}");
    }
    // Full: the wait runs until the oldest place leaves the window.
    assert_eq!(
        repo.reserve(&attempt(&[("user:a", 3)], t + 300)).unwrap(),
        Reservation::Refused {
            retry_after_secs: WINDOW - 300
        }
    );
    // A refusal takes no place; other keys are unaffected.
    assert_eq!(places_of(&pool, "user:a").len(), 3);
    admitted(repo.reserve(&attempt(&[("user:b", 3)], t + 300)).unwrap());
    // Once the oldest has left the window, there is room again.
    admitted(
        repo.reserve(&attempt(&[("user:a", 3)], t + WINDOW + 1))
            .unwrap(),
    );
}

fn a_reservation_takes_a_place_under_every_key_or_none(db: &TestDb) {
    let (repo, pool) = failures(db, 2);
    admitted(repo.reserve(&attempt(&[("addr:x", 1)], NOW)).unwrap());

    // The address is full: the username gets no place either.
    let refused = repo
        .reserve(&attempt(&[("user:a", 3), ("addr:x", 1)], NOW + 10))
        .unwrap();
    assert_eq!(
        refused,
        Reservation::Refused {
            retry_after_secs: WINDOW - 10
        }
    );
    assert!(places_of(&pool, "user:a").is_empty());

    let places = admitted(
        repo.reserve(&attempt(&[("user:a", 3), ("addr:y", 1)], NOW + 10))
            .unwrap(),
    );
    assert_eq!(places.0.len(), 2);
    assert_eq!(places_of(&pool, "user:a"), [(NOW + 10) as i64]);
    assert_eq!(places_of(&pool, "addr:y"), [(NOW + 10) as i64]);
}

fn released_places_and_cleared_keys_no_longer_count(db: &TestDb) {
    let (repo, pool) = failures(db, 2);
    let first = admitted(
        repo.reserve(&attempt(&[("user:a", 2), ("addr:x", 5)], NOW))
            .unwrap(),
    );
    admitted(
        repo.reserve(&attempt(&[("user:a", 2), ("addr:x", 5)], NOW + 1))
            .unwrap(),
    );

    repo.release(&first).unwrap();
    assert_eq!(places_of(&pool, "user:a"), [(NOW + 1) as i64]);
    assert_eq!(places_of(&pool, "addr:x"), [(NOW + 1) as i64]);
    admitted(repo.reserve(&attempt(&[("user:a", 2)], NOW + 2)).unwrap());

    repo.clear("user:a").unwrap();
    repo.clear("user:never-tried").unwrap();
    assert!(places_of(&pool, "user:a").is_empty());
    assert_eq!(places_of(&pool, "addr:x"), [(NOW + 1) as i64]);
}

fn reserving_forgets_old_places_of_every_key(db: &TestDb) {
    let (repo, pool) = failures(db, 2);
    admitted(
        repo.reserve(&attempt(&[("user:a", 9), ("addr:b", 9)], NOW))
            .unwrap(),
    );
    admitted(repo.reserve(&attempt(&[("user:c", 9)], NOW + 50)).unwrap());

    // At NOW + WINDOW + 10 the window starts at NOW + 10: the first
    // attempt's places go, the second's stay.
    admitted(
        repo.reserve(&attempt(&[("user:d", 9)], NOW + WINDOW + 10))
            .unwrap(),
    );

    assert!(places_of(&pool, "user:a").is_empty());
    assert!(places_of(&pool, "addr:b").is_empty());
    assert_eq!(places_of(&pool, "user:c"), [(NOW + 50) as i64]);
    let rows: i64 = login_failures::table
        .count()
        .get_result(&mut pool.get().unwrap())
        .unwrap();
    assert_eq!(rows, 2);
}

fn concurrent_reservations_admit_no_more_than_the_limit(db: &TestDb) {
    // The race of docs/api.md §8: 40 guesses at once against a limit of 3, on
    // real connections. A count read before the insert lets most through.
    const THREADS: usize = 40;
    const LIMIT: u32 = 3;
    const ROUNDS: usize = 3;
    let (repo, pool) = failures(db, 8);
    for round in 0..ROUNDS {
        let user_key = format!("user:target{round}");
        let attempts: Vec<_> = (0..THREADS)
            .map(|i| {
                // Each from its own address, and every fourth from a shared
                // one: two keys locked at once, in either order of naming.
                let address = if i % 4 == 0 {
                    "addr:shared".to_owned()
                } else {
                    format!("addr:{round}-{i}")
                };
                attempt(&[(&user_key, LIMIT), (&address, 1000)], NOW)
            })
            .collect();
        let results = race(THREADS, |i| repo.reserve(&attempts[i]).unwrap());

        let admitted = results
            .iter()
            .filter(|r| matches!(r, Reservation::Admitted(_)))
            .count();
        assert_eq!(admitted, LIMIT as usize, "round {round}");
        assert_eq!(places_of(&pool, &user_key).len(), LIMIT as usize);
    }
}

fn failed_login_places_before_the_bound_are_pruned(db: &TestDb) {
    let (repo, pool) = failures(db, 2);
    // Newest first: `reserve` itself forgets places older than its window.
    for (key, at) in [
        ("user:b", NOW),
        ("addr:1", NOW - WINDOW),
        ("user:a", NOW - WINDOW - 1),
    ] {
        admitted(repo.reserve(&attempt(&[(key, 10)], at)).unwrap());
    }
    assert_eq!(repo.prune(NOW - WINDOW).unwrap(), 1);
    let left: Vec<String> = login_failures::table
        .select(login_failures::key)
        .order(login_failures::key)
        .load(&mut pool.get().unwrap())
        .unwrap();
    assert_eq!(left, ["addr:1", "user:b"]);
    assert_eq!(repo.prune(NOW + 1).unwrap(), 2);
}
