//! The ports: what the use cases need from the outside world. Adapters in
//! other crates implement them; tests use the mockall mocks (feature
//! `mocks`).
//!
//! Every port is synchronous. Callers in an async runtime run use cases on
//! threads of their own (in this service, the lanes of
//! `adapters-http/src/lanes.rs`), never on the async workers.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{
    ApiKey, Attempt, Claims, CreateUserError, DetailsUpdate, Event, EventQuery, InfraError,
    IssuedToken, KeyDigest, MintedKey, NewApiKey, NewEvent, NewSession, NewUser, Password,
    PasswordHash, Places, Reservation, Rotation, RotationOutcome, Scopes, SessionInfo, TokenError,
    TokenKind, TokenRequest, UnixSeconds, UpdateDetailsError, UpdateUserError, User, UserChange,
    UserPage, UserQuery, Username,
};

/// Where users are stored.
///
/// Every method that changes a user takes the audit event that records the
/// change and stores it in the same transaction (docs/api.md §9): the
/// change and its event exist together or not at all.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait UserRepository: Send + Sync {
    /// Stores a new user with their details, grants and `event`,
    /// atomically: all exist together or not at all.
    ///
    /// # Errors
    /// MUST return [`CreateUserError::UsernameTaken`] if a user with exactly
    /// this username exists, including one created concurrently by another
    /// caller (of N concurrent creations of one name, exactly one
    /// succeeds); [`CreateUserError::EmailTaken`] /
    /// [`CreateUserError::PhoneTaken`] as [`Self::update_details`];
    /// [`CreateUserError::Infra`] for any other failure.
    fn create(&self, user: &NewUser, event: &NewEvent) -> Result<User, CreateUserError>;

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
        event: &NewEvent,
    ) -> Result<User, UpdateDetailsError>;

    /// Stores `password_hash` as the new password of user `user_id` and
    /// revokes every session of theirs, in one transaction, if their
    /// credential is still version `expected`; the version then moves on.
    ///
    /// MUST be atomic against [`SessionRepository::create`]: a session
    /// started for version `expected` is either revoked by this call or
    /// refused, never left behind (docs/api.md §8).
    ///
    /// `event` is stored with the change, and only with it.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails; `Ok(false)` (nothing changed)
    /// when the credential is no longer `expected` or the user is gone.
    fn change_password(
        &self,
        user_id: i64,
        expected: i64,
        password_hash: &PasswordHash,
        event: &NewEvent,
    ) -> Result<bool, InfraError>;

    /// Replaces the hash of user `user_id` by `password_hash`, a new hash
    /// of the same password (at the configured cost), if their credential
    /// is still version `expected`. The version and the sessions stay.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails; `Ok(false)` (nothing changed)
    /// when the credential is no longer `expected`.
    fn rehash_password(
        &self,
        user_id: i64,
        expected: i64,
        password_hash: &PasswordHash,
    ) -> Result<bool, InfraError>;

    /// One page of the users `query` selects, in id order, and how many it
    /// selects in all.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn list(&self, query: &UserQuery) -> Result<UserPage, InfraError>;

    /// Applies an administrator's `change` to user `user_id` in one
    /// transaction with `event`, and returns the user as stored afterwards:
    /// the columns it names, the details, a new password (the credential
    /// version moves on), and, if `change.revoke_sessions`, the revocation
    /// of every session of the user. Any refusal changes nothing.
    ///
    /// With `change.grants_as_read`, the change applies only while the
    /// stored superuser flag and scopes are exactly those, decided in the
    /// same statement as the write (of two concurrent changes computed
    /// from the same grants, one applies and the other finds them
    /// changed).
    ///
    /// # Errors
    /// [`UpdateUserError::NotFound`] for an unknown `user_id`;
    /// [`UpdateUserError::GrantsChanged`] when the stored grants are no
    /// longer `change.grants_as_read`;
    /// [`UpdateUserError::EmailTaken`] / [`UpdateUserError::PhoneTaken`] as
    /// [`Self::update_details`]; [`UpdateUserError::Infra`] otherwise.
    fn update(
        &self,
        user_id: i64,
        change: &UserChange,
        event: &NewEvent,
    ) -> Result<User, UpdateUserError>;

    /// Deletes user `user_id` with their details and sessions, and stores
    /// `event`, in one transaction. Audit events about the user stay.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails; `Ok(false)` (nothing changed,
    /// no event) when no such user exists.
    fn delete(&self, user_id: i64, event: &NewEvent) -> Result<bool, InfraError>;
}

