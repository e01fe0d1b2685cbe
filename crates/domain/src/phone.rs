use std::fmt;

/// A phone number in E.164 form: `+` then 8 to 15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Phone must be in E.164 form: + and 8 to 15 digits.")]
pub struct PhoneError;

impl Phone {
    /// A value read back from the store, which checked it when it was
    /// written (perhaps under older rules): not checked again, so that a
    /// rule tightened later never makes a stored user unreadable.
    #[must_use]
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// # Errors
    /// [`PhoneError`] for anything but `+` and 8–15 ASCII digits.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let digits = raw.strip_prefix('+').ok_or(PhoneError)?;
        if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(PhoneError)
        }
    }
}

impl AsRef<str> for Phone {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_are_accepted() {
        assert_eq!(
            Phone::parse("+44123456789").unwrap().as_ref(),
            "+44123456789"
        );
        assert!(Phone::parse("+12345678").is_ok());
        assert!(Phone::parse("+123456789012345").is_ok());
    }

    #[test]
    fn anything_else_is_refused() {
        for raw in [
            "44123456789",
            "+1234567",
            "+1234567890123456",
            "+44 1234 56789",
            "+44-123456789",
            "+٤٤١٢٣٤٥٦٧٨٩",
            "",
            "+",
        ] {
            assert_eq!(Phone::parse(raw), Err(PhoneError), "{raw}");
        }
    }
}
