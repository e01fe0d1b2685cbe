use std::{fmt, str::FromStr};

use domain::{
    Claims, InfraError, IssuedToken, Scopes, TokenError, TokenKind, TokenRequest, TokenService,
    UnixSeconds, text::is_storable,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

/// Tokens longer than this are refused before any parsing: ours are a few
/// hundred bytes, and a huge one is only an attempt to waste our time.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// The HMAC algorithms the service signs with (docs/api.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Hs384,
    Hs512,
}

impl JwtAlgorithm {
    /// RFC 7518 §3.2: an HMAC key must be at least as long as the hash.
    #[must_use]
    pub fn min_key_bytes(self) -> usize {
        match self {
            Self::Hs256 => 32,
            Self::Hs384 => 48,
            Self::Hs512 => 64,
        }
    }

    /// The `alg` of a JWT header (RFC 7518 §3.1).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
        }
    }

    fn to_jsonwebtoken(self) -> Algorithm {
        match self {
            Self::Hs256 => Algorithm::HS256,
            Self::Hs384 => Algorithm::HS384,
            Self::Hs512 => Algorithm::HS512,
        }
    }
}

impl FromStr for JwtAlgorithm {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "HS256" => Ok(Self::Hs256),
            "HS384" => Ok(Self::Hs384),
            "HS512" => Ok(Self::Hs512),
            other => Err(format!(
                "unknown algorithm {other:?}, expected HS256, HS384 or HS512"
            )),
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Key material. `Debug` never shows it (`secrecy`), and the bytes are
/// zeroed when dropped.
#[derive(Debug, Clone)]
pub struct SecretKey(SecretSlice<u8>);

impl SecretKey {
    #[must_use]
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into().into())
    }

    /// The key's length in bytes: all that configuration checks and shows
    /// of it.
    #[must_use]
    pub fn byte_len(&self) -> usize {
        self.0.expose_secret().len()
    }
}

/// For configuration tests; nothing in the service compares keys.
impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl Eq for SecretKey {}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub algorithm: JwtAlgorithm,
    pub access_secret: SecretKey,
    pub refresh_secret: SecretKey,
    pub issuer: String,
    pub access_lifetime_secs: u64,
    pub refresh_lifetime_secs: u64,
    /// How many accepted access tokens to remember (0: none); see
    /// [`VerifiedTokens`].
    pub verified_cache_entries: usize,
}

/// One token kind's keys, lifetime and decoding rules, built once. (Both
/// keys' `Debug` hides their bytes.)
#[derive(Debug)]
struct KindKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime_secs: u64,
}

/// Access tokens already decoded and accepted, by their full text, with
/// their claims: a client presents the same access token on every request
/// of its lifetime, and jsonwebtoken's `decode` (base64, two JSON parses of
/// header and claims, an HMAC keyed anew on each call) is the largest part
/// of `verify` (README, Performance).
///
/// Exact, not a shortcut: apart from expiry, whether a token is accepted
/// and what its claims are depend only on its text and on the keys, which
/// are fixed for the life of the service. So a hit is the decode's own
/// answer, and expiry is checked against the caller's clock on every hit,
/// as on every decode. Only accepted, unexpired tokens are stored (a
/// forged or altered one differs in its text, so it is decoded, and
/// refused, every time), only access tokens (a refresh token is presented
/// once), at most `capacity` of them (the least recently useful go first):
/// nobody can grow it, and each entry is a token this service signed.
struct VerifiedTokens(quick_cache::sync::Cache<Box<str>, Claims>);

impl VerifiedTokens {
    fn new(capacity: usize) -> Option<Self> {
        (capacity > 0).then(|| Self(quick_cache::sync::Cache::new(capacity)))
    }
}

impl fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The entries are bearer tokens: their number only.
        f.debug_struct("VerifiedTokens")
            .field("len", &self.0.len())
            .finish()
    }
}

/// HMAC-signed JWTs with one key for access tokens and another for refresh
/// tokens, so that neither kind can ever pass for the other.
#[derive(Debug)]
pub struct JwtTokenService {
    algorithm: JwtAlgorithm,
    issuer: String,
    access: KindKeys,
    refresh: KindKeys,
    verified_access: Option<VerifiedTokens>,
}

