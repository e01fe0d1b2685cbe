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
        .withf(move |id, u| *id == 7 && *u == expected)
        .returning(|_, _| Err(UpdateDetailsError::EmailTaken));

    let result = ports
        .service()
        .update_details(&user("agent47", true), &update);
    assert!(matches!(result, Err(UpdateDetailsError::EmailTaken)));
}
