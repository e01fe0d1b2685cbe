use std::fmt;

/// A username that satisfies the registration policy: 3 to 64 ASCII
/// characters from `[A-Za-z0-9_.@-]`. Compared exactly (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("Username must be between 3 and 64 characters long.")]
    Length,
    #[error("Username may only contain letters, digits and the characters _ . @ -")]
    Characters,
}

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 64;

    /// # Errors
    /// [`UsernameError`] naming the first rule the input breaks.
    pub fn parse(raw: impl Into<String>) -> Result<Self, UsernameError> {
        let raw = raw.into();
        if !raw.chars().all(is_allowed) {
            return Err(UsernameError::Characters);
        }
        // Every allowed character is one ASCII byte, so bytes are characters.
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&raw.len()) {
            return Err(UsernameError::Length);
        }
        Ok(Self(raw))
    }
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-')
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_username_is_accepted_unchanged() {
        let name = Username::parse("Agent_47.x@y-z").unwrap();
        assert_eq!(name.as_ref(), "Agent_47.x@y-z");
    }

    #[test]
    fn the_length_bounds_are_inclusive() {
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse("a".repeat(64)).is_ok());
        assert_eq!(Username::parse("ab"), Err(UsernameError::Length));
        assert_eq!(Username::parse("a".repeat(65)), Err(UsernameError::Length));
        assert_eq!(Username::parse(""), Err(UsernameError::Length));
    }

    #[test]
    fn spaces_and_non_ascii_letters_are_refused() {
        assert_eq!(Username::parse("agent 47"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("agënt47"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("agent\0"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("agent/47"), Err(UsernameError::Characters));
    }

    #[test]
    fn usernames_are_case_sensitive() {
        assert_ne!(
            Username::parse("Agent").unwrap(),
            Username::parse("agent").unwrap()
        );
    }
}
