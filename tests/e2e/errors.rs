//! Every error of docs/api.md §3, and the framework's own, over HTTP.

use serde_json::json;

use crate::support::{Backend, PASSWORD, TestApp};

fn registration_errors(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    assert_eq!(app.register("agent47", PASSWORD).status, 201);

    let again = app.register("agent47", "another password");
    again.assert_error(400, "400_BAD_REQUEST", "User already registered.");
    assert_eq!(again.body["headers"], json!(null));

    app.register("ab", PASSWORD).assert_invalid("username");
    app.register("agent 47", PASSWORD)
        .assert_invalid("username");
    app.register("newuser", "short").assert_invalid("password");
    app.register("newuser", &"a".repeat(73))
        .assert_invalid("password");
    app.register("newuser", "with\0nul-byte")
        .assert_invalid("password");
    app.post_json("/api/auth/register", &json!({"username": "newuser"}))
        .assert_invalid("password");
    app.post_json(
        "/api/auth/register",
        &json!({"username": "newuser", "password": PASSWORD, "is_active": "yes"}),
    )
    .assert_invalid("is_active");
    app.post_raw(
        "/api/auth/register",
        Some("application/json"),
        "{\"username\":",
    )
    .assert_invalid("body");

    let form = app.post_form(
        "/api/auth/register",
        &[("username", "newuser"), ("password", PASSWORD)],
    );
    form.assert_error(
        415,
        "415_UNSUPPORTED_MEDIA_TYPE",
        form.body["message"].as_str().unwrap(),
    );

    let huge = json!({"username": "newuser", "password": PASSWORD, "pad": "x".repeat(70_000)});
    let too_large = app.post_json("/api/auth/register", &huge);
    too_large.assert_error(413, "413_PAYLOAD_TOO_LARGE", "Request body too large.");

    // None of the refused attempts created anything.
    assert_eq!(app.login("newuser", PASSWORD).status, 401);
}

fn login_errors(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    assert_eq!(app.register("agent47", PASSWORD).status, 201);

    let wrong = app.login("agent47", "wrong password");
    wrong.assert_error(401, "401_UNAUTHORIZED", "Incorrect username or password.");
    let unknown = app.login("nobody", PASSWORD);
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(app.login("x", PASSWORD).body, wrong.body);

    app.post_form("/api/auth/token", &[("username", "agent47")])
        .assert_invalid("password");
    app.post_form("/api/auth/token", &[("password", PASSWORD)])
        .assert_invalid("username");
    app.post_form(
        "/api/auth/token",
        &[
            ("grant_type", "client_credentials"),
            ("username", "agent47"),
            ("password", PASSWORD),
        ],
    )
    .assert_invalid("grant_type");
}

fn bearer_errors(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (access, refresh) = app.signed_in("agent47");

    app.get("/api/auth/users/me", None)
        .assert_error(401, "401_UNAUTHORIZED", "Not authenticated.");
    for bad in ["garbage", refresh.as_str(), &format!("{access}x")] {
        app.get("/api/auth/users/me", Some(bad)).assert_error(
            401,
            "401_UNAUTHORIZED",
            "Could not validate credentials.",
        );
    }

    for bad in ["garbage", refresh.as_str()] {
        app.post_raw(&format!("/api/auth/token/verify/{bad}"), None, "")
            .assert_error(401, "401_UNAUTHORIZED", "Could not validate credentials.");
    }
}

fn refresh_errors(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (access, _) = app.signed_in("agent47");
    for path in [
        "/api/auth/token/refresh".to_owned(),
        "/api/auth/token/refresh?refresh_token=garbage".to_owned(),
        format!("/api/auth/token/refresh?refresh_token={access}"),
    ] {
        app.post_raw(&path, None, "").assert_error(
            401,
            "401_UNAUTHORIZED",
            "Invalid refresh token.",
        );
    }
    app.post_json("/api/auth/token/refresh", &json!({"refresh_token": access}))
        .assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
}

fn framework_errors_answer_in_the_envelope(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    app.get("/api/nothing-here", None)
        .assert_error(404, "404_NOT_FOUND", "Not found.");
    let wrong_method = app.request("DELETE", "/api/auth/token");
    wrong_method.assert_error(405, "405_METHOD_NOT_ALLOWED", "Method not allowed.");
    assert_eq!(wrong_method.header("Allow"), Some("POST"));
    assert_eq!(wrong_method.body["headers"], json!({"Allow": "POST"}));
}

fn service_routes(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let root = app.get("/", None);
    assert_eq!(root.status, 200);
    assert_eq!(root.body, json!({"health": "check complete"}));
    let health = app.get("/api/health", None);
    assert_eq!(health.status, 200);
    assert_eq!(health.body["data"], json!({"database": "ok"}));
}

crate::on_both_backends!(
    registration_errors,
    login_errors,
    bearer_errors,
    refresh_errors,
    framework_errors_answer_in_the_envelope,
    service_routes,
);
