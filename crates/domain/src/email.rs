use std::fmt;

/// An email address, lower-cased so that uniqueness ignores case: one `@`,
/// a non-empty local part, and a domain of at least two dot-separated
/// labels. Deliberately simple: the only sure test of an address is mail.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Email must look like name@example.com.")]
pub struct EmailError;

impl Email {
    pub const MAX_LEN: usize = 254;

    /// # Errors
    /// [`EmailError`] for anything but `local@domain.tld` without spaces.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = raw.trim().to_lowercase();
        let (local, domain) = email.split_once('@').ok_or(EmailError)?;
        let labels: Vec<&str> = domain.split('.').collect();
        let is_valid = email.len() <= Self::MAX_LEN
            && !local.is_empty()
            && !domain.contains('@')
            && labels.len() >= 2
            && labels
                .iter()
                .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if is_valid {
            Ok(Self(email))
        } else {
            Err(EmailError)
        }
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_stored_lower_cased() {
        assert_eq!(
            Email::parse("John.Doe@Example.COM").unwrap().as_ref(),
            "john.doe@example.com"
        );
    }

    #[test]
    fn plausible_addresses_are_accepted() {
        for raw in [
            "a@b.co",
            "first.last+tag@mail.example.org",
            "x@sub-domain.example.io",
        ] {
            assert!(Email::parse(raw).is_ok(), "{raw}");
        }
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for raw in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a@b@c.com",
            "a b@c.com",
            "a@b..com",
            "a@.b.com",
            "a@b.com.",
            "a@-b.com",
        ] {
            assert_eq!(Email::parse(raw), Err(EmailError), "{raw}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }
}
