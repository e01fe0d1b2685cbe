//! OAuth2 scopes (docs/api.md §9): what a login grants, what the tokens
//! carry, which routes a scope opens, what a refresh may ask for, and that
//! clients of the original, which send no scope, keep working.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::{
    admin::{ROOT, ROOT_PASSWORD, with_superuser},
    support::{ACCESS_SECRET, Backend, PASSWORD, Reply, TestApp, claims, now},
};

/// The operator's scopes, and a default grant that includes `items:read`.
const ITEMS: [(&str, &str); 2] = [
    ("AUTH__SCOPES", "items:read items:write"),
    ("AUTH__DEFAULT_SCOPES", "me items:read"),
];

fn refresh(app: &TestApp, token: &str) -> Reply {
    app.post_json("/api/auth/token/refresh", &json!({"refresh_token": token}))
}

fn refresh_with_scope(app: &TestApp, token: &str, scope: &str) -> Reply {
    app.post_json(
        "/api/auth/token/refresh",
        &json!({"refresh_token": token, "scope": scope}),
    )
}

fn verify(app: &TestApp, token: &str, scope: Option<&str>) -> Reply {
    let query = scope.map_or_else(String::new, |scope| {
        format!("?scope={}", scope.replace(' ', "%20"))
    });
    app.post_raw(&format!("/api/auth/token/verify/{token}{query}"), None, "")
}

/// Asserts a token response (202 or 201) granting exactly `scope`, in the
/// body and in the access token's claims.
fn assert_granted(tokens: &Reply, status: u16, scope: &str) {
    assert_eq!(tokens.status, status, "{}", tokens.body);
    assert_eq!(tokens.str("token_type"), "bearer");
    assert_eq!(tokens.str("scope"), scope, "{}", tokens.body);
    assert_eq!(claims(&tokens.str("access_token"))["scope"], scope);
}

fn scoped_tokens_open_only_their_routes(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, &ITEMS) else {
        return;
    };
    assert_eq!(app.register("alice", PASSWORD).status, 201);

    // Granted = requested ∩ grants, sorted, space-separated.
    let both = app.login_with_scope("alice", PASSWORD, "me items:read");
    assert_granted(&both, 202, "items:read me");
    let access = both.str("access_token");
    let access_claims = claims(&access);
    let sid = access_claims["sid"]
        .as_str()
        .unwrap_or_else(|| panic!("no sid in {access_claims}"));
    assert!(!sid.is_empty());
    // `sid` is the session family the refresh token carries as `fam`.
    assert_eq!(claims(&both.str("refresh_token"))["fam"], sid);
    assert_eq!(access_claims["type"], "access");
    assert_eq!(access_claims["sub"], "alice");

    let me = app.get("/api/auth/users/me", Some(&access));
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["data"]["scopes"], json!(["items:read", "me"]));
    assert_eq!(me.body["data"]["is_superuser"], false);
    assert_eq!(me.body["headers"]["WWW-Authenticate"], "Bearer");

    // A token for the operator's API only: not for one's own account.
    let items = app.login_with_scope("alice", PASSWORD, "items:read");
    assert_granted(&items, 202, "items:read");
    let items = items.str("access_token");
    app.get("/api/auth/users/me", Some(&items))
        .assert_insufficient_scope("me");
    app.patch_json_bearer("/api/auth/users/me", &items, &json!({"full_name": "Alice"}))
        .assert_insufficient_scope("me");
    app.post_json_bearer(
        "/api/auth/users/me/password",
        &items,
        &json!({"current_password": PASSWORD, "new_password": "brand new horse"}),
    )
    .assert_insufficient_scope("me");
    app.get("/api/auth/users/me/events", Some(&items))
        .assert_insufficient_scope("me");
    app.post_raw_bearer("/api/auth/logout/all", &items)
        .assert_insufficient_scope("me");
    // The password did not change through the refused request.
    assert_eq!(app.login("alice", PASSWORD).status, 202);

    // A resource server asks whether a token carries its scopes.
    let valid = verify(&app, &items, Some("items:read"));
    assert_eq!(valid.status, 200, "{}", valid.body);
    assert_eq!(valid.body["message"], "Token is valid.");
    assert_eq!(verify(&app, &items, None).status, 200);
    verify(&app, &items, Some("items:write")).assert_insufficient_scope("items:write");
    verify(&app, &items, Some("nope")).assert_error(400, "400_BAD_REQUEST", "Invalid scope.");
    assert_eq!(
        verify(&app, &access, Some("items:read me")).status,
        200,
        "a token with both scopes carries every listed one"
    );
    // The 403 names the whole set the resource server asked for.
    verify(&app, &items, Some("items:read me")).assert_insufficient_scope("items:read me");
    // An invalid token stays 401, whatever the scope asked for.
    verify(&app, "garbage", Some("me")).assert_error(
        401,
        "401_UNAUTHORIZED",
        "Could not validate credentials.",
    );

    // Asking for a scope the catalogue knows but the user was not granted
    // is no error: it is just not granted.
    assert_granted(
        &app.login_with_scope("alice", PASSWORD, "items:write me"),
        202,
        "me",
    );
    // `admin` is only ever granted to a superuser who asks for it.
    assert_granted(
        &app.login_with_scope("alice", PASSWORD, "admin me"),
        202,
        "me",
    );
    // No scope: every grant but admin.
    assert_granted(&app.login("alice", PASSWORD), 202, "items:read me");
}

