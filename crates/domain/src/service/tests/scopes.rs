//! Granting at login and on refresh (docs/api.md §9): the requested scopes
//! the user holds, narrowing but never widening a session.
use super::*;

/// A login of agent47 granted `grants`, asking for `asked` (`None`: no
/// `scope` sent); answers the pair and checks that the session and the
/// access token got the same scopes.
fn granted_at_login(grants: &str, asked: Option<&str>) -> Scopes {
    let mut ports = Mocks::default();
    ports.no_failures();
    ports.password_is_right(user_granted("agent47", true, grants));
    let issued = Arc::new(std::sync::Mutex::new(None));
    let seen = Arc::clone(&issued);
    ports.tokens.expect_issue().returning(move |request| {
        if request.kind == TokenKind::Access {
            *seen.lock().unwrap() = Some(request.scopes.clone());
        }
        Ok(IssuedToken {
            token: format!("{:?}", request.kind),
            claims: Claims {
                subject: request.subject.to_string(),
                kind: request.kind,
                issued_at: NOW,
                expires_at: NOW + ACCESS_LIFETIME,
                id: format!("jti-{:?}", request.kind),
                family: Some("fam-1".into()),
                scopes: None,
            },
        })
    });
    let stored = Arc::new(std::sync::Mutex::new(None));
    let kept = Arc::clone(&stored);
    ports
        .sessions
        .expect_create()
        .returning(move |session, event| {
            assert_eq!(event.action, Action::LoginSucceeded);
            *kept.lock().unwrap() = Some(session.scopes.clone());
            Ok(true)
        });
    let request = match asked {
        Some(asked) => login_asking("agent47", "pw", asked),
        None => login("agent47", "pw"),
    };
    let pair = log_in(&ports.service(), request).unwrap();
    assert_eq!(issued.lock().unwrap().as_ref(), Some(&pair.scope));
    assert_eq!(stored.lock().unwrap().as_ref(), Some(&pair.scope));
    pair.scope
}

#[test]
fn a_login_grants_the_requested_scopes_the_user_holds() {
    assert_eq!(
        granted_at_login("items:read me", Some("items:read items:write")),
        scopes("items:read")
    );
}

#[test]
fn a_login_without_scope_grants_every_grant_but_admin() {
    assert_eq!(
        granted_at_login("admin items:read me", None),
        scopes("items:read me")
    );
}

#[test]
fn admin_is_granted_only_when_asked_for() {
    assert_eq!(
        granted_at_login("admin me", Some("admin me")),
        scopes("admin me")
    );
    // Asked for by a user who does not hold it: not granted, not an error.
    assert_eq!(granted_at_login("me", Some("admin")), Scopes::empty());
}

#[test]
fn an_unknown_scope_is_refused_before_anything_is_counted() {
    // No expectation on the failure counts, the users or the hasher: any
    // call would panic.
    let ports = Mocks::default();
    assert!(matches!(
        ports
            .service()
            .admit_login(login_asking("agent47", "pw", "me items:delete")),
        Err(LoginError::InvalidScope)
    ));
    assert!(matches!(
        Mocks::default()
            .service()
            .admit_login(login_asking("agent47", "pw", "Me")),
        Err(LoginError::InvalidScope)
    ));
}

/// [`refresh_of_fam_1`], with tokens signed as `tokens_are_issued` does.
fn refreshing(session: &'static str, grants: &str) -> Mocks {
    let mut ports = refresh_of_fam_1(session, grants);
    ports.tokens_are_issued();
    ports
}

fn rotations_succeed(ports: &mut Mocks, session: &'static str) {
    ports
        .sessions
        .expect_rotate()
        .times(1)
        .returning(move |_, _| Ok(RotationOutcome::Rotated(scopes(session))));
}

#[test]
fn a_refresh_grants_the_sessions_scopes_the_user_still_holds() {
    let mut ports = refreshing("items:read me", "items:read me");
    rotations_succeed(&mut ports, "items:read me");
    let pair = ports.service().refresh("rt", None, &origin()).unwrap();
    assert_eq!(pair.scope, scopes("items:read me"));
}

#[test]
fn a_withdrawn_grant_is_gone_at_the_next_refresh() {
    let mut ports = refreshing("items:read me", "me");
    rotations_succeed(&mut ports, "items:read me");
    let pair = ports.service().refresh("rt", None, &origin()).unwrap();
    assert_eq!(pair.scope, scopes("me"));
}

#[test]
fn a_refresh_may_narrow_the_session() {
    let mut ports = refreshing("items:read me", "items:read me");
    rotations_succeed(&mut ports, "items:read me");
    let pair = ports
        .service()
        .refresh("rt", Some("items:read"), &origin())
        .unwrap();
    assert_eq!(pair.scope, scopes("items:read"));
}

