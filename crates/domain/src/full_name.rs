use std::fmt;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// A person's name as they write it, in any script (docs/api.md §8): at most
/// [`FullName::MAX_CHARS`] characters, with no control character and no
/// character that is invisible or reorders the text around it
/// (bidirectional controls such as U+202E), so a name cannot pass itself
/// off as another when displayed. The zero-width joiner and non-joiner
/// (U+200D, U+200C) are kept: Indic and Persian names, and emoji, need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Full name must be at most 256 characters, without control, invisible or bidirectional-control characters."
)]
pub struct FullNameError;

impl FullName {
    pub const MAX_CHARS: usize = 256;

    /// A value read back from the store, which checked it when it was
    /// written (perhaps under older rules): not checked again, so that a
    /// rule tightened later never makes a stored user unreadable.
    #[must_use]
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// # Errors
    /// [`FullNameError`] when too long or holding a refused character.
    pub fn parse(raw: &str) -> Result<Self, FullNameError> {
        if raw.chars().count() > Self::MAX_CHARS || raw.chars().any(is_refused) {
            Err(FullNameError)
        } else {
            Ok(Self(raw.to_owned()))
        }
    }
}

/// Controls (Cc), line and paragraph separators (Zl, Zp), and format
/// characters (Cf, which holds every bidirectional control, zero-width
/// space, soft hyphen and BOM) but the two joiners.
fn is_refused(c: char) -> bool {
    match c.general_category() {
        GeneralCategory::Control
        | GeneralCategory::LineSeparator
        | GeneralCategory::ParagraphSeparator => true,
        GeneralCategory::Format => !matches!(c, '\u{200C}' | '\u{200D}'),
        _ => false,
    }
}

impl AsRef<str> for FullName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<FullName> for String {
    fn from(name: FullName) -> Self {
        name.0
    }
}

impl fmt::Display for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_any_script_are_kept_as_written() {
        for raw in [
            "Agent 47",
            "José Ñúñez-O'Brien",
            "Zoë  van der Berg",
            "محمد علی",
            "王小明",
            "क्\u{200D}ष",       // Devanagari with a zero-width joiner
            "می\u{200C}خواهم",  // Persian with a zero-width non-joiner
            "👩\u{200D}💻 Ada", // an emoji sequence joined by ZWJ
            "",
        ] {
            assert_eq!(FullName::parse(raw).unwrap().as_ref(), raw, "{raw:?}");
        }
    }

    #[test]
    fn bidirectional_controls_are_refused() {
        for control in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            let raw = format!("Agent{control} 47");
            assert_eq!(FullName::parse(&raw), Err(FullNameError), "{raw:?}");
        }
    }

    #[test]
    fn other_invisible_characters_and_controls_are_refused() {
        for raw in [
            "Ag\u{200B}ent",   // zero-width space
            "Ag\u{AD}ent",     // soft hyphen
            "\u{FEFF}Agent",   // byte order mark
            "Ag\u{2060}ent",   // word joiner
            "Agent\u{2028}47", // line separator
            "Agent\n47",
            "Agent\u{0}47",
            "Agent\u{7F}",
        ] {
            assert_eq!(FullName::parse(raw), Err(FullNameError), "{raw:?}");
        }
    }

    #[test]
    fn a_name_may_have_256_characters_but_not_257() {
        assert!(FullName::parse(&"é".repeat(256)).is_ok());
        assert_eq!(FullName::parse(&"é".repeat(257)), Err(FullNameError));
    }
}
