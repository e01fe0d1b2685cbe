//! What every route shares: 404 and 405, `HEAD`, the body formats, the
//! limits on size and time, and failures that tell the client nothing
//! internal.

use super::*;

#[actix_web::test]
async fn an_unknown_route_is_404_in_the_envelope() {
    let app = app(MockUserRepository::new()).await;
    let (status, _, json) = send(&app, TestRequest::get().uri("/api/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&json, 404, "404_NOT_FOUND", "Not found.");
}

#[actix_web::test]
async fn a_wrong_method_is_405_with_allow() {
    let app = app(MockUserRepository::new()).await;
    for (method, uri, allow) in [
        (Method::GET, "/api/auth/register", "POST"),
        (Method::DELETE, "/api/auth/users/me", "GET, HEAD, PATCH"),
        (Method::GET, "/api/auth/logout", "POST"),
        (Method::POST, "/", "GET, HEAD"),
        (Method::POST, "/api/health", "GET, HEAD"),
        (Method::POST, "/api/openapi.json", "GET, HEAD"),
        (Method::DELETE, "/api/docs/", "GET, HEAD"),
        (Method::HEAD, "/api/auth/token", "POST"),
        (Method::GET, "/api/auth/token/verify/abc.def.ghi", "POST"),
    ] {
        let (status, headers, json) =
            send(&app, TestRequest::default().method(method).uri(uri)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        assert_eq!(headers.get(header::ALLOW).unwrap(), allow);
        assert_eq!(json["response"], "405_METHOD_NOT_ALLOWED");
        assert_eq!(json["headers"]["Allow"], allow);
    }
}

#[actix_web::test]
async fn head_answers_on_every_get_route_with_the_get_headers() {
    let app = app(only_agent47()).await;
    let token = access_token_for("agent47");
    for uri in [
        "/",
        "/api/health",
        "/api/auth/users/me",
        "/api/auth/users/me/events",
        "/api/openapi.json",
        "/api/docs",
        "/api/docs/",
        "/api/docs/swagger-ui.css",
    ] {
        let request = |method: Method| {
            TestRequest::default()
                .method(method)
                .uri(uri)
                .insert_header(bearer(&token))
                .to_request()
        };
        let get = test::call_service(&app, request(Method::GET)).await;
        let head = test::call_service(&app, request(Method::HEAD)).await;
        assert!(
            get.status().is_success() || get.status().is_redirection(),
            "{uri}"
        );
        assert_eq!(head.status(), get.status(), "{uri}");
        for name in [
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::LOCATION,
            header::WWW_AUTHENTICATE,
        ] {
            assert_eq!(
                head.headers().get(&name),
                get.headers().get(&name),
                "{uri} {name}"
            );
        }
        // actix-http leaves out the body of an answer to HEAD on the wire.
    }
}

#[actix_web::test]
async fn every_missing_field_is_listed_in_json_and_form_bodies_alike() {
    let app = app(MockUserRepository::new()).await;
    let registration = register(json!({}));
    let (status, _, json) = send(&app, registration).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_eq!(detail_fields(&json), ["username", "password"]);
    let password_change = TestRequest::post()
        .uri("/api/auth/users/me/password")
        .insert_header(bearer(&access_token_for("agent47")))
        .set_json(json!({}));
    let (status, _, json) = send(&app, password_change).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_eq!(detail_fields(&json), ["current_password", "new_password"]);
    for body in ["", "scope=x", "grant_type=password"] {
        let (status, _, json) = send(&app, form_login(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {json}");
        assert_eq!(detail_fields(&json), ["username", "password"], "{body}");
    }
}

#[actix_web::test]
async fn a_form_body_on_a_json_route_is_415() {
    let app = app(MockUserRepository::new()).await;
    let (status, _, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/register")
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload("username=agent47&password=correct+horse"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(json["response"], "415_UNSUPPORTED_MEDIA_TYPE");
}

#[actix_web::test]
async fn a_body_over_the_limit_is_413_in_the_envelope() {
    let app = app(MockUserRepository::new()).await;
    let (status, _, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/register")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload("x".repeat(BODY_LIMIT + 1)),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["response"], "413_PAYLOAD_TOO_LARGE");
}

#[actix_web::test]
async fn oversized_headers_and_uris_are_refused_in_the_envelope() {
    let app = app(MockUserRepository::new()).await;
    let (status, _, json) = send(
        &app,
        TestRequest::get()
            .uri("/api/auth/users/me")
            .insert_header(bearer(&"a".repeat(20_000))),
    )
    .await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(json["response"], "431_REQUEST_HEADER_FIELDS_TOO_LARGE");

    let uri = format!("/api/auth/token/verify/{}", "a".repeat(9000));
    let (status, _, json) = send(&app, TestRequest::post().uri(&uri)).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    assert_eq!(json["response"], "414_URI_TOO_LONG");
}

/// A request to `uri` whose body stops after its first bytes: the client
/// announced 100 bytes and went quiet (the sender is returned to keep the
/// body open).
fn stalled_body(uri: &str) -> (actix_http::Request, impl Sized) {
    let (mut sender, payload) = actix_http::h1::Payload::create(false);
    sender.feed_data(actix_web::web::Bytes::from_static(b"{\"username\":"));
    let request = TestRequest::post()
        .uri(uri)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CONTENT_LENGTH, "100"))
        .to_request();
    (request.replace_payload(payload.into()).0, sender)
}

#[actix_web::test]
async fn a_body_that_stalls_is_408_at_the_deadline_and_the_connection_closes() {
    let mut app = TestApp::new(MockUserRepository::new());
    app.http.client_timeout = std::time::Duration::from_millis(200);
    let app = app.start().await;
    // Every route, whether it reads a body or not.
    for uri in ["/api/auth/register", "/api/auth/logout/all", "/nowhere"] {
        let (request, _sender) = stalled_body(uri);
        let started = std::time::Instant::now();
        let response = actix_web::rt::time::timeout(
            std::time::Duration::from_secs(5),
            test::call_service(&app, request),
        )
        .await
        .unwrap_or_else(|_| panic!("{uri}: no answer to a stalled body"));
        assert!(started.elapsed() >= std::time::Duration::from_millis(200));
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT, "{uri}");
        assert_eq!(
            response.response().head().connection_type(),
            actix_http::ConnectionType::Close,
            "{uri}"
        );
        let json: Value = serde_json::from_slice(&test::read_body(response).await).unwrap();
        assert_error(&json, 408, "408_REQUEST_TIMEOUT", "Request timeout.");
    }
}

#[actix_web::test]
async fn a_database_outage_is_503_without_internals() {
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_username().returning(|_| {
        Err(InfraError::unavailable(
            "connection to /var/run/postgresql refused",
        ))
    });
    let app = app(repository).await;

    let (status, headers, json) = send(
        &app,
        register(json!({"username": "agent47", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(
        &json,
        503,
        "503_SERVICE_UNAVAILABLE",
        "Service unavailable, try again later.",
    );
    assert!(!json.to_string().contains("postgresql"));
    assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "1");
    assert_eq!(json["headers"]["Retry-After"], "1");
}

#[actix_web::test]
async fn an_unexpected_failure_is_500_without_internals() {
    let mut repository = MockUserRepository::new();
    repository
        .expect_find_by_username()
        .returning(|_| Err(InfraError::unexpected("SELECT * FROM users: syntax error")));
    let app = app(repository).await;
    let (status, _, json) = send(&app, get_me("agent47")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json["message"], "Internal server error.");
    assert!(!json.to_string().contains("SELECT"));
}
