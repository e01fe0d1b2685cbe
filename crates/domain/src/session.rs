//! Server-side refresh sessions: one row per family of rotated refresh
//! tokens.

use crate::{Scopes, UnixSeconds};

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
}
