//! The refresh token in a cookie (docs/api.md §11): set by login and
//! refresh, read by refresh and logout from allowed origins only, cleared
//! when it can no longer refresh.

use crate::{RefreshCookie, RefreshCookieMode};

use super::*;

const NAME: &str = "__Host-zentra_refresh";
const FRONT_END: &str = "http://127.0.0.1:3000";

async fn app_with(
    mode: RefreshCookieMode,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    TestApp {
        http: HttpSettings {
            body_limit_bytes: BODY_LIMIT,
            refresh_cookie: RefreshCookie {
                mode,
                ..RefreshCookie::default()
            },
            cors_origins: vec![FRONT_END.to_owned()],
            ..HttpSettings::default()
        },
        ..TestApp::new(only_agent47())
    }
    .start()
    .await
}

/// The `Set-Cookie` of the refresh cookie in `headers`, if any.
fn set_cookie(headers: &header::HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(NAME))
        .map(str::to_owned)
}

/// The cookie's value, from a `Set-Cookie` line.
fn value_of(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value.to_owned())
        .unwrap()
}

fn refresh_with_cookie(token: &str, origin: Option<&str>) -> TestRequest {
    let mut request = TestRequest::post()
        .uri("/api/auth/token/refresh")
        .cookie(actix_web::cookie::Cookie::new(NAME, token.to_owned()));
    if let Some(origin) = origin {
        request = request.insert_header((header::ORIGIN, origin));
    }
    request
}

#[actix_web::test]
async fn off_sets_no_cookie_and_reads_none() {
    let app = app_with(RefreshCookieMode::Off).await;
    let (status, headers, json) = send(&app, login_as("agent47", PASSWORD)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(headers.get(header::SET_COOKIE).is_none());
    assert!(json["refresh_token"].is_string());
    let refresh = json["refresh_token"].as_str().unwrap();
    let (status, _, _) = send(&app, refresh_with_cookie(refresh, Some(FRONT_END))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the cookie is not read");
}

#[actix_web::test]
async fn both_sets_the_cookie_beside_the_body_and_cookie_only_in_it() {
    for (mode, in_body) in [
        (RefreshCookieMode::Both, true),
        (RefreshCookieMode::Cookie, false),
    ] {
        let app = app_with(mode).await;
        let (status, headers, json) = send(&app, login_as("agent47", PASSWORD)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let cookie = set_cookie(&headers).expect("the refresh cookie");
        for attribute in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=604800",
        ] {
            assert!(cookie.contains(attribute), "{attribute} in {cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
        assert_eq!(json["refresh_token"].is_string(), in_body, "{mode}: {json}");
        assert!(json["access_token"].is_string());
    }
}

#[actix_web::test]
async fn a_cookie_refresh_needs_an_allowed_origin_and_renews_the_cookie() {
    let app = app_with(RefreshCookieMode::Cookie).await;
    let (_, headers, _) = send(&app, login_as("agent47", PASSWORD)).await;
    let refresh = value_of(&set_cookie(&headers).unwrap());

    for origin in [None, Some("http://evil.example"), Some("null")] {
        let (_, _, json) = send(&app, refresh_with_cookie(&refresh, origin)).await;
        assert_error(&json, 403, "403_FORBIDDEN", "Origin not allowed.");
    }
    // The service's own origin (the test request's host) and a listed one.
    for origin in ["http://localhost:8080", FRONT_END] {
        let (status, headers, json) = send(&app, refresh_with_cookie(&refresh, Some(origin))).await;
        assert_eq!(status, StatusCode::CREATED, "{origin}: {json}");
        assert!(json.get("refresh_token").is_none());
        assert!(set_cookie(&headers).is_some(), "a new cookie");
    }
}

#[actix_web::test]
async fn a_token_in_the_body_wins_over_the_cookie() {
    let app = app_with(RefreshCookieMode::Both).await;
    let (_, _, json) = send(&app, login_as("agent47", PASSWORD)).await;
    let refresh = json["refresh_token"].as_str().unwrap().to_owned();
    // A broken cookie and no Origin: neither is looked at.
    let (status, _, json) = send(
        &app,
        refresh_with_cookie("not-a-token", None).set_json(json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
}

#[actix_web::test]
async fn a_cookie_that_no_longer_refreshes_is_cleared() {
    let app = app_with(RefreshCookieMode::Cookie).await;
    let (status, headers, json) = send(&app, refresh_with_cookie("forged", Some(FRONT_END))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["message"], "Invalid refresh token.");
    let cleared = set_cookie(&headers).expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[actix_web::test]
async fn logout_reads_the_cookie_from_an_allowed_origin_and_clears_it() {
    let app = app_with(RefreshCookieMode::Cookie).await;
    let (_, headers, _) = send(&app, login_as("agent47", PASSWORD)).await;
    let refresh = value_of(&set_cookie(&headers).unwrap());
    let logout = |origin: &'static str| {
        TestRequest::post()
            .uri("/api/auth/logout")
            .cookie(actix_web::cookie::Cookie::new(NAME, refresh.clone()))
            .insert_header((header::ORIGIN, origin))
    };
    let (_, _, json) = send(&app, logout("http://evil.example")).await;
    assert_error(&json, 403, "403_FORBIDDEN", "Origin not allowed.");
    let (status, headers, json) = send(&app, logout(FRONT_END)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(set_cookie(&headers).unwrap().contains("Max-Age=0"));
    // No cookie and no body: the field is missing, as before.
    let (_, _, json) = send(&app, TestRequest::post().uri("/api/auth/logout")).await;
    assert_error(&json, 422, "422_UNPROCESSABLE_ENTITY", "Validation failed.");
}

#[actix_web::test]
async fn a_page_of_another_origin_gets_no_cookie() {
    let app = app_with(RefreshCookieMode::Both).await;
    let (status, headers, json) = send(
        &app,
        login_as("agent47", PASSWORD).insert_header((header::ORIGIN, "http://sibling.example")),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(
        set_cookie(&headers).is_none(),
        "no cookie for a foreign origin"
    );
    assert!(
        json["refresh_token"].is_string(),
        "the body still has it (both)"
    );
    let (_, headers, _) = send(
        &app,
        login_as("agent47", PASSWORD).insert_header((header::ORIGIN, FRONT_END)),
    )
    .await;
    assert!(set_cookie(&headers).is_some(), "a listed origin gets it");
}
