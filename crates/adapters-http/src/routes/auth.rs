//! Registration and the token lifecycle under `/api/auth`: register, login,
//! verify, refresh, logout (docs/api.md §3, §4).

use actix_web::{
    HttpMessage, HttpRequest, HttpResponse, ResponseError,
    http::{Method, StatusCode, header},
    web,
};
use domain::{
    AuthService, LoginRequest, Origin, Password, PasswordError, RegisterRequest, Scopes, TokenPair,
    Username,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{LanesData, Service, wire::ScopeText};
use crate::{
    Envelope, FieldError, HttpSettings, UseCase,
    client_address::RequestOrigin,
    cookie::check_origin,
    envelope::{FixedAnswer, NoData, Wire},
    error::ApiError,
    extract::{
        Authorized, Encodings, JsonBody, JsonOrFormBody, Me, RawBody, parse_body, query_param,
    },
    openapi::{error_example, insufficient_scope_example, other_error_example},
    request_log::RoutedAs,
};

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"username": "agent47", "password": "correct horse"}))]
pub(crate) struct RegisterBody {
    /// 3–64 of `[A-Za-z0-9_.@-]`, compared exactly.
    #[schema(pattern = "^[A-Za-z0-9_.@-]{3,64}$")]
    username: String,
    /// At least 8 characters, at most 72 UTF-8 bytes, no NUL.
    #[schema(value_type = String, min_length = 8, max_length = 72)]
    password: SecretString,
    #[serde(default = "active_by_default")]
    #[schema(default = true)]
    is_active: bool,
}

fn active_by_default() -> bool {
    true
}

impl RegisterBody {
    /// Checks both fields, reporting every one that breaks the policy.
    pub(crate) fn into_request(self, origin: Origin) -> Result<RegisterRequest, ApiError> {
        let username = Username::parse(self.username);
        let password = Password::parse(self.password);
        match (username, password) {
            (Ok(username), Ok(password)) => Ok(RegisterRequest {
                username,
                password,
                is_active: self.is_active,
                origin,
            }),
            (username, password) => Err(ApiError::Validation(
                [
                    username
                        .err()
                        .map(|e| FieldError::new("username", e.to_string())),
                    password
                        .err()
                        .map(|e| FieldError::new("password", e.to_string())),
                ]
                .into_iter()
                .flatten()
                .collect(),
            )),
        }
    }
}

/// The OAuth2 password grant, as a form or as JSON. Other OAuth2 fields
/// (`client_id`, …) are accepted and ignored.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"username": "agent47", "password": "correct horse", "scope": "me"}))]
pub(crate) struct LoginBody {
    username: String,
    #[schema(value_type = String)]
    password: SecretString,
    /// `password` when sent.
    #[serde(default)]
    #[schema(pattern = "^(password)?$")]
    grant_type: Option<String>,
    /// The scopes asked for, space-separated: granted are those the user
    /// holds. Absent or empty: every grant but `admin` (which is granted
    /// only when asked for). A name outside the catalogue: 400.
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub(crate) struct RefreshBody {
    #[serde(default)]
    refresh_token: Option<String>,
    /// `refresh_token` when sent.
    #[serde(default)]
    #[schema(pattern = "^(refresh_token)?$")]
    grant_type: Option<String>,
    /// Narrows the new access token to these scopes (space-separated),
    /// never wider than the session's (400 otherwise). The query
    /// parameter wins.
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct LogoutBody {
    refresh_token: String,
}

#[derive(Deserialize)]
struct RefreshQuery {
    refresh_token: Option<String>,
    scope: Option<String>,
}

/// A `scope` that names no scope (`scope=` as OAuth2 forms send it when
/// nothing is asked for) is no `scope` at all, not a request for none.
fn asked_scope(scope: Option<String>) -> Option<String> {
    scope.filter(|raw| names_a_scope(raw))
}

fn names_a_scope(raw: &str) -> bool {
    raw.split([' ', ',']).any(|name| !name.is_empty())
}

/// The `data` of a registration.
#[derive(Serialize, ToSchema)]
pub(crate) struct Registered<'a> {
    username: &'a str,
}

fn registered(username: &str) -> Envelope {
    Envelope::new(StatusCode::CREATED).data(Registered { username })
}

/// The bare OAuth2 token object of login and refresh (RFC 6749 §5.1).
// The fields are in the order the service has always sent them (it built
// this object as a `json!` map, whose keys serde_json sorts).
#[derive(Serialize, ToSchema)]
#[schema(as = TokenPair, example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…", "expires_in": 900,
    "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…", "scope": "me",
    "token_type": "bearer"}))]
