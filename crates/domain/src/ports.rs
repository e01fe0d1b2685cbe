//! The ports: what the use cases need from the outside world. Adapters in
//! other crates implement them; tests use the mockall mocks (feature
//! `mocks`).
//!
//! Every port is synchronous. Callers in an async runtime run use cases on
//! a blocking thread pool, never on the async workers.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{
    Claims, CreateUserError, DetailsUpdate, InfraError, IssuedToken, NewSession, NewUser, Password,
    PasswordHash, Rotation, TokenError, TokenKind, TokenRequest, UnixSeconds, UpdateDetailsError,
    User, Username,
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

    /// Applies `update` to the details of user `user_id` and returns the
    /// user as stored afterwards.
    ///
    /// # Errors
    /// MUST return [`UpdateDetailsError::EmailTaken`] /
    /// [`UpdateDetailsError::PhoneTaken`] if another user already has that
    /// email (compared lower-cased) or phone, even one set concurrently;
    /// [`UpdateDetailsError::Infra`] otherwise (an unknown `user_id` too).
    fn update_details(
        &self,
        user_id: i64,
        update: &DetailsUpdate,
    ) -> Result<User, UpdateDetailsError>;

    /// Replaces the password hash of user `user_id`.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn update_password(&self, user_id: i64, password_hash: &PasswordHash)
    -> Result<(), InfraError>;
}

/// Server-side state of refresh-token families (API.md §3.5).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SessionRepository: Send + Sync {
    /// Stores a new, unrevoked session.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn create(&self, session: &NewSession) -> Result<(), InfraError>;

    /// Moves the family from `current_token_id` to `next_token_id` and sets
    /// its expiry, but only if the family exists, is not revoked, has not
    /// expired at `now` and its current token is `current_token_id`.
    ///
    /// MUST be one conditional update, not a read then a write: of several
    /// concurrent calls with the same `current_token_id`, at most one
    /// returns `Ok(true)`.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails; a refused rotation is `Ok(false)`.
    fn rotate(&self, rotation: &Rotation) -> Result<bool, InfraError>;

    /// Revokes the family. Unknown or already revoked: nothing to do.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn revoke_family(&self, family: &str) -> Result<(), InfraError>;

    /// Revokes every family of user `user_id`.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn revoke_all_for_user(&self, user_id: i64) -> Result<(), InfraError>;
}

/// Failed logins, counted per key (a username or a client address) so that
/// every instance of the service sees the same counts.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait LoginFailureRepository: Send + Sync {
    /// The times of the failures recorded under `key` at or after `since`,
    /// oldest first.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn recent(&self, key: &str, since: UnixSeconds) -> Result<Vec<UnixSeconds>, InfraError>;

    /// Records one failure at `at` under each of `keys`, and forgets every
    /// failure (of any key) older than `forget_before`.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn record(
        &self,
        keys: &[String],
        at: UnixSeconds,
        forget_before: UnixSeconds,
    ) -> Result<(), InfraError>;

    /// Forgets every failure recorded under `key`.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn clear(&self, key: &str) -> Result<(), InfraError>;
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
