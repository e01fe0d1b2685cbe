use secrecy::SecretString;

use crate::Username;

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
    /// The session family of a refresh token (`fam`); `None` on access tokens.
    pub family: Option<String>,
}

/// A request to sign a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub kind: TokenKind,
    pub subject: Username,
    /// For a refresh token: the family to continue, or `None` to start one.
    pub family: Option<String>,
    pub now: UnixSeconds,
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
}
