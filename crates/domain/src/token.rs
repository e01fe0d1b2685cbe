use secrecy::SecretString;

use crate::{Scopes, Username};

/// Seconds since the Unix epoch.
pub type UnixSeconds = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Access,
    Refresh,
}

/// What a token says, once its signature and lifetime have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The username (`sub`).
    pub subject: String,
    pub kind: TokenKind,
    pub issued_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    /// Unique per token (`jti`).
    pub id: String,
    /// The session family: `fam` of a refresh token, `sid` of an access
    /// token (`None` on access tokens issued before scopes).
    pub family: Option<String>,
    /// The scopes an access token grants (`scope`, RFC 9068); `None` when
    /// the claim is absent (see [`Claims::granted`]).
    pub scopes: Option<Scopes>,
}

impl Claims {
    /// What the token may do: its `scope`, or `me` for an access token
    /// without one (issued before scopes existed).
    #[must_use]
    pub fn granted(&self) -> Scopes {
        self.scopes.clone().unwrap_or_else(Scopes::legacy)
    }
}

/// A request to sign a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub kind: TokenKind,
    pub subject: Username,
    /// For a refresh token: the family to continue, or `None` to start one.
    /// For an access token: the session it belongs to (`sid`).
    pub family: Option<String>,
    /// For an access token: the scopes it grants. Ignored for refresh
    /// tokens (their session holds its scopes).
    pub scopes: Scopes,
    pub now: UnixSeconds,
    /// The token's `jti`: `None` for a new one. A refresh replayed within
    /// the reuse grace signs its stored successor pair again under the
    /// ids (and time) it was first issued with (docs/api.md §11).
    pub id: Option<String>,
}

/// A signed token and the claims it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub claims: Claims,
}

/// What login and refresh hand back to the client. `Debug` never shows the
/// tokens (`secrecy`).
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// The access token's lifetime in seconds.
    pub expires_in: u64,
    /// The scopes granted to the access token.
    pub scope: Scopes,
}
