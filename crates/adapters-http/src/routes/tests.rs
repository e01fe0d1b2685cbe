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
    AuthPolicy, AuthService, CreateUserError, InfraError, LoginLimits, PasswordHasher, Places,
    Ports, Reservation, SystemClock, TokenKind, TokenRequest, TokenService, User, UserDetails,
    Username,
    ports::{MockLoginFailureRepository, MockSessionRepository, MockUserRepository},
};
use serde_json::{Value, json};

use crate::{HttpSettings, Lanes, ReadinessProbe, WorkerPool, configure, error_envelopes};

fn bearer(token: &str) -> (header::HeaderName, String) {
    (header::AUTHORIZATION, format!("Bearer {token}"))
}

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
        credential_version: 0,
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

/// Sessions that accept every operation.
fn sessions() -> MockSessionRepository {
    let mut sessions = MockSessionRepository::new();
    sessions.expect_create().returning(|_| Ok(true));
    sessions.expect_rotate().returning(|_| Ok(true));
    sessions.expect_revoke_family().returning(|_, _| Ok(()));
    sessions.expect_revoke_all_for_user().returning(|_| Ok(()));
    sessions
}

/// A failed-login store with room for every attempt.
fn no_failures() -> MockLoginFailureRepository {
    failures_for("no key has this prefix", 0)
}

/// The ports of one test's app, with permissive defaults.
struct TestApp {
    users: MockUserRepository,
    sessions: MockSessionRepository,
    failures: MockLoginFailureRepository,
    probe: Result<(), &'static str>,
    http: HttpSettings,
}

impl TestApp {
    fn new(users: MockUserRepository) -> Self {
        Self {
            users,
            sessions: sessions(),
            failures: no_failures(),
            probe: Ok(()),
            http: HttpSettings {
                body_limit_bytes: BODY_LIMIT,
                ..HttpSettings::default()
            },
        }
    }

    async fn start(
        self,
    ) -> impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    > {
        let service = AuthService::new(
            Ports {
                users: Arc::new(self.users),
                sessions: Arc::new(self.sessions),
                login_failures: Arc::new(self.failures),
                hasher: Arc::new(hasher()),
                tokens: Arc::new(tokens()),
                clock: Arc::new(SystemClock),
            },
            AuthPolicy {
                dummy_hash: hasher()
                    .hash(&domain::Password::parse("dummy password").unwrap())
                    .unwrap(),
                login_limits: LoginLimits {
                    max_failures: 3,
                    max_failures_per_address: 10,
                    window_secs: 900,
                },
            },
        );
        test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(
                    crate::limits::read_body_in_time,
                ))
                .wrap(actix_web::middleware::from_fn(
                    crate::limits::refuse_oversized,
                ))
                .wrap(error_envelopes())
                .configure(configure(
                    Arc::new(service),
                    Arc::new(Probe(Mutex::new(self.probe))),
                    Arc::new(Lanes::new(
                        WorkerPool::new("db", 2, 64),
                        WorkerPool::new("hashing", 2, 64),
                    )),
                    self.http,
                )),
        )
        .await
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
    TestApp {
        probe,
        ..TestApp::new(repository)
    }
    .start()
    .await
}

async fn app(
    repository: MockUserRepository,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    TestApp::new(repository).start().await
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

/// `POST /api/auth/token` with a form body.
fn form_login(body: impl Into<actix_web::web::Bytes>) -> TestRequest {
    TestRequest::post()
        .uri("/api/auth/token")
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(body.into())
}

/// The `field` of each entry of a 422's `details`.
fn detail_fields(json: &Value) -> Vec<&str> {
    json["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {json}"))
        .iter()
        .map(|detail| detail["field"].as_str().unwrap())
        .collect()
}

