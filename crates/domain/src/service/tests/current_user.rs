use super::*;

/// What the HTTP adapter does for a route needing `me`: authorize the
/// token, then find its user.
fn me(service: &AuthService, token: &str) -> Result<User, AuthenticateError> {
    let credential = service.credential(token, &scopes("me"))?;
    service.current_user(&credential)
}

#[test]
fn a_valid_access_token_yields_its_user() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(access_claims("agent47", "me")));
    ports.user_exists(user("agent47", true));

    let found = me(&ports.service(), "tok").unwrap();
    assert_eq!(found.username.as_ref(), "agent47");
}

#[test]
fn an_expired_or_foreign_access_token_cannot_authenticate() {
    for error in [TokenError::Expired, TokenError::Invalid] {
        let mut ports = Mocks::default();
        ports.token_decodes("tok", Err(error));
        let result = me(&ports.service(), "tok");
        assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
    }
}

#[test]
fn a_token_of_a_deleted_user_cannot_authenticate() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(access_claims("ghost", "me")));
    ports.user_missing("ghost");

    let result = me(&ports.service(), "tok");
    assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
}

#[test]
fn a_token_whose_subject_is_no_valid_username_cannot_authenticate() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(access_claims("x", "me")));
    // No store expectation: the service must not even look.

    let result = me(&ports.service(), "tok");
    assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
}

#[test]
fn an_inactive_user_is_told_so() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(access_claims("sleeper", "me")));
    ports.user_exists(user("sleeper", false));

    let result = me(&ports.service(), "tok");
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
