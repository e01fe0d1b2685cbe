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
