//! The ports: what the use cases need from the outside world. Adapters in
//! other crates implement them; tests use the mockall mocks (feature
//! `mocks`).
//!
//! Every port is synchronous. Callers in an async runtime run use cases on
//! a blocking thread pool, never on the async workers.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{
    Claims, CreateUserError, InfraError, IssuedToken, NewUser, Password, PasswordHash, TokenError,
    TokenKind, TokenRequest, UnixSeconds, User, Username,
};

/// Where users are stored.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait UserRepository: Send + Sync {
    /// Stores a new user with empty details, atomically: the user and
    /// their details exist together or not at all.
    ///
    /// # Errors
    /// MUST return [`CreateUserError::UsernameTaken`] if a user with exactly
    /// this username exists, including one created concurrently by another
    /// caller; [`CreateUserError::Infra`] for any other failure.
    fn create(&self, user: &NewUser) -> Result<User, CreateUserError>;

    /// Finds a user by exact (case-sensitive) username.
    ///
    /// # Errors
    /// [`InfraError`] only when the store fails; an unknown user is `Ok(None)`.
    fn find_by_username(&self, username: &Username) -> Result<Option<User>, InfraError>;
}

/// One-way password hashing.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait PasswordHasher: Send + Sync {
    /// # Errors
    /// [`InfraError::Unexpected`] if hashing fails.
    fn hash(&self, password: &Password) -> Result<PasswordHash, InfraError>;

    /// Whether `password` is the one `hash` was made from.
    ///
    /// # Errors
    /// [`InfraError::Unexpected`] if `hash` is not a hash this hasher reads.
    fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, InfraError>;
}

/// Signs and checks tokens.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TokenService: Send + Sync {
    /// Signs a token of `request.kind` for `request.subject`, valid from
    /// `request.now` for the lifetime configured for that kind. A refresh
    /// token joins `request.family`, or starts a new family when it is
    /// `None`.
    ///
    /// # Errors
    /// [`InfraError::Unexpected`] if signing fails.
    fn issue(&self, request: &TokenRequest) -> Result<IssuedToken, InfraError>;

    /// Checks a token's signature, algorithm, issuer and type against
    /// `kind`, and its expiry against `now` (no leeway).
    ///
    /// # Errors
    /// MUST return [`TokenError::Invalid`] for anything this service did not
    /// sign as a token of `kind` (another key, another algorithm, `alg:
    /// none`, the other kind), and [`TokenError::Expired`] once `now` has
    /// reached its expiry.
    fn decode(&self, token: &str, kind: TokenKind, now: UnixSeconds) -> Result<Claims, TokenError>;
}

/// The current time, injected so that expiry can be tested without sleeping.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> UnixSeconds;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixSeconds {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }
}