/// Server-side state of refresh-token families (docs/api.md §3.5).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SessionRepository: Send + Sync {
    /// Stores a new, unrevoked session, but only while the user's
    /// credential is still `session.credential_version`: decided in the
    /// same statement as the insert, so a password change that commits
    /// first makes it refuse (docs/api.md §8).
    ///
    /// `event` is stored in the same transaction, only if the session is.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails; `Ok(false)` (nothing stored)
    /// when the credential has changed or the user is gone.
    fn create(&self, session: &NewSession, event: &NewEvent) -> Result<bool, InfraError>;

    /// Moves the family from `current_token_id` to `next_token_id` and sets
    /// its expiry, but only if the family exists, belongs to
    /// `rotation.user_id`, is not revoked, has not expired at `now` and its
    /// current token is `current_token_id`.
    ///
    /// MUST be one conditional update, not a read then a write: of several
    /// concurrent calls with the same `current_token_id`, at most one
    /// succeeds. A success answers the session's scopes and stores `event`
    /// in the same transaction. Every rotation also records which token it
    /// retired and `rotation.grace`'s access token (or none), replacing
    /// what the previous rotation recorded.
    ///
    /// With `rotation.grace`, a rotation refused only because
    /// `current_token_id` is the token the family's latest rotation
    /// retired, that rotation stored an access token and happened after
    /// `grace.rotated_after` (the family still live and the user's) answers
    /// [`RotationOutcome::Replayed`] with the pair it issued, and changes
    /// nothing.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails; a refused rotation is
    /// [`RotationOutcome::Refused`] (and stores no event).
    fn rotate(&self, rotation: &Rotation, event: &NewEvent) -> Result<RotationOutcome, InfraError>;

    /// The scopes the family was granted at login, if it exists and
    /// belongs to user `user_id` (revoked or not: they never change).
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn scopes(&self, family: &str, user_id: i64) -> Result<Option<Scopes>, InfraError>;

    /// Revokes the family if it belongs to user `user_id` and is not
    /// revoked yet, and then (only then) stores `event` in the same
    /// transaction. Unknown, someone else's or already revoked: nothing to
    /// do.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails; `Ok(false)` when nothing was
    /// revoked.
    fn revoke_family(
        &self,
        family: &str,
        user_id: i64,
        event: &NewEvent,
    ) -> Result<bool, InfraError>;

    /// Revokes every family of user `user_id` and stores `event`, in one
    /// transaction.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn revoke_all_for_user(&self, user_id: i64, event: &NewEvent) -> Result<(), InfraError>;

    /// The live sessions of user `user_id` at `now` (not revoked, not
    /// expired), newest first.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn list_live(&self, user_id: i64, now: UnixSeconds) -> Result<Vec<SessionInfo>, InfraError>;

    /// Revokes session `session_id` if it belongs to user `user_id` and is
    /// live at `now`, and then (only then) stores `event` in the same
    /// transaction.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails; `Ok(false)` when there was no
    /// such live session of that user.
    fn revoke_by_id(
        &self,
        session_id: i64,
        user_id: i64,
        now: UnixSeconds,
        event: &NewEvent,
    ) -> Result<bool, InfraError>;

    /// Deletes every session that has expired at `now` (`expires_at <=
    /// now`), revoked or not, and answers how many. A revoked session is
    /// kept until then: while its refresh tokens could still be presented,
    /// its row is what tells a replay of a revoked family from a token of
    /// no family at all.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn prune(&self, now: UnixSeconds) -> Result<u64, InfraError>;
}

