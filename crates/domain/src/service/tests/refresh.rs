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
                    grace: None,
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
        .returning(|_, _| Ok(RotationOutcome::Rotated(scopes("me"))));

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
    ports
        .sessions
        .expect_rotate()
        .returning(|_, _| Ok(RotationOutcome::Refused));
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
        .returning(|_, _| Ok(RotationOutcome::Rotated(scopes("me"))));

    assert!(ports.service().refresh("rt", None, &origin()).is_ok());
}

/// A refresh of `rt` (family `fam-1`, session granted `me items:read`) by
/// agent47, granted `me` now, under a grace of `GRACE` seconds.
const GRACE: u64 = 10;

fn refreshing_under_grace() -> Mocks {
    refresh_of_fam_1("me items:read", "me")
}

#[test]
fn under_a_grace_a_rotation_stores_the_access_token_it_issues() {
    let mut ports = refreshing_under_grace();
    ports.tokens_are_issued();
    ports
        .sessions
        .expect_rotate()
        .withf(|rotation, event| {
            event.action == Action::TokenRefreshed
                && rotation.next_token_id == "jti-Refresh"
                && rotation.grace
                    == Some(ReuseGrace {
                        // The access token the pair carries, granted what
                        // the session and the user's grants both hold.
                        access: AccessGrant {
                            token_id: "jti-Access".into(),
                            scopes: scopes("me"),
                        },
                        rotated_after: NOW - GRACE,
                    })
        })
        .times(1)
        .returning(|_, _| Ok(RotationOutcome::Rotated(scopes("me items:read"))));

    let pair = ports
        .service_with_grace(GRACE)
        .refresh("rt", None, &origin())
        .unwrap();

    assert_eq!(
        pair.access_token.expose_secret(),
        "Access-for-agent47-in-fam-1"
    );
    assert_eq!(pair.scope, scopes("me"));
}

#[test]
fn a_replay_within_the_grace_signs_the_stored_pair_again_and_revokes_nothing() {
    let mut ports = refreshing_under_grace();
    // The request's own tokens, then the stored pair under its ids and
    // time: nothing else is signed.
    let signed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = signed.clone();
    ports.tokens.expect_issue().returning(move |request| {
        record.lock().unwrap().push(request.clone());
        Ok(IssuedToken {
            token: format!(
                "{:?}-{}-at-{}",
                request.kind,
                request.id.clone().unwrap_or("fresh".into()),
                request.now
            ),
            claims: Claims {
                subject: request.subject.to_string(),
                kind: request.kind,
                issued_at: request.now,
                expires_at: request.now + ACCESS_LIFETIME,
                id: request.id.clone().unwrap_or("fresh".into()),
                family: request.family.clone(),
                scopes: (request.kind == TokenKind::Access).then(|| request.scopes.clone()),
            },
        })
    });
    ports.sessions.expect_rotate().times(1).returning(|_, _| {
        Ok(RotationOutcome::Replayed(IssuedPair {
            refresh_token_id: "rt-2".into(),
            access: AccessGrant {
                token_id: "at-2".into(),
                scopes: scopes("me items:read"),
            },
            issued_at: NOW - 3,
        }))
    });
    ports.sessions.expect_revoke_family().times(0);

    let pair = ports
        .service_with_grace(GRACE)
        .refresh("rt", None, &origin())
        .unwrap();

    assert_eq!(
        pair.refresh_token.expose_secret(),
        "Refresh-rt-2-at-1699999997"
    );
    assert_eq!(
        pair.access_token.expose_secret(),
        "Access-at-2-at-1699999997"
    );
    // As stored, not as the user's grants are now.
    assert_eq!(pair.scope, scopes("me items:read"));
    // What is left of the access token's lifetime.
    assert_eq!(pair.expires_in, ACCESS_LIFETIME - 3);
    let resigned: Vec<_> = signed.lock().unwrap()[2..].to_vec();
    assert_eq!(
        resigned,
        [
            TokenRequest {
                kind: TokenKind::Refresh,
                subject: Username::parse("agent47").unwrap(),
                family: Some("fam-1".into()),
                scopes: Scopes::empty(),
                now: NOW - 3,
                id: Some("rt-2".into()),
            },
            TokenRequest {
                kind: TokenKind::Access,
                subject: Username::parse("agent47").unwrap(),
                family: Some("fam-1".into()),
                scopes: scopes("me items:read"),
                now: NOW - 3,
                id: Some("at-2".into()),
            },
        ]
    );
}

#[test]
fn under_a_grace_a_replay_it_does_not_cover_still_revokes_the_family() {
    let mut ports = refreshing_under_grace();
    ports.tokens_are_issued();
    ports
        .sessions
        .expect_rotate()
        .returning(|_, _| Ok(RotationOutcome::Refused));
    ports.family_is_revoked("fam-1", Action::TokenReuseDetected);

    assert!(matches!(
        ports
            .service_with_grace(GRACE)
            .refresh("rt", None, &origin()),
        Err(RefreshError::InvalidToken)
    ));
}