pub(crate) struct TokenPairBody<'a> {
    access_token: &'a str,
    /// The access token's lifetime in seconds.
    expires_in: u64,
    /// Left out with `AUTH__REFRESH_COOKIE=cookie` (the cookie carries it).
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    /// The scopes granted to the access token, space-separated (RFC 6749
    /// §5.1); empty when none.
    #[schema(value_type = String)]
    scope: ScopeText<'a>,
    #[schema(pattern = "^bearer$")]
    token_type: &'static str,
}

/// The token pair, never cached; with the refresh cookie on, the refresh
/// token also (or only) in the cookie, set if `request` may have it
/// ([`RefreshCookie::may_set`]).
fn token_response(
    status: StatusCode,
    pair: &TokenPair,
    request: &HttpRequest,
    settings: &HttpSettings,
) -> HttpResponse {
    let cookie = &settings.refresh_cookie;
    let refresh_token = pair.refresh_token.expose_secret();
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if cookie.may_set(request, &settings.cors_origins) {
        response.cookie(cookie.set(refresh_token));
    }
    response.json(TokenPairBody {
        access_token: pair.access_token.expose_secret(),
        expires_in: pair.expires_in,
        refresh_token: (!cookie.only()).then_some(refresh_token),
        scope: ScopeText(&pair.scope),
        token_type: "bearer",
    })
}

/// `grant_type` is optional; when sent it must name the route's grant.
fn check_grant_type(sent: Option<&str>, expected: &str) -> Result<(), ApiError> {
    match sent {
        None | Some("") => Ok(()),
        Some(grant) if grant == expected => Ok(()),
        Some(_) => Err(ApiError::validation(
            "grant_type",
            format!("grant_type must be \"{expected}\"."),
        )),
    }
}

#[utoipa::path(post, path = "/api/auth/register", tag = "auth",
    summary = "Register a user",
    request_body(content = RegisterBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Wire<Registered>,
            example = json!(registered("agent47").to_value())),
        (status = 400, description = "User already registered.", body = Wire<NoData>,
            example = json!(error_example(ApiError::AlreadyRegistered))),
        (status = 422, description = "Validation failed.", body = Wire<NoData>,
            example = json!(error_example(ApiError::validation("password", PasswordError::TooShort.to_string())))),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn register(
    service: Service,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    body: JsonBody<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let request = body.0.into_request(origin)?;
    let service = service.into_inner();
    let user = lanes
        .run(UseCase::Register, move || service.register(request))
        .await?;
    Ok(registered(user.username.as_ref()).into_response())
}

