//! Server-side refresh sessions: one row per family of rotated refresh
//! tokens.

use crate::{Origin, Scopes, UnixSeconds};

/// A session started at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The `fam` claim shared by every refresh token of the session.
    pub family: String,
    pub user_id: i64,
    /// The user's credential version whose password was verified: the
    /// session is stored only while it is still the user's.
    pub credential_version: i64,
    /// The `jti` of the one refresh token that may be used next.
    pub current_token_id: String,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    /// The scopes granted at login: a refresh grants at most these.
    pub scopes: Scopes,
    /// Where the login came from.
    pub device: Device,
}

/// Retire `current_token_id` in favour of `next_token_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub family: String,
    /// The user the refresh token names: the family must be theirs.
    pub user_id: i64,
    pub current_token_id: String,
    pub next_token_id: String,
    /// The session's new expiry (the new refresh token's).
    pub expires_at: UnixSeconds,
    pub now: UnixSeconds,
    /// Where the refresh came from: the session's device from now on.
    pub device: Device,
    /// Under a reuse grace (`AUTH__REFRESH_REUSE_GRACE_SECS`): the access
    /// token issued beside `next_token_id`, stored with it, and how far
    /// back a rotation may be answered again. `None`: strict reuse
    /// detection, nothing to answer again.
    pub grace: Option<ReuseGrace>,
}

/// What a rotation under a reuse grace stores and looks for (docs/api.md
/// §11): several tabs of one browser refreshing with the same token at
/// once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReuseGrace {
    /// The access token of the pair this rotation issues.
    pub access: AccessGrant,
    /// If the rotation is refused because `current_token_id` was itself
    /// rotated, and that rotation happened after this time (`now` minus
    /// the grace), the pair it issued is answered again.
    pub rotated_after: UnixSeconds,
}

/// The `jti` and scopes of an access token, all that is needed to sign it
/// again beside its refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub token_id: String,
    pub scopes: Scopes,
}

/// How [`crate::SessionRepository::rotate`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationOutcome {
    /// The family moved to `next_token_id`; the session's scopes.
    Rotated(Scopes),
    /// `current_token_id` had been rotated within the grace: the pair that
    /// rotation issued, to be signed again as it was.
    Replayed(IssuedPair),
    /// Nothing rotated: not the current token, revoked, expired, or
    /// someone else's family.
    Refused,
}

/// A stored rotation's pair: its refresh token is the family's current
/// one, and both were issued at `issued_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedPair {
    pub refresh_token_id: String,
    pub access: AccessGrant,
    pub issued_at: UnixSeconds,
}

/// Where a session was last used from (docs/api.md §11): the client
/// address and user agent of its login or latest refresh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

impl Device {
    #[must_use]
    pub fn of(origin: &Origin) -> Self {
        Self {
            client_address: origin.client_address.clone(),
            user_agent: origin.user_agent.clone(),
        }
    }
}

/// A live session as its owner lists it (`GET /api/auth/sessions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: i64,
    /// The family, to tell the caller's own session (`sid`) apart.
    pub family: String,
    pub created_at: UnixSeconds,
    /// The last login or refresh (`None` for a session from before this
    /// was recorded).
    pub last_used_at: Option<UnixSeconds>,
    pub expires_at: UnixSeconds,
    pub device: Device,
}
