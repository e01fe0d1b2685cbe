//! Handler tests through actix's test tools: the real routes, the real JWT
//! and bcrypt adapters (bcrypt at cost 4), and a mocked repository. One
//! file per area; this one builds the app (`TestApp`) and sends requests.

use std::sync::{Arc, Mutex};

use actix_web::{
    App,
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::{Method, StatusCode, header},
    test::{self, TestRequest},
};
use adapters_crypto::{
    AccessKeys, BcryptHasher, JwtAlgorithm, JwtSettings, JwtTokenService, SecretKey,
    Sha256KeyMinter,
};
use domain::{
    AdminService, AuthPolicy, AuthService, CreateUserError, InfraError, LoginLimits,
    PasswordHasher, Places, Ports, Reservation, RotationOutcome, ScopeCatalogue, Scopes,
    SystemClock, TokenKind, TokenRequest, TokenService, User, UserDetails, Username,
    ports::{
        MockApiKeyRepository, MockAuditRepository, MockLoginFailureRepository,
        MockSessionRepository, MockUserRepository,
    },
};
use serde_json::{Value, json};

use crate::{HttpSettings, Lanes, ReadinessProbe, WorkerPool, configure, error_envelopes};

mod admin;
mod api_keys;
mod auth;
mod cookies;
mod events;
mod health;
mod me;
mod protocol;
mod scopes;
mod sessions;
mod token;
mod well_known;

fn bearer(token: &str) -> (header::HeaderName, String) {
    (header::AUTHORIZATION, format!("Bearer {token}"))
}

const PASSWORD: &str = "correct horse";
const BODY_LIMIT: usize = 1024;

fn tokens() -> JwtTokenService {
    JwtTokenService::new(&JwtSettings {
        algorithm: JwtAlgorithm::Hs256,
        access_keys: AccessKeys::Hmac(SecretKey::new(*b"handler-tests-access-key-32-bytes!!")),
        refresh_secret: SecretKey::new(*b"handler-tests-refresh-key-32-bytes!"),
        issuer: "zentra".into(),
        audience: None,
        access_lifetime_secs: 900,
        refresh_lifetime_secs: 3600,
        verified_cache_entries: 64,
    })
}

fn hasher() -> BcryptHasher {
    BcryptHasher::new(4).unwrap()
}

/// The scopes this service knows: the built-ins and one of the
/// operator's; new users get `me`.
fn catalogue() -> ScopeCatalogue {
    ScopeCatalogue::new(&scopes("items:read"), scopes("me")).unwrap()
}

fn scopes(raw: &str) -> Scopes {
    Scopes::parse(raw).unwrap()
}

/// 2026-12-02T07:10:00Z.
const CREATED_AT: u64 = 1_796_195_400;

