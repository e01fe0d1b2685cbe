//! The validating newtypes never panic, and what they accept keeps their
//! invariants.
#![no_main]

use domain::{Email, FullName, Password, Phone, Scopes, Username};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    if let Ok(scopes) = Scopes::parse(raw) {
        // The text form reads back as the same set, in canonical order.
        let text = scopes.to_string();
        assert_eq!(Scopes::parse(&text), Ok(scopes));
        assert!(text.bytes().all(|b| b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || b"_.:- ".contains(&b)));
    }
    if let Ok(username) = Username::parse(raw) {
        let name = username.as_ref();
        assert!((3..=64).contains(&name.len()));
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b))
        );
    }
    if let Ok(password) = Password::parse(raw) {
        assert!(password.expose().len() <= 72);
        assert!(password.expose().chars().count() >= 8);
        assert!(!password.expose().contains('\0'));
    }
    if let Some(candidate) = Password::candidate(raw) {
        assert!(candidate.expose().len() <= 72);
    }
    if let Ok(email) = Email::parse(raw) {
        assert_eq!(email.as_ref(), email.as_ref().to_lowercase());
        assert_eq!(email.as_ref().matches('@').count(), 1);
    }
    if let Ok(name) = FullName::parse(raw) {
        assert!(name.as_ref().chars().count() <= FullName::MAX_CHARS);
        assert!(!name.as_ref().contains(['\0', '\u{202E}', '\u{200B}']));
    }
    if let Ok(phone) = Phone::parse(raw) {
        assert!(phone.as_ref().starts_with('+'));
    }
});