fn unknown_scopes_are_refused_at_login(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, &ITEMS) else {
        return;
    };
    assert_eq!(app.register("alice", PASSWORD).status, 201);
    for scope in ["nope", "me nope", "items:delete", "ME", "me Bad!"] {
        app.login_with_scope("alice", PASSWORD, scope).assert_error(
            400,
            "400_BAD_REQUEST",
            "Invalid scope.",
        );
        app.post_json(
            "/api/auth/token",
            &json!({"username": "alice", "password": PASSWORD, "scope": scope}),
        )
        .assert_error(400, "400_BAD_REQUEST", "Invalid scope.");
    }
    // The JSON form takes a scope as the password form does.
    let json_login = app.post_json(
        "/api/auth/token",
        &json!({"username": "alice", "password": PASSWORD, "scope": "items:read"}),
    );
    assert_granted(&json_login, 202, "items:read");
    // A good scope does not make an unknown user any more known.
    assert_eq!(
        app.login_with_scope("nobody", PASSWORD, "me").status,
        401,
        "an unknown user"
    );
}

fn clients_of_the_original_keep_working(backend: Backend) {
    // No scope settings at all, and a client that never sends a scope.
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    assert_eq!(app.register("agent47", PASSWORD).status, 201);
    let tokens = app.post_form(
        "/api/auth/token",
        &[
            ("grant_type", "password"),
            ("username", "agent47"),
            ("password", PASSWORD),
        ],
    );
    assert_granted(&tokens, 202, "me");
    let access = tokens.str("access_token");
    let me = app.get("/api/auth/users/me", Some(&access));
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["data"]["username"], "agent47");
    assert_eq!(me.body["data"]["scopes"], json!(["me"]));
    assert_eq!(me.body["data"]["is_superuser"], false);
    assert_eq!(verify(&app, &access, None).status, 200);
    assert_eq!(
        app.patch_json_bearer("/api/auth/users/me", &access, &json!({"full_name": "47"}))
            .status,
        200
    );

    // The original's refresh: the token in the query string.
    let refreshed = app.post_raw(
        &format!(
            "/api/auth/token/refresh?refresh_token={}",
            tokens.str("refresh_token")
        ),
        None,
        "",
    );
    assert_granted(&refreshed, 201, "me");
    let access = refreshed.str("access_token");
    assert_eq!(app.get("/api/auth/users/me", Some(&access)).status, 200);
    assert_eq!(
        app.post_raw_bearer("/api/auth/logout/all", &access).status,
        200
    );
}

fn a_token_without_a_scope_claim_counts_as_me(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, &ITEMS) else {
        return;
    };
    assert_eq!(app.register("alice", PASSWORD).status, 201);
    // As the service signed them before scopes existed.
    let legacy = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "alice", "exp": now() + 600, "iat": now(), "jti": "legacy-token",
                "type": "access", "iss": "zentra"}),
        &EncodingKey::from_secret(ACCESS_SECRET.as_bytes()),
    )
    .unwrap();
    let me = app.get("/api/auth/users/me", Some(&legacy));
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(verify(&app, &legacy, Some("me")).status, 200);
    verify(&app, &legacy, Some("items:read")).assert_insufficient_scope("items:read");
}

