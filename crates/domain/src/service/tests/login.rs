use super::*;

#[test]
fn the_right_password_gets_a_token_pair_and_starts_a_session() {
    let mut ports = Mocks::default();
    ports.no_failures();
    ports.hashes_are_current();
    ports.user_exists(user("agent47", true));
    ports
        .hasher
        .expect_verify()
        .withf(|p, h| p.expose() == "correct horse" && h.as_ref() == "hash-of-agent47")
        .times(1)
        .returning(|_, _| Ok(true));
    ports.tokens_are_issued();
    ports
        .sessions
        .expect_create()
        .withf(|session, _| {
            *session
                == NewSession {
                    family: "new".into(),
                    user_id: 7,
                    credential_version: VERSION,
                    current_token_id: "jti-Refresh".into(),
                    created_at: NOW,
                    expires_at: NOW + ACCESS_LIFETIME,
                    scopes: scopes("me"),
                    device: device(),
                }
        })
        .times(1)
        .returning(|_, _| Ok(true));

    let pair = log_in(&ports.service(), login("agent47", "correct horse")).unwrap();
    // The access token names its session (`sid`).
    assert_eq!(
        pair.access_token.expose_secret(),
        "Access-for-agent47-in-new"
    );
    assert_eq!(
        pair.refresh_token.expose_secret(),
        "Refresh-for-agent47-in-new"
    );
    assert_eq!(pair.expires_in, ACCESS_LIFETIME);
}

#[test]
fn the_place_is_reserved_before_the_password_is_checked() {
    let mut ports = Mocks::default();
    let mut order = mockall::Sequence::new();
    ports
        .failures
        .expect_reserve()
        .withf(|attempt| *attempt == expected_attempt("agent47"))
        .times(1)
        .in_sequence(&mut order)
        .returning(|_| Ok(Reservation::Admitted(Places(PLACES.to_vec()))));
    ports
        .users
        .expect_find_by_username()
        .times(1)
        .in_sequence(&mut order)
        .returning(|_| Ok(Some(user("agent47", true))));
    ports
        .hasher
        .expect_verify()
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _| Ok(false));
    ports.hashes_are_current();
    ports.events_are_recorded();

    let result = log_in(&ports.service(), login("agent47", "wrong password"));
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn a_successful_login_gives_back_its_places_and_clears_the_usernames_count() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    ports.places_are_given_back();
    ports
        .failures
        .expect_clear()
        .withf(|key| key == "user:agent47")
        .times(1)
        .returning(|_| Ok(()));
    ports.login_succeeds(user("agent47", true));

    assert!(log_in(&ports.service(), login("agent47", "correct horse")).is_ok());
}

#[test]
fn a_wrong_password_keeps_its_places_as_failures() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    // No release, no clear: the places taken are the failure's record.
    ports.password_is_wrong(user("agent47", true));
    ports.events_are_recorded();

    let result = log_in(&ports.service(), login("agent47", "wrong password"));
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn an_unknown_user_still_costs_one_hash_check_against_the_dummy_hash() {
    let mut ports = Mocks::default();
    ports.no_failures();
    ports.user_missing("nobody");
    ports
        .hasher
        .expect_verify()
        .withf(|p, h| p.expose() == "some password" && h.as_ref() == DUMMY_HASH)
        .times(1)
        .returning(|_, _| Ok(true));
    ports.events_are_recorded();

    let result = log_in(&ports.service(), login("nobody", "some password"));
    // Even a dummy "match" must not log anyone in.
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn the_hasher_runs_once_on_every_failing_path() {
    // Wrong password, unknown user, impossible name, impossible password:
    // each costs exactly one verify, so none answers faster than another.
    for (name, password) in [
        ("agent47", "wrong password"),
        ("nobody", "some password"),
        ("no spaces allowed", "some password"),
        ("agent47", &"a".repeat(73)[..]),
    ] {
        let mut ports = Mocks::default();
        ports.no_failures();
        ports.hashes_are_current();
        ports
            .users
            .expect_find_by_username()
            .returning(|name| Ok((name.as_ref() == "agent47").then(|| user("agent47", true))));
        ports
            .hasher
            .expect_verify()
            .times(1)
            .returning(|_, _| Ok(false));
        ports.events_are_recorded();

        let result = log_in(&ports.service(), login(name, password));
        assert!(
            matches!(result, Err(LoginError::InvalidCredentials)),
            "{name}"
        );
    }
}

#[test]
fn a_wrong_password_against_a_cheaper_hash_also_spends_the_configured_cost() {
    let mut ports = Mocks::default();
    ports.no_failures();
    ports.user_exists(user("agent47", true));
    ports
        .hasher
        .expect_strength()
        .return_const(HashStrength::Weaker);
    let mut order = mockall::Sequence::new();
    ports
        .hasher
        .expect_verify()
        .withf(|_, h| h.as_ref() == "hash-of-agent47")
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _| Ok(false));
    ports
        .hasher
        .expect_verify()
        .withf(|_, h| h.as_ref() == DUMMY_HASH)
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _| Ok(false));
    ports.events_are_recorded();

    let result = log_in(&ports.service(), login("agent47", "wrong password"));
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn a_successful_login_rehashes_a_hash_of_another_cost_before_its_session() {
    for strength in [HashStrength::Weaker, HashStrength::Stronger] {
        let mut ports = Mocks::default();
        ports.no_failures();
        ports.user_exists(user("agent47", true));
        ports.hasher.expect_strength().return_const(strength);
        ports
            .hasher
            .expect_verify()
            .times(1)
            .returning(|_, _| Ok(true));
        ports
            .hasher
            .expect_hash()
            .withf(|p| p.expose() == "correct horse")
            .times(1)
            .returning(|_| Ok(PasswordHash::new("rehashed")));
        let mut order = mockall::Sequence::new();
        ports
            .users
            .expect_rehash_password()
            .withf(|id, version, hash| {
                *id == 7 && *version == VERSION && hash.as_ref() == "rehashed"
            })
            .times(1)
            .in_sequence(&mut order)
            .returning(|_, _, _| Ok(true));
        ports.tokens_are_issued();
        ports
            .sessions
            .expect_create()
            .withf(|session, _| session.credential_version == VERSION)
            .times(1)
            .in_sequence(&mut order)
            .returning(|_, _| Ok(true));

        let result = log_in(&ports.service(), login("agent47", "correct horse"));
        assert!(result.is_ok(), "{strength:?}");
    }
}

