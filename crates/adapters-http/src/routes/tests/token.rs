//! Verifying, refreshing and logging out with a token.

use super::*;

#[actix_web::test]
async fn verify_accepts_an_access_token_in_the_path_without_a_database() {
    // No repository expectation: any store access would fail the test.
    let app = app(MockUserRepository::new()).await;
    let uri = format!("/api/auth/token/verify/{}", access_token_for("agent47"));
    let (status, headers, json) = send(&app, TestRequest::post().uri(&uri)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(
        json,
        json!({"status": "success", "code": 200, "response": "200_OK",
               "message": "Token is valid.", "headers": {"WWW-Authenticate": "Bearer"}})
    );
}

#[actix_web::test]
async fn verify_refuses_refresh_tokens_and_garbage() {
    let app = app(MockUserRepository::new()).await;
    for token in [issue(TokenKind::Refresh, "agent47"), "abc.def.ghi".into()] {
        let uri = format!("/api/auth/token/verify/{token}");
        let (status, _, json) = send(&app, TestRequest::post().uri(&uri)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(
            &json,
            401,
            "401_UNAUTHORIZED",
            "Could not validate credentials.",
        );
    }
}

#[actix_web::test]
async fn verify_routes_exactly_one_non_empty_segment() {
    // The handler routes itself (see `auth::verify`): anything but one
    // segment after `/token/verify/` is an unknown route, as with a resource.
    let app = app(MockUserRepository::new()).await;
    for uri in [
        "/api/auth/token/verify",
        "/api/auth/token/verify/",
        "/api/auth/token/verify/abc/def",
        "/api/auth/token/verify/abc/",
        "/api/auth/token/verifyabc",
    ] {
        let (status, _, json) = send(&app, TestRequest::post().uri(uri)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_error(&json, 404, "404_NOT_FOUND", "Not found.");
    }
}

#[actix_web::test]
async fn a_refresh_token_is_taken_from_the_query_a_json_body_or_a_form() {
    let app = app(only_agent47()).await;
    let token = issue(TokenKind::Refresh, "agent47");
    for request in [
        TestRequest::post().uri(&format!("/api/auth/token/refresh?refresh_token={token}")),
        TestRequest::post()
            .uri("/api/auth/token/refresh")
            .set_json(json!({"refresh_token": token})),
        TestRequest::post()
            .uri("/api/auth/token/refresh")
            .set_form([
                ("grant_type", "refresh_token"),
                ("refresh_token", token.as_str()),
            ]),
    ] {
        let (status, headers, json) = send(&app, request).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
        assert_eq!(json["token_type"], "bearer");
        assert!(json["refresh_token"].is_string());
    }
}

#[actix_web::test]
async fn the_query_wins_over_the_body() {
    let app = app(only_agent47()).await;
    let token = issue(TokenKind::Refresh, "agent47");
    let (status, _, _) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/token/refresh?refresh_token=garbage")
            .set_json(json!({"refresh_token": token})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_missing_or_access_token_is_an_invalid_refresh_token() {
    let app = app(only_agent47()).await;
    let access = access_token_for("agent47");
    for request in [
        TestRequest::post().uri("/api/auth/token/refresh"),
        TestRequest::post().uri("/api/auth/token/refresh?refresh_token="),
        TestRequest::post().uri(&format!("/api/auth/token/refresh?refresh_token={access}")),
        TestRequest::post()
            .uri("/api/auth/token/refresh")
            .set_json(json!({})),
    ] {
        let (status, headers, json) = send(&app, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
        assert_error(&json, 401, "401_UNAUTHORIZED", "Invalid refresh token.");
    }
}

#[actix_web::test]
async fn a_malformed_refresh_body_is_422_even_when_the_query_wins() {
    let app = app(only_agent47()).await;
    let token = issue(TokenKind::Refresh, "agent47");
    let (status, _, json) = send(
        &app,
        TestRequest::post()
            .uri(&format!("/api/auth/token/refresh?refresh_token={token}"))
            .set_json(json!({"refresh_token": ["not", "a", "string"]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json["details"][0]["field"], "refresh_token");
}

#[actix_web::test]
async fn logout_answers_200_for_any_token_and_422_without_one() {
    let app = app(repository_with(vec![])).await;
    for token in [issue(TokenKind::Refresh, "agent47"), "garbage".into()] {
        let (status, _, json) = send(
            &app,
            TestRequest::post()
                .uri("/api/auth/logout")
                .set_json(json!({"refresh_token": token})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            json,
            json!({"status": "success", "code": 200, "response": "200_OK",
                   "message": "Logged out.", "headers": null})
        );
    }
    let (status, _, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/logout")
            .set_json(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json["details"][0]["field"], "refresh_token");
}

#[actix_web::test]
async fn logout_everywhere_needs_a_bearer_token() {
    let app = app(only_agent47()).await;
    let (status, _, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/logout/all")
            .insert_header(bearer(&access_token_for("agent47"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["message"], "Logged out of all sessions.");
    assert_eq!(json["headers"], json!({"WWW-Authenticate": "Bearer"}));

    let (status, _, json) = send(&app, TestRequest::post().uri("/api/auth/logout/all")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["message"], "Not authenticated.");
}