/// Login attempts, counted per key (a username or a client address) so
/// that every instance of the service sees the same counts (docs/api.md §8).
/// A place is a failure, or an attempt whose password check is under way.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait LoginFailureRepository: Send + Sync {
    /// Takes one place under every key of `attempt` if each key holds
    /// fewer places than its `max` since [`Attempt::since`]; otherwise
    /// takes none and answers with the longest wait
    /// ([`crate::throttle::retry_after`] per key). Also forgets places of
    /// every key older than the window.
    ///
    /// MUST decide and take in one atomic step that serialises with every
    /// other reservation of the same keys, from any instance: of N
    /// concurrent calls for a key with room for k, at most k are admitted.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails (nothing is taken then).
    fn reserve(&self, attempt: &Attempt) -> Result<Reservation, InfraError>;

    /// Gives back the places of an attempt that was not a failure.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn release(&self, places: &Places) -> Result<(), InfraError>;

    /// Forgets every place taken under `key`.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn clear(&self, key: &str) -> Result<(), InfraError>;

    /// Forgets every place, of any key, taken before `before` (the start of
    /// the window: such places no longer count), and answers how many.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn prune(&self, before: UnixSeconds) -> Result<u64, InfraError>;
}

/// The audit trail's store (docs/api.md §9). Events that record a change
/// are stored by the change's own repository call, in its transaction;
/// this port stores the others (a refused login, a lifted lock) and reads
/// them all.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait AuditRepository: Send + Sync {
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn record(&self, event: &NewEvent) -> Result<(), InfraError>;

    /// The events `query` selects, newest (largest id) first.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn list(&self, query: &EventQuery) -> Result<Vec<Event>, InfraError>;

    /// Deletes every event older than `before` and answers how many.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn prune(&self, before: UnixSeconds) -> Result<u64, InfraError>;
}

/// Where API keys are stored (docs/api.md §10): by their digest, never the
/// key itself.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait ApiKeyRepository: Send + Sync {
    /// Stores `key` and `event` in one transaction, if user `key.user_id`
    /// still exists.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails; `Ok(None)` (nothing stored)
    /// when the user is gone.
    fn create(&self, key: &NewApiKey, event: &NewEvent) -> Result<Option<ApiKey>, InfraError>;

    /// The keys of user `user_id`, newest first (expired ones too, until
    /// they are pruned).
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn list(&self, user_id: i64) -> Result<Vec<ApiKey>, InfraError>;

    /// Deletes key `key_id` if it belongs to user `user_id`, and then (only
    /// then) stores `event` in the same transaction.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails; `Ok(false)` when there was no
    /// such key of that user.
    fn revoke(&self, user_id: i64, key_id: i64, event: &NewEvent) -> Result<bool, InfraError>;

    /// The key with this digest and its owner, read in one query: a key
    /// of a deleted user is gone with the user, one of a deactivated user
    /// comes back with its owner's flag.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn find(&self, digest: &KeyDigest) -> Result<Option<(ApiKey, User)>, InfraError>;

    /// Sets the key's `last_used_at` to `now`, unless it was set less than
    /// [`crate::api_key::LAST_USED_RESOLUTION_SECS`] before: decided in the
    /// update itself, so that of the requests of one minute, on any number
    /// of instances, one writes.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn touch(&self, key_id: i64, now: UnixSeconds) -> Result<(), InfraError>;

    /// Deletes every key that has expired at `now`, and answers how many.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    fn prune(&self, now: UnixSeconds) -> Result<u64, InfraError>;
}

/// Makes API keys and checks their form.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait ApiKeyMinter: Send + Sync {
    /// A new key: at least 128 random bits and a checksum after
    /// [`crate::api_key::KEY_PREFIX`], with its prefix and digest.
    ///
    /// # Errors
    /// [`InfraError::Unexpected`] if the system's randomness fails.
    fn mint(&self) -> Result<MintedKey, InfraError>;

    /// The digest of `presented`, if it has the form of a key this minter
    /// makes (prefix, length, alphabet, checksum); `None` otherwise, so that
    /// a typo or a made-up key costs no store read.
    fn digest(&self, presented: &str) -> Option<KeyDigest>;
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

    /// How the work of checking `hash` compares with a hash this hasher
    /// would make now ([`HashStrength::Current`] for one it cannot read).
    fn strength(&self, hash: &PasswordHash) -> HashStrength;
}

/// The work factor of a stored hash against the configured one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashStrength {
    Current,
    /// Cheaper to check than the configured cost: re-hash it, and pad a
    /// failed check to the configured time.
    Weaker,
    /// Dearer than the configured cost: re-hash it on the next success.
    Stronger,
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
    /// none`, the other kind) or whose text claims are not storable
    /// ([`crate::text::is_storable`]), and [`TokenError::Expired`] once `now` has
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
