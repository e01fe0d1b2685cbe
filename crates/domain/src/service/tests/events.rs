//! The events the use cases record (docs/api.md §9).
use super::*;

#[test]
fn a_wrong_password_records_a_failed_login_of_that_user() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    ports.password_is_wrong(user("agent47", true));
    ports.event_is_recorded(Action::LoginFailed, "agent47");
    assert!(matches!(
        log_in(&ports.service(), login("agent47", "wrong")),
        Err(LoginError::InvalidCredentials)
    ));
}

#[test]
fn a_refused_attempt_records_a_locked_login() {
    let mut ports = Mocks::default();
    ports.attempts_are_refused(60);
    ports.event_is_recorded(Action::LoginLocked, "agent47");
    assert!(matches!(
        ports.service().admit_login(login("agent47", "pw")),
        Err(LoginError::TooManyAttempts {
            retry_after_secs: 60
        })
    ));
}

#[test]
fn a_failed_login_of_a_name_no_user_can_have_records_no_subject() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    ports.only_the_dummy_hash_is_checked(false);
    ports
        .audit
        .expect_record()
        .withf(|event| event.action == Action::LoginFailed && event.subject.is_none())
        .times(1)
        .returning(|_| Ok(()));
    assert!(log_in(&ports.service(), login("a b", "pw")).is_err());
}

#[test]
fn own_events_are_those_of_the_current_account_only() {
    let mut ports = Mocks::default();
    ports
        .audit
        .expect_list()
        .withf(|query| {
            query.subject.as_ref().map(AsRef::as_ref) == Some("agent47")
                && query.current_account_only
                && query.limit == 10
                && query.before == Some(99)
        })
        .times(1)
        .returning(|_| Ok(Vec::new()));
    let query = EventQuery {
        // Whatever subject is asked for, one's own are listed.
        subject: Some(Username::parse("someone").unwrap()),
        current_account_only: false,
        action: None,
        before: Some(99),
        limit: 10,
    };
    ports
        .service()
        .own_events(&user("agent47", true), query)
        .unwrap();
}
