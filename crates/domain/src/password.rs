use secrecy::{ExposeSecret, SecretString};

/// A plaintext password. Its `Debug` output never shows the text
/// (`secrecy`), and the text is zeroed when dropped. No `PartialEq`:
/// passwords are compared by the hasher alone.
#[derive(Debug, Clone)]
pub struct Password(SecretString);

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
    pub fn parse(raw: impl Into<SecretString>) -> Result<Self, PasswordError> {
        let raw = raw.into();
        Self::check_hashable(raw.expose_secret())?;
        if raw.expose_secret().chars().count() < Self::MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        Ok(Self(raw))
    }

    /// Accepts a password offered at login. Only what bcrypt could never
    /// have hashed is refused: a longer password would be truncated and
    /// could match a stored hash by its first 72 bytes alone.
    #[must_use]
    pub fn candidate(raw: impl Into<SecretString>) -> Option<Self> {
        let raw = raw.into();
        Self::check_hashable(raw.expose_secret())
            .ok()
            .map(|()| Self(raw))
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
        self.0.expose_secret()
    }
}

/// A password hash as the hasher stores it (a bcrypt string, say). Its
/// `Debug` output never shows it (`secrecy`).
#[derive(Debug, Clone)]
pub struct PasswordHash(SecretString);

impl PasswordHash {
    #[must_use]
    pub fn new(hash: impl Into<String>) -> Self {
        Self(hash.into().into())
    }
}

impl AsRef<str> for PasswordHash {
    fn as_ref(&self) -> &str {
        self.0.expose_secret()
    }
}

/// `User` and `NewUser` compare whole (tests, mocks); a hash is not a
/// password, and comparing one reveals nothing a login could not.
impl PartialEq for PasswordHash {
    fn eq(&self, other: &Self) -> bool {
        self.as_ref() == other.as_ref()
    }
}

impl Eq for PasswordHash {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_characters_are_enough() {
        assert!(Password::parse("12345678").is_ok());
        assert_eq!(
            Password::parse("1234567").err(),
            Some(PasswordError::TooShort)
        );
    }

    #[test]
    fn length_is_counted_in_characters_for_the_minimum() {
        // Four characters, eight bytes: still too short.
        assert_eq!(Password::parse("éééé").err(), Some(PasswordError::TooShort));
    }

    #[test]
    fn exactly_72_bytes_is_accepted() {
        assert!(Password::parse("a".repeat(72)).is_ok());
    }

    #[test]
    fn a_password_over_72_bytes_is_rejected() {
        assert_eq!(
            Password::parse("a".repeat(73)).err(),
            Some(PasswordError::TooLong)
        );
        // 36 two-byte characters are 72 bytes; one more ASCII byte is 73.
        assert!(Password::parse("é".repeat(36)).is_ok());
        assert_eq!(
            Password::parse(format!("{}a", "é".repeat(36))).err(),
            Some(PasswordError::TooLong)
        );
    }

    #[test]
    fn a_nul_character_is_rejected() {
        assert_eq!(
            Password::parse("abc\0defgh").err(),
            Some(PasswordError::ContainsNul)
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
