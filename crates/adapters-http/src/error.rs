//! The one place where errors become HTTP statuses and envelopes.

use std::error::Error as StdError;

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use domain::{
    AdminError, ApiKeyError, AuthenticateError, ChangePasswordError, InfraError, LoginError,
    RefreshError, RegisterError, Scopes, UpdateDetailsError,
};

use crate::envelope::{Envelope, FieldError};

pub const NOT_AUTHENTICATED: &str = "Not authenticated.";
pub const COULD_NOT_VALIDATE: &str = "Could not validate credentials.";
pub const INCORRECT_LOGIN: &str = "Incorrect username or password.";
pub const INVALID_REFRESH_TOKEN: &str = "Invalid refresh token.";
pub const INACTIVE_USER: &str = "Inactive user.";
pub const ALREADY_REGISTERED: &str = "User already registered.";
pub const VALIDATION_FAILED: &str = "Validation failed.";
pub const TOO_MANY_REQUESTS: &str = "Too many requests, try again later.";
pub const EMAIL_TAKEN: &str = "Email already in use.";
pub const PHONE_TAKEN: &str = "Phone already in use.";
pub const INCORRECT_PASSWORD: &str = "Incorrect password.";
pub const NOT_ENOUGH_PERMISSIONS: &str = "Not enough permissions.";
pub const OWN_ACCOUNT: &str = "Not allowed on your own account.";
pub const USER_NOT_FOUND: &str = "User not found.";
pub const KEY_NOT_FOUND: &str = "API key not found.";
pub const SESSION_NOT_FOUND: &str = "Session not found.";
pub const INVALID_SCOPE: &str = "Invalid scope.";
pub const ADMIN_NEEDS_SUPERUSER: &str = "Only superusers may hold the admin scope.";
pub const CHANGED_CONCURRENTLY: &str = "The user was changed at the same time, try again.";
pub const UNAVAILABLE: &str = "Service unavailable, try again later.";
pub const INTERNAL: &str = "Internal server error.";

/// Every way a request can fail, as the client sees it.
#[derive(Debug)]
pub enum ApiError {
    /// No `Authorization: Bearer <token>` header.
    NotAuthenticated,
    /// A bearer token that is invalid, expired or names no user.
    InvalidToken,
    IncorrectLogin,
    InvalidRefreshToken,
    InactiveUser,
    AlreadyRegistered,
    /// 429 until the failed-login window lets the client try again.
    TooManyRequests {
        retry_after_secs: u64,
    },
    EmailTaken,
    PhoneTaken,
    /// The current password given to a password change is wrong.
    IncorrectPassword,
    /// A valid token without every scope the route needs: 403 with the
    /// RFC 6750 §3.1 challenge naming them.
    InsufficientScope {
        needed: Scopes,
    },
    /// The caller may not do this (an admin route, and the caller is not
    /// an active superuser holding `admin` now).
    Forbidden,
    /// A superuser deactivating, demoting or deleting their own account.
    OwnAccount,
    /// The admin API names a user that does not exist.
    UserNotFound,
    /// An API key that is not the caller's (or the named user's).
    KeyNotFound,
    /// A session that is not one of the caller's live ones.
    SessionNotFound,
    /// A scope outside the catalogue, or wider than the caller may ask.
    InvalidScope,
    /// 422 with one entry per offending field.
    Validation(Vec<FieldError>),
    /// A refusal said by its status and message alone: the framework's
    /// (404, 405, 413, 415, …), or 409 for an admin change that kept
    /// meeting concurrent ones.
    Refused {
        status: StatusCode,
        message: &'static str,
        allow: Option<&'static str>,
    },
    /// The database (or another backing service) did not answer.
    Unavailable(Box<dyn StdError + Send + Sync>),
    /// A bug. The cause is logged, never sent.
    Internal(Box<dyn StdError + Send + Sync>),
}

/// `Display` is what actix logs; it stays free of internals too.
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status_code(), self.message())
    }
}

