use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// An email address in one normal form, so that two stored addresses never
/// display alike (docs/api.md §8): NFKC (fullwidth letters and ligatures fold to
/// their plain forms), trimmed and lower-cased, so uniqueness ignores case.
/// One `@`, a non-empty local part, and a domain of at least two
/// dot-separated labels. Deliberately simple: the only sure test of an
/// address is mail.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Email must look like name@example.com.")]
pub struct EmailError;

impl Email {
    pub const MAX_LEN: usize = 254;

    /// A value read back from the store, which checked it when it was
    /// written (perhaps under older rules): not checked again, so that a
    /// rule tightened later never makes a stored user unreadable.
    #[must_use]
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// # Errors
    /// [`EmailError`] for anything but `local@domain.tld` without spaces,
    /// and for any invisible, bidirectional-control or control character.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        // Before NFKC, which keeps most of these (zero-width space, soft
        // hyphen, BOM) and turns the other separators into plain spaces.
        if raw.chars().any(is_hidden) {
            return Err(EmailError);
        }
        let email = raw.nfkc().collect::<String>().trim().to_lowercase();
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

/// Characters that display as nothing, or as a space other than the plain
/// one, or reorder text: format characters (Cf: zero-width space and
/// joiners, soft hyphen, BOM, bidirectional controls), separators but
/// U+0020 (Zs, Zl, Zp) and controls (Cc).
fn is_hidden(c: char) -> bool {
    match c.general_category() {
        GeneralCategory::Format
        | GeneralCategory::LineSeparator
        | GeneralCategory::ParagraphSeparator
        | GeneralCategory::Control => true,
        GeneralCategory::SpaceSeparator => c != ' ',
        _ => false,
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
    fn invisible_and_bidirectional_characters_are_refused() {
        for raw in [
            "ali\u{200B}ce@example.com", // zero-width space
            "ali\u{AD}ce@example.com",   // soft hyphen
            "\u{FEFF}alice@example.com", // byte order mark
            "alice@\u{202E}moc.elpmaxe", // right-to-left override
            "ali\u{200D}ce@example.com", // zero-width joiner
            "ali\u{2060}ce@example.com", // word joiner
            "alice@exam\u{A0}ple.com",   // no-break space
            "alice\u{3000}@example.com", // ideographic space
            "alice@example.com\u{2028}", // line separator
            "alice@example.com\u{2029}", // paragraph separator
            "alice@example.com\n",       // a control, even where trimming would drop it
            "alice\u{0}@example.com",
        ] {
            assert_eq!(Email::parse(raw), Err(EmailError), "{raw:?}");
        }
    }

    #[test]
    fn compatibility_forms_are_stored_in_their_normal_form() {
        // NFKC, then lower case: look-alikes become the one address.
        for (raw, stored) in [
            ("\u{FF41}lice@example.com", "alice@example.com"), // fullwidth a
            ("\u{FF21}LICE@EXAMPLE.COM", "alice@example.com"), // fullwidth A
            ("\u{FB01}nn@example.com", "finn@example.com"),    // ligature fi
            ("alice\u{FF20}example.com", "alice@example.com"), // fullwidth @
            ("  alice@example.com ", "alice@example.com"),
        ] {
            assert_eq!(Email::parse(raw).unwrap().as_ref(), stored, "{raw:?}");
        }
        assert_eq!(
            Email::parse("\u{FF41}lice@example.com"),
            Email::parse("alice@example.com")
        );
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
