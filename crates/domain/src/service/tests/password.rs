use super::*;

/// agent47's change from `current` to "brand new horse", as the HTTP
/// adapter runs it: admitted, then checked.
fn change(ports: Mocks, current: &str) -> Result<(), ChangePasswordError> {
    let service = ports.service();
    let request = change_password_request(current);
    let attempt = service.admit_password_change(user("agent47", true), request)?;
    service.change_password(attempt)
}

fn change_password_request(current: &str) -> ChangePasswordRequest {
    ChangePasswordRequest {
        current_password: current.into(),
        new_password: Password::parse("brand new horse").unwrap(),
        origin: origin(),
    }
}

#[test]
fn a_wrong_current_password_changes_nothing_and_counts_as_a_failure() {
    let mut ports = Mocks::default();
    ports
        .failures
        .expect_reserve()
        .withf(|attempt| *attempt == expected_attempt("agent47"))
        .times(1)
        .returning(|_| Ok(Reservation::Admitted(Places(PLACES.to_vec()))));
    // No release: the place stays, as a failed login's does.
    ports.hashes_are_current();
    ports.hasher.expect_verify().returning(|_, _| Ok(false));
    // It counts as a failed login of the user's name.
    ports.event_is_recorded(Action::LoginFailed, "agent47");
    // No hash, no update.

    let result = change(ports, "wrong one");
    assert!(matches!(
        result,
        Err(ChangePasswordError::IncorrectPassword)
    ));
}

#[test]
fn at_the_limit_a_password_change_is_refused_before_the_check() {
    let mut ports = Mocks::default();
    ports.attempts_are_refused(60);
    ports.event_is_recorded(Action::LoginLocked, "agent47");
    // No hasher: even the right current password is not checked.

    let result = change(ports, "correct horse");
    assert!(matches!(
        result,
        Err(ChangePasswordError::TooManyAttempts {
            retry_after_secs: 60
        })
    ));
}

#[test]
fn a_password_change_stores_the_new_hash_for_the_verified_credential() {
    let mut ports = Mocks::default();
    ports.no_failures();
    ports
        .hasher
        .expect_verify()
        .withf(|p, h| p.expose() == "correct horse" && h.as_ref() == "hash-of-agent47")
        .returning(|_, _| Ok(true));
    ports
        .hasher
        .expect_hash()
        .withf(|p| p.expose() == "brand new horse")
        .returning(|_| Ok(PasswordHash::new("new-hash")));
    // One repository call stores the hash and revokes the sessions, in
    // one transaction, for the credential version that was verified.
    ports
        .users
        .expect_change_password()
        .withf(|id, version, hash, event| {
            *id == 7
                && *version == VERSION
                && hash.as_ref() == "new-hash"
                && event.action == Action::PasswordChanged
        })
        .times(1)
        .returning(|_, _, _, _| Ok(true));

    let result = change(ports, "correct horse");
    assert!(result.is_ok());
}

#[test]
fn a_password_change_that_loses_to_a_concurrent_one_is_incorrect_password() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    ports.hasher.expect_verify().returning(|_, _| Ok(true));
    ports.passwords_hash_to("new-hash");
    ports
        .users
        .expect_change_password()
        .returning(|_, _, _, _| Ok(false));
    ports.event_is_recorded(Action::LoginFailed, "agent47");

    let result = change(ports, "correct horse");
    assert!(matches!(
        result,
        Err(ChangePasswordError::IncorrectPassword)
    ));
}

#[test]
fn the_password_change_request_never_shows_its_passwords() {
    let shown = format!("{:?}", change_password_request("current secret"));
    assert!(!shown.contains("current secret"), "{shown}");
    assert!(!shown.contains("brand new horse"), "{shown}");
}