impl ApiError {
    pub fn refused(status: StatusCode, message: &'static str) -> Self {
        Self::Refused {
            status,
            message,
            allow: None,
        }
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self::Refused {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: "Method not allowed.",
            allow: Some(allow),
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// What went wrong behind a 503 or a 500: logged with the request
    /// (see `request_log`), never sent.
    pub fn cause(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Unavailable(cause) | Self::Internal(cause) => Some(cause.as_ref()),
            _ => None,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Self::NotAuthenticated => NOT_AUTHENTICATED,
            Self::InvalidToken => COULD_NOT_VALIDATE,
            Self::IncorrectLogin => INCORRECT_LOGIN,
            Self::InvalidRefreshToken => INVALID_REFRESH_TOKEN,
            Self::InactiveUser => INACTIVE_USER,
            Self::AlreadyRegistered => ALREADY_REGISTERED,
            Self::TooManyRequests { .. } => TOO_MANY_REQUESTS,
            Self::EmailTaken => EMAIL_TAKEN,
            Self::PhoneTaken => PHONE_TAKEN,
            Self::IncorrectPassword => INCORRECT_PASSWORD,
            Self::InsufficientScope { .. } | Self::Forbidden => NOT_ENOUGH_PERMISSIONS,
            Self::OwnAccount => OWN_ACCOUNT,
            Self::UserNotFound => USER_NOT_FOUND,
            Self::KeyNotFound => KEY_NOT_FOUND,
            Self::SessionNotFound => SESSION_NOT_FOUND,
            Self::InvalidScope => INVALID_SCOPE,
            Self::Validation(_) => VALIDATION_FAILED,
            Self::Refused { message, .. } => message,
            Self::Unavailable(_) => UNAVAILABLE,
            Self::Internal(_) => INTERNAL,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotAuthenticated
            | Self::InvalidToken
            | Self::IncorrectLogin
            | Self::InvalidRefreshToken
            | Self::IncorrectPassword => StatusCode::UNAUTHORIZED,
            Self::InactiveUser
            | Self::AlreadyRegistered
            | Self::EmailTaken
            | Self::PhoneTaken
            | Self::InvalidScope => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } | Self::Forbidden | Self::OwnAccount => {
                StatusCode::FORBIDDEN
            }
            Self::UserNotFound | Self::KeyNotFound | Self::SessionNotFound => StatusCode::NOT_FOUND,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Refused { status, .. } => *status,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.envelope().into_response()
    }
}

impl ApiError {
    /// The answer: the status, the message and the headers of this error.
    pub(crate) fn envelope(&self) -> Envelope {
        let mut envelope = Envelope::new(self.status_code()).message(self.message());
        match self {
            Self::Validation(details) => envelope = envelope.details(details.clone()),
            Self::Refused {
                allow: Some(allow), ..
            } => envelope = envelope.header(header::ALLOW, *allow),
            Self::TooManyRequests { retry_after_secs } => {
                envelope = envelope.header(header::RETRY_AFTER, retry_after_secs.to_string());
            }
            // Overload and outages are short-lived: ask clients to come back.
            Self::Unavailable(_) => envelope = envelope.header(header::RETRY_AFTER, "1"),
            // RFC 6750 §3.1: the challenge says which scopes would do.
            Self::InsufficientScope { needed } => {
                envelope = envelope.header(
                    header::WWW_AUTHENTICATE,
                    format!("Bearer error=\"insufficient_scope\", scope=\"{needed}\""),
                );
            }
            _ => {}
        }
        // A 401 always challenges for a bearer token; so does the 400 for an
        // inactive user, which only a bearer-authenticated route answers.
        if matches!(self.status_code(), StatusCode::UNAUTHORIZED)
            || matches!(self, Self::InactiveUser)
        {
            envelope = envelope.bearer();
        }
        envelope
    }
}

impl From<InfraError> for ApiError {
    fn from(error: InfraError) -> Self {
        match error {
            InfraError::Unavailable(cause) => Self::Unavailable(cause),
            InfraError::Unexpected(cause) => Self::Internal(cause),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::UsernameTaken => Self::AlreadyRegistered,
            RegisterError::Infra(infra) => infra.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => Self::IncorrectLogin,
            LoginError::TooManyAttempts { retry_after_secs } => {
                Self::TooManyRequests { retry_after_secs }
            }
            LoginError::InvalidScope => Self::InvalidScope,
            LoginError::Infra(infra) => infra.into(),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::InvalidToken => Self::InvalidToken,
            AuthenticateError::InsufficientScope { needed } => Self::InsufficientScope { needed },
            AuthenticateError::InactiveUser => Self::InactiveUser,
            AuthenticateError::TokenRequired => Self::Forbidden,
            AuthenticateError::Infra(infra) => infra.into(),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::InvalidToken => Self::InvalidRefreshToken,
            RefreshError::InvalidScope => Self::InvalidScope,
            RefreshError::Infra(infra) => infra.into(),
        }
    }
}

impl From<UpdateDetailsError> for ApiError {
    fn from(error: UpdateDetailsError) -> Self {
        match error {
            UpdateDetailsError::EmailTaken => Self::EmailTaken,
            UpdateDetailsError::PhoneTaken => Self::PhoneTaken,
            UpdateDetailsError::Infra(infra) => infra.into(),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(error: ChangePasswordError) -> Self {
        match error {
            ChangePasswordError::IncorrectPassword => Self::IncorrectPassword,
            ChangePasswordError::TooManyAttempts { retry_after_secs } => {
                Self::TooManyRequests { retry_after_secs }
            }
            ChangePasswordError::Infra(infra) => infra.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Forbidden => Self::Forbidden,
            AdminError::OwnAccount => Self::OwnAccount,
            AdminError::NotFound => Self::UserNotFound,
            AdminError::UsernameTaken => Self::AlreadyRegistered,
            AdminError::EmailTaken => Self::EmailTaken,
            AdminError::PhoneTaken => Self::PhoneTaken,
            AdminError::InvalidScope => Self::InvalidScope,
            AdminError::AdminScopeNeedsSuperuser => {
                Self::validation("scopes", ADMIN_NEEDS_SUPERUSER)
            }
            AdminError::Conflict => Self::Refused {
                status: StatusCode::CONFLICT,
                message: CHANGED_CONCURRENTLY,
                allow: None,
            },
            AdminError::KeyNotFound => Self::KeyNotFound,
            AdminError::Authenticate(error) => error.into(),
            AdminError::Infra(infra) => infra.into(),
        }
    }
}

impl From<ApiKeyError> for ApiError {
    fn from(error: ApiKeyError) -> Self {
        match error {
            ApiKeyError::InvalidScope => Self::InvalidScope,
            ApiKeyError::NotFound => Self::KeyNotFound,
            ApiKeyError::Authenticate(error) => error.into(),
            ApiKeyError::Infra(infra) => infra.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    async fn answer(error: ApiError) -> (StatusCode, header::HeaderMap, serde_json::Value) {
        let response = error.error_response();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body()).await.unwrap();
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    #[actix_web::test]
    async fn an_insufficient_scope_is_403_with_the_rfc_6750_challenge_sent_and_mirrored() {
        let needed = Scopes::parse("me admin").unwrap();
        let (status, headers, json) = answer(ApiError::InsufficientScope { needed }).await;
        let challenge = r#"Bearer error="insufficient_scope", scope="admin me""#;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), challenge);
        assert_eq!(json["message"], NOT_ENOUGH_PERMISSIONS);
        assert_eq!(json["response"], "403_FORBIDDEN");
        assert_eq!(
            json["headers"],
            serde_json::json!({"WWW-Authenticate": challenge})
        );
    }

    #[actix_web::test]
    async fn admin_errors_map_to_their_statuses_and_never_to_a_5xx() {
        for (error, status, message) in [
            (AdminError::Forbidden, 403, NOT_ENOUGH_PERMISSIONS),
            (AdminError::OwnAccount, 403, OWN_ACCOUNT),
            (AdminError::NotFound, 404, USER_NOT_FOUND),
            (AdminError::UsernameTaken, 400, ALREADY_REGISTERED),
            (AdminError::EmailTaken, 400, EMAIL_TAKEN),
            (AdminError::PhoneTaken, 400, PHONE_TAKEN),
            (AdminError::InvalidScope, 400, INVALID_SCOPE),
            (AdminError::AdminScopeNeedsSuperuser, 422, VALIDATION_FAILED),
            (AdminError::Conflict, 409, CHANGED_CONCURRENTLY),
            (AdminError::KeyNotFound, 404, KEY_NOT_FOUND),
            (
                AdminError::Authenticate(AuthenticateError::InvalidToken),
                401,
                COULD_NOT_VALIDATE,
            ),
        ] {
            let (code, headers, json) = answer(error.into()).await;
            assert_eq!(code.as_u16(), status, "{json}");
            assert_eq!(json["message"], message);
            if status == 403 {
                assert!(headers.get(header::WWW_AUTHENTICATE).is_none());
            }
        }
        let (_, _, json) = answer(AdminError::AdminScopeNeedsSuperuser.into()).await;
        assert_eq!(
            json["details"],
            serde_json::json!([{"field": "scopes", "message": ADMIN_NEEDS_SUPERUSER}])
        );
    }

    #[actix_web::test]
    async fn api_key_errors_map_to_their_statuses() {
        for (error, status, message) in [
            (ApiKeyError::InvalidScope, 400, INVALID_SCOPE),
            (ApiKeyError::NotFound, 404, KEY_NOT_FOUND),
            (
                ApiKeyError::Authenticate(AuthenticateError::TokenRequired),
                403,
                NOT_ENOUGH_PERMISSIONS,
            ),
        ] {
            let (code, _, json) = answer(error.into()).await;
            assert_eq!(code.as_u16(), status, "{json}");
            assert_eq!(json["message"], message);
        }
    }

    #[actix_web::test]
    async fn an_invalid_scope_at_login_or_refresh_is_400() {
        for error in [
            ApiError::from(LoginError::InvalidScope),
            ApiError::from(RefreshError::InvalidScope),
        ] {
            let (status, _, json) = answer(error).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(json["message"], INVALID_SCOPE);
        }
    }
}
