//! The periodic upkeep task, driven with an injected clock: expired
//! sessions and old failed logins go without their user logging in again.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use adapters_db::{
    DbPool,
    schema::{login_failures, sessions},
    test_support::fresh_sqlite,
};
use adapters_http::{Lanes, WorkerPool};
use app::{config::Settings, startup::wire_with_clock, upkeep::prune_periodically};
use diesel::prelude::*;
use domain::{Clock, LoginRequest, Origin, Password, RegisterRequest, Username};

/// A clock the test moves on by hand.
struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

const START: u64 = 1_700_000_000;
const REFRESH_MINS: u64 = 60;
const WINDOW_MINS: u64 = 15;

fn rows(pool: &DbPool) -> (i64, i64) {
    let mut conn = pool.get().unwrap();
    (
        sessions::table.count().get_result(&mut conn).unwrap(),
        login_failures::table.count().get_result(&mut conn).unwrap(),
    )
}

/// Waits up to five seconds for the rows to be `expected`.
async fn until_rows(pool: &DbPool, expected: (i64, i64)) -> (i64, i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = rows(pool);
        if now == expected || Instant::now() > deadline {
            return now;
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
}

fn login(username: &str, password: &str) -> LoginRequest {
    LoginRequest {
        username: username.to_owned(),
        password: password.to_owned().into(),
        scope: None,
        origin: Origin {
            client_address: Some("192.0.2.7".to_owned()),
            ..Origin::default()
        },
    }
}

#[actix_web::test]
async fn the_task_prunes_what_the_clock_says_has_expired() {
    let (_dir, url) = fresh_sqlite();
    let settings = Settings::from_vars(
        [
            ("DB__URL", url.as_str()),
            ("AUTH__ROUNDS", "4"),
            ("AUTH__REFRESH_TOKEN_EXPIRE_MINS", "60"),
            ("AUTH__LOGIN_WINDOW_MINS", "15"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .unwrap();
    let clock = Arc::new(TestClock(AtomicU64::new(START)));
    let wired = wire_with_clock(&settings, clock.clone()).unwrap();
    let (service, pool) = (wired.service, wired.pool);
    service
        .register(RegisterRequest {
            username: Username::parse("agent47").unwrap(),
            password: Password::parse("correct horse battery").unwrap(),
            is_active: true,
            origin: Origin::default(),
        })
        .unwrap();
    let attempt = service
        .admit_login(login("agent47", "correct horse battery"))
        .unwrap();
    service.login(attempt).unwrap();
    // A failure by someone else: a place under their name and the address.
    let attempt = service
        .admit_login(login("agent48", "a wrong guess"))
        .unwrap();
    assert!(service.login(attempt).is_err());
    assert_eq!(rows(&pool), (1, 2));

    let lanes = Arc::new(Lanes::new(
        WorkerPool::new("db", 1, 8),
        WorkerPool::new("hashing", 1, 8),
    ));
    let task = prune_periodically(service, lanes, Duration::from_millis(20));

    // Passes run, but nothing has expired yet.
    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rows(&pool), (1, 2));

    // Past the failed-login window: the places go, the session stays.
    clock
        .0
        .store(START + WINDOW_MINS * 60 + 1, Ordering::SeqCst);
    assert_eq!(until_rows(&pool, (1, 0)).await, (1, 0));

    // Past the refresh lifetime: the session goes too.
    clock.0.store(START + REFRESH_MINS * 60, Ordering::SeqCst);
    assert_eq!(until_rows(&pool, (0, 0)).await, (0, 0));
    task.abort();
}
