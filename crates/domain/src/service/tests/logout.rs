use super::*;

#[test]
fn logout_revokes_the_family_of_the_token_even_once_expired() {
    let mut ports = Mocks::default();
    // Decoded at time 0: expiry does not stop a logout.
    ports
        .tokens
        .expect_decode()
        .withf(|token, kind, now| token == "rt" && *kind == TokenKind::Refresh && *now == 0)
        .returning(|_, _, _| Ok(claims(TokenKind::Refresh, "agent47", Some("fam-1"))));
    ports.user_exists(user("agent47", true));
    // Only as the subject's own: a family of another user is left alone.
    ports.family_is_revoked("fam-1", Action::SessionLogout);

    assert!(ports.service().logout("rt", &origin()).is_ok());
}

#[test]
fn logout_with_a_token_of_a_deleted_user_touches_nothing() {
    let mut ports = Mocks::default();
    ports
        .tokens
        .expect_decode()
        .returning(|_, _, _| Ok(claims(TokenKind::Refresh, "ghost", Some("fam-1"))));
    ports.user_missing("ghost");
    // No session expectation: revoking anything would fail the test.

    assert!(ports.service().logout("rt", &origin()).is_ok());
}

#[test]
fn logout_with_anything_else_succeeds_and_touches_nothing() {
    let mut ports = Mocks::default();
    ports
        .tokens
        .expect_decode()
        .returning(|_, _, _| Err(TokenError::Invalid));
    // No session expectation: revoking anything would fail the test.

    assert!(ports.service().logout("garbage", &origin()).is_ok());
}

#[test]
fn logout_everywhere_revokes_every_session_of_the_user() {
    let mut ports = Mocks::default();
    ports
        .sessions
        .expect_revoke_all_for_user()
        .withf(|id, event| {
            *id == 7
                && event.action == Action::SessionLogoutAll
                && event.subject.as_ref().map(AsRef::as_ref) == Some("agent47")
        })
        .times(1)
        .returning(|_, _| Ok(()));

    assert!(
        ports
            .service()
            .logout_all(&user("agent47", true), &origin())
            .is_ok()
    );
}
