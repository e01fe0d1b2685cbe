//! Errors of the ports and the use cases, named by what a caller can do
//! about them.

use std::error::Error as StdError;

type BoxError = Box<dyn StdError + Send + Sync>;

/// A failure of the machinery under a port, not of the request.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// The store did not answer (pool exhausted, connection lost, database
    /// locked): the same request may well succeed later.
    #[error("backing service unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug or a corrupt record.
    #[error("unexpected failure")]
    Unexpected(#[source] BoxError),
}

impl InfraError {
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Self::Unavailable(cause.into())
    }

    pub fn unexpected(cause: impl Into<BoxError>) -> Self {
        Self::Unexpected(cause.into())
    }
}

/// Why [`crate::UserRepository::create`] refused a user.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("username is already taken")]
    UsernameTaken,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// Why [`crate::TokenService::decode`] refused a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, wrong algorithm, wrong type or issuer, malformed.
    #[error("invalid token")]
    Invalid,
    #[error("token expired")]
    Expired,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("username is already registered")]
    UsernameTaken,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user and wrong password alike: the caller must not learn which.
    #[error("incorrect username or password")]
    InvalidCredentials,
    /// Too many recent failures for this username or client address.
    #[error("too many failed logins, retry after {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// The access token is invalid, expired, or names no user.
    #[error("could not validate credentials")]
    InvalidToken,
    #[error("inactive user")]
    InactiveUser,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Missing, invalid, expired, or naming a user that no longer exists.
    #[error("invalid refresh token")]
    InvalidToken,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// Why a details update was refused; [`crate::UserRepository::update_details`]
/// and [`crate::AuthService::update_details`] alike.
#[derive(Debug, thiserror::Error)]
pub enum UpdateDetailsError {
    #[error("email already in use")]
    EmailTaken,
    #[error("phone already in use")]
    PhoneTaken,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// The current password given is not the user's (or no longer is: a
    /// concurrent change won).
    #[error("incorrect password")]
    IncorrectPassword,
    /// Too many recent failures for this username or client address: the
    /// password change counts as a login attempt (docs/api.md §8).
    #[error("too many failed attempts, retry after {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error(transparent)]
    Infra(#[from] InfraError),
}
