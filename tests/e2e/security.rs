//! Security guarantees of the login core (docs/api.md §8, issue 10): limits that
//! hold under concurrency, sessions that do not outlive their credential,
//! refresh tokens bound to their owner, the client address behind a proxy,
//! timing after a cost change, text that never reaches the database as an
//! error, look-alike emails, slow and malformed requests, keys and files.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::{Barrier, mpsc},
    thread,
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{
    ACCESS_SECRET, Backend, Database, PASSWORD, REFRESH_SECRET, Reply, TestApp, binary, now,
    raw_exchange,
};

// --- helpers -----------------------------------------------------------------

/// One login as a client sees it, without the suite's conformance check (a
/// storm may answer off the contract, and the test should say how).
#[derive(Debug, Clone)]
struct Attempt {
    status: u16,
    retry_after: Option<String>,
    refresh_token: Option<String>,
    started: Instant,
    ended: Instant,
}

fn attempt_login(
    app: &TestApp,
    username: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> Attempt {
    let request = headers.iter().fold(
        ureq::post(&app.url("/api/auth/token")).timeout(Duration::from_secs(60)),
        |request, (name, value)| request.set(name, value),
    );
    let started = Instant::now();
    let answer = request.send_form(&[("username", username), ("password", password)]);
    let ended = Instant::now();
    let response = match answer {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("login of {username} failed in transport: {error}"),
    };
    let status = response.status();
    let retry_after = response.header("Retry-After").map(str::to_owned);
    let body: Value = response.into_json().unwrap_or(Value::Null);
    Attempt {
        status,
        retry_after,
        refresh_token: body["refresh_token"].as_str().map(str::to_owned),
        started,
        ended,
    }
}

/// How many attempts were sent before the first password check (an
/// attempt answered 401 or 202) had finished: those raced the checks. A
/// refusal (429) answers at once, so overlap among the answers themselves
/// says nothing once the limit works.
fn sent_during_the_first_check(attempts: &[Attempt]) -> usize {
    let Some(first_check_done) = attempts
        .iter()
        .filter(|a| a.status == 401 || a.status == 202)
        .map(|a| a.ended)
        .min()
    else {
        return 0;
    };
    attempts
        .iter()
        .filter(|a| a.started < first_check_done)
        .count()
}

/// Runs `count` logins at once (released together by a barrier), and
/// checks that at least half of them were sent while the first password
/// check was still running.
fn storm(
    app: &TestApp,
    count: usize,
    credentials: impl Fn(usize) -> (String, String) + Sync,
) -> Vec<Attempt> {
    let barrier = Barrier::new(count);
    let attempts: Vec<Attempt> = thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|i| {
                let (barrier, credentials) = (&barrier, &credentials);
                scope.spawn(move || {
                    let (username, password) = credentials(i);
                    barrier.wait();
                    attempt_login(app, &username, &password, &[])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let racing = sent_during_the_first_check(&attempts);
    assert!(
        racing >= count / 2,
        "the logins did not race the password checks ({racing} sent before the \
         first check ended): {:?}",
        statuses(&attempts)
    );
    attempts
}

fn statuses(attempts: &[Attempt]) -> Vec<u16> {
    attempts.iter().map(|a| a.status).collect()
}

fn assert_refusals_say_when(attempts: &[Attempt]) {
    for refused in attempts.iter().filter(|a| a.status == 429) {
        let retry_after: u64 = refused
            .retry_after
            .as_deref()
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("a 429 without a numeric Retry-After: {refused:?}"));
        assert!(retry_after >= 1, "{refused:?}");
    }
}

fn refresh(app: &TestApp, token: &str) -> Reply {
    app.post_json("/api/auth/token/refresh", &json!({"refresh_token": token}))
}

fn logout(app: &TestApp, token: &str) -> Reply {
    app.post_json("/api/auth/logout", &json!({"refresh_token": token}))
}

/// The claims of a JWT, read without checking it.
fn payload(token: &str) -> Value {
    let middle = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(middle).expect("base64url")).expect("JSON")
}

/// Signs `claims` with a real key, as whoever stole it would.
fn sign(key: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

fn access_claims(sub: &str) -> Value {
    json!({"sub": sub, "exp": now() + 600, "iat": now(), "jti": "forged-access",
           "type": "access", "iss": "zentra"})
}

/// `claims` with `field` set to `value`.
fn with(mut claims: Value, field: &str, value: &str) -> Value {
    claims[field] = json!(value);
    claims
}

/// The bcrypt cost and the failed-login limits per username and per address.
fn settings(
    rounds: &'static str,
    per_username: &'static str,
    per_address: &'static str,
) -> [(&'static str, &'static str); 3] {
    [
        ("AUTH__ROUNDS", rounds),
        ("AUTH__LOGIN_MAX_FAILURES", per_username),
        ("AUTH__LOGIN_MAX_FAILURES_PER_ADDRESS", per_address),
    ]
}

const INVALID_REFRESH: &str = "Invalid refresh token.";
const TOO_MANY: &str = "Too many requests, try again later.";

// --- 1. failed-login limits under concurrency -------------------------------

fn concurrent_guesses_get_at_most_the_limit(backend: Backend) {
    const LIMIT: usize = 3;
    const GUESSES: usize = 40;

    // Per username: 40 guesses at once, one of them right.
    let Some((app, _db)) = TestApp::spawn_with(backend, &settings("10", "3", "1000")) else {
        return;
    };
    assert_eq!(app.register("target", PASSWORD).status, 201);
    let right = 17;
    let attempts = storm(&app, GUESSES, |i| {
        let password = if i == right {
            PASSWORD.to_owned()
        } else {
            format!("wrong guess {i}")
        };
        ("target".to_owned(), password)
    });
    let all = statuses(&attempts);
    let checked = all.iter().filter(|&&s| s == 401).count();
    let succeeded = all.iter().filter(|&&s| s == 202).count();
    // A success releases its place and clears the count, so a straggler
    // arriving after it may be checked afresh: at most L - 1 wrong guesses
    // beside it, and L after it.
    let allowed = if succeeded == 1 { 2 * LIMIT - 1 } else { LIMIT };
    assert!(
        checked <= allowed && succeeded <= 1,
        "{checked} wrong guesses had their password checked (at most {allowed} with \
         AUTH__LOGIN_MAX_FAILURES={LIMIT}), {succeeded} succeeded: {all:?}"
    );
    assert!(checked >= 1, "no guess was checked at all: {all:?}");
    assert!(
        all.iter().all(|s| [202, 401, 429].contains(s)),
        "only 202, 401 and 429 are allowed (no 5xx, no 503 shedding): {all:?}"
    );
    assert_refusals_say_when(&attempts);
    drop(app);

    // Per address: 40 guesses at once at 40 usernames (some registered,
    // most not), all from 127.0.0.1.
    let Some((app, _db)) = TestApp::spawn_with(backend, &settings("10", "1000", "3")) else {
        return;
    };
    for i in 0..4 {
        assert_eq!(app.register(&format!("known-{i}"), PASSWORD).status, 201);
    }
    assert_eq!(app.register("bystander", PASSWORD).status, 201);
    let attempts = storm(&app, GUESSES, |i| {
        let name = if i % 10 == 0 {
            format!("known-{}", i / 10)
        } else {
            format!("unknown-{i}")
        };
        (name, format!("wrong guess {i}"))
    });
    let all = statuses(&attempts);
    let checked = all.iter().filter(|&&s| s == 401).count();
    assert!(
        (1..=LIMIT).contains(&checked),
        "{checked} guesses from one address had a password checked (at most \
         AUTH__LOGIN_MAX_FAILURES_PER_ADDRESS={LIMIT}): {all:?}"
    );
    assert!(
        all.iter().all(|s| [401, 429].contains(s)),
        "only 401 and 429 are allowed (no 5xx, no 503 shedding): {all:?}"
    );
    assert_refusals_say_when(&attempts);
    // The address is locked now, even for a right password.
    app.login("bystander", PASSWORD)
        .assert_error(429, "429_TOO_MANY_REQUESTS", TOO_MANY);
}

// --- 2. sessions do not outlive their credential ----------------------------

fn in_flight_logins_do_not_survive_a_password_change(backend: Backend) {
    const LOGINS: usize = 8;
    const ROUNDS: usize = 4;
    let Some((app, _db)) = TestApp::spawn_with(backend, &settings("9", "1000", "1000")) else {
        return;
    };
    let mut accepted = 0;
    let mut overlapping = 0;
    for round in 0..ROUNDS {
        let name = format!("changer-{round}");
        let new_password = format!("brand new horse {round}");
        assert_eq!(app.register(&name, PASSWORD).status, 201);
        // One login alone: its token for the change, its time for the pace.
        let alone = attempt_login(&app, &name, PASSWORD, &[]);
        assert_eq!(alone.status, 202, "{alone:?}");
        let access = {
            let tokens = app.login(&name, PASSWORD);
            assert_eq!(tokens.status, 202, "{}", tokens.body);
            tokens.str("access_token")
        };
        let pace = (alone.ended - alone.started).max(Duration::from_millis(5));

        // The change starts at once; the logins are spread over the time it
        // takes (its check and its new hash), a few starting just before.
        let barrier = Barrier::new(LOGINS + 1);
        let (logins, change) = thread::scope(|scope| {
            let logins: Vec<_> = (0..LOGINS)
                .map(|i| {
                    let (barrier, name, app) = (&barrier, &name, &app);
                    scope.spawn(move || {
                        barrier.wait();
                        thread::sleep(pace * u32::try_from(i).unwrap() / 2);
                        attempt_login(app, name, PASSWORD, &[])
                    })
                })
                .collect();
            let change = scope.spawn(|| {
                barrier.wait();
                thread::sleep(pace / 2);
                let started = Instant::now();
                let reply = app.post_json_bearer(
                    "/api/auth/users/me/password",
                    &access,
                    &json!({"current_password": PASSWORD, "new_password": new_password}),
                );
                (reply, started, Instant::now())
            });
            let logins: Vec<Attempt> = logins.into_iter().map(|h| h.join().unwrap()).collect();
            (logins, change.join().unwrap())
        });
        let (changed, change_started, change_ended) = change;
        assert_eq!(changed.status, 200, "round {round}: {}", changed.body);
        let all = statuses(&logins);
        assert!(
            all.iter().all(|s| [202, 401].contains(s)),
            "round {round}: logins answered {all:?}"
        );
        overlapping += logins
            .iter()
            .filter(|a| a.started < change_ended && a.ended > change_started)
            .count();

        // Whatever each login answered, no session issued for the old
        // password is alive after the change.
        for (i, login) in logins.iter().enumerate().filter(|(_, a)| a.status == 202) {
            accepted += 1;
            let token = login
                .refresh_token
                .as_deref()
                .expect("a 202 has a refresh token");
            let refreshed = refresh(&app, token);
            assert_eq!(
                (refreshed.status, refreshed.body["message"].as_str()),
                (401, Some(INVALID_REFRESH)),
                "round {round}: the session of login {i} (of {all:?}, the change took \
                 {:?}) outlived the password change: {}",
                change_ended - change_started,
                refreshed.body
            );
        }
        assert_eq!(
            app.login(&name, PASSWORD).status,
            401,
            "round {round}: the old password still works"
        );
        assert_eq!(app.login(&name, &new_password).status, 202, "round {round}");
    }
    // Not vacuous: logins were in flight during the changes, and some of
    // them were accepted (so their sessions were there to be revoked).
    assert!(overlapping >= 1, "no login overlapped a password change");
    assert!(accepted >= 1, "no login was accepted in any round");
}

// --- 3. the password change is not a guessing oracle -------------------------

fn password_change_is_not_an_oracle(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, &[("AUTH__LOGIN_MAX_FAILURES", "3")])
    else {
        return;
    };
    let (access, refresh_token) = app.signed_in("agent47");
    let change = |current: &str| {
        app.post_json_bearer(
            "/api/auth/users/me/password",
            &access,
            &json!({"current_password": current, "new_password": "brand new horse"}),
        )
    };
    for guess in ["guess one", "guess two", "guess three"] {
        change(guess).assert_error(401, "401_UNAUTHORIZED", "Incorrect password.");
    }
    // The username is locked: even the right current password is refused
    // before it is checked.
    let locked = change(PASSWORD);
    locked.assert_error(429, "429_TOO_MANY_REQUESTS", TOO_MANY);
    let retry_after: u64 = locked
        .header("Retry-After")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric Retry-After: {:?}", locked.headers));
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(
        locked.body["headers"]["Retry-After"],
        retry_after.to_string()
    );

    // One limit per username: login is locked too, old and new password.
    app.login("agent47", PASSWORD)
        .assert_error(429, "429_TOO_MANY_REQUESTS", TOO_MANY);
    assert_eq!(app.login("agent47", "brand new horse").status, 429);
    // Nothing changed: a change would have revoked every session.
    assert_eq!(
        refresh(&app, &refresh_token).status,
        201,
        "the refused change revoked the sessions"
    );
}

// --- 4. refresh binds to its owner -------------------------------------------

fn refresh_token_of_another_user_is_refused(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (_, alice) = app.signed_in("alice");
    let (_, bob) = app.signed_in("bob");

    // Bob's name on alice's session (its family and its current token id),
    // signed with the real refresh key.
    let as_bob = |token: &str| sign(REFRESH_SECRET, &with(payload(token), "sub", "bob"));
    let hijack = refresh(&app, &as_bob(&alice));
    hijack.assert_error(401, "401_UNAUTHORIZED", INVALID_REFRESH);
    // Nothing changed: alice's token is still the current one of her session.
    let rotated = refresh(&app, &alice);
    assert_eq!(
        rotated.status, 201,
        "alice's session was touched: {}",
        rotated.body
    );
    let alice = rotated.str("refresh_token");

    // Logout with such a token ends nothing (and still answers 200).
    let out = logout(&app, &as_bob(&alice));
    assert_eq!(out.status, 200, "{}", out.body);
    let rotated = refresh(&app, &alice);
    assert_eq!(
        rotated.status, 201,
        "a logout token naming bob ended alice's session: {}",
        rotated.body
    );
    // Bob's own session is untouched as well.
    assert_eq!(refresh(&app, &bob).status, 201);
}

// --- 5. the client address behind a trusted proxy ----------------------------

fn forwarded_for_uses_the_proxy_appended_entry(backend: Backend) {
    let mut trusting = settings("4", "1000", "3").to_vec();
    trusting.push(("SERVER__TRUST_FORWARDED_FOR", "true"));
    let Some((app, _db)) = TestApp::spawn_with(backend, &trusting) else {
        return;
    };
    let mut guess = 0;
    let mut wrong_login = |forwarded_for: Option<&str>| {
        guess += 1;
        let name = format!("nobody-{guess}");
        let headers: Vec<(&str, &str)> = forwarded_for
            .map(|value| ("X-Forwarded-For", value))
            .into_iter()
            .collect();
        attempt_login(&app, &name, "a wrong guess", &headers).status
    };

    let mut wrong = Vec::new();
    let mut expect = |what: &str, answers: Vec<u16>, expected: &[u16]| {
        if answers != expected {
            wrong.push(format!("{what}: {answers:?}, expected {expected:?}"));
        }
    };
    // The proxy appends the address it saw; whatever the client sent before
    // it is the client's invention (and changes with every request here).
    let answers = (1..=4)
        .map(|i| wrong_login(Some(&format!("203.0.113.{i}, 198.51.100.7"))))
        .collect();
    expect(
        "the right-most entry is the client",
        answers,
        &[401, 401, 401, 429],
    );
    // Per address: another one is still welcome.
    let answers = vec![wrong_login(Some("203.0.113.1, 198.51.100.9"))];
    expect("another address", answers, &[401]);

    // An IPv4-mapped IPv6 address is the IPv4 address.
    let answers = [
        "::ffff:198.51.100.8",
        "198.51.100.8",
        "::ffff:198.51.100.8",
        "198.51.100.8",
    ]
    .iter()
    .enumerate()
    .map(|(i, address)| wrong_login(Some(&format!("192.0.2.{}, {address}", i + 10))))
    .collect();
    expect(
        "::ffff:198.51.100.8 is 198.51.100.8",
        answers,
        &[401, 401, 401, 429],
    );

    // IPv6 clients count per /64.
    let answers = [
        "2001:db8:1:2::1",
        "2001:db8:1:2:aaaa::7",
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
        "2001:db8:1:2::2",
    ]
    .iter()
    .enumerate()
    .map(|(i, address)| wrong_login(Some(&format!("192.0.2.{}, {address}", i + 20))))
    .collect();
    expect("one /64 is one client", answers, &[401, 401, 401, 429]);
    let answers = vec![wrong_login(Some("2001:db8:1:3::1"))];
    expect("another /64 is another client", answers, &[401]);

    // Anything unparsable falls back to the socket's peer (127.0.0.1), so it
    // shares a count with requests that send no header at all.
    let answers = vec![
        wrong_login(Some("not-an-ip")),
        wrong_login(None),
        wrong_login(Some("198.51.100.20, not-an-ip")),
        wrong_login(None),
    ];
    expect(
        "an unparsable entry is the peer",
        answers,
        &[401, 401, 401, 429],
    );
    assert!(
        wrong.is_empty(),
        "X-Forwarded-For read off §8 (wrong guesses at fresh usernames, \
         AUTH__LOGIN_MAX_FAILURES_PER_ADDRESS=3):\n{}",
        wrong.join("\n")
    );
}

// --- 6. timing after a cost change --------------------------------------------

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Medians of `runs` alternating wrong-password logins of `user` and
/// logins of an unknown user.
fn wrong_vs_unknown(app: &TestApp, user: &str, runs: usize) -> (Duration, Duration) {
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let a = attempt_login(app, user, "a wrong password", &[]);
        assert_eq!(a.status, 401, "{a:?}");
        wrong.push(a.ended - a.started);
        let b = attempt_login(app, &format!("ghost-{i}"), "a wrong password", &[]);
        assert_eq!(b.status, 401, "{b:?}");
        unknown.push(b.ended - b.started);
    }
    (median(wrong), median(unknown))
}

fn timing_after_a_cost_change_reveals_nothing(backend: Backend) {
    let Some(database) = Database::fresh(backend) else {
        return;
    };
    {
        let app = TestApp::start(database.url(), &settings("4", "1000", "1000"));
        assert_eq!(app.register("veteran", PASSWORD).status, 201);
    }
    assert!(
        database
            .stored_password_hash("veteran")
            .starts_with("$2b$04$")
    );

    let app = TestApp::start(database.url(), &settings("10", "1000", "1000"));
    let (wrong, unknown) = wrong_vs_unknown(&app, "veteran", 9);
    assert!(
        unknown >= Duration::from_millis(10),
        "an unknown user's login ({unknown:?}) is not paying for cost 10"
    );
    assert!(
        wrong.as_secs_f64() >= 0.6 * unknown.as_secs_f64(),
        "a wrong password against a cost-4 hash ({wrong:?}) answers faster than an unknown \
         user at cost 10 ({unknown:?}): timing reveals the account"
    );

    // A successful login re-hashes at the configured cost.
    assert_eq!(app.login("veteran", PASSWORD).status, 202);
    let stored = database.stored_password_hash("veteran");
    assert!(
        stored.starts_with("$2b$10$"),
        "not re-hashed at cost 10: {}",
        &stored[..7]
    );
    let (wrong, unknown) = wrong_vs_unknown(&app, "veteran", 9);
    assert!(
        wrong.as_secs_f64() >= 0.6 * unknown.as_secs_f64(),
        "after the re-hash: wrong password {wrong:?}, unknown user {unknown:?}"
    );
    assert_eq!(
        app.login("veteran", PASSWORD).status,
        202,
        "the re-hashed password works"
    );
}

// --- 7. NUL never reaches the database ------------------------------------------

/// One input of the NUL sweep and what §8 says it gets.
struct Case {
    what: String,
    reply: Reply,
    allowed: &'static [u16],
    message: Option<&'static str>,
    /// A 422 must name this field in its details.
    field: Option<&'static str>,
}

impl Case {
    fn new(
        what: &str,
        reply: Reply,
        allowed: &'static [u16],
        message: Option<&'static str>,
    ) -> Self {
        Self {
            what: what.to_owned(),
            reply,
            allowed,
            message,
            field: None,
        }
    }

    fn naming(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// What is off §8 in this answer, if anything.
    fn complaint(&self) -> Option<String> {
        let reply = &self.reply;
        let named = |field: &str| {
            reply.body["details"]
                .as_array()
                .is_some_and(|details| details.iter().any(|d| d["field"] == field))
        };
        let ok = self.allowed.contains(&reply.status)
            && self
                .message
                .is_none_or(|message| reply.body["message"] == message)
            && self.field.is_none_or(named);
        (!ok).then(|| {
            format!(
                "{}: {} {} (expected {:?} {:?} naming {:?})",
                self.what, reply.status, reply.body, self.allowed, self.message, self.field
            )
        })
    }
}

fn nul_never_reaches_the_database(backend: Backend) {
    const CREDENTIALS: Option<&str> = Some("Incorrect username or password.");
    const TOKEN: Option<&str> = Some("Could not validate credentials.");
    const LOGGED_OUT: Option<&str> = Some("Logged out.");
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (access, mut alice) = app.signed_in("alice");
    // Alice's refresh claims, for well-signed forgeries with one NUL each.
    let claims = payload(&alice);
    let family = claims["fam"].as_str().unwrap().to_owned();
    let jti = claims["jti"].as_str().unwrap().to_owned();
    // The control: a forgery with the real key and no NUL is accepted, so
    // each refusal below is due to its NUL alone.
    let control = sign(ACCESS_SECRET, &access_claims("alice"));
    assert_eq!(app.get("/api/auth/users/me", Some(&control)).status, 200);

    let nul = "\u{0}";
    let form = Some("application/x-www-form-urlencoded");
    let mut cases = vec![
        // Registration: a body → 422.
        Case::new(
            "register username",
            app.register(&format!("ali{nul}ce2"), PASSWORD),
            &[422],
            None,
        )
        .naming("username"),
        Case::new(
            "register password",
            app.register("alice3", &format!("correct{nul}horse battery")),
            &[422],
            None,
        )
        .naming("password"),
        // Login: credentials → 401, as a form and as JSON.
        Case::new(
            "login form username",
            app.login(&format!("ali{nul}ce"), PASSWORD),
            &[401],
            CREDENTIALS,
        ),
        Case::new(
            "login form password",
            app.login("alice", &format!("{PASSWORD}{nul}")),
            &[401],
            CREDENTIALS,
        ),
        Case::new(
            "login JSON username",
            app.post_json(
                "/api/auth/token",
                &json!({"username": format!("{nul}alice"), "password": PASSWORD}),
            ),
            &[401],
            CREDENTIALS,
        ),
        Case::new(
            "login JSON password",
            app.post_json(
                "/api/auth/token",
                &json!({"username": "alice", "password": nul}),
            ),
            &[401],
            CREDENTIALS,
        ),
        // Invalid UTF-8 and lone surrogates: refused, and never a 5xx.
        Case::new(
            "login form invalid UTF-8",
            app.post_raw("/api/auth/token", form, "username=%FF%FEx&password=x%C0"),
            &[401, 422],
            None,
        ),
        Case::new(
            "login JSON lone surrogates",
            app.post_raw(
                "/api/auth/token",
                Some("application/json"),
                r#"{"username":"\ud800","password":"\udfff"}"#,
            ),
            &[401, 422],
            None,
        ),
    ];
    // Details: a body → 422 on the field.
    for (field, value) in [
        ("email", format!("alice{nul}@example.com")),
        ("phone", format!("+4412{nul}3456789")),
        ("full_name", format!("Alice{nul} Liddell")),
    ] {
        let reply = app.patch_json_bearer("/api/auth/users/me", &access, &json!({field: value}));
        cases
            .push(Case::new(&format!("PATCH users/me {field}"), reply, &[422], None).naming(field));
    }
    // Password change: the current password is a credential, the new one a body.
    let change = |current: String, new: String| {
        app.post_json_bearer(
            "/api/auth/users/me/password",
            &access,
            &json!({"current_password": current, "new_password": new}),
        )
    };
    cases.push(Case::new(
        "password change current_password",
        change(format!("{PASSWORD}{nul}"), "brand new horse".into()),
        &[401],
        Some("Incorrect password."),
    ));
    cases.push(
        Case::new(
            "password change new_password",
            change(PASSWORD.into(), format!("brand new{nul}horse")),
            &[422],
            None,
        )
        .naming("new_password"),
    );
    // Refresh tokens in every place → 401; logout → 200 as always.
    cases.push(Case::new(
        "refresh JSON",
        refresh(&app, &format!("{alice}{nul}")),
        &[401],
        Some(INVALID_REFRESH),
    ));
    cases.push(Case::new(
        "refresh query",
        app.post_raw("/api/auth/token/refresh?refresh_token=ab%00cd", None, ""),
        &[401],
        Some(INVALID_REFRESH),
    ));
    cases.push(Case::new(
        "refresh form",
        app.post_raw(
            "/api/auth/token/refresh",
            form,
            "grant_type=refresh_token&refresh_token=ab%00cd",
        ),
        &[401],
        Some(INVALID_REFRESH),
    ));
    cases.push(Case::new(
        "logout body",
        logout(&app, &format!("ab{nul}cd")),
        &[200],
        LOGGED_OUT,
    ));
    cases.push(Case::new(
        "verify path %00",
        app.post_raw("/api/auth/token/verify/%00", None, ""),
        &[401, 404],
        None,
    ));
    // Well-signed access tokens with a NUL in a claim → 401.
    for (claim, value) in [("sub", format!("alice{nul}")), ("jti", format!("a{nul}b"))] {
        let token = sign(ACCESS_SECRET, &with(access_claims("alice"), claim, &value));
        cases.push(Case::new(
            &format!("users/me, NUL {claim}"),
            app.get("/api/auth/users/me", Some(&token)),
            &[401],
            TOKEN,
        ));
        cases.push(Case::new(
            &format!("verify, NUL {claim}"),
            app.post_raw(&format!("/api/auth/token/verify/{token}"), None, ""),
            &[401],
            TOKEN,
        ));
    }
    // Refresh tokens of alice's session with one claim poisoned. The jti
    // one comes last: a wrong jti in a real family may count as a replay.
    for (claim, value) in [
        ("sub", format!("alice{nul}")),
        ("fam", format!("{family}{nul}")),
        ("jti", format!("{jti}{nul}")),
    ] {
        let token = sign(REFRESH_SECRET, &with(claims.clone(), claim, &value));
        cases.push(Case::new(
            &format!("refresh, NUL {claim}"),
            refresh(&app, &token),
            &[401],
            Some(INVALID_REFRESH),
        ));
        cases.push(Case::new(
            &format!("logout, NUL {claim}"),
            logout(&app, &token),
            &[200],
            LOGGED_OUT,
        ));
        if claim != "jti" {
            // Neither a foreign name nor a foreign family changes anything.
            let still = refresh(&app, &alice);
            if still.status == 201 {
                alice = still.str("refresh_token");
            } else {
                // Go on with a new session, to see the rest.
                alice = app.login("alice", PASSWORD).str("refresh_token");
            }
            cases.push(Case::new(
                &format!("alice's own refresh after the NUL {claim} tokens"),
                still,
                &[201],
                None,
            ));
        }
    }

    let complaints: Vec<String> = cases.iter().filter_map(Case::complaint).collect();
    assert!(
        complaints.is_empty(),
        "{} of {} inputs answered off §8:\n{}",
        complaints.len(),
        cases.len(),
        complaints.join("\n")
    );
}

// --- 8. look-alike emails --------------------------------------------------------

fn look_alike_emails_are_one_address(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (alice, _) = app.signed_in("alice");
    let (bob, _) = app.signed_in("bob");
    let set = app.patch_json_bearer(
        "/api/auth/users/me",
        &alice,
        &json!({"email": "alice@example.com"}),
    );
    assert_eq!(set.status, 200, "{}", set.body);

    let mut wrong = Vec::new();
    // Invisible and bidirectional characters are refused outright.
    for (what, email) in [
        ("zero-width space", "alice\u{200b}@example.com"),
        ("soft hyphen", "al\u{ad}ice@example.com"),
        ("byte order mark", "\u{feff}alice@example.com"),
        ("right-to-left override", "alice@\u{202e}example.com"),
        ("line separator", "alice@example\u{2028}.com"),
    ] {
        let reply = app.patch_json_bearer("/api/auth/users/me", &bob, &json!({"email": email}));
        let named = reply.body["details"]
            .as_array()
            .is_some_and(|details| details.iter().any(|d| d["field"] == "email"));
        if reply.status != 422 || !named {
            wrong.push(format!("{what}: {} {}", reply.status, reply.body));
        }
    }
    // Forms that fold to alice's address are alice's address.
    for (what, email) in [
        ("fullwidth a", "\u{ff41}lice@example.com"),
        ("upper case", "Alice@Example.com"),
        ("surrounding spaces", "  alice@example.com "),
    ] {
        let reply = app.patch_json_bearer("/api/auth/users/me", &bob, &json!({"email": email}));
        if reply.status != 400 || reply.body["message"] != "Email already in use." {
            wrong.push(format!("{what}: {} {}", reply.status, reply.body));
        }
    }
    // full_name: no bidirectional controls, but the joiners scripts need.
    let reply = app.patch_json_bearer(
        "/api/auth/users/me",
        &bob,
        &json!({"full_name": "Bob \u{202e}nosnhoJ"}),
    );
    let named = reply.body["details"]
        .as_array()
        .is_some_and(|details| details.iter().any(|d| d["field"] == "full_name"));
    if reply.status != 422 || !named {
        wrong.push(format!(
            "full_name with RLO: {} {}",
            reply.status, reply.body
        ));
    }
    let joined = "\u{1f469}\u{200d}\u{1f4bb} Dev";
    let reply = app.patch_json_bearer("/api/auth/users/me", &bob, &json!({"full_name": joined}));
    if reply.status != 200 || reply.body["data"]["full_name"] != joined {
        wrong.push(format!(
            "full_name with ZWJ: {} {}",
            reply.status, reply.body
        ));
    }
    assert!(
        wrong.is_empty(),
        "look-alikes handled off §8:\n{}",
        wrong.join("\n")
    );

    // None of bob's tries took an address.
    let me = app.get("/api/auth/users/me", Some(&bob));
    assert_eq!(me.body["data"]["email"], Value::Null, "{}", me.body);
    let me = app.get("/api/auth/users/me", Some(&alice));
    assert_eq!(me.body["data"]["email"], "alice@example.com");
}

// --- 9. slow clients ---------------------------------------------------------------

/// What is wrong with the answer to a stalled request, if anything: it
/// must be a 408 in the envelope, or a close, within the timeout (2 s) and
/// some slack, but not at once. `bare_408_ok`: for a request whose head
/// never arrived, the parser's own 408 without a body also counts as
/// "no answer can be framed".
fn timeout_complaint(
    what: &str,
    answer: &crate::support::RawAnswer,
    bare_408_ok: bool,
) -> Option<String> {
    let elapsed = answer.elapsed;
    if answer.status.is_none() && !answer.closed {
        return Some(format!("{what}: no answer and no close within {elapsed:?}"));
    }
    if elapsed < Duration::from_millis(1500) || elapsed > Duration::from_millis(4500) {
        return Some(format!(
            "{what}: answered after {elapsed:?}, expected about SERVER__CLIENT_TIMEOUT_SECS=2 s \
             ({answer:?})"
        ));
    }
    let status = answer.status?;
    if status != 408 {
        return Some(format!("{what}: {status} instead of 408 ({})", answer.head));
    }
    if answer.body.is_empty() && bare_408_ok {
        return None;
    }
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let enveloped = body["code"] == 408
        && body["status"] == "error"
        && body["response"] == "408_REQUEST_TIMEOUT"
        && body["message"] == "Request timeout.";
    (!enveloped).then(|| format!("{what}: a 408 off the envelope ({answer:?})"))
}

fn a_stalled_body_is_answered_within_the_timeout(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, &[("SERVER__CLIENT_TIMEOUT_SECS", "2")])
    else {
        return;
    };
    let wait = Duration::from_secs(8);
    let stalled_body: &[u8] = b"POST /api/auth/register HTTP/1.1\r\nHost: localhost\r\n\
        Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    let stalled_head: &[u8] = b"POST /api/auth/register HTTP/1.1\r\nHost: localhost\r\nContent-Ty";
    let (body, head) = thread::scope(|scope| {
        let body = scope.spawn(|| raw_exchange(&app.base, stalled_body, wait));
        let head = scope.spawn(|| raw_exchange(&app.base, stalled_head, wait));
        (body.join().unwrap(), head.join().unwrap())
    });
    let complaints: Vec<String> = [
        timeout_complaint("a stalled body", &body, false),
        timeout_complaint("stalled headers", &head, true),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(complaints.is_empty(), "{}", complaints.join("\n"));
    // The slots are free again.
    assert_eq!(app.get("/", None).status, 200);
}

// --- 10. malformed requests ----------------------------------------------------------

/// `HEAD path`: (status, Content-Type, body length).
fn head(app: &TestApp, path: &str, bearer: Option<&str>) -> (u16, Option<String>, usize) {
    let mut request = ureq::head(&app.url(path)).timeout(Duration::from_secs(10));
    if let Some(token) = bearer {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let response = match request.call() {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("HEAD {path}: {error}"),
    };
    let status = response.status();
    let content_type = response.header("Content-Type").map(str::to_owned);
    let body = response.into_string().unwrap_or_default();
    (status, content_type, body.len())
}

/// The fields a 422 names in its details.
fn fields_named(reply: &Reply) -> Vec<String> {
    reply.body["details"]
        .as_array()
        .map(|details| {
            details
                .iter()
                .filter_map(|d| d["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn malformed_requests_are_refused_quietly(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, &[("LOG__FORMAT", "json")]) else {
        return;
    };
    let mut wrong = Vec::new();
    let many_headers: String = (0..100).map(|i| format!("X-Header-{i}: {i}\r\n")).collect();
    let malformed: [(&str, Vec<u8>); 3] = [
        (
            "a NUL in a header value",
            b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Bad: a\0b\r\n\r\n".to_vec(),
        ),
        (
            "100 headers",
            format!("GET / HTTP/1.1\r\nHost: localhost\r\n{many_headers}\r\n").into_bytes(),
        ),
        (
            "Content-Length and Transfer-Encoding",
            [
                "POST /api/auth/register HTTP/1.1",
                "Host: localhost",
                "Content-Type: application/json",
                "Content-Length: 5",
                "Transfer-Encoding: chunked",
                "",
                "0",
                "",
                "",
            ]
            .join("\r\n")
            .into_bytes(),
        ),
    ];
    for (what, bytes) in &malformed {
        let answer = raw_exchange(&app.base, bytes, Duration::from_secs(5));
        if !answer.status.is_some_and(|s| (400..500).contains(&s)) {
            wrong.push(format!("{what}: expected a 4xx, got {answer:?}"));
        }
    }
    // The service is fine, and said nothing at ERROR level about them.
    assert_eq!(app.get("/", None).status, 200);
    thread::sleep(Duration::from_millis(300));
    let logs = app.logs();
    assert!(
        logs.contains(r#""level":"INFO""#),
        "no log lines to judge: {logs}"
    );
    wrong.extend(
        logs.lines()
            .filter(|line| match serde_json::from_str::<Value>(line) {
                Ok(entry) => entry["level"] == "ERROR",
                Err(_) => line.contains("ERROR"),
            })
            .map(|line| format!("logged at ERROR: {line}")),
    );

    // HEAD works on every GET route: GET's status and headers, no body.
    let (access, _) = app.signed_in("agent47");
    for (path, bearer) in [
        ("/", None),
        ("/api/health", None),
        ("/api/auth/users/me", Some(access.as_str())),
    ] {
        let got = app.get(path, bearer);
        let (status, content_type, length) = head(&app, path, bearer);
        if status != got.status
            || content_type.as_deref() != Some("application/json")
            || length != 0
        {
            wrong.push(format!(
                "HEAD {path}: {status} {content_type:?} with {length} body bytes (GET: {})",
                got.status
            ));
        }
    }

    // Every missing field is listed; malformed percent-encoding is a 422.
    let empty = app.post_json("/api/auth/register", &json!({}));
    let named = fields_named(&empty);
    if empty.status != 422
        || !named.contains(&"username".into())
        || !named.contains(&"password".into())
    {
        wrong.push(format!("register {{}}: {} {}", empty.status, empty.body));
    }
    let garbled = app.post_raw(
        "/api/auth/token",
        Some("application/x-www-form-urlencoded"),
        "username=%zz%&password=%%%",
    );
    if garbled.status != 422 || garbled.body["response"] != "422_UNPROCESSABLE_ENTITY" {
        wrong.push(format!(
            "login form with malformed percent-encoding: {} {}",
            garbled.status, garbled.body
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// --- 11. keys and files ----------------------------------------------------------------

/// Starts the binary with the test settings plus `extra`; returns its exit
/// status and stderr, or panics if it starts serving.
fn start_must_fail(db_url: &str, extra: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary())
        .env_clear()
        .current_dir(dir.path())
        .env("DB__URL", db_url)
        .env("SERVER__PORT", "0")
        .env("AUTH__ROUNDS", "4")
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start zentra");
    let stdout = child.stdout.take().unwrap();
    let (sender, listening) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("zentra listening on ") {
                let _ = sender.send(line);
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Ok(line) = listening.try_recv() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the service started ({line}) with {extra:?}");
        }
        assert!(
            Instant::now() < deadline,
            "the service neither started nor stopped"
        );
        thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

fn equal_access_and_refresh_keys_stop_the_start(backend: Backend) {
    let Some(database) = Database::fresh(backend) else {
        return;
    };
    let key = "one-key-for-both-0123456789abcdef-0123456789";
    for environment in ["production", "local"] {
        let (status, stderr) = start_must_fail(
            database.url(),
            &[
                ("ENVIRONMENT", environment),
                ("AUTH__SECRET_ACCESS_KEY", key),
                ("AUTH__SECRET_REFRESH_KEY", key),
            ],
        );
        assert!(!status.success(), "{environment}: {status}");
        assert!(
            stderr.contains("AUTH__SECRET_REFRESH_KEY")
                || stderr.contains("AUTH__SECRET_ACCESS_KEY"),
            "{environment}: the line names no variable: {stderr}"
        );
        assert!(
            !stderr.contains(key),
            "{environment}: the secret was echoed: {stderr}"
        );
    }
}

/// SQLite only: Postgres keeps no files of ours.
#[test]
fn sqlite_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let Some(database) = Database::fresh(Backend::Sqlite) else {
        return;
    };
    // A umask that lets everyone read, as on most systems: the service must
    // not rely on the operator's.
    let app = TestApp::start_with_umask(database.url(), &[], "022");
    let (_, _) = app.signed_in("agent47");
    let file = database.sqlite_file().unwrap();
    let mut modes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
        let metadata = std::fs::metadata(&path).unwrap_or_else(|error| {
            panic!(
                "{} is missing while the service runs: {error}",
                path.display()
            )
        });
        modes.push((suffix, metadata.permissions().mode() & 0o777));
    }
    assert!(
        modes.iter().all(|(_, mode)| *mode == 0o600),
        "modes of zentra.db{{,-wal,-shm}}: {:?}",
        modes
            .iter()
            .map(|(suffix, mode)| format!("zentra.db{suffix} {mode:o}"))
            .collect::<Vec<_>>()
    );
}

crate::on_both_backends!(
    concurrent_guesses_get_at_most_the_limit,
    in_flight_logins_do_not_survive_a_password_change,
    password_change_is_not_an_oracle,
    refresh_token_of_another_user_is_refused,
    forwarded_for_uses_the_proxy_appended_entry,
    timing_after_a_cost_change_reveals_nothing,
    nul_never_reaches_the_database,
    look_alike_emails_are_one_address,
    a_stalled_body_is_answered_within_the_timeout,
    malformed_requests_are_refused_quietly,
    equal_access_and_refresh_keys_stop_the_start,
);