fn stored_user(name: &str, is_active: bool) -> User {
    let password = domain::Password::parse(PASSWORD).unwrap();
    User {
        id: 1,
        username: Username::parse(name).unwrap(),
        password_hash: hasher().hash(&password).unwrap(),
        credential_version: 0,
        is_active,
        is_superuser: false,
        scopes: scopes("me"),
        created_at: CREATED_AT,
        details: UserDetails {
            email: Some(domain::Email::parse("agent47@example.com").unwrap()),
            phone: None,
            full_name: Some(domain::FullName::parse("Agent 47").unwrap()),
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

/// A repository that knows agent47 (active) and nobody else.
fn only_agent47() -> MockUserRepository {
    repository_with(vec![stored_user("agent47", true)])
}

/// A superuser granted `admin` and `me`, id 7.
fn superuser(name: &str) -> User {
    User {
        id: 7,
        is_superuser: true,
        scopes: scopes("admin me"),
        ..stored_user(name, true)
    }
}

/// The scopes of every session of [`sessions`].
const SESSION_SCOPES: &str = "items:read me";

/// Sessions that accept every operation; each was granted
/// [`SESSION_SCOPES`].
fn sessions() -> MockSessionRepository {
    let mut sessions = MockSessionRepository::new();
    sessions.expect_create().returning(|_, _| Ok(true));
    sessions
        .expect_rotate()
        .returning(|_, _| Ok(RotationOutcome::Rotated(scopes(SESSION_SCOPES))));
    sessions
        .expect_scopes()
        .returning(|_, _| Ok(Some(scopes(SESSION_SCOPES))));
    sessions
        .expect_revoke_family()
        .returning(|_, _, _| Ok(true));
    sessions
        .expect_revoke_all_for_user()
        .returning(|_, _| Ok(()));
    sessions
}

/// An audit trail that stores everything and lists nothing.
fn audit() -> MockAuditRepository {
    let mut audit = MockAuditRepository::new();
    audit.expect_record().returning(|_| Ok(()));
    audit.expect_list().returning(|_| Ok(Vec::new()));
    audit
}

/// A failed-login store with room for every attempt.
fn no_failures() -> MockLoginFailureRepository {
    failures_for("no key has this prefix", 0)
}

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

/// The ports of one test's app, with permissive defaults.
struct TestApp {
    users: MockUserRepository,
    sessions: MockSessionRepository,
    failures: MockLoginFailureRepository,
    audit: MockAuditRepository,
    api_keys: MockApiKeyRepository,
    probe: Result<(), &'static str>,
    http: HttpSettings,
}

impl TestApp {
    fn new(users: MockUserRepository) -> Self {
        Self {
            users,
            sessions: sessions(),
            failures: no_failures(),
            audit: audit(),
            api_keys: MockApiKeyRepository::new(),
            probe: Ok(()),
            http: HttpSettings {
                body_limit_bytes: BODY_LIMIT,
                ..HttpSettings::default()
            },
        }
    }

    /// Keys with `prefix` hold `count` recent failures (see `failures_for`).
    fn with_failures(self, prefix: &'static str, count: usize) -> Self {
        Self {
            failures: failures_for(prefix, count),
            ..self
        }
    }

    /// The audit trail is `audit` (instead of one that stores everything
    /// and lists nothing).
    fn with_audit(self, audit: MockAuditRepository) -> Self {
        Self { audit, ..self }
    }

    /// The API keys are `api_keys` (instead of a store nobody may call).
    fn with_api_keys(self, api_keys: MockApiKeyRepository) -> Self {
        Self { api_keys, ..self }
    }

    async fn start(
        self,
    ) -> impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    > {
        let ports = Ports {
            users: Arc::new(self.users),
            sessions: Arc::new(self.sessions),
            login_failures: Arc::new(self.failures),
            hasher: Arc::new(hasher()),
            tokens: Arc::new(tokens()),
            audit: Arc::new(self.audit),
            api_keys: Arc::new(self.api_keys),
            key_minter: Arc::new(Sha256KeyMinter),
            clock: Arc::new(SystemClock),
        };
        let admin = AdminService::new(ports.clone(), catalogue());
        let service = AuthService::new(
            ports,
            AuthPolicy {
                dummy_hash: hasher()
                    .hash(&domain::Password::parse("dummy password").unwrap())
                    .unwrap(),
                login_limits: LoginLimits {
                    max_failures: 3,
                    max_failures_per_address: 10,
                    window_secs: 900,
                },
                scopes: catalogue(),
                audit_retention_secs: 90 * 86_400,
                issuer: "zentra".into(),
                refresh_reuse_grace_secs: 0,
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
                .wrap(actix_web::middleware::from_fn(
                    crate::request_log::log_requests,
                ))
                .configure(configure(
                    Arc::new(service),
                    Arc::new(admin),
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

/// An access token for `name` granting `me`.
fn access_token_for(name: &str) -> String {
    access_token_with(name, "me")
}

/// An access token for `name` granting `granted` (space-separated).
fn access_token_with(name: &str, granted: &str) -> String {
    issue_with(TokenKind::Access, name, scopes(granted))
}

fn issue(kind: TokenKind, name: &str) -> String {
    issue_with(kind, name, scopes("me"))
}

fn issue_with(kind: TokenKind, name: &str, granted: Scopes) -> String {
    tokens()
        .issue(&TokenRequest {
            kind,
            subject: Username::parse(name).unwrap(),
            family: None,
            scopes: granted,
            now: domain::Clock::now(&SystemClock),
            id: None,
        })
        .unwrap()
        .token
}

/// `POST /api/auth/register` with a JSON body.
fn register(body: Value) -> TestRequest {
    TestRequest::post().uri("/api/auth/register").set_json(body)
}

/// `POST /api/auth/token` with the form a client sends.
fn login_as(username: &str, password: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/auth/token")
        .set_form([("username", username), ("password", password)])
}

/// `GET /api/auth/users/me` with an access token for `username`.
fn get_me(username: &str) -> TestRequest {
    TestRequest::get()
        .uri("/api/auth/users/me")
        .insert_header(bearer(&access_token_for(username)))
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
