//! Rotation, reuse detection, logout and password changes (docs/api.md §3.5, §4).

use serde_json::json;

use crate::support::{Backend, PASSWORD, TestApp};

fn refresh(app: &TestApp, token: &str) -> crate::support::Reply {
    app.post_json("/api/auth/token/refresh", &json!({"refresh_token": token}))
}

fn each_refresh_token_works_once_and_a_replay_ends_the_session(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (_, first) = app.signed_in("agent47");

    let rotated = refresh(&app, &first);
    assert_eq!(rotated.status, 201);
    let second = rotated.str("refresh_token");
    assert_ne!(second, first);

    // The thief (or the owner) replays the retired token: refused, and the
    // whole family dies, so the token that replaced it dies too.
    refresh(&app, &first).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
    refresh(&app, &second).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");

    // A new login starts a new, working family.
    let again = app.login("agent47", PASSWORD);
    assert_eq!(refresh(&app, &again.str("refresh_token")).status, 201);
}

fn concurrent_refreshes_with_one_token_let_at_most_one_through(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (_, token) = app.signed_in("agent47");
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| refresh(&app, &token).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        statuses.iter().filter(|&&s| s == 201).count() <= 1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 201 || s == 401),
        "{statuses:?}"
    );
}

fn logout_ends_that_session_and_no_other(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (_, laptop) = app.signed_in("agent47");
    let phone = app.login("agent47", PASSWORD).str("refresh_token");

    let out = app.post_json("/api/auth/logout", &json!({"refresh_token": laptop}));
    assert_eq!(out.status, 200);
    assert_eq!(out.body["message"], "Logged out.");
    refresh(&app, &laptop).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
    assert_eq!(refresh(&app, &phone).status, 201);

    // Idempotent, and silent about tokens it does not know.
    for token in [laptop.as_str(), "garbage"] {
        let again = app.post_json("/api/auth/logout", &json!({"refresh_token": token}));
        assert_eq!(again.status, 200);
    }
}

fn logout_everywhere_ends_every_session_but_access_tokens_live_on(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (access, laptop) = app.signed_in("agent47");
    let phone = app.login("agent47", PASSWORD).str("refresh_token");
    let (_, other_user) = app.signed_in("someone-else");

    let out = app.post_raw_bearer("/api/auth/logout/all", &access);
    assert_eq!(out.status, 200);
    assert_eq!(out.body["message"], "Logged out of all sessions.");
    for token in [&laptop, &phone] {
        refresh(&app, token).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
    }
    assert_eq!(refresh(&app, &other_user).status, 201);
    // Access tokens are stateless: they live until they expire (15 min).
    assert_eq!(app.get("/api/auth/users/me", Some(&access)).status, 200);
}

fn a_password_change_revokes_every_session(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (access, refresh_token) = app.signed_in("agent47");

    let wrong = app.post_json_bearer(
        "/api/auth/users/me/password",
        &access,
        &json!({"current_password": "not my password", "new_password": "brand new horse"}),
    );
    wrong.assert_error(401, "401_UNAUTHORIZED", "Incorrect password.");
    app.post_json_bearer(
        "/api/auth/users/me/password",
        &access,
        &json!({"current_password": PASSWORD, "new_password": "short"}),
    )
    .assert_invalid("new_password");

    let changed = app.post_json_bearer(
        "/api/auth/users/me/password",
        &access,
        &json!({"current_password": PASSWORD, "new_password": "brand new horse"}),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["message"], "Password updated.");

    refresh(&app, &refresh_token).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
    assert_eq!(app.login("agent47", PASSWORD).status, 401);
    assert_eq!(app.login("agent47", "brand new horse").status, 202);
}

fn details_can_be_set_cleared_and_are_unique(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (access, _) = app.signed_in("agent47");
    let (other, _) = app.signed_in("someone-else");

    let set = app.patch_json_bearer(
        "/api/auth/users/me",
        &access,
        &json!({"email": "Agent47@Example.com", "phone": "+44123456789", "full_name": "Agent 47"}),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(
        set.body["data"],
        json!({"username": "agent47", "email": "agent47@example.com", "phone": "+44123456789",
               "full_name": "Agent 47", "is_active": true,
               "is_superuser": false, "scopes": ["me"]})
    );
    assert_eq!(
        app.get("/api/auth/users/me", Some(&access)).body["data"],
        set.body["data"]
    );

    // Uniqueness ignores the email's case.
    app.patch_json_bearer(
        "/api/auth/users/me",
        &other,
        &json!({"email": "AGENT47@example.com"}),
    )
    .assert_error(400, "400_BAD_REQUEST", "Email already in use.");
    app.patch_json_bearer(
        "/api/auth/users/me",
        &other,
        &json!({"phone": "+44123456789"}),
    )
    .assert_error(400, "400_BAD_REQUEST", "Phone already in use.");

    for (body, field) in [
        (json!({"username": "root"}), "username"),
        (json!({"is_active": false}), "is_active"),
        (json!({"email": "agent47"}), "email"),
        (json!({"phone": "44123456789"}), "phone"),
    ] {
        app.patch_json_bearer("/api/auth/users/me", &access, &body)
            .assert_invalid(field);
    }

    let cleared = app.patch_json_bearer("/api/auth/users/me", &access, &json!({"email": null}));
    assert_eq!(cleared.body["data"]["email"], json!(null));
    assert_eq!(cleared.body["data"]["phone"], "+44123456789");
    // Once released, the email is free for another user.
    let taken_over = app.patch_json_bearer(
        "/api/auth/users/me",
        &other,
        &json!({"email": "agent47@example.com"}),
    );
    assert_eq!(taken_over.status, 200);
}

crate::on_both_backends!(
    each_refresh_token_works_once_and_a_replay_ends_the_session,
    concurrent_refreshes_with_one_token_let_at_most_one_through,
    logout_ends_that_session_and_no_other,
    logout_everywhere_ends_every_session_but_access_tokens_live_on,
    a_password_change_revokes_every_session,
    details_can_be_set_cleared_and_are_unique,
);