fn a_withdrawn_grant_is_gone_at_the_next_refresh(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, &with_superuser(&ITEMS)) else {
        return;
    };
    let admin = app.token_with_scope(ROOT, ROOT_PASSWORD, "admin");
    assert_eq!(app.register("alice", PASSWORD).status, 201);
    let tokens = app.login("alice", PASSWORD);
    assert_granted(&tokens, 202, "items:read me");
    let old_access = tokens.str("access_token");

    let withdrawn =
        app.patch_json_bearer("/api/admin/users/alice", &admin, &json!({"scopes": ["me"]}));
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.body);
    assert_eq!(withdrawn.body["data"]["scopes"], json!(["me"]));

    let refreshed = refresh(&app, &tokens.str("refresh_token"));
    assert_granted(&refreshed, 201, "me");
    let access = refreshed.str("access_token");
    verify(&app, &access, Some("items:read")).assert_insufficient_scope("items:read");
    // The session family goes on across the refresh.
    assert_eq!(claims(&access)["sid"], claims(&old_access)["sid"]);
    // A new login gets only what is granted now.
    assert_granted(
        &app.login_with_scope("alice", PASSWORD, "items:read me"),
        202,
        "me",
    );
    // Access tokens stay stateless: the one issued before still carries
    // its scope until it expires (docs/api.md §3.5).
    assert_eq!(verify(&app, &old_access, Some("items:read")).status, 200);
}

fn a_refresh_may_narrow_and_never_widen(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(
        backend,
        &[
            ("AUTH__SCOPES", "items:read items:write"),
            ("AUTH__DEFAULT_SCOPES", "me items:read items:write"),
        ],
    ) else {
        return;
    };
    assert_eq!(app.register("alice", PASSWORD).status, 201);

    // Narrowing, in the JSON body.
    let all = app.login("alice", PASSWORD);
    assert_granted(&all, 202, "items:read items:write me");
    let narrowed = refresh_with_scope(&app, &all.str("refresh_token"), "items:read");
    assert_granted(&narrowed, 201, "items:read");

    // Narrowing, in the query string; the query wins over the body.
    let all = app.login("alice", PASSWORD);
    let query_wins = app.post_json(
        "/api/auth/token/refresh?scope=items:write",
        &json!({"refresh_token": all.str("refresh_token"), "scope": "me"}),
    );
    assert_granted(&query_wins, 201, "items:write");

    // Narrowing, in the OAuth2 form.
    let all = app.login("alice", PASSWORD);
    let form = app.post_form(
        "/api/auth/token/refresh",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &all.str("refresh_token")),
            ("scope", "me items:write"),
        ],
    );
    assert_granted(&form, 201, "items:write me");

    // Widening past what the session was granted: refused, and the
    // refresh token is not used up by the refusal.
    let narrow = app.login_with_scope("alice", PASSWORD, "items:read");
    assert_granted(&narrow, 202, "items:read");
    let token = narrow.str("refresh_token");
    for scope in ["items:read me", "items:write", "admin", "nope"] {
        refresh_with_scope(&app, &token, scope).assert_error(
            400,
            "400_BAD_REQUEST",
            "Invalid scope.",
        );
    }
    let still = refresh(&app, &token);
    assert_granted(&still, 201, "items:read");
    // And that successor is the family's live token: rotation goes on.
    assert_granted(
        &refresh(&app, &still.str("refresh_token")),
        201,
        "items:read",
    );
    refresh(&app, &token).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
}

/// Every token route answers `scope` beside the original's fields, and
/// nothing else changed in the bare token object.
fn the_token_object_gains_only_scope(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    assert_eq!(app.register("alice", PASSWORD).status, 201);
    let tokens = app.login("alice", PASSWORD);
    let mut keys: Vec<&str> = tokens
        .body
        .as_object()
        .expect("a bare object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(tokens.header("Cache-Control"), Some("no-store"));
    assert!(tokens.body.get("status").is_none());
    let refreshed = refresh(&app, &tokens.str("refresh_token"));
    assert_eq!(
        refreshed.body.as_object().map(|o| o.len()),
        Some(5),
        "{}",
        refreshed.body
    );
    assert_eq!(refreshed.body["scope"], Value::from("me"));
}

crate::on_both_backends!(
    scoped_tokens_open_only_their_routes,
    unknown_scopes_are_refused_at_login,
    clients_of_the_original_keep_working,
    a_token_without_a_scope_claim_counts_as_me,
    a_withdrawn_grant_is_gone_at_the_next_refresh,
    a_refresh_may_narrow_and_never_widen,
    the_token_object_gains_only_scope,
);
