use std::{fmt, str::FromStr};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use domain::{
    Claims, InfraError, IssuedToken, Scopes, TokenError, TokenKind, TokenRequest, TokenService,
    UnixSeconds, text::is_storable,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

use crate::SigningKeys;

/// Tokens longer than this are refused before any parsing: ours are a few
/// hundred bytes, and a huge one is only an attempt to waste our time.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// The algorithms the service signs access tokens with (docs/api.md §5,
/// §12): HMAC with a secret, or an asymmetric key set ([`SigningKeys`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Hs384,
    Hs512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl JwtAlgorithm {
    /// Whether tokens are signed with a shared secret (HS*).
    #[must_use]
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::Hs256 | Self::Hs384 | Self::Hs512)
    }

    /// The algorithm of refresh tokens, which only this service reads: the
    /// HMAC one configured, or HS256 beside an asymmetric one.
    #[must_use]
    pub fn refresh_algorithm(self) -> Self {
        if self.is_hmac() { self } else { Self::Hs256 }
    }

    /// RFC 7518 §3.2: an HMAC key must be at least as long as the hash.
    /// (For an asymmetric algorithm: that of [`Self::refresh_algorithm`].)
    #[must_use]
    pub fn min_key_bytes(self) -> usize {
        match self.refresh_algorithm() {
            Self::Hs384 => 48,
            Self::Hs512 => 64,
            _ => 32,
        }
    }

    /// The `alg` of a JWT header (RFC 7518 §3.1, RFC 8037 §3.1).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    pub(crate) fn to_jsonwebtoken(self) -> Algorithm {
        match self {
            Self::Hs256 => Algorithm::HS256,
            Self::Hs384 => Algorithm::HS384,
            Self::Hs512 => Algorithm::HS512,
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
            Self::Rs256 => Algorithm::RS256,
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
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            "RS256" => Ok(Self::Rs256),
            other => Err(format!(
                "unknown algorithm {other:?}, expected HS256, HS384, HS512, ES256, EdDSA or RS256"
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

/// What signs access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessKeys {
    /// A secret, under the HMAC `JwtSettings::algorithm`.
    Hmac(SecretKey),
    /// Asymmetric keys (docs/api.md §12): the first signs.
    Signing(SigningKeys),
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// `AUTH__ALGORITHM`: that of access tokens (under [`AccessKeys::Signing`],
    /// its first key's); refresh tokens use [`JwtAlgorithm::refresh_algorithm`].
    pub algorithm: JwtAlgorithm,
    pub access_keys: AccessKeys,
    /// Refresh tokens are always HMAC: only this service reads them.
    pub refresh_secret: SecretKey,
    pub issuer: String,
    /// When set, access tokens carry it as `aud` and decoding requires it.
    pub audience: Option<String>,
    pub access_lifetime_secs: u64,
    pub refresh_lifetime_secs: u64,
    /// How many accepted access tokens to remember (0: none); see
    /// [`VerifiedTokens`].
    pub verified_cache_entries: usize,
}

/// One key, pinned to one algorithm and one `kid`, with the decoding rules
/// of its token kind. (The keys' `Debug` hides their bytes.)
#[derive(Debug)]
struct PinnedKey {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// An HMAC key also takes tokens without `kid`: those signed before
    /// tokens carried one, so that sessions outlive the upgrade. The key
    /// itself is unchanged, so they are no weaker for it.
    takes_no_kid: bool,
}

/// One token kind's keys (the first signs) and lifetime, built once.
#[derive(Debug)]
struct KindKeys {
    keys: Vec<PinnedKey>,
    lifetime_secs: u64,
}

impl KindKeys {
    fn signing(&self) -> &PinnedKey {
        &self.keys[0]
    }

    /// The key `token` names by its `kid`. A kind with one HMAC key (every
    /// HS* deployment) needs no look-up: `decode` reads the header anyway,
    /// and [`JwtTokenService::decode_signed`] checks the `kid` then.
    fn for_token(&self, token: &str) -> Result<&PinnedKey, TokenError> {
        if let [only] = self.keys.as_slice()
            && only.takes_no_kid
        {
            return Ok(only);
        }
        let kid = jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|header| header.kid)
            .ok_or(TokenError::Invalid)?;
        self.keys
            .iter()
            .find(|key| key.kid == kid)
            .ok_or(TokenError::Invalid)
    }
}

/// The `kid` of an HMAC key: stable for the key, and telling nothing of it
/// (a digest of 32 or more random bytes, under a label of its own so that
/// it matches no other digest of the key).
fn hmac_kid(secret: &SecretKey) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"zentra hmac kid\0")
        .chain_update(secret.0.expose_secret())
        .finalize();
    format!("hs-{}", URL_SAFE_NO_PAD.encode(&digest[..12]))
}

