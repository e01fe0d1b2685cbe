//! The one rule for text that crosses the boundary into the service
//! (docs/api.md §8): request fields, query parameters, headers and token claims
//! alike. Rust strings are valid UTF-8 already (decoders refuse invalid
//! UTF-8 and lone surrogates before a `String` exists); what is left is the
//! NUL character, which Postgres cannot store in `TEXT` and which C
//! interfaces read as the end of a string.

/// Whether `text` may be compared with, or written to, stored data.
#[must_use]
pub fn is_storable(text: &str) -> bool {
    !text.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_nul_character_is_refused() {
        assert!(is_storable(""));
        assert!(is_storable("agent47 é ✓ \u{1}"));
        assert!(!is_storable("agent\u{0}47"));
        assert!(!is_storable("\u{0}"));
    }
}
