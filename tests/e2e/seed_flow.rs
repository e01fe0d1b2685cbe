//! The seed's whole flow, as a client of the Python original drives it.

use serde_json::json;

use crate::support::{Backend, PASSWORD, TestApp};

fn register_login_read_verify_refresh(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };

    let registered = app.register("agent47", PASSWORD);
    assert_eq!(registered.status, 201);
    assert_eq!(
        registered.body,
        json!({"status": "success", "code": 201, "response": "201_CREATED",
               "data": {"username": "agent47"}, "headers": null})
    );

    let tokens = app.post_form(
        "/api/auth/token",
        &[
            ("grant_type", "password"),
            ("username", "agent47"),
            ("password", PASSWORD),
            ("scope", ""),
        ],
    );
    assert_eq!(tokens.status, 202, "{}", tokens.body);
    assert_eq!(tokens.header("Cache-Control"), Some("no-store"));
    assert_eq!(tokens.header("Pragma"), Some("no-cache"));
    assert_eq!(tokens.body["token_type"], "bearer");
    assert_eq!(tokens.body["expires_in"], 900);
    let access = tokens.str("access_token");
    let refresh = tokens.str("refresh_token");

    let me = app.get("/api/auth/users/me", Some(&access));
    assert_eq!(me.status, 200);
    assert_eq!(me.header("WWW-Authenticate"), Some("Bearer"));
    assert_eq!(
        me.body,
        json!({"status": "success", "code": 200, "response": "200_OK",
               "data": {"username": "agent47", "email": null, "phone": null,
                        "full_name": null, "is_active": true,
                        "is_superuser": false, "scopes": ["me"]},
               "headers": {"WWW-Authenticate": "Bearer"}})
    );

    let verified = app.post_raw(&format!("/api/auth/token/verify/{access}"), None, "");
    assert_eq!(
        verified.body,
        json!({"status": "success", "code": 200, "response": "200_OK",
               "message": "Token is valid.", "headers": {"WWW-Authenticate": "Bearer"}})
    );

    let refreshed = app.post_raw(
        &format!("/api/auth/token/refresh?refresh_token={refresh}"),
        None,
        "",
    );
    assert_eq!(refreshed.status, 201, "{}", refreshed.body);
    assert_eq!(refreshed.header("Cache-Control"), Some("no-store"));
    let new_access = refreshed.str("access_token");
    assert_eq!(app.get("/api/auth/users/me", Some(&new_access)).status, 200);
}

fn a_refresh_token_may_come_as_json_or_form(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (_, refresh) = app.signed_in("agent47");

    let by_json = app.post_json(
        "/api/auth/token/refresh",
        &json!({"refresh_token": refresh}),
    );
    assert_eq!(by_json.status, 201, "{}", by_json.body);
    let by_form = app.post_form(
        "/api/auth/token/refresh",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &by_json.str("refresh_token")),
        ],
    );
    assert_eq!(by_form.status, 201, "{}", by_form.body);
}

fn login_takes_json_too(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    assert_eq!(app.register("agent47", PASSWORD).status, 201);
    let tokens = app.post_json(
        "/api/auth/token",
        &json!({"username": "agent47", "password": PASSWORD}),
    );
    assert_eq!(tokens.status, 202, "{}", tokens.body);
}

fn an_inactive_user_can_log_in_and_refresh_but_not_read_their_profile(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let registered = app.post_json(
        "/api/auth/register",
        &json!({"username": "sleeper", "password": PASSWORD, "is_active": false}),
    );
    assert_eq!(registered.status, 201);
    let tokens = app.login("sleeper", PASSWORD);
    assert_eq!(tokens.status, 202);

    let me = app.get("/api/auth/users/me", Some(&tokens.str("access_token")));
    me.assert_error(400, "400_BAD_REQUEST", "Inactive user.");

    let refreshed = app.post_json(
        "/api/auth/token/refresh",
        &json!({"refresh_token": tokens.str("refresh_token")}),
    );
    assert_eq!(refreshed.status, 201);
}

fn passwords_count_every_byte_up_to_72(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let exactly_72 = "é".repeat(36);
    assert_eq!(app.register("longpass", &exactly_72).status, 201);
    assert_eq!(app.login("longpass", &exactly_72).status, 202);
    // The same first 71 bytes and a different last byte must not match.
    let last_byte_differs = format!("{}{}", "é".repeat(35), "ab");
    assert_eq!(last_byte_differs.len(), 72);
    assert_eq!(app.login("longpass", &last_byte_differs).status, 401);
    // 73 bytes: refused at login as a wrong password, whatever its prefix.
    assert_eq!(app.login("longpass", &format!("{exactly_72}x")).status, 401);
}

fn usernames_are_case_sensitive(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    assert_eq!(app.register("Agent", PASSWORD).status, 201);
    assert_eq!(app.register("agent", PASSWORD).status, 201);
    assert_eq!(app.login("AGENT", PASSWORD).status, 401);
}

crate::on_both_backends!(
    register_login_read_verify_refresh,
    a_refresh_token_may_come_as_json_or_form,
    login_takes_json_too,
    an_inactive_user_can_log_in_and_refresh_but_not_read_their_profile,
    passwords_count_every_byte_up_to_72,
    usernames_are_case_sensitive,
);