#[test]
fn a_login_whose_credential_changed_meanwhile_starts_no_session() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    // No release or clear: the password checked is no longer the user's,
    // so the attempt stays a failure.
    ports.password_is_right(user("agent47", true));
    ports.tokens_are_issued();
    ports.sessions.expect_create().returning(|_, _| Ok(false));
    ports.event_is_recorded(Action::LoginFailed, "agent47");

    let result = log_in(&ports.service(), login("agent47", "correct horse"));
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn a_username_that_could_never_register_is_refused_after_a_hash_check() {
    let mut ports = Mocks::default();
    ports.no_failures();
    ports.only_the_dummy_hash_is_checked(false);
    ports.events_are_recorded();

    let result = log_in(
        &ports.service(),
        login("no spaces allowed", "some password"),
    );
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn a_username_with_a_nul_never_reaches_the_store() {
    // No expectation on any port: the failure counts are keyed by the
    // name, and a NUL cannot be stored.
    let result = log_in(
        &Mocks::default().service(),
        login("agent\u{0}47", "some password"),
    );
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn a_password_over_72_bytes_never_matches_even_if_its_prefix_would() {
    let mut ports = Mocks::default();
    ports.no_failures();
    ports.user_exists(user("agent47", true));
    // bcrypt would accept the first 72 bytes; the service must not ask it
    // about the user's hash at all, only spend the dummy check.
    ports.only_the_dummy_hash_is_checked(true);
    ports.events_are_recorded();

    let result = log_in(&ports.service(), login("agent47", &"a".repeat(73)));
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn a_refused_reservation_is_too_many_attempts_before_any_check() {
    let mut ports = Mocks::default();
    ports.attempts_are_refused(300);
    ports.events_are_recorded();
    // No user lookup, no hasher: even the right password is not checked.

    let result = log_in(&ports.service(), login("agent47", "correct horse"));
    match result {
        Err(LoginError::TooManyAttempts { retry_after_secs }) => assert_eq!(retry_after_secs, 300),
        other => panic!("expected a lock, got {other:?}"),
    }
}

#[test]
fn without_a_client_address_only_the_username_is_counted() {
    let mut ports = Mocks::default();
    ports
        .failures
        .expect_reserve()
        .withf(|attempt| {
            attempt.limits
                == [AttemptLimit {
                    key: "user:agent47".into(),
                    max: LIMITS.max_failures,
                }]
        })
        .times(1)
        .returning(|_| Ok(Reservation::Admitted(Places(vec![1]))));
    ports.password_is_wrong(user("agent47", true));
    ports.events_are_recorded();
    let request = LoginRequest {
        origin: Origin::default(),
        ..login("agent47", "wrong password")
    };

    assert!(log_in(&ports.service(), request).is_err());
}

#[test]
fn an_inactive_user_can_log_in() {
    let mut ports = Mocks::default();
    ports.no_failures();
    ports.login_succeeds(user("sleeper", false));

    assert!(log_in(&ports.service(), login("sleeper", "correct horse")).is_ok());
}

#[test]
fn a_store_failure_during_login_gives_the_places_back_and_is_not_bad_credentials() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    ports.places_are_given_back();
    ports
        .users
        .expect_find_by_username()
        .returning(|_| Err(store_down()));

    let result = log_in(&ports.service(), login("agent47", "correct horse"));
    assert!(matches!(result, Err(LoginError::Infra(_))));
}

#[test]
fn an_attempt_that_never_ran_gives_its_places_back() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    ports.places_are_given_back();
    // No user lookup, no hasher: the check never ran.
    let service = ports.service();

    let attempt = service
        .admit_login(login("agent47", "correct horse"))
        .unwrap();
    service.abandon(attempt.places()).unwrap();
}

#[test]
fn login_requests_and_token_pairs_never_show_their_secrets() {
    let shown = format!("{:?}", login("agent47", "correct horse"));
    assert!(!shown.contains("correct horse"), "{shown}");
    assert!(shown.contains("agent47"), "{shown}");
    let pair = TokenPair {
        access_token: "access.token.secret".into(),
        refresh_token: "refresh.token.secret".into(),
        expires_in: 900,
        scope: scopes("me"),
    };
    let shown = format!("{pair:?}");
    assert!(!shown.contains("token.secret"), "{shown}");
}
