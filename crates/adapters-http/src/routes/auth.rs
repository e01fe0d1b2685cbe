//! The seed's five routes under `/api/auth` (API.md §3).

use std::sync::Arc;

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use domain::{AuthService, LoginRequest, Password, RegisterRequest, TokenPair, User, Username};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    Envelope, FieldError,
    error::ApiError,
    extract::{
        BearerToken, Encodings, JsonBody, JsonOrFormBody, RawBody, parse_body, run_blocking,
    },
};

type Service = web::Data<AuthService>;

#[derive(Deserialize)]
pub(crate) struct RegisterBody {
    username: String,
    password: String,
    #[serde(default = "active_by_default")]
    is_active: bool,
}

fn active_by_default() -> bool {
    true
}

impl RegisterBody {
    /// Checks both fields, reporting every one that breaks the policy.
    fn into_request(self) -> Result<RegisterRequest, ApiError> {
        let username = Username::parse(self.username);
        let password = Password::parse(self.password);
        match (username, password) {
            (Ok(username), Ok(password)) => Ok(RegisterRequest {
                username,
                password,
                is_active: self.is_active,
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

/// The OAuth2 password grant, as a form or as JSON.
#[derive(Deserialize)]
pub(crate) struct LoginBody {
    username: String,
    password: String,
    #[serde(default)]
    grant_type: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct RefreshBody {
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    grant_type: Option<String>,
}

#[derive(Deserialize)]
struct RefreshQuery {
    refresh_token: Option<String>,
}

/// `GetUser` of API.md §2.
#[derive(Serialize)]
struct GetUser<'a> {
    username: &'a str,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    full_name: Option<&'a str>,
    is_active: bool,
}

impl<'a> From<&'a User> for GetUser<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            username: user.username.as_ref(),
            email: user.details.email.as_deref(),
            phone: user.details.phone.as_deref(),
            full_name: user.details.full_name.as_deref(),
            is_active: user.is_active,
        }
    }
}

/// The bare OAuth2 token object (RFC 6749 §5.1), never cached.
fn token_response(status: StatusCode, pair: &TokenPair) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(json!({
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": "bearer",
            "expires_in": pair.expires_in,
        }))
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

pub(crate) async fn register(
    service: Service,
    body: JsonBody<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let request = body.0.into_request()?;
    let service = service.into_inner();
    let user = run_blocking(move || service.register(request)).await?;
    Ok(Envelope::new(StatusCode::CREATED)
        .data(json!({"username": user.username.as_ref()}))
        .into_response())
}

pub(crate) async fn login(
    service: Service,
    body: JsonOrFormBody<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let LoginBody {
        username,
        password,
        grant_type,
    } = body.0;
    check_grant_type(grant_type.as_deref(), "password")?;
    let service = service.into_inner();
    let pair = run_blocking(move || service.login(LoginRequest { username, password })).await?;
    Ok(token_response(StatusCode::ACCEPTED, &pair))
}

pub(crate) async fn current_user(
    service: Service,
    token: BearerToken,
) -> Result<HttpResponse, ApiError> {
    let service = service.into_inner();
    let user = run_blocking(move || service.current_user(&token.0)).await?;
    Ok(Envelope::new(StatusCode::OK)
        .data(GetUser::from(&user))
        .bearer()
        .into_response())
}

/// Pure CPU work (one HMAC): answered on the worker, no database read.
pub(crate) async fn verify(
    service: Service,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    service.verify(&token).map_err(|_| ApiError::InvalidToken)?;
    Ok(Envelope::new(StatusCode::OK)
        .message("Token is valid.")
        .bearer()
        .into_response())
}

pub(crate) async fn refresh(
    service: Service,
    request: HttpRequest,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let token = refresh_token(&request, &body.0)?.ok_or(ApiError::InvalidRefreshToken)?;
    let service: Arc<AuthService> = service.into_inner();
    let pair = run_blocking(move || service.refresh(&token)).await?;
    Ok(token_response(StatusCode::CREATED, &pair))
}

/// The refresh token from the query (which wins, as in the original), else
/// from a JSON or form body.
fn refresh_token(request: &HttpRequest, body: &[u8]) -> Result<Option<String>, ApiError> {
    let from_query = web::Query::<RefreshQuery>::from_query(request.query_string())
        .ok()
        .and_then(|query| query.into_inner().refresh_token);
    if from_query.is_some() {
        return Ok(from_query.filter(|token| !token.is_empty()));
    }
    if body.is_empty() {
        return Ok(None);
    }
    let body: RefreshBody = parse_body(request, body, Encodings::JsonOrForm)?;
    check_grant_type(body.grant_type.as_deref(), "refresh_token")?;
    Ok(body.refresh_token.filter(|token| !token.is_empty()))
}

#[cfg(test)]
mod tests;