#[test]
fn widening_on_refresh_is_refused_and_nothing_rotates() {
    let mut ports = refreshing("me", "items:read me");
    ports.sessions.expect_rotate().times(0);
    ports.sessions.expect_revoke_family().times(0);
    assert!(matches!(
        ports
            .service()
            .refresh("rt", Some("me items:read"), &origin()),
        Err(RefreshError::InvalidScope)
    ));
}

#[test]
fn an_unknown_scope_on_refresh_is_refused_and_nothing_rotates() {
    let mut ports = refreshing("me", "me");
    ports.sessions.expect_rotate().times(0);
    assert!(matches!(
        ports.service().refresh("rt", Some("nope"), &origin()),
        Err(RefreshError::InvalidScope)
    ));
}

#[test]
fn a_blank_scope_at_login_is_no_scope() {
    // `scope=` of a form (the docs page sends it when nothing is ticked).
    for blank in ["", " ", ","] {
        assert_eq!(
            granted_at_login("admin items:read me", Some(blank)),
            scopes("items:read me"),
            "{blank:?}"
        );
    }
}

#[test]
fn a_blank_scope_on_refresh_is_no_scope() {
    let mut ports = Mocks::default();
    ports.token_decodes(
        "rt",
        Ok(claims(TokenKind::Refresh, "agent47", Some("fam-1"))),
    );
    ports.user_exists(user_granted("agent47", true, "items:read me"));
    ports.tokens_are_issued();
    // Not a narrowing to nothing: the session is not even read before
    // the rotation.
    ports.sessions.expect_scopes().times(0);
    rotations_succeed(&mut ports, "items:read me");
    let pair = ports.service().refresh("rt", Some(""), &origin()).unwrap();
    assert_eq!(pair.scope, scopes("items:read me"));
}

#[test]
fn a_refresh_issues_an_access_token_of_the_session_granting_what_it_answers() {
    let mut ports = Mocks::default();
    ports.token_decodes(
        "rt",
        Ok(claims(TokenKind::Refresh, "agent47", Some("fam-1"))),
    );
    ports.user_exists(user_granted("agent47", true, "items:read me"));
    ports
        .tokens
        .expect_issue()
        .withf(|request| request.kind == TokenKind::Refresh)
        .times(1)
        .returning(|request| {
            Ok(IssuedToken {
                token: "next-rt".into(),
                claims: Claims {
                    id: "jti-next".into(),
                    ..claims(TokenKind::Refresh, "agent47", request.family.as_deref())
                },
            })
        });
    ports
        .tokens
        .expect_issue()
        .withf(|request| {
            request.kind == TokenKind::Access
                && request.family.as_deref() == Some("fam-1")
                && request.scopes == scopes("me")
        })
        .times(1)
        .returning(|_| {
            Ok(IssuedToken {
                token: "next-at".into(),
                claims: access_claims("agent47", "me"),
            })
        });
    ports
        .sessions
        .expect_scopes()
        .returning(|_, _| Ok(Some(scopes("items:read me"))));
    rotations_succeed(&mut ports, "items:read me");
    let pair = ports
        .service()
        .refresh("rt", Some("me"), &origin())
        .unwrap();
    assert_eq!(pair.scope, scopes("me"));
    assert_eq!(pair.access_token.expose_secret(), "next-at");
    assert_eq!(pair.refresh_token.expose_secret(), "next-rt");
}

#[test]
fn a_demoted_superuser_loses_admin_at_the_next_refresh() {
    let mut ports = refreshing("admin me", "me");
    rotations_succeed(&mut ports, "admin me");
    let pair = ports.service().refresh("rt", None, &origin()).unwrap();
    assert_eq!(pair.scope, scopes("me"));
}

#[test]
fn narrowing_a_family_that_is_not_the_users_is_an_invalid_token() {
    let mut ports = Mocks::default();
    ports.token_decodes(
        "rt",
        Ok(claims(TokenKind::Refresh, "agent47", Some("fam-1"))),
    );
    ports.user_exists(user("agent47", true));
    ports
        .sessions
        .expect_scopes()
        .withf(|family, owner| family == "fam-1" && *owner == 7)
        .returning(|_, _| Ok(None));
    ports.sessions.expect_rotate().times(0);
    assert!(matches!(
        ports.service().refresh("rt", Some("me"), &origin()),
        Err(RefreshError::InvalidToken)
    ));
}

#[test]
fn a_replayed_token_asking_to_narrow_still_revokes_its_family() {
    let mut ports = refreshing("items:read me", "items:read me");
    ports
        .sessions
        .expect_rotate()
        .times(1)
        .returning(|_, _| Ok(RotationOutcome::Refused));
    ports.family_is_revoked("fam-1", Action::TokenReuseDetected);
    assert!(matches!(
        ports.service().refresh("rt", Some("me"), &origin()),
        Err(RefreshError::InvalidToken)
    ));
}
