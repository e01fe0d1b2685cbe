use std::fmt;

/// A plaintext password. Its `Debug` output never shows the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("Password must be at least 8 characters long.")]
    TooShort,
    // bcrypt reads at most 72 bytes; anything beyond would be silently
    // ignored, so longer input is refused instead of cut.
    #[error("Password must be at most 72 bytes long (UTF-8).")]
    TooLong,
    #[error("Password must not contain the NUL character.")]
    ContainsNul,
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_BYTES: usize = 72;

    /// Parses a new password against the registration policy.
    ///
    /// # Errors
    /// [`PasswordError`] naming the first rule the input breaks.
    pub fn parse(raw: impl Into<String>) -> Result<Self, PasswordError> {
        let raw = raw.into();
        Self::check_hashable(&raw)?;
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        Ok(Self(raw))
    }

    /// Accepts a password offered at login. Only what bcrypt could never
    /// have hashed is refused: a longer password would be truncated and
    /// could match a stored hash by its first 72 bytes alone.
    #[must_use]
    pub fn candidate(raw: impl Into<String>) -> Option<Self> {
        let raw = raw.into();
        Self::check_hashable(&raw).ok().map(|()| Self(raw))
    }

    fn check_hashable(raw: &str) -> Result<(), PasswordError> {
        if raw.contains('\0') {
            return Err(PasswordError::ContainsNul);
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        Ok(())
    }

    /// The plaintext, for the hasher alone.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password hash as the hasher stores it (a bcrypt string, say).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    #[must_use]
    pub fn new(hash: impl Into<String>) -> Self {
        Self(hash.into())
    }
}

impl AsRef<str> for PasswordHash {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_characters_are_enough() {
        assert!(Password::parse("12345678").is_ok());
        assert_eq!(Password::parse("1234567"), Err(PasswordError::TooShort));
    }

    #[test]
    fn length_is_counted_in_characters_for_the_minimum() {
        // Four characters, eight bytes: still too short.
        assert_eq!(Password::parse("éééé"), Err(PasswordError::TooShort));
    }

    #[test]
    fn exactly_72_bytes_is_accepted() {
        assert!(Password::parse("a".repeat(72)).is_ok());
    }

    #[test]
    fn a_password_over_72_bytes_is_rejected() {
        assert_eq!(Password::parse("a".repeat(73)), Err(PasswordError::TooLong));
        // 36 two-byte characters are 72 bytes; one more ASCII byte is 73.
        assert!(Password::parse("é".repeat(36)).is_ok());
        assert_eq!(
            Password::parse(format!("{}a", "é".repeat(36))),
            Err(PasswordError::TooLong)
        );
    }

    #[test]
    fn a_nul_character_is_rejected() {
        assert_eq!(
            Password::parse("abc\0defgh"),
            Err(PasswordError::ContainsNul)
        );
    }

    #[test]
    fn login_candidates_skip_the_length_minimum_but_not_the_bcrypt_limits() {
        assert!(Password::candidate("short").is_some());
        assert!(Password::candidate("a".repeat(73)).is_none());
        assert!(Password::candidate("a\0").is_none());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let password = Password::parse("hunter2hunter2").unwrap();
        let hash = PasswordHash::new("$2b$04$secretsecret");
        assert!(!format!("{password:?}").contains("hunter2"));
        assert!(!format!("{hash:?}").contains("secret"));
    }
}
