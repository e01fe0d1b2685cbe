//! Handler tests through actix's test tools: the real routes, the real JWT
//! and bcrypt adapters (bcrypt at cost 4), and a mocked repository.

use std::sync::{Arc, Mutex};

use actix_web::{
    App,
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::{Method, StatusCode, header},
    test::{self, TestRequest},
};
use adapters_crypto::{BcryptHasher, JwtAlgorithm, JwtSettings, JwtTokenService, SecretKey};
use domain::{
    AuthService, CreateUserError, InfraError, PasswordHasher, SystemClock, TokenKind, TokenRequest,
    TokenService, User, UserDetails, Username, ports::MockUserRepository,
};
use serde_json::{Value, json};

use crate::{HttpSettings, ReadinessProbe, configure, error_envelopes};

const PASSWORD: &str = "correct horse";
const BODY_LIMIT: usize = 1024;

fn tokens() -> JwtTokenService {
    JwtTokenService::new(&JwtSettings {
        algorithm: JwtAlgorithm::Hs256,
        access_secret: SecretKey::new(*b"handler-tests-access-key-32-bytes!!"),
        refresh_secret: SecretKey::new(*b"handler-tests-refresh-key-32-bytes!"),
        issuer: "zentra".into(),
        access_lifetime_secs: 900,
        refresh_lifetime_secs: 3600,
    })
}

fn hasher() -> BcryptHasher {
    BcryptHasher::new(4).unwrap()
}

fn stored_user(name: &str, is_active: bool) -> User {
    let password = domain::Password::parse(PASSWORD).unwrap();
    User {
        id: 1,
        username: Username::parse(name).unwrap(),
        password_hash: hasher().hash(&password).unwrap(),
        is_active,
        details: UserDetails {
            email: Some("agent47@example.com".into()),
            phone: None,
            full_name: Some("Agent 47".into()),
        },
    }
}

/// A repository that knows exactly the given users.
fn repository_with(users: Vec<User>) -> MockUserRepository {
    let mut repository = MockUserRepository::new();
    repository
        .expect_find_by_username()
        .returning(move |name| Ok(users.iter().find(|u| &u.username == name).cloned()));
    repository
}

struct Probe(Mutex<Result<(), &'static str>>);

impl ReadinessProbe for Probe {
    fn check(&self) -> Result<(), InfraError> {
        (*self.0.lock().unwrap()).map_err(InfraError::unavailable)
    }
}

async fn app_with_probe(
    repository: MockUserRepository,
    probe: Result<(), &'static str>,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    let service = AuthService::new(
        Arc::new(repository),
        Arc::new(hasher()),
        Arc::new(tokens()),
        Arc::new(SystemClock),
        hasher()
            .hash(&domain::Password::parse("dummy password").unwrap())
            .unwrap(),
    );
    test::init_service(App::new().wrap(error_envelopes()).configure(configure(
        Arc::new(service),
        Arc::new(Probe(Mutex::new(probe))),
        HttpSettings {
            body_limit_bytes: BODY_LIMIT,
        },
    )))
    .await
}

async fn app(
    repository: MockUserRepository,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    app_with_probe(repository, Ok(())).await
}

/// Sends the request and returns status, headers and the JSON body.
async fn send<S, B>(app: &S, request: TestRequest) -> (StatusCode, header::HeaderMap, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, request.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = test::read_body(response).await;
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, headers, json)
}

fn assert_error(json: &Value, code: u16, response: &str, message: &str) {
    assert_eq!(json["status"], "error", "{json}");
    assert_eq!(json["code"], code, "{json}");
    assert_eq!(json["response"], response, "{json}");
    assert_eq!(json["message"], message, "{json}");
}

fn access_token_for(name: &str) -> String {
    issue(TokenKind::Access, name)
}

fn issue(kind: TokenKind, name: &str) -> String {
    tokens()
        .issue(&TokenRequest {
            kind,
            subject: Username::parse(name).unwrap(),
            family: None,
            now: domain::Clock::now(&SystemClock),
        })
        .unwrap()
        .token
}

// --- register -------------------------------------------------------------

