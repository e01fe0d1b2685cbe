use super::*;

fn rotation_to_next(family: &'static str) -> impl Fn(&Rotation, &NewEvent) -> bool {
    move |rotation, event| {
        event.action == Action::TokenRefreshed
            && *rotation
                == Rotation {
                    family: family.into(),
                    user_id: 7,
                    current_token_id: "jti".into(),
                    next_token_id: "jti-Refresh".into(),
                    expires_at: NOW + ACCESS_LIFETIME,
                    now: NOW,
                    device: device(),
                }
    }
}

#[test]
fn a_refresh_rotates_the_session_to_the_new_token() {
    let mut ports = Mocks::default();
    ports.token_decodes(
        "rt",
        Ok(claims(TokenKind::Refresh, "agent47", Some("fam-1"))),
    );
    ports.user_exists(user("agent47", true));
    ports.tokens_are_issued();
    ports
        .sessions
        .expect_rotate()
        .withf(rotation_to_next("fam-1"))
        .times(1)
        .returning(|_, _| Ok(Some(scopes("me"))));

    let pair = ports.service().refresh("rt", None, &origin()).unwrap();
    assert_eq!(
        pair.access_token.expose_secret(),
        "Access-for-agent47-in-fam-1"
    );
    assert_eq!(
        pair.refresh_token.expose_secret(),
        "Refresh-for-agent47-in-fam-1"
    );
}

#[test]
fn a_replayed_refresh_token_revokes_its_whole_family() {
    let mut ports = Mocks::default();
    ports.token_decodes(
        "old",
        Ok(claims(TokenKind::Refresh, "agent47", Some("fam-1"))),
    );
    ports.user_exists(user("agent47", true));
    ports.tokens_are_issued();
    ports.sessions.expect_rotate().returning(|_, _| Ok(None));
    ports.family_is_revoked("fam-1", Action::TokenReuseDetected);

    assert!(matches!(
        ports.service().refresh("old", None, &origin()),
        Err(RefreshError::InvalidToken)
    ));
}

#[test]
fn a_refresh_token_without_a_family_is_invalid() {
    let mut ports = Mocks::default();
    ports.token_decodes("rt", Ok(claims(TokenKind::Refresh, "agent47", None)));

    assert!(matches!(
        ports.service().refresh("rt", None, &origin()),
        Err(RefreshError::InvalidToken)
    ));
}

#[test]
fn an_access_token_cannot_refresh() {
    let mut ports = Mocks::default();
    // The service asks for a refresh token; an access token decodes as invalid.
    ports
        .tokens
        .expect_decode()
        .withf(|_, kind, _| *kind == TokenKind::Refresh)
        .returning(|_, _, _| Err(TokenError::Invalid));

    let result = ports.service().refresh("access-token", None, &origin());
    assert!(matches!(result, Err(RefreshError::InvalidToken)));
}

#[test]
fn an_expired_refresh_token_cannot_refresh() {
    let mut ports = Mocks::default();
    ports
        .tokens
        .expect_decode()
        .returning(|_, _, _| Err(TokenError::Expired));

    assert!(matches!(
        ports.service().refresh("rt", None, &origin()),
        Err(RefreshError::InvalidToken)
    ));
}

#[test]
fn a_refresh_token_of_a_deleted_user_cannot_refresh() {
    let mut ports = Mocks::default();
    ports.token_decodes("rt", Ok(claims(TokenKind::Refresh, "ghost", Some("f"))));
    ports.user_missing("ghost");

    assert!(matches!(
        ports.service().refresh("rt", None, &origin()),
        Err(RefreshError::InvalidToken)
    ));
}

#[test]
fn an_inactive_user_can_refresh() {
    let mut ports = Mocks::default();
    ports.token_decodes("rt", Ok(claims(TokenKind::Refresh, "sleeper", Some("f"))));
    ports.user_exists(user("sleeper", false));
    ports.tokens_are_issued();
    ports
        .sessions
        .expect_rotate()
        .returning(|_, _| Ok(Some(scopes("me"))));

    assert!(ports.service().refresh("rt", None, &origin()).is_ok());
}
