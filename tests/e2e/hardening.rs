//! Attacks: forged tokens and password guessing (docs/api.md §3.3, §5).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{ACCESS_SECRET, Backend, PASSWORD, REFRESH_SECRET, TestApp, now};

fn claims(kind: &str) -> Value {
    json!({"sub": "agent47", "exp": now() + 600, "iat": now(), "jti": "forged",
           "type": kind, "iss": "zentra", "fam": "forged-family"})
}

fn forge(alg: Algorithm, key: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        claims.as_object_mut().unwrap().remove(key);
    } else {
        claims[key] = value;
    }
    claims
}

fn forged_tokens_are_refused_and_never_crash_the_service(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    assert_eq!(app.register("agent47", PASSWORD).status, 201);

    // The control: signed with the real key, the forgery passes, so each
    // refusal below is due to its one flaw.
    let control = forge(Algorithm::HS256, ACCESS_SECRET, &claims("access"));
    assert_eq!(app.get("/api/auth/users/me", Some(&control)).status, 200);

    let attacks = [
        ("alg none", unsigned(&claims("access"))),
        (
            "HS512 with the right key",
            forge(Algorithm::HS512, ACCESS_SECRET, &claims("access")),
        ),
        (
            "HS384 with the right key",
            forge(Algorithm::HS384, ACCESS_SECRET, &claims("access")),
        ),
        (
            "the refresh key",
            forge(Algorithm::HS256, REFRESH_SECRET, &claims("access")),
        ),
        (
            "a guessed key",
            forge(Algorithm::HS256, "secret", &claims("access")),
        ),
        (
            "type refresh",
            forge(Algorithm::HS256, ACCESS_SECRET, &claims("refresh")),
        ),
        (
            "no type",
            forge(
                Algorithm::HS256,
                ACCESS_SECRET,
                &with(claims("access"), "type", Value::Null),
            ),
        ),
        (
            "no exp",
            forge(
                Algorithm::HS256,
                ACCESS_SECRET,
                &with(claims("access"), "exp", Value::Null),
            ),
        ),
        (
            "text exp",
            forge(
                Algorithm::HS256,
                ACCESS_SECRET,
                &with(claims("access"), "exp", json!("soon")),
            ),
        ),
        (
            "expired",
            forge(
                Algorithm::HS256,
                ACCESS_SECRET,
                &with(claims("access"), "exp", json!(now() - 1)),
            ),
        ),
        (
            "foreign issuer",
            forge(
                Algorithm::HS256,
                ACCESS_SECRET,
                &with(claims("access"), "iss", json!("evil")),
            ),
        ),
        (
            "unknown user",
            forge(
                Algorithm::HS256,
                ACCESS_SECRET,
                &with(claims("access"), "sub", json!("nobody")),
            ),
        ),
        ("oversized", format!("{control}{}", "A".repeat(5000))),
        ("not a JWT", "%00%ff..".to_owned()),
    ];
    for (attack, token) in &attacks {
        let me = app.get("/api/auth/users/me", Some(token));
        assert_eq!(me.status, 401, "users/me, {attack}: {}", me.body);
        assert_eq!(
            me.body["message"], "Could not validate credentials.",
            "{attack}"
        );
        if *attack != "unknown user" {
            let verified = app.post_raw(&format!("/api/auth/token/verify/{token}"), None, "");
            assert_eq!(verified.status, 401, "verify, {attack}: {}", verified.body);
        }
    }

    // Refresh tokens: the same flaws, and an access token in their place.
    let refresh_control = forge(Algorithm::HS256, REFRESH_SECRET, &claims("refresh"));
    for (attack, token) in [
        ("alg none", unsigned(&claims("refresh"))),
        (
            "HS512",
            forge(Algorithm::HS512, REFRESH_SECRET, &claims("refresh")),
        ),
        (
            "the access key",
            forge(Algorithm::HS256, ACCESS_SECRET, &claims("refresh")),
        ),
        (
            "type access",
            forge(Algorithm::HS256, REFRESH_SECRET, &claims("access")),
        ),
        // Well signed, but no session of ours has this family.
        ("unknown family", refresh_control),
    ] {
        let refreshed = app.post_json("/api/auth/token/refresh", &json!({"refresh_token": token}));
        assert_eq!(
            refreshed.status, 401,
            "refresh, {attack}: {}",
            refreshed.body
        );
        assert_eq!(refreshed.body["message"], "Invalid refresh token.");
    }

    // Headers too large to be honest are refused without a 5xx.
    let huge = app.get("/api/auth/users/me", Some(&"A".repeat(20_000)));
    assert_eq!(huge.status, 431, "{}", huge.body);
}

const LIMITS: &[(&str, &str)] = &[
    ("AUTH__LOGIN_MAX_FAILURES", "3"),
    ("AUTH__LOGIN_MAX_FAILURES_PER_ADDRESS", "6"),
];

fn guessing_one_username_locks_it_even_for_the_right_password(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, LIMITS) else {
        return;
    };
    assert_eq!(app.register("agent47", PASSWORD).status, 201);
    for _ in 0..3 {
        assert_eq!(app.login("agent47", "a wrong guess").status, 401);
    }
    let locked = app.login("agent47", PASSWORD);
    locked.assert_error(
        429,
        "429_TOO_MANY_REQUESTS",
        "Too many requests, try again later.",
    );
    let retry_after: u64 = locked.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(
        locked.body["headers"]["Retry-After"],
        retry_after.to_string()
    );

    // Another username from the same address is still welcome.
    assert_eq!(app.register("bystander", PASSWORD).status, 201);
    assert_eq!(app.login("bystander", PASSWORD).status, 202);
}

fn guessing_from_one_address_locks_the_address(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, LIMITS) else {
        return;
    };
    assert_eq!(app.register("agent47", PASSWORD).status, 201);
    // Six failures spread over names that each stay under their own limit.
    for name in ["a-one", "a-two", "a-three", "a-four", "a-five", "a-six"] {
        assert_eq!(app.login(name, "a wrong guess").status, 401);
    }
    let locked = app.login("agent47", PASSWORD);
    assert_eq!(locked.status, 429, "{}", locked.body);
}

fn a_successful_login_clears_the_usernames_count(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, LIMITS) else {
        return;
    };
    assert_eq!(app.register("agent47", PASSWORD).status, 201);
    for _ in 0..2 {
        for _ in 0..2 {
            assert_eq!(app.login("agent47", "a wrong guess").status, 401);
        }
        assert_eq!(app.login("agent47", PASSWORD).status, 202);
    }
}

crate::on_both_backends!(
    forged_tokens_are_refused_and_never_crash_the_service,
    guessing_one_username_locks_it_even_for_the_right_password,
    guessing_from_one_address_locks_the_address,
    a_successful_login_clears_the_usernames_count,
);