#[actix_web::test]
async fn registering_answers_201_with_the_username() {
    let mut repository = repository_with(vec![]);
    repository.expect_create().returning(|new| {
        Ok(User {
            username: new.username.clone(),
            ..stored_user("agent47", true)
        })
    });
    let app = app(repository).await;

    let (status, _, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/register")
            .set_json(json!({"username": "agent47", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        json,
        json!({"status": "success", "code": 201, "response": "201_CREATED",
               "data": {"username": "agent47"}, "headers": null})
    );
}

#[actix_web::test]
async fn registering_a_taken_name_is_400_even_when_the_race_is_lost_in_the_store() {
    let mut repository = repository_with(vec![]);
    repository
        .expect_create()
        .returning(|_| Err(CreateUserError::UsernameTaken));
    let app = app(repository).await;

    let (status, _, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/register")
            .set_json(json!({"username": "agent47", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&json, 400, "400_BAD_REQUEST", "User already registered.");
    assert_eq!(json["headers"], Value::Null);
}

#[actix_web::test]
async fn a_policy_breach_is_422_with_a_detail_per_field() {
    let app = app(MockUserRepository::new()).await;
    let (status, _, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/register")
            .set_json(json!({"username": "a b", "password": "short"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&json, 422, "422_UNPROCESSABLE_ENTITY", "Validation failed.");
    let fields: Vec<_> = json["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["username", "password"]);
}

#[actix_web::test]
async fn a_missing_or_mistyped_field_is_422() {
    let app = app(MockUserRepository::new()).await;
    for (body, field) in [
        (json!({"username": "agent47"}), "password"),
        (
            json!({"username": "agent47", "password": PASSWORD, "is_active": "yes"}),
            "is_active",
        ),
        (json!({"username": 47, "password": PASSWORD}), "username"),
    ] {
        let (status, _, json) = send(
            &app,
            TestRequest::post().uri("/api/auth/register").set_json(body),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(json["details"][0]["field"], field, "{json}");
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
async fn a_database_outage_is_503_without_internals() {
    let mut repository = MockUserRepository::new();
    repository.expect_find_by_username().returning(|_| {
        Err(InfraError::unavailable(
            "connection to /var/run/postgresql refused",
        ))
    });
    let app = app(repository).await;

    let (status, _, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/register")
            .set_json(json!({"username": "agent47", "password": PASSWORD})),
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
}

#[actix_web::test]
async fn an_unexpected_failure_is_500_without_internals() {
    let mut repository = MockUserRepository::new();
    repository
        .expect_find_by_username()
        .returning(|_| Err(InfraError::unexpected("SELECT * FROM users: syntax error")));
    let app = app(repository).await;
    let (status, _, json) = send(
        &app,
        TestRequest::get().uri("/api/auth/users/me").insert_header((
            header::AUTHORIZATION,
            format!("Bearer {}", access_token_for("agent47")),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json["message"], "Internal server error.");
    assert!(!json.to_string().contains("SELECT"));
}

// --- login ----------------------------------------------------------------

#[actix_web::test]
async fn logging_in_with_a_form_answers_202_with_a_bare_uncached_token_pair() {
    let app = app(repository_with(vec![stored_user("agent47", true)])).await;
    let (status, headers, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/token")
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload("grant_type=password&username=agent47&password=correct+horse&scope="),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    assert_eq!(headers.get(header::PRAGMA).unwrap(), "no-cache");
    assert_eq!(json["token_type"], "bearer");
    assert_eq!(json["expires_in"], 900);
    assert!(
        json.get("status").is_none(),
        "no envelope on success: {json}"
    );
    let access = json["access_token"].as_str().unwrap();
    let now = domain::Clock::now(&SystemClock);
    assert!(tokens().decode(access, TokenKind::Access, now).is_ok());
    let refresh = json["refresh_token"].as_str().unwrap();
    assert!(tokens().decode(refresh, TokenKind::Refresh, now).is_ok());
}

#[actix_web::test]
async fn logging_in_with_json_works_too() {
    let app = app(repository_with(vec![stored_user("agent47", true)])).await;
    let (status, _, _) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/token")
            .set_json(json!({"username": "agent47", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_401() {
    let app = app(repository_with(vec![stored_user("agent47", true)])).await;
    let mut answers = Vec::new();
    for (name, password) in [("agent47", "wrong horse"), ("nobody", PASSWORD)] {
        let (status, headers, json) = send(
            &app,
            TestRequest::post()
                .uri("/api/auth/token")
                .set_form([("username", name), ("password", password)]),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
        answers.push(json);
    }
    assert_error(
        &answers[0],
        401,
        "401_UNAUTHORIZED",
        "Incorrect username or password.",
    );
    assert_eq!(answers[0]["headers"], json!({"WWW-Authenticate": "Bearer"}));
    assert_eq!(answers[0], answers[1]);
}

#[actix_web::test]
async fn a_login_without_password_or_with_another_grant_is_422() {
    let app = app(MockUserRepository::new()).await;
    for (form, field) in [
        ("username=agent47", "password"),
        (
            "username=agent47&password=x&grant_type=client_credentials",
            "grant_type",
        ),
    ] {
        let (status, _, json) = send(
            &app,
            TestRequest::post()
                .uri("/api/auth/token")
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(form),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
        assert_eq!(json["details"][0]["field"], field);
    }
}

// --- users/me ---------------------------------------------------------------

#[actix_web::test]
async fn the_current_user_is_returned_with_a_bearer_header() {
    let app = app(repository_with(vec![stored_user("agent47", true)])).await;
    let (status, headers, json) = send(
        &app,
        TestRequest::get().uri("/api/auth/users/me").insert_header((
            header::AUTHORIZATION,
            format!("Bearer {}", access_token_for("agent47")),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(
        json,
        json!({"status": "success", "code": 200, "response": "200_OK",
               "data": {"username": "agent47", "email": "agent47@example.com", "phone": null,
                        "full_name": "Agent 47", "is_active": true},
               "headers": {"WWW-Authenticate": "Bearer"}})
    );
}

#[actix_web::test]
async fn no_bearer_header_is_not_authenticated() {
    let app = app(MockUserRepository::new()).await;
    for request in [
        TestRequest::get().uri("/api/auth/users/me"),
        TestRequest::get()
            .uri("/api/auth/users/me")
            .insert_header((header::AUTHORIZATION, "Basic YWdlbnQ0Nzpw")),
    ] {
        let (status, headers, json) = send(&app, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
        assert_error(&json, 401, "401_UNAUTHORIZED", "Not authenticated.");
    }
}

#[actix_web::test]
async fn a_bad_a_refresh_or_an_orphan_token_could_not_be_validated() {
    let app = app(repository_with(vec![])).await;
    for token in [
        "garbage".to_owned(),
        issue(TokenKind::Refresh, "agent47"),
        access_token_for("deleted-user"),
    ] {
        let (status, _, json) = send(
            &app,
            TestRequest::get()
                .uri("/api/auth/users/me")
                .insert_header((header::AUTHORIZATION, format!("Bearer {token}"))),
        )
        .await;
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
async fn an_inactive_user_gets_400() {
    let app = app(repository_with(vec![stored_user("sleeper", false)])).await;
    let (status, _, json) = send(
        &app,
        TestRequest::get().uri("/api/auth/users/me").insert_header((
            header::AUTHORIZATION,
            format!("Bearer {}", access_token_for("sleeper")),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&json, 400, "400_BAD_REQUEST", "Inactive user.");
}

// --- verify -----------------------------------------------------------------

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

// --- refresh ----------------------------------------------------------------

#[actix_web::test]
async fn a_refresh_token_is_taken_from_the_query_a_json_body_or_a_form() {
    let app = app(repository_with(vec![stored_user("agent47", true)])).await;
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
    let app = app(repository_with(vec![stored_user("agent47", true)])).await;
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
    let app = app(repository_with(vec![stored_user("agent47", true)])).await;
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

// --- framework errors and service routes ------------------------------------

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
        (Method::DELETE, "/api/auth/users/me", "GET"),
        (Method::POST, "/", "GET"),
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
async fn the_root_answers_like_the_original() {
    let app = app(MockUserRepository::new()).await;
    let (status, _, json) = send(&app, TestRequest::get().uri("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json, json!({"health": "check complete"}));
}

#[actix_web::test]
async fn health_reports_the_database() {
    let app = app(MockUserRepository::new()).await;
    let (status, _, json) = send(&app, TestRequest::get().uri("/api/health")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["data"], json!({"database": "ok"}));

    let down = app_with_probe(MockUserRepository::new(), Err("connection refused")).await;
    let (status, _, json) = send(&down, TestRequest::get().uri("/api/health")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(
        &json,
        503,
        "503_SERVICE_UNAVAILABLE",
        "Service unavailable, try again later.",
    );
}
