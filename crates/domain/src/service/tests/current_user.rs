use super::*;

#[test]
fn a_valid_access_token_yields_its_user() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "agent47", None)));
    ports.user_exists(user("agent47", true));

    let found = ports.service().current_user("tok").unwrap();
    assert_eq!(found.username.as_ref(), "agent47");
}

#[test]
fn an_expired_or_foreign_access_token_cannot_authenticate() {
    for error in [TokenError::Expired, TokenError::Invalid] {
        let mut ports = Mocks::default();
        ports.token_decodes("tok", Err(error));
        let result = ports.service().current_user("tok");
        assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
    }
}

#[test]
fn a_token_of_a_deleted_user_cannot_authenticate() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "ghost", None)));
    ports.user_missing("ghost");

    let result = ports.service().current_user("tok");
    assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
}

#[test]
fn a_token_whose_subject_is_no_valid_username_cannot_authenticate() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "x", None)));
    // No store expectation: the service must not even look.

    let result = ports.service().current_user("tok");
    assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
}

#[test]
fn an_inactive_user_is_told_so() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "sleeper", None)));
    ports.user_exists(user("sleeper", false));

    let result = ports.service().current_user("tok");
    assert!(matches!(result, Err(AuthenticateError::InactiveUser)));
}

// `verify` checks a token alone, for other services.

#[test]
fn verify_checks_the_token_as_an_access_token_without_reading_the_store() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "agent47", None)));

    let verified = ports.service().verify("tok").unwrap();
    assert_eq!(verified.subject, "agent47");
}

#[test]
fn verify_refuses_what_the_token_service_refuses() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Err(TokenError::Expired));

    assert_eq!(ports.service().verify("tok"), Err(TokenError::Expired));
}
