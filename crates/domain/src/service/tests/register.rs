use super::*;

fn register_request(name: &str) -> RegisterRequest {
    RegisterRequest {
        username: Username::parse(name).unwrap(),
        password: Password::parse("correct horse").unwrap(),
        is_active: true,
        origin: origin(),
    }
}

#[test]
fn registration_stores_the_hash_and_never_the_password() {
    let mut ports = Mocks::default();
    ports.user_missing("agent47");
    ports
        .hasher
        .expect_hash()
        .withf(|p| p.expose() == "correct horse")
        .returning(|_| Ok(PasswordHash::new("hashed")));
    ports
        .users
        .expect_create()
        .withf(|new, _| {
            new.username.as_ref() == "agent47"
                && new.password_hash.as_ref() == "hashed"
                && new.is_active
        })
        .times(1)
        .returning(|_, _| Ok(user("agent47", true)));

    let created = ports
        .service()
        .register(register_request("agent47"))
        .unwrap();
    assert_eq!(created.username.as_ref(), "agent47");
}

#[test]
fn registration_keeps_the_requested_inactive_flag() {
    let mut ports = Mocks::default();
    ports.user_missing("agent47");
    ports.passwords_hash_to("hashed");
    ports
        .users
        .expect_create()
        .withf(|new, _| !new.is_active)
        .times(1)
        .returning(|_, _| Ok(user("agent47", false)));
    let request = RegisterRequest {
        is_active: false,
        ..register_request("agent47")
    };

    assert!(!ports.service().register(request).unwrap().is_active);
}

#[test]
fn a_taken_username_is_refused_without_spending_a_hash() {
    let mut ports = Mocks::default();
    ports.user_exists(user("agent47", true));
    // No expectation on the hasher or on create: calling either fails.

    let result = ports.service().register(register_request("agent47"));
    assert!(matches!(result, Err(RegisterError::UsernameTaken)));
}

#[test]
fn a_registration_that_loses_a_race_is_username_taken() {
    let mut ports = Mocks::default();
    ports.user_missing("agent47");
    ports.passwords_hash_to("hashed");
    ports
        .users
        .expect_create()
        .returning(|_, _| Err(CreateUserError::UsernameTaken));

    let result = ports.service().register(register_request("agent47"));
    assert!(matches!(result, Err(RegisterError::UsernameTaken)));
}

#[test]
fn a_store_failure_during_registration_is_passed_on() {
    let mut ports = Mocks::default();
    ports
        .users
        .expect_find_by_username()
        .returning(|_| Err(store_down()));

    let result = ports.service().register(register_request("agent47"));
    assert!(matches!(
        result,
        Err(RegisterError::Infra(InfraError::Unavailable(_)))
    ));
}

#[test]
fn registration_grants_the_default_scopes_and_records_the_registration() {
    let mut ports = Mocks::default();
    ports.user_missing("agent47");
    ports.passwords_hash_to("hashed");
    ports
        .users
        .expect_create()
        .withf(|new, event| {
            new.scopes == scopes("me")
                && !new.is_superuser
                && new.created_at == NOW
                && *event == NewEvent::by(&new.username, Action::UserRegistered, &origin(), NOW)
        })
        .times(1)
        .returning(|_, _| Ok(user("agent47", true)));

    assert!(
        ports
            .service()
            .register(register_request("agent47"))
            .is_ok()
    );
}
