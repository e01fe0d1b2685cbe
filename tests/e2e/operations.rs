//! What operators see: request logs, request ids, CORS, the CLI.

use std::{io::Write, process::Stdio, time::Duration};

use serde_json::{Value, json};

use crate::support::{Backend, Database, PASSWORD, TestApp, binary};

fn logs_hold_one_line_per_request_and_no_secret(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, &[("LOG__FORMAT", "json")]) else {
        return;
    };
    let (access, refresh) = app.signed_in("agent47");
    app.post_raw(&format!("/api/auth/token/verify/{access}"), None, "");
    let rotated = app.post_raw(
        &format!("/api/auth/token/refresh?refresh_token={refresh}"),
        None,
        "",
    );
    let new_refresh = rotated.str("refresh_token");
    app.get("/api/auth/users/me", Some(&access));
    app.login("agent47", "a wrong password");
    app.post_json(
        "/api/auth/users/me/password",
        &json!({"current_password": PASSWORD, "new_password": "brand new horse"}),
    );
    // Requests are logged when answered; give the last line a moment.
    std::thread::sleep(Duration::from_millis(200));

    let logs = app.logs();
    for secret in [
        PASSWORD,
        "a wrong password",
        "brand new horse",
        &access,
        &refresh,
        &new_refresh,
    ] {
        assert!(
            !logs.contains(secret),
            "a secret leaked into the logs:\n{logs}"
        );
    }
    let requests: Vec<Value> = logs
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap_or_else(|_| panic!("not JSON: {line}"))
        })
        .filter(|line| line["message"] == "request")
        .collect();
    assert!(requests.len() >= 7, "{logs}");
    let verify = requests
        .iter()
        .find(|line| line["route"] == "/api/auth/token/verify/{token}")
        .expect("the verify request is logged by its route pattern");
    assert_eq!(verify["status"], 200);
    assert_eq!(verify["method"], "POST");
    assert!(verify["latency_ms"].is_number());
    assert!(verify["request_id"].is_string(), "{verify}");
}

fn request_ids_are_echoed_or_made(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let echoed = app.get_with_headers("/", &[("X-Request-Id", "trace-42")]);
    assert_eq!(echoed.header("X-Request-Id"), Some("trace-42"));
    let made = app.get_with_headers("/", &[("X-Request-Id", "has spaces\tand tabs")]);
    let id = made.header("X-Request-Id").unwrap();
    assert_ne!(id, "has spaces\tand tabs");
    assert_eq!(id.len(), 36, "{id}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(app.logs().contains("trace-42"));
}

fn cors_preflights_are_answered_for_allowed_origins_only(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(
        backend,
        &[("BACKEND_CORS_ORIGINS", "http://app.test,http://admin.test")],
    ) else {
        return;
    };
    let preflight = |origin: &str| {
        app.request_with_headers(
            "OPTIONS",
            "/api/auth/users/me",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "authorization"),
            ],
        )
    };
    let allowed = preflight("http://admin.test");
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("Access-Control-Allow-Origin"),
        Some("http://admin.test")
    );
    assert!(
        allowed
            .header("Access-Control-Allow-Headers")
            .is_some_and(|h| h.contains("authorization"))
    );

    let refused = preflight("http://evil.test");
    assert_eq!(refused.status, 400);
    assert_eq!(refused.header("Access-Control-Allow-Origin"), None);
    assert_eq!(refused.body["status"], "error");

    // A simple request from a refused origin is served without CORS headers.
    let simple = app.get_with_headers("/", &[("Origin", "http://evil.test")]);
    assert_eq!(simple.status, 200);
    assert_eq!(simple.header("Access-Control-Allow-Origin"), None);
}

fn without_configured_origins_no_cors_header_is_ever_sent(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    // No CORS layer at all: a preflight is just an OPTIONS the route does
    // not serve, and nothing grants a browser cross-origin access.
    let preflight = app.request_with_headers(
        "OPTIONS",
        "/api/auth/users/me",
        &[
            ("Origin", "http://app.test"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert_eq!(preflight.status, 405);
    assert_eq!(preflight.header("Allow"), Some("GET, HEAD, PATCH"));
    let simple = app.get_with_headers("/", &[("Origin", "http://app.test")]);
    assert_eq!(simple.status, 200);
    for answer in [&preflight, &simple] {
        assert_eq!(answer.header("Access-Control-Allow-Origin"), None);
        assert_eq!(answer.header("Access-Control-Expose-Headers"), None);
    }
}

fn a_user_created_from_the_cli_can_log_in(backend: Backend) {
    let Some(database) = Database::fresh(backend) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(binary())
        .args(["create-user", "--username", "operator", "--inactive"])
        .env_clear()
        .current_dir(dir.path())
        .env("DB__URL", database.url())
        .env("AUTH__ROUNDS", "4")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");

    let app = TestApp::start(database.url(), &[]);
    let tokens = app.login("operator", PASSWORD);
    assert_eq!(tokens.status, 202);
    app.get("/api/auth/users/me", Some(&tokens.str("access_token")))
        .assert_error(400, "400_BAD_REQUEST", "Inactive user.");
}

crate::on_both_backends!(
    logs_hold_one_line_per_request_and_no_secret,
    request_ids_are_echoed_or_made,
    cors_preflights_are_answered_for_allowed_origins_only,
    without_configured_origins_no_cors_header_is_ever_sent,
    a_user_created_from_the_cli_can_log_in,
);