#[utoipa::path(post, path = "/api/auth/token", tag = "auth",
    summary = "Log in for an access and refresh token pair (OAuth2 password grant)",
    request_body(content(
        (LoginBody = "application/x-www-form-urlencoded"),
        (LoginBody = "application/json"),
    )),
    responses(
        (status = 202, description = "The token pair (bare, not in the envelope)", body = TokenPairBody),
        (status = 400, description = "Invalid scope.", body = Wire<NoData>,
            example = json!(error_example(ApiError::InvalidScope))),
        (status = 401, description = "Incorrect username or password.", body = Wire<NoData>,
            example = json!(error_example(ApiError::IncorrectLogin))),
        (status = 422, description = "Validation failed.", body = Wire<NoData>,
            example = json!(error_example(ApiError::validation("password", "Field required.")))),
        (status = 429, description = "Too many requests, try again later. (Retry-After)", body = Wire<NoData>,
            example = json!(error_example(ApiError::TooManyRequests { retry_after_secs: 900 }))),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn login(
    service: Service,
    lanes: LanesData,
    settings: web::Data<HttpSettings>,
    request: HttpRequest,
    RequestOrigin(origin): RequestOrigin,
    body: JsonOrFormBody<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let LoginBody {
        username,
        password,
        grant_type,
        scope,
    } = body.0;
    check_grant_type(grant_type.as_deref(), "password")?;
    let login = LoginRequest {
        username,
        password,
        scope: asked_scope(scope),
        origin,
    };
    let pair = super::password_attempt(
        &lanes,
        service,
        (UseCase::AdmitLogin, move |service: &AuthService| {
            Ok(service.admit_login(login)?)
        }),
        (UseCase::Login, |service: &AuthService, attempt| {
            service.login(attempt)
        }),
    )
    .await?;
    Ok(token_response(
        StatusCode::ACCEPTED,
        &pair,
        &request,
        &settings,
    ))
}

/// The route [`verify`] answers, as the request log names it.
pub(crate) const VERIFY_ROUTE: &str = "/api/auth/token/verify/{token}";

/// Pure CPU work (one HMAC): answered on the worker, no database read.
///
/// Mounted as the default service of the static scope `/token/verify`, and
/// routed here: as a `{token}` resource, actix matched the ~350-byte token
/// with a capturing regex, which cost more than verifying it. So this
/// handler answers 404 for anything but one non-empty segment and 405 for
/// other methods, as the resource did.
///
/// With `?scope=a%20b` the token must also carry every scope listed
/// (docs/api.md §9); without a query nothing more is looked at.
#[utoipa::path(post, path = "/api/auth/token/verify/{token}", tag = "auth",
    summary = "Verify an access token (and, with `scope`, that it carries those scopes)",
    params(
        ("token" = String, Path, description = "The access token"),
        ("scope" = Option<String>, Query,
            description = "Scopes the token must carry, space-separated (each known to the service)"),
    ),
    responses(
        (status = 200, description = "Token is valid.", body = Wire<NoData>,
            example = json!(token_is_valid().to_value())),
        (status = 400, description = "Invalid scope.", body = Wire<NoData>,
            example = json!(error_example(ApiError::InvalidScope))),
        (status = 401, description = "Could not validate credentials.", body = Wire<NoData>,
            example = json!(error_example(ApiError::InvalidToken))),
        (status = 403, description = "Not enough permissions. (the token lacks a scope asked for)", body = Wire<NoData>,
            example = json!(insufficient_scope_example("me"))),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn verify(
    service: Service,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let token = match request.match_info().unprocessed().strip_prefix('/') {
        Some(token) if !token.is_empty() && !token.contains('/') => token,
        _ => return super::not_found().await,
    };
    request.extensions_mut().insert(RoutedAs(VERIFY_ROUTE));
    if request.method() != Method::POST {
        return Err(ApiError::method_not_allowed("POST"));
    }
    // `query_string()` is a slice of the URI: free when there is none, and
    // then nothing more than the token is looked at.
    let query = request.query_string();
    let asked = if query.is_empty() {
        None
    } else {
        query_param(query, "scope")
            .transpose()
            .map_err(|_| ApiError::InvalidScope)?
    };
    match asked.filter(|raw| names_a_scope(raw)) {
        None => {
            service.verify(token).map_err(|_| ApiError::InvalidToken)?;
        }
        Some(raw) => {
            let needed: Scopes = service
                .scopes()
                .parse(&raw)
                .map_err(|_| ApiError::InvalidScope)?;
            service.authorize(token, &needed)?;
        }
    }
    static TOKEN_IS_VALID: FixedAnswer = FixedAnswer::new(token_is_valid);
    Ok(TOKEN_IS_VALID.response())
}

fn token_is_valid() -> Envelope {
    Envelope::new(StatusCode::OK)
        .message("Token is valid.")
        .bearer()
}

#[utoipa::path(post, path = "/api/auth/token/refresh", tag = "auth",
    summary = "Rotate a refresh token for a new token pair",
    description = "The refresh token comes as the `refresh_token` query parameter (which wins), \
        a JSON body or an OAuth2 form. Each refresh token works once; presenting a rotated one \
        revokes its whole session family. The new access token carries the session's scopes \
        that the user still holds, or the narrower `scope` asked for (query or body, the query \
        wins).",
    params(
        ("refresh_token" = Option<String>, Query, description = "The refresh token"),
        ("scope" = Option<String>, Query,
            description = "Narrower scopes for the new access token, space-separated"),
    ),
    request_body(content(
        (RefreshBody = "application/json"),
        (RefreshBody = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, description = "The new token pair (bare)", body = TokenPairBody),
        (status = 400, description = "Invalid scope. (unknown, or wider than the session's)", body = Wire<NoData>,
            example = json!(error_example(ApiError::InvalidScope))),
        (status = 401, description = "Invalid refresh token.", body = Wire<NoData>,
            example = json!(error_example(ApiError::InvalidRefreshToken))),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn refresh(
    service: Service,
    lanes: LanesData,
    settings: web::Data<HttpSettings>,
    request: HttpRequest,
    RequestOrigin(origin): RequestOrigin,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let asked = refresh_request(&request, &body.0)?;
    let cookie = &settings.refresh_cookie;
    // The query or the body wins; the cookie only when neither names a
    // token, and only from an allowed origin.
    let (token, from_cookie) = match asked.token {
        Some(token) => (token, false),
        None => {
            let token = cookie.read(&request).ok_or(ApiError::InvalidRefreshToken)?;
            check_origin(&request, &settings.cors_origins)?;
            (token, true)
        }
    };
    let scope = asked.scope;
    let service = service.into_inner();
    let refreshed = lanes
        .run(UseCase::Refresh, move || {
            service.refresh(&token, scope.as_deref(), &origin)
        })
        .await;
    match refreshed {
        Ok(pair) => Ok(token_response(
            StatusCode::CREATED,
            &pair,
            &request,
            &settings,
        )),
        // A cookie that no longer refreshes (reused, revoked, expired) is
        // forgotten: the browser stops sending it.
        Err(error @ ApiError::InvalidRefreshToken) if from_cookie => {
            let mut response = error.error_response();
            cookie.clear_on(&mut response)?;
            Ok(response)
        }
        Err(error) => Err(error),
    }
}

/// Ends one session. Always 200: the answer reveals nothing about the token.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    summary = "End the session of a refresh token (always 200)",
    request_body(content(
        (LogoutBody = "application/json"),
        (LogoutBody = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Logged out.", body = Wire<NoData>,
            example = json!(logged_out().to_value())),
        (status = 422, description = "Validation failed.", body = Wire<NoData>,
            example = json!(error_example(ApiError::validation("refresh_token", "Field required.")))),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn logout(
    service: Service,
    lanes: LanesData,
    settings: web::Data<HttpSettings>,
    request: HttpRequest,
    RequestOrigin(origin): RequestOrigin,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let cookie = &settings.refresh_cookie;
    // A body names the token (and must be well-formed); without one, the
    // cookie does, from an allowed origin.
    let token = match cookie.read(&request) {
        Some(token) if body.0.is_empty() => {
            check_origin(&request, &settings.cors_origins)?;
            token
        }
        _ => parse_body::<LogoutBody>(&request, &body.0, Encodings::JsonOrForm)?.refresh_token,
    };
    let service = service.into_inner();
    lanes
        .run(UseCase::Logout, move || service.logout(&token, &origin))
        .await?;
    let mut response = logged_out().into_response();
    cookie.clear_on(&mut response)?;
    Ok(response)
}

fn logged_out() -> Envelope {
    Envelope::new(StatusCode::OK).message("Logged out.")
}

#[utoipa::path(post, path = "/api/auth/logout/all", tag = "auth",
    summary = "End every session of the user",
    security(("bearer" = []), ("password" = ["me"])),
    responses(
        (status = 200, description = "Logged out of all sessions.", body = Wire<NoData>,
            example = json!(logged_out_everywhere().to_value())),
        (status = 400, description = "Inactive user.", body = Wire<NoData>,
            example = json!(error_example(ApiError::InactiveUser))),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions. (the token lacks the scope `me`)", body = Wire<NoData>,
            example = json!(insufficient_scope_example("me"))),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn logout_all(
    service: Service,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Me>,
) -> Result<HttpResponse, ApiError> {
    super::as_current_user(
        &lanes,
        UseCase::LogoutAll,
        service,
        auth.credential,
        move |service, user| service.logout_all(user, &origin),
    )
    .await?;
    Ok(logged_out_everywhere().into_response())
}

fn logged_out_everywhere() -> Envelope {
    Envelope::new(StatusCode::OK)
        .message("Logged out of all sessions.")
        .bearer()
}

/// What a refresh asks for: the token and the narrower scope, if any.
struct RefreshAsked {
    token: Option<String>,
    scope: Option<String>,
}

/// The refresh token and the scope from the query (which wins, as in the
/// original), else from a JSON or form body; each on its own. A body that
/// is sent must be well-formed even when the query wins.
fn refresh_request(request: &HttpRequest, body: &[u8]) -> Result<RefreshAsked, ApiError> {
    let from_body = if body.is_empty() {
        RefreshBody::default()
    } else {
        let parsed: RefreshBody = parse_body(request, body, Encodings::JsonOrForm)?;
        check_grant_type(parsed.grant_type.as_deref(), "refresh_token")?;
        parsed
    };
    let from_query = web::Query::<RefreshQuery>::from_query(request.query_string())
        .ok()
        .map(web::Query::into_inner);
    let (query_token, query_scope) =
        from_query.map_or((None, None), |query| (query.refresh_token, query.scope));
    let token = query_token.or(from_body.refresh_token);
    let scope = asked_scope(query_scope).or_else(|| asked_scope(from_body.scope));
    Ok(RefreshAsked {
        token: token.filter(|token| !token.is_empty()),
        scope,
    })
}
