//! The one place where errors become HTTP statuses and envelopes.

use std::error::Error as StdError;

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use domain::{
    AuthenticateError, ChangePasswordError, InfraError, LoginError, RefreshError, RegisterError,
    UpdateDetailsError,
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
    /// 422 with one entry per offending field.
    Validation(Vec<FieldError>),
    /// A framework-level refusal (404, 405, 413, 415, …) with its message.
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
            Self::InactiveUser | Self::AlreadyRegistered | Self::EmailTaken | Self::PhoneTaken => {
                StatusCode::BAD_REQUEST
            }
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
            LoginError::Infra(infra) => infra.into(),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::InvalidToken => Self::InvalidToken,
            AuthenticateError::InactiveUser => Self::InactiveUser,
            AuthenticateError::Infra(infra) => infra.into(),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::InvalidToken => Self::InvalidRefreshToken,
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
