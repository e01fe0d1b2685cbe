//! Sessions per device (docs/api.md §11): each login is a session that
//! records where it was last used from; its owner lists them and ends one.

use serde_json::json;

use crate::support::{Backend, PASSWORD, TestApp};

crate::on_both_backends!(a_user_sees_each_device_and_ends_one);

/// Logs alice in from `agent`: (access token, refresh token).
fn log_in_from(app: &TestApp, agent: &str) -> (String, String) {
    let tokens = app.send(
        "POST",
        "/api/auth/token",
        None,
        &[("User-Agent", agent)],
        Some(&json!({"username": "alice", "password": PASSWORD})),
    );
    assert_eq!(tokens.status, 202, "{}", tokens.body);
    (tokens.str("access_token"), tokens.str("refresh_token"))
}

fn a_user_sees_each_device_and_ends_one(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    assert_eq!(app.register("alice", PASSWORD).status, 201);
    let (_, phone_refresh) = log_in_from(&app, "phone/1.0");
    let (laptop, _) = log_in_from(&app, "laptop/2.0");

    let listed = app.get_bearer("/api/auth/sessions", &laptop);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let sessions = listed.body["data"]["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{}", listed.body);
    // Newest first: the laptop, which is the caller's own.
    assert_eq!(sessions[0]["user_agent"], "laptop/2.0");
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["user_agent"], "phone/1.0");
    assert_eq!(sessions[1]["current"], false);
    assert_eq!(sessions[1]["ip"], "127.0.0.1");
    for session in &sessions {
        for field in ["created_at", "last_used_at", "expires_at"] {
            assert!(session[field].is_string(), "{field} in {session}");
        }
    }

    let phone = sessions[1]["id"].as_i64().unwrap();
    let path = format!("/api/auth/sessions/{phone}");
    let ended = app.delete_bearer(&path, &laptop);
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(ended.body["message"], "Session revoked.");
    // The phone's refresh token no longer works; the laptop's session lives.
    let refreshed = app.post_json(
        "/api/auth/token/refresh",
        &json!({"refresh_token": phone_refresh}),
    );
    assert_eq!(refreshed.status, 401, "{}", refreshed.body);
    let left = app.get_bearer("/api/auth/sessions", &laptop);
    assert_eq!(left.body["data"]["sessions"].as_array().unwrap().len(), 1);
    app.delete_bearer(&path, &laptop)
        .assert_error(404, "404_NOT_FOUND", "Session not found.");

    // Another user's session is not found either.
    let (bob, _) = app.signed_in("bob");
    let laptop_id = sessions[0]["id"].as_i64().unwrap();
    app.delete_bearer(&format!("/api/auth/sessions/{laptop_id}"), &bob)
        .assert_error(404, "404_NOT_FOUND", "Session not found.");
}