/// The claims on the wire (docs/api.md §5).
#[derive(Debug, Serialize, Deserialize)]
struct WireClaims {
    sub: String,
    exp: u64,
    iat: u64,
    jti: String,
    #[serde(rename = "type")]
    kind: WireKind,
    iss: String,
    /// A refresh token's session family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fam: Option<String>,
    /// An access token's session (docs/api.md §9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    /// An access token's scopes, space-separated (RFC 9068 §2.2.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

impl WireClaims {
    /// The session family: `fam` of a refresh token, `sid` of an access
    /// token.
    fn family(&self, kind: TokenKind) -> Option<&String> {
        match kind {
            TokenKind::Access => self.sid.as_ref(),
            TokenKind::Refresh => self.fam.as_ref(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireKind {
    Access,
    Refresh,
}

impl From<TokenKind> for WireKind {
    fn from(kind: TokenKind) -> Self {
        match kind {
            TokenKind::Access => Self::Access,
            TokenKind::Refresh => Self::Refresh,
        }
    }
}

/// What jsonwebtoken checks for us (docs/api.md §5): the one configured
/// algorithm (`alg: none`, other HMAC sizes and asymmetric algorithms are
/// refused before any signature check), the signature, `iss`, and that `exp`
/// is present and numeric.
fn validation(algorithm: JwtAlgorithm, issuer: &str) -> Validation {
    let mut validation = Validation::new(algorithm.to_jsonwebtoken());
    // Its default is 60 s; none, should its own `exp` check come back on.
    validation.leeway = 0;
    // jsonwebtoken compares `exp` with the system clock and lets a token
    // live through the second of its `exp` (`exp < now` is expired). Expiry
    // is ours instead: against the caller's clock (the domain's `Clock`),
    // expired once `now` has reached `exp`. `exp` stays required.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "iss"]);
    validation.set_issuer(&[issuer]);
    // On by default: a token with an `aud` would be refused. We set no
    // audience and, as before, ignore one.
    validation.validate_aud = false;
    validation
}

impl JwtTokenService {
    #[must_use]
    pub fn new(settings: &JwtSettings) -> Self {
        let keys = |secret: &SecretKey, lifetime_secs| KindKeys {
            encoding: EncodingKey::from_secret(secret.0.expose_secret()),
            decoding: DecodingKey::from_secret(secret.0.expose_secret()),
            validation: validation(settings.algorithm, &settings.issuer),
            lifetime_secs,
        };
        Self {
            algorithm: settings.algorithm,
            issuer: settings.issuer.clone(),
            access: keys(&settings.access_secret, settings.access_lifetime_secs),
            refresh: keys(&settings.refresh_secret, settings.refresh_lifetime_secs),
            verified_access: VerifiedTokens::new(settings.verified_cache_entries),
        }
    }

    fn keys(&self, kind: TokenKind) -> &KindKeys {
        match kind {
            TokenKind::Access => &self.access,
            TokenKind::Refresh => &self.refresh,
        }
    }

    /// Everything docs/api.md §5 asks of a token of `kind` but expiry,
    /// which depends on the time of the call.
    fn decode_signed(&self, token: &str, kind: TokenKind) -> Result<Claims, TokenError> {
        let keys = self.keys(kind);
        let wire = jsonwebtoken::decode::<WireClaims>(token, &keys.decoding, &keys.validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        // A NUL never reaches the database (docs/api.md §8): `sub`, `jti`,
        // `fam` and `sid` are looked up there. (`type` is an enum: a NUL
        // cannot parse; a scope name admits no NUL.)
        let family = wire.family(kind);
        let claims = [Some(&wire.sub), Some(&wire.jti), family];
        if !claims.into_iter().flatten().all(|claim| is_storable(claim)) {
            return Err(TokenError::Invalid);
        }
        if wire.kind != WireKind::from(kind) || (kind == TokenKind::Refresh && family.is_none()) {
            return Err(TokenError::Invalid);
        }
        let scopes = match (kind, &wire.scope) {
            (TokenKind::Access, Some(scope)) => {
                Some(Scopes::parse(scope).map_err(|_| TokenError::Invalid)?)
            }
            _ => None,
        };
        let family = family.cloned();
        Ok(Claims {
            subject: wire.sub,
            kind,
            issued_at: wire.iat,
            expires_at: wire.exp,
            id: wire.jti,
            family,
            scopes,
        })
    }

    /// How many access tokens [`VerifiedTokens`] holds.
    #[cfg(test)]
    fn verified_len(&self) -> usize {
        self.verified_access
            .as_ref()
            .map_or(0, |cache| cache.0.len())
    }
}

/// Expired once `now` has reached `exp` (docs/api.md §5), on the caller's
/// clock.
fn unexpired(claims: Claims, now: UnixSeconds) -> Result<Claims, TokenError> {
    if now >= claims.expires_at {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

impl TokenService for JwtTokenService {
    fn issue(&self, request: &TokenRequest) -> Result<IssuedToken, InfraError> {
        let keys = self.keys(request.kind);
        let (fam, sid, scope) = match request.kind {
            TokenKind::Access => (
                None,
                request.family.clone(),
                Some(request.scopes.to_string()),
            ),
            TokenKind::Refresh => (
                Some(
                    request
                        .family
                        .clone()
                        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
                ),
                None,
                None,
            ),
        };
        let wire = WireClaims {
            sub: request.subject.to_string(),
            exp: request.now.saturating_add(keys.lifetime_secs),
            iat: request.now,
            jti: request
                .id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            kind: request.kind.into(),
            iss: self.issuer.clone(),
            fam,
            sid,
            scope,
        };
        let header = Header::new(self.algorithm.to_jsonwebtoken());
        let token =
            jsonwebtoken::encode(&header, &wire, &keys.encoding).map_err(InfraError::unexpected)?;
        Ok(IssuedToken {
            token,
            claims: Claims {
                family: wire.family(request.kind).cloned(),
                scopes: (request.kind == TokenKind::Access).then(|| request.scopes.clone()),
                subject: wire.sub,
                kind: request.kind,
                issued_at: wire.iat,
                expires_at: wire.exp,
                id: wire.jti,
            },
        })
    }

    /// jsonwebtoken checks the algorithm, signature, `iss` and that `exp`
    /// is there ([`validation`]); the rest of docs/api.md §5 is checked here.
    /// An access token accepted before comes from [`VerifiedTokens`].
    fn decode(&self, token: &str, kind: TokenKind, now: UnixSeconds) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Invalid);
        }
        let cache = match kind {
            TokenKind::Access => self.verified_access.as_ref(),
            TokenKind::Refresh => None,
        };
        if let Some(seen) = cache.and_then(|cache| cache.0.get(token)) {
            return unexpired(seen, now);
        }
        let claims = unexpired(self.decode_signed(token, kind)?, now)?;
        if let Some(cache) = cache {
            cache.0.insert(token.into(), claims.clone());
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests;