#[actix_web::test]
async fn every_missing_field_is_listed_in_json_and_form_bodies_alike() {
    let app = app(MockUserRepository::new()).await;
    let register = TestRequest::post()
        .uri("/api/auth/register")
        .set_json(json!({}));
    let (status, _, json) = send(&app, register).await;
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
async fn a_form_with_malformed_percent_encoding_or_invalid_utf8_is_422_naming_the_body() {
    let app = app(repository_with(vec![stored_user("agent47", true)])).await;
    for body in [
        "username=%zz%&password=%%%",
        "username=agent47&password=%FF",
        "username=agent47&password=%ED%A0%80", // an encoded lone surrogate
        "username=agent47&password=abc%2",
        "username=agent47&password=%C3",
    ] {
        let (status, _, json) = send(&app, form_login(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {json}");
        assert_eq!(detail_fields(&json), ["body"], "{body}");
    }
    // Raw (unencoded) invalid UTF-8 too.
    let raw = form_login(&b"username=agent47&password=\xff\xfe"[..]);
    let (status, _, json) = send(&app, raw).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_eq!(detail_fields(&json), ["body"]);
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
async fn head_answers_on_every_get_route_with_the_get_headers() {
    let app = app(repository_with(vec![stored_user("agent47", true)])).await;
    let token = access_token_for("agent47");
    for uri in [
        "/",
        "/api/health",
        "/api/auth/users/me",
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

// --- rate limit ---------------------------------------------------------------

/// A failure store where keys with `prefix` hold `count` failures 60 s
/// old and others none, deciding as the real one does.
fn failures_for(prefix: &'static str, count: usize) -> MockLoginFailureRepository {
    let now = domain::Clock::now(&SystemClock);
    let mut failures = MockLoginFailureRepository::new();
    failures.expect_reserve().returning(move |attempt| {
        let wait = attempt
            .limits
            .iter()
            .filter(|limit| limit.key.starts_with(prefix))
            .filter_map(|limit| {
                domain::throttle::retry_after(
                    &vec![now - 60; count],
                    limit.max,
                    attempt.window_secs,
                    attempt.now,
                )
            })
            .max();
        Ok(match wait {
            Some(retry_after_secs) => Reservation::Refused { retry_after_secs },
            None => Reservation::Admitted(Places(vec![1; attempt.limits.len()])),
        })
    });
    failures.expect_release().returning(|_| Ok(()));
    failures.expect_clear().returning(|_| Ok(()));
    failures
}

#[actix_web::test]
async fn a_locked_username_gets_429_with_retry_after_even_with_the_right_password() {
    let app = TestApp {
        failures: failures_for("user:agent47", 3),
        ..TestApp::new(repository_with(vec![stored_user("agent47", true)]))
    }
    .start()
    .await;
    let (status, headers, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/token")
            .set_form([("username", "agent47"), ("password", PASSWORD)]),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_error(
        &json,
        429,
        "429_TOO_MANY_REQUESTS",
        "Too many requests, try again later.",
    );
    let retry_after = headers.get(header::RETRY_AFTER).unwrap().to_str().unwrap();
    // The failures are 60 s old in a 900 s window (a second may tick by).
    assert!(["840", "839"].contains(&retry_after), "{retry_after}");
    assert_eq!(json["headers"]["Retry-After"], retry_after);
}

#[actix_web::test]
async fn the_address_limit_counts_the_peer_and_forwarded_for_only_when_trusted() {
    // The client wrote the left entry; the trusted proxy appended the last.
    let login = || {
        TestRequest::post()
            .uri("/api/auth/token")
            .peer_addr("192.0.2.1:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "198.51.100.1, 203.0.113.9"))
            .set_form([("username", "agent47"), ("password", PASSWORD)])
    };
    for (trusted, limited) in [(false, false), (true, true)] {
        let mut app = TestApp {
            failures: failures_for("addr:203.0.113.9", 10),
            ..TestApp::new(repository_with(vec![stored_user("agent47", true)]))
        };
        app.http.trust_forwarded_for = trusted;
        let app = app.start().await;
        let (status, _, _) = send(&app, login()).await;
        let expected = if limited {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::ACCEPTED
        };
        assert_eq!(status, expected, "trusted: {trusted}");
    }
    let app = TestApp {
        failures: failures_for("addr:192.0.2.1", 10),
        ..TestApp::new(repository_with(vec![stored_user("agent47", true)]))
    }
    .start()
    .await;
    let (status, _, _) = send(&app, login()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

// --- logout ---------------------------------------------------------------------

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
    let app = app(repository_with(vec![stored_user("agent47", true)])).await;
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

// --- PATCH users/me ---------------------------------------------------------------

fn patch_me(body: Value) -> TestRequest {
    TestRequest::patch()
        .uri("/api/auth/users/me")
        .insert_header(bearer(&access_token_for("agent47")))
        .set_json(body)
}

#[actix_web::test]
async fn details_are_updated_and_the_new_profile_returned() {
    let mut repository = repository_with(vec![stored_user("agent47", true)]);
    repository
        .expect_update_details()
        .withf(|id, update| {
            *id == 1
                && update.email == Some(Some(domain::Email::parse("new@example.com").unwrap()))
                && update.phone.is_none()
                && update.full_name == Some(None)
        })
        .returning(|_, _| {
            let mut user = stored_user("agent47", true);
            user.details.email = Some("new@example.com".into());
            user.details.full_name = None;
            Ok(user)
        });
    let app = app(repository).await;
    let (status, headers, json) = send(
        &app,
        patch_me(json!({"email": "New@Example.com", "full_name": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(json["data"]["email"], "new@example.com");
    assert_eq!(json["data"]["full_name"], Value::Null);
}

#[actix_web::test]
async fn other_fields_and_malformed_values_are_422() {
    let app = app(repository_with(vec![stored_user("agent47", true)])).await;
    for (body, field) in [
        (json!({"username": "root"}), "username"),
        (json!({"is_active": false}), "is_active"),
        (json!({"password": "x"}), "password"),
        (json!({"favourite_colour": "red"}), "favourite_colour"),
        (json!({"email": "not-an-email"}), "email"),
        (json!({"phone": "0123 456"}), "phone"),
        (json!({"phone": 44_123_456_789_i64}), "phone"),
        (json!({"email": "ali\u{200B}ce@example.com"}), "email"),
        (json!({"full_name": "Agent \u{202E}74"}), "full_name"),
        (json!({"full_name": "Agent\u{FEFF} 47"}), "full_name"),
    ] {
        let (status, _, json) = send(&app, patch_me(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(json["details"][0]["field"], field, "{json}");
    }
}

#[actix_web::test]
async fn a_taken_email_or_phone_is_400() {
    for (error, message) in [
        (
            domain::UpdateDetailsError::EmailTaken,
            "Email already in use.",
        ),
        (
            domain::UpdateDetailsError::PhoneTaken,
            "Phone already in use.",
        ),
    ] {
        let mut repository = repository_with(vec![stored_user("agent47", true)]);
        let error = Mutex::new(Some(error));
        repository
            .expect_update_details()
            .returning(move |_, _| Err(error.lock().unwrap().take().unwrap()));
        let app = app(repository).await;
        let (status, _, json) = send(
            &app,
            patch_me(json!({"email": "a@b.co", "phone": "+4412345678"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["message"], message);
    }
}

#[actix_web::test]
async fn a_look_alike_email_is_stored_in_its_normal_form_and_collides() {
    let mut repository = repository_with(vec![stored_user("agent47", true)]);
    repository
        .expect_update_details()
        .withf(|_, update| {
            update.email == Some(Some(domain::Email::parse("alice@example.com").unwrap()))
        })
        .returning(|_, _| Err(domain::UpdateDetailsError::EmailTaken));
    let app = app(repository).await;
    let (status, _, json) =
        send(&app, patch_me(json!({"email": "\u{FF41}lice@example.com"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["message"], "Email already in use.");
}

#[actix_web::test]
async fn a_full_name_keeps_the_joiners_a_script_needs() {
    let name = "\u{0915}\u{094D}\u{200D}\u{0937} \u{0645}\u{06CC}\u{200C}\u{062E}";
    let mut repository = repository_with(vec![stored_user("agent47", true)]);
    repository
        .expect_update_details()
        .withf(move |_, update| update.full_name == Some(Some(name.to_owned())))
        .returning(move |_, _| {
            let mut user = stored_user("agent47", true);
            user.details.full_name = Some(name.to_owned());
            Ok(user)
        });
    let app = app(repository).await;
    let (status, _, json) = send(&app, patch_me(json!({"full_name": name}))).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["data"]["full_name"], name);
}

// --- password ------------------------------------------------------------------

fn change_password(current: &str, new: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/auth/users/me/password")
        .insert_header(bearer(&access_token_for("agent47")))
        .set_json(json!({"current_password": current, "new_password": new}))
}

#[actix_web::test]
async fn a_password_change_needs_the_current_password_and_a_valid_new_one() {
    let mut repository = repository_with(vec![stored_user("agent47", true)]);
    repository
        .expect_change_password()
        .times(1)
        .returning(|_, _, _| Ok(true));
    let app = app(repository).await;

    let (status, headers, json) =
        send(&app, change_password("wrong horse", "brand new horse")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(json["message"], "Incorrect password.");

    let (status, _, json) = send(&app, change_password(PASSWORD, "short")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json["details"][0]["field"], "new_password");

    let (status, _, json) = send(&app, change_password(PASSWORD, "brand new horse")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["message"], "Password updated.");
}

// --- oversized requests --------------------------------------------------------------

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

#[actix_web::test]
async fn a_malformed_refresh_body_is_422_even_when_the_query_wins() {
    let app = app(repository_with(vec![stored_user("agent47", true)])).await;
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
