use super::*;

#[test]
fn details_updates_go_to_the_repository_and_its_refusals_come_back() {
    let update = DetailsUpdate {
        email: Some(Some(Email::parse("a@b.co").unwrap())),
        ..DetailsUpdate::default()
    };
    let mut ports = Mocks::default();
    let expected = update.clone();
    ports
        .users
        .expect_update_details()
        .withf(move |id, u, event| *id == 7 && *u == expected && *event == profile_updated())
        .returning(|_, _, _| Err(UpdateDetailsError::EmailTaken));

    let result = ports
        .service()
        .update_details(&user("agent47", true), &update, &origin());
    assert!(matches!(result, Err(UpdateDetailsError::EmailTaken)));
}

fn profile_updated() -> NewEvent {
    let agent = Username::parse("agent47").unwrap();
    NewEvent::by(&agent, Action::ProfileUpdated, &origin(), NOW)
}