/// Access tokens already decoded and accepted, by their full text, with
/// their claims: a client presents the same access token on every request
/// of its lifetime, and jsonwebtoken's `decode` (base64, two JSON parses of
/// header and claims, an HMAC keyed anew on each call) is the largest part
/// of `verify` (README, Performance).
///
/// Exact, not a shortcut: apart from expiry, whether a token is accepted
/// and what its claims are depend only on its text and on the keys, which
/// are fixed for the life of the service (a key set too: a rotation is a
/// restart, README). So a hit is the decode's own
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

/// Signed JWTs: access tokens with an HMAC key or an asymmetric key set,
/// refresh tokens with another HMAC key, so that neither kind can ever pass
/// for the other.
#[derive(Debug)]
pub struct JwtTokenService {
    issuer: String,
    audience: Option<String>,
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
    /// An access token's audience, when one is configured. Written only:
    /// jsonwebtoken checks it on the way in ([`validation`]).
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
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

/// What jsonwebtoken checks for us (docs/api.md §5): the key's one
/// algorithm (`alg: none`, other HMAC sizes and other algorithms are refused
/// before any signature check), the signature, `iss`, `aud` when `audience`
/// is set, and that `exp` is present and numeric.
fn validation(algorithm: Algorithm, issuer: &str, audience: Option<&str>) -> Validation {
    let mut validation = Validation::new(algorithm);
    // Its default is 60 s; none, should its own `exp` check come back on.
    validation.leeway = 0;
    // jsonwebtoken compares `exp` with the system clock and lets a token
    // live through the second of its `exp` (`exp < now` is expired). Expiry
    // is ours instead: against the caller's clock (the domain's `Clock`),
    // expired once `now` has reached `exp`. `exp` stays required.
    validation.validate_exp = false;
    validation.set_issuer(&[issuer]);
    match audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        }
        None => {
            validation.set_required_spec_claims(&["exp", "iss"]);
            // On by default: a token with an `aud` would be refused. With
            // no audience configured we set none and, as before, ignore one.
            validation.validate_aud = false;
        }
    }
    validation
}

impl JwtTokenService {
    #[must_use]
    pub fn new(settings: &JwtSettings) -> Self {
        let issuer = settings.issuer.as_str();
        let hmac = |secret: &SecretKey, algorithm: JwtAlgorithm, audience| {
            let algorithm = algorithm.to_jsonwebtoken();
            PinnedKey {
                kid: hmac_kid(secret),
                algorithm,
                encoding: EncodingKey::from_secret(secret.0.expose_secret()),
                decoding: DecodingKey::from_secret(secret.0.expose_secret()),
                validation: validation(algorithm, issuer, audience),
                takes_no_kid: true,
            }
        };
        let audience = settings.audience.as_deref();
        let access = match &settings.access_keys {
            AccessKeys::Hmac(secret) => vec![hmac(
                secret,
                settings.algorithm.refresh_algorithm(),
                audience,
            )],
            AccessKeys::Signing(set) => set
                .keys()
                .iter()
                .map(|key| {
                    let algorithm = key.algorithm.to_jsonwebtoken();
                    PinnedKey {
                        kid: key.kid.clone(),
                        algorithm,
                        encoding: key.encoding.clone(),
                        decoding: key.decoding.clone(),
                        validation: validation(algorithm, issuer, audience),
                        takes_no_kid: false,
                    }
                })
                .collect(),
        };
        let refresh = hmac(
            &settings.refresh_secret,
            settings.algorithm.refresh_algorithm(),
            None,
        );
        Self {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access: KindKeys {
                keys: access,
                lifetime_secs: settings.access_lifetime_secs,
            },
            refresh: KindKeys {
                keys: vec![refresh],
                lifetime_secs: settings.refresh_lifetime_secs,
            },
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
        let key = self.keys(kind).for_token(token)?;
        let decoded = jsonwebtoken::decode::<WireClaims>(token, &key.decoding, &key.validation)
            .map_err(|_| TokenError::Invalid)?;
        // The key a token names is the key that checked it; no `kid` only
        // where the key takes that (HMAC, tokens from before kids).
        match decoded.header.kid {
            Some(kid) if kid == key.kid => {}
            None if key.takes_no_kid => {}
            _ => return Err(TokenError::Invalid),
        }
        let wire = decoded.claims;
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
            aud: match request.kind {
                TokenKind::Access => self.audience.clone(),
                TokenKind::Refresh => None,
            },
            fam,
            sid,
            scope,
        };
        let key = keys.signing();
        let mut header = Header::new(key.algorithm);
        header.kid = Some(key.kid.clone());
        let token =
            jsonwebtoken::encode(&header, &wire, &key.encoding).map_err(InfraError::unexpected)?;
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
mod signing_tests;
#[cfg(test)]
mod tests;
