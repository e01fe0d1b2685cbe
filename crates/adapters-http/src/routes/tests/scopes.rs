//! Scopes (docs/api.md §9): what a route needs, what a login and a refresh
//! grant, and `verify/{token}?scope=`.

use super::*;

const ME_CHALLENGE: &str = r#"Bearer error="insufficient_scope", scope="me""#;

/// Asserts a 403 `Not enough permissions.` challenging for `challenge`, in
/// the header and in the envelope alike.
fn assert_insufficient_scope(
    status: StatusCode,
    headers: &header::HeaderMap,
    json: &Value,
    challenge: &str,
) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), challenge);
    assert_error(json, 403, "403_FORBIDDEN", "Not enough permissions.");
    assert_eq!(json["headers"], json!({"WWW-Authenticate": challenge}));
}

#[actix_web::test]
async fn a_token_without_me_is_403_on_users_me_with_the_challenge_sent_and_mirrored() {
    // No repository expectation: the scope is refused before any store call.
    let app = app(MockUserRepository::new()).await;
    for granted in ["items:read", ""] {
        let request = TestRequest::get()
            .uri("/api/auth/users/me")
            .insert_header(bearer(&access_token_with("agent47", granted)));
        let (status, headers, json) = send(&app, request).await;
        assert_insufficient_scope(status, &headers, &json, ME_CHALLENGE);
    }
}

#[actix_web::test]
async fn every_me_route_needs_the_me_scope() {
    let app = app(MockUserRepository::new()).await;
    let token = access_token_with("agent47", "items:read introspect");
    for request in [
        TestRequest::patch()
            .uri("/api/auth/users/me")
            .set_json(json!({"full_name": "X"})),
        TestRequest::post()
            .uri("/api/auth/users/me/password")
            .set_json(json!({"current_password": PASSWORD, "new_password": "brand new horse"})),
        TestRequest::get().uri("/api/auth/users/me/events"),
        TestRequest::post().uri("/api/auth/logout/all"),
    ] {
        let (status, headers, json) = send(&app, request.insert_header(bearer(&token))).await;
        assert_insufficient_scope(status, &headers, &json, ME_CHALLENGE);
    }
}

#[actix_web::test]
async fn a_token_with_me_and_more_reads_the_profile_with_its_grants() {
    let mut user = stored_user("agent47", true);
    user.scopes = scopes("items:read me");
    let app = app(repository_with(vec![user])).await;
    let request = TestRequest::get()
        .uri("/api/auth/users/me")
        .insert_header(bearer(&access_token_with("agent47", "items:read me")));
    let (status, _, json) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["data"]["scopes"], json!(["items:read", "me"]));
    assert_eq!(json["data"]["is_superuser"], false);
}

fn verify(token: &str, query: &str) -> TestRequest {
    TestRequest::post().uri(&format!("/api/auth/token/verify/{token}{query}"))
}

#[actix_web::test]
async fn verify_with_scopes_is_200_only_when_the_token_carries_every_one() {
    let app = app(MockUserRepository::new()).await;
    let token = access_token_with("agent47", "items:read me");
    for query in [
        "",
        "?scope=me",
        "?scope=me%20items:read",
        "?scope=items:read+me",
        "?scope=",
        "?other=1",
    ] {
        let (status, _, json) = send(&app, verify(&token, query)).await;
        assert_eq!(status, StatusCode::OK, "{query}: {json}");
        assert_eq!(json["message"], "Token is valid.");
    }
    let (status, headers, json) = send(&app, verify(&token, "?scope=admin%20me")).await;
    assert_insufficient_scope(
        status,
        &headers,
        &json,
        r#"Bearer error="insufficient_scope", scope="admin me""#,
    );
}

