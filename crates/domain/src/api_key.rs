//! API keys for machine clients (docs/api.md §10): a named key that expires,
//! carries some of its owner's grants, and is shown once; only a digest of
//! it is stored. How a key is made and digested is the
//! [`crate::ApiKeyMinter`] port's; the rules are here and in
//! `service/keys.rs`.

use secrecy::SecretString;

use crate::{Claims, Scopes, UnixSeconds, text};

/// How every key begins (docs/api.md §10): a bearer that starts so is read
/// as a key, never as a JWT (a JWT starts `eyJ`).
pub const KEY_PREFIX: &str = "zk_";

/// `last_used_at` is written at most once per this many seconds per key.
pub const LAST_USED_RESOLUTION_SECS: u64 = 60;

/// The name a user gives a key: 1–64 characters once trimmed, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("A key name is 1 to 64 characters, without control characters")]
pub struct KeyNameError;

impl KeyName {
    pub const MAX_CHARS: usize = 64;

    /// # Errors
    /// [`KeyNameError`] for a blank or longer name, or one with a control
    /// character (a NUL among them).
    pub fn parse(raw: &str) -> Result<Self, KeyNameError> {
        let name = raw.trim();
        let fits = !name.is_empty() && name.chars().count() <= Self::MAX_CHARS;
        if fits && text::is_storable(name) && !name.chars().any(char::is_control) {
            Ok(Self(name.to_owned()))
        } else {
            Err(KeyNameError)
        }
    }

    /// A name read back from the store, which only ever holds parsed ones.
    #[must_use]
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long a new key lives: 1–366 days (default 90).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLifetime(u16);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("A key lives 1 to 366 days")]
pub struct KeyLifetimeError;

impl KeyLifetime {
    pub const MAX_DAYS: u16 = 366;
    pub const DEFAULT: Self = Self(90);

    /// # Errors
    /// [`KeyLifetimeError`] outside 1–366.
    pub fn days(days: i64) -> Result<Self, KeyLifetimeError> {
        u16::try_from(days)
            .ok()
            .filter(|days| (1..=Self::MAX_DAYS).contains(days))
            .map(Self)
            .ok_or(KeyLifetimeError)
    }

    #[must_use]
    pub fn secs(self) -> u64 {
        u64::from(self.0) * 86_400
    }
}

/// What a key is stored and found by: the minter's digest of it, opaque
/// here. Not a secret (the key cannot be had back from it), but nothing
/// shows it either.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyDigest(String);

impl KeyDigest {
    #[must_use]
    pub fn new(digest: String) -> Self {
        Self(digest)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyDigest(..)")
    }
}

/// A new key as the minter makes it. `Debug` never shows the secret.
#[derive(Debug, Clone)]
pub struct MintedKey {
    /// The whole key, `zk_…`: shown to its owner once.
    pub secret: SecretString,
    /// Its first 8 characters after `zk_`, listed to tell keys apart.
    pub prefix: String,
    pub digest: KeyDigest,
}

/// A key as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    pub name: KeyName,
    pub prefix: String,
    /// The scopes it was given; it may use those its owner still holds.
    pub scopes: Scopes,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub last_used_at: Option<UnixSeconds>,
}

impl ApiKey {
    /// What the key may do now: its scopes that its owner still holds (an
    /// administrator who withdraws a grant withdraws it from the owner's
    /// keys too).
    #[must_use]
    pub fn effective_scopes(&self, owner_grants: &Scopes) -> Scopes {
        self.scopes.intersection(owner_grants)
    }

    /// Whether the key still works at `now` (it expires at `expires_at`).
    #[must_use]
    pub fn is_live(&self, now: UnixSeconds) -> bool {
        now < self.expires_at
    }

    /// Whether `last_used_at` is due to be written at `now`.
    #[must_use]
    pub fn use_is_due(&self, now: UnixSeconds) -> bool {
        self.last_used_at
            .is_none_or(|last| now.saturating_sub(last) >= LAST_USED_RESOLUTION_SECS)
    }
}

/// A key to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub user_id: i64,
    pub name: KeyName,
    pub prefix: String,
    pub digest: KeyDigest,
    pub scopes: Scopes,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

/// Input of [`crate::AuthService::create_api_key`], parsed at the boundary.
#[derive(Debug, Clone)]
pub struct CreateKeyRequest {
    pub name: KeyName,
    /// `None`: the caller's grants but `admin`.
    pub scopes: Option<Scopes>,
    pub lifetime: KeyLifetime,
}

/// A key just created: as stored, and its secret, shown this once.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: SecretString,
}

/// A bearer credential, checked as far as it can be without the store.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An access token whose signature, expiry and scopes were checked.
    Token(Claims),
    /// A key of the right form (its checksum holds), still to be looked
    /// up; the scopes the route needs are checked against it then.
    ApiKey { digest: KeyDigest, needed: Scopes },
}

impl Credential {
    #[must_use]
    pub fn is_api_key(&self) -> bool {
        matches!(self, Self::ApiKey { .. })
    }
}

/// What `POST /api/auth/token/introspect` tells about a credential
/// (RFC 7662): `None` from the use case is `{"active": false}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    pub subject: String,
    pub scopes: Scopes,
    pub issued_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub kind: IntrospectedKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntrospectedKind {
    AccessToken,
    ApiKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_name_is_trimmed_bounded_and_printable() {
        assert_eq!(
            KeyName::parse("  ci deploy ").unwrap().as_str(),
            "ci deploy"
        );
        assert!(KeyName::parse(&"é".repeat(64)).is_ok());
        for bad in ["", "   ", "a\u{0}b", "tab\there", &"x".repeat(65)] {
            assert_eq!(KeyName::parse(bad), Err(KeyNameError), "{bad:?}");
        }
    }

    #[test]
    fn a_key_lives_one_to_366_days() {
        assert_eq!(KeyLifetime::days(1).unwrap().secs(), 86_400);
        assert_eq!(KeyLifetime::days(366).unwrap().secs(), 366 * 86_400);
        assert_eq!(KeyLifetime::DEFAULT.secs(), 90 * 86_400);
        for bad in [0, -1, 367, i64::from(u16::MAX) + 1] {
            assert_eq!(KeyLifetime::days(bad), Err(KeyLifetimeError), "{bad}");
        }
    }

    #[test]
    fn last_use_is_written_at_most_once_a_minute() {
        let mut key = ApiKey {
            id: 1,
            user_id: 1,
            name: KeyName::parse("k").unwrap(),
            prefix: "abcdefgh".into(),
            scopes: Scopes::parse("me").unwrap(),
            created_at: 1_000,
            expires_at: 9_000,
            last_used_at: None,
        };
        assert!(key.use_is_due(1_000));
        key.last_used_at = Some(1_000);
        assert!(!key.use_is_due(1_059));
        assert!(key.use_is_due(1_060));
        assert!(
            !key.use_is_due(999),
            "a clock that went back writes nothing"
        );
    }

    #[test]
    fn a_key_may_use_only_the_scopes_its_owner_still_holds() {
        let key = ApiKey {
            id: 1,
            user_id: 1,
            name: KeyName::parse("k").unwrap(),
            prefix: "abcdefgh".into(),
            scopes: Scopes::parse("items:read me").unwrap(),
            created_at: 0,
            expires_at: 1,
            last_used_at: None,
        };
        assert_eq!(
            key.effective_scopes(&Scopes::parse("me admin").unwrap()),
            Scopes::parse("me").unwrap()
        );
    }
}
