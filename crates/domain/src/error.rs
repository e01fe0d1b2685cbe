//! Errors of the ports and the use cases, named by what a caller can do
//! about them.

use std::error::Error as StdError;

use crate::Scopes;

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
    #[error("email already in use")]
    EmailTaken,
    #[error("phone already in use")]
    PhoneTaken,
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
    /// A requested scope is not in the catalogue.
    #[error("invalid scope")]
    InvalidScope,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// The access token is invalid, expired, or names no user.
    #[error("could not validate credentials")]
    InvalidToken,
    /// A valid token without every scope the route needs (RFC 6750 §3.1).
    #[error("insufficient scope, needs {needed}")]
    InsufficientScope { needed: Scopes },
    /// The route takes an access token only: a key cannot create keys or
    /// change the password (docs/api.md §10).
    #[error("this needs an access token, not an API key")]
    TokenRequired,
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
    /// A requested scope is unknown or wider than the session's.
    #[error("invalid scope")]
    InvalidScope,
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

/// Why [`crate::UserRepository::update`] refused an administrator's change.
#[derive(Debug, thiserror::Error)]
pub enum UpdateUserError {
    /// No user has that id (any more).
    #[error("user not found")]
    NotFound,
    #[error("email already in use")]
    EmailTaken,
    #[error("phone already in use")]
    PhoneTaken,
    /// The user's grants are no longer [`crate::UserChange::grants_as_read`]:
    /// nothing changed.
    #[error("the user's grants changed since they were read")]
    GrantsChanged,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// Why an administrator's call was refused (docs/api.md §9).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The caller is not an active superuser holding `admin` now.
    #[error("not enough permissions")]
    Forbidden,
    /// A superuser deactivating, demoting or deleting their own account.
    #[error("not allowed on your own account")]
    OwnAccount,
    #[error("user not found")]
    NotFound,
    #[error("username is already registered")]
    UsernameTaken,
    #[error("email already in use")]
    EmailTaken,
    #[error("phone already in use")]
    PhoneTaken,
    /// A scope outside the catalogue.
    #[error("invalid scope")]
    InvalidScope,
    /// `admin` granted to a user who is not a superuser.
    #[error("only superusers may hold the admin scope")]
    AdminScopeNeedsSuperuser,
    /// The user's grants kept changing under a change computed from them
    /// (other administrators at work on the same user): nothing changed.
    #[error("the user was changed concurrently")]
    Conflict,
    #[error("API key not found")]
    KeyNotFound,
    /// An API key as the caller that is unknown, expired or lacks `admin`.
    #[error(transparent)]
    Authenticate(AuthenticateError),
    #[error(transparent)]
    Infra(#[from] InfraError),
}

impl From<CreateUserError> for AdminError {
    fn from(error: CreateUserError) -> Self {
        match error {
            CreateUserError::UsernameTaken => Self::UsernameTaken,
            CreateUserError::EmailTaken => Self::EmailTaken,
            CreateUserError::PhoneTaken => Self::PhoneTaken,
            CreateUserError::Infra(infra) => Self::Infra(infra),
        }
    }
}

impl From<UpdateUserError> for AdminError {
    fn from(error: UpdateUserError) -> Self {
        match error {
            UpdateUserError::NotFound => Self::NotFound,
            UpdateUserError::EmailTaken => Self::EmailTaken,
            UpdateUserError::PhoneTaken => Self::PhoneTaken,
            UpdateUserError::GrantsChanged => Self::Conflict,
            UpdateUserError::Infra(infra) => Self::Infra(infra),
        }
    }
}

/// Why an API key use case refused (docs/api.md §10).
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    /// Scopes outside the owner's grants, or none at all.
    #[error("invalid scope")]
    InvalidScope,
    #[error("API key not found")]
    NotFound,
    #[error(transparent)]
    Authenticate(#[from] AuthenticateError),
    #[error(transparent)]
    Infra(#[from] InfraError),
}