#[actix_web::test]
async fn verify_with_an_unknown_or_malformed_scope_is_400() {
    let app = app(MockUserRepository::new()).await;
    let token = access_token_for("agent47");
    for query in [
        "?scope=items:delete",
        "?scope=Me",
        "?scope=%FF",
        "?scope=me%00",
    ] {
        let (status, _, json) = send(&app, verify(&token, query)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_error(&json, 400, "400_BAD_REQUEST", "Invalid scope.");
    }
}

#[actix_web::test]
async fn verify_with_a_scope_still_refuses_a_bad_token_with_401() {
    let app = app(MockUserRepository::new()).await;
    let refresh = issue(TokenKind::Refresh, "agent47");
    let (status, _, json) = send(&app, verify(&refresh, "?scope=me")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["message"], "Could not validate credentials.");
}

fn granted_scope_of(json: &Value) -> Scopes {
    let access = json["access_token"].as_str().unwrap();
    let claims = tokens()
        .decode(access, TokenKind::Access, domain::Clock::now(&SystemClock))
        .unwrap();
    claims.granted()
}

#[actix_web::test]
async fn a_login_grants_the_scopes_asked_for_that_the_user_holds_and_says_so() {
    let mut user = superuser("root");
    user.scopes = scopes("admin items:read me");
    let app = app(repository_with(vec![user])).await;
    for (asked, granted) in [
        (None, "items:read me"),
        (Some(""), "items:read me"),
        (Some("me"), "me"),
        (Some("admin me"), "admin me"),
        (Some("introspect"), ""),
    ] {
        let mut form = vec![("username", "root"), ("password", PASSWORD)];
        form.extend(asked.map(|scope| ("scope", scope)));
        let request = TestRequest::post().uri("/api/auth/token").set_form(form);
        let (status, _, json) = send(&app, request).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{asked:?}: {json}");
        assert_eq!(json["scope"], granted, "{asked:?}");
        assert_eq!(granted_scope_of(&json), scopes(granted), "{asked:?}");
    }
    let (status, _, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/token")
            .set_json(json!({"username": "root", "password": PASSWORD, "scope": "me"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(json["scope"], "me");
}

#[actix_web::test]
async fn the_token_response_keeps_its_keys_in_alphabetical_order() {
    let app = app(only_agent47()).await;
    let response = test::call_service(&app, login_as("agent47", PASSWORD).to_request()).await;
    let body = test::read_body(response).await;
    let text = std::str::from_utf8(&body).unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\"")).unwrap();
    let keys = [
        "access_token",
        "expires_in",
        "refresh_token",
        "scope",
        "token_type",
    ];
    assert!(
        keys.windows(2).all(|pair| at(pair[0]) < at(pair[1])),
        "{text}"
    );
}

#[actix_web::test]
async fn a_login_asking_for_an_unknown_scope_is_400() {
    let app = app(only_agent47()).await;
    let request = TestRequest::post().uri("/api/auth/token").set_form([
        ("username", "agent47"),
        ("password", PASSWORD),
        ("scope", "me items:delete"),
    ]);
    let (status, _, json) = send(&app, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&json, 400, "400_BAD_REQUEST", "Invalid scope.");
}

#[actix_web::test]
async fn a_refresh_that_would_widen_the_session_is_400_invalid_scope() {
    let app = app(only_agent47()).await;
    let token = issue(TokenKind::Refresh, "agent47");
    for request in [
        TestRequest::post().uri(&format!(
            "/api/auth/token/refresh?refresh_token={token}&scope=admin"
        )),
        TestRequest::post()
            .uri("/api/auth/token/refresh")
            .set_json(json!({"refresh_token": token, "scope": "introspect me"})),
        TestRequest::post()
            .uri("/api/auth/token/refresh")
            .set_json(json!({"refresh_token": token, "scope": "items:delete"})),
    ] {
        let (status, _, json) = send(&app, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
        assert_error(&json, 400, "400_BAD_REQUEST", "Invalid scope.");
    }
}

#[actix_web::test]
async fn a_refresh_may_narrow_its_scope_and_the_query_wins() {
    let mut user = stored_user("agent47", true);
    user.scopes = scopes(SESSION_SCOPES);
    let app = app(repository_with(vec![user])).await;
    let token = issue(TokenKind::Refresh, "agent47");
    for (request, granted) in [
        (
            TestRequest::post().uri(&format!("/api/auth/token/refresh?refresh_token={token}")),
            SESSION_SCOPES,
        ),
        (
            TestRequest::post()
                .uri("/api/auth/token/refresh?scope=me")
                .set_json(json!({"refresh_token": token, "scope": "items:read"})),
            "me",
        ),
        (
            TestRequest::post()
                .uri("/api/auth/token/refresh")
                .set_form([("refresh_token", token.as_str()), ("scope", "items:read")]),
            "items:read",
        ),
    ] {
        let (status, _, json) = send(&app, request).await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        assert_eq!(json["scope"], granted, "{json}");
        assert_eq!(granted_scope_of(&json), scopes(granted));
    }
}

#[actix_web::test]
async fn a_refresh_drops_a_grant_withdrawn_since_the_login() {
    // The session was granted `items:read me`; the user holds `me` now.
    let app = app(only_agent47()).await;
    let token = issue(TokenKind::Refresh, "agent47");
    let (status, _, json) = send(
        &app,
        TestRequest::post().uri(&format!("/api/auth/token/refresh?refresh_token={token}")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    assert_eq!(json["scope"], "me");
}
