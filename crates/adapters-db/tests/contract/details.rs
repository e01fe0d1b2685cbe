//! A user's email, phone and full name.

use adapters_db::DieselUserRepository;
use domain::{
    Action, DetailsUpdate, Email, FullName, InfraError, PasswordHash, Phone, UpdateDetailsError,
    User, UserDetails, UserRepository,
};

use crate::{
    TestDb, active_user, audit_rows, email, event, event_about, new_user, phone, race, set_all,
    stored,
};

contract!(
    details_are_set_and_read_back,
    some_none_clears_a_detail_and_none_keeps_the_others,
    a_taken_email_is_refused_and_nothing_changes,
    a_taken_phone_is_refused_and_nothing_changes,
    setting_your_own_email_again_is_fine,
    an_empty_update_returns_the_user_unchanged,
    updating_an_unknown_user_is_unexpected,
    concurrent_claims_of_one_email_have_exactly_one_winner,
    a_details_update_records_its_event_only_when_it_changes,
);

fn details(email: Option<&str>, phone: Option<&str>, full_name: Option<&str>) -> UserDetails {
    UserDetails {
        email: email.map(|raw| Email::from_stored(raw.to_owned())),
        phone: phone.map(|raw| Phone::from_stored(raw.to_owned())),
        full_name: full_name.map(|raw| FullName::from_stored(raw.to_owned())),
    }
}

fn details_are_set_and_read_back(db: &TestDb) {
    let (repo, _) = db.repo(2);
    let user = active_user(&repo, "agent47");
    let other = active_user(&repo, "other");

    let updated = repo
        .update_details(
            user.id,
            &set_all("Agent@Example.COM", "+44123456789", "Agent 47"),
            &event(Action::ProfileUpdated),
        )
        .unwrap();

    let expected = details(
        Some("agent@example.com"),
        Some("+44123456789"),
        Some("Agent 47"),
    );
    assert_eq!(updated.details, expected);
    assert_eq!(updated.id, user.id);
    assert_eq!(updated.username, user.username);
    assert_eq!(updated.password_hash, user.password_hash);
    assert_eq!(stored(&repo, "agent47"), updated);
    // Only that user's row changed.
    assert_eq!(stored(&repo, "other"), other);
}

fn some_none_clears_a_detail_and_none_keeps_the_others(db: &TestDb) {
    let (repo, _) = db.repo(2);
    let user = active_user(&repo, "agent47");
    repo.update_details(
        user.id,
        &set_all("a@example.com", "+44123456789", "Agent"),
        &event(Action::ProfileUpdated),
    )
    .unwrap();

    // Each step clears or sets one field and must keep every other one.
    let steps = [
        (
            DetailsUpdate {
                phone: Some(None),
                ..DetailsUpdate::default()
            },
            details(Some("a@example.com"), None, Some("Agent")),
        ),
        (
            DetailsUpdate {
                email: Some(None),
                phone: Some(Some(phone("+4400000000"))),
                full_name: None,
            },
            details(None, Some("+4400000000"), Some("Agent")),
        ),
        (
            DetailsUpdate {
                full_name: Some(None),
                ..DetailsUpdate::default()
            },
            details(None, Some("+4400000000"), None),
        ),
    ];
    for (update, expected) in steps {
        let updated = repo
            .update_details(user.id, &update, &event(Action::ProfileUpdated))
            .unwrap();
        assert_eq!(updated.details, expected, "after {update:?}");
        assert_eq!(stored(&repo, "agent47").details, expected);
    }
}

/// "owner" holds `owner_email` and +11111111; "caller" other details.
/// Returns the caller as stored.
fn owner_and_caller(repo: &DieselUserRepository, owner_email: &str) -> User {
    let owner = active_user(repo, "owner");
    let caller = active_user(repo, "caller");
    repo.update_details(
        owner.id,
        &set_all(owner_email, "+11111111", "Owner"),
        &event(Action::ProfileUpdated),
    )
    .unwrap();
    repo.update_details(
        caller.id,
        &set_all("mine@example.com", "+22222222", "Caller"),
        &event(Action::ProfileUpdated),
    )
    .unwrap()
}

fn a_taken_email_is_refused_and_nothing_changes(db: &TestDb) {
    let (repo, _) = db.repo(2);
    let before = owner_and_caller(&repo, "taken@example.com");

    // Compared lower-cased: `Email` lower-cases on the way in.
    let result = repo.update_details(
        before.id,
        &set_all("TAKEN@example.com", "+33333333", "New"),
        &event(Action::ProfileUpdated),
    );

    assert!(
        matches!(result, Err(UpdateDetailsError::EmailTaken)),
        "{result:?}"
    );
    assert_eq!(stored(&repo, "caller"), before);
    assert_eq!(
        stored(&repo, "owner").details,
        details(Some("taken@example.com"), Some("+11111111"), Some("Owner"))
    );
}

fn a_taken_phone_is_refused_and_nothing_changes(db: &TestDb) {
    let (repo, _) = db.repo(2);
    let before = owner_and_caller(&repo, "owner@example.com");

    let result = repo.update_details(
        before.id,
        &DetailsUpdate {
            email: Some(Some(email("new@example.com"))),
            phone: Some(Some(phone("+11111111"))),
            full_name: Some(None),
        },
        &event(Action::ProfileUpdated),
    );

    assert!(
        matches!(result, Err(UpdateDetailsError::PhoneTaken)),
        "{result:?}"
    );
    assert_eq!(stored(&repo, "caller"), before);
}

fn setting_your_own_email_again_is_fine(db: &TestDb) {
    let (repo, _) = db.repo(2);
    let user = active_user(&repo, "agent47");
    let first = repo
        .update_details(
            user.id,
            &set_all("a@example.com", "+44123456789", "Agent"),
            &event(Action::ProfileUpdated),
        )
        .unwrap();

    let again = repo
        .update_details(
            user.id,
            &set_all("A@example.com", "+44123456789", "Agent"),
            &event(Action::ProfileUpdated),
        )
        .unwrap();

    assert_eq!(again, first);
}

fn an_empty_update_returns_the_user_unchanged(db: &TestDb) {
    let (repo, _) = db.repo(2);
    let user = repo
        .create(
            &new_user("agent47", "h", false),
            &event(Action::UserRegistered),
        )
        .unwrap();
    let set = repo
        .update_details(
            user.id,
            &set_all("a@example.com", "+44123456789", "Agent"),
            &event(Action::ProfileUpdated),
        )
        .unwrap();

    let unchanged = repo
        .update_details(
            user.id,
            &DetailsUpdate::default(),
            &event(Action::ProfileUpdated),
        )
        .unwrap();

    assert_eq!(unchanged, set);
    assert_eq!(stored(&repo, "agent47"), set);
}

fn updating_an_unknown_user_is_unexpected(db: &TestDb) {
    let (repo, _) = db.repo(2);
    let user = active_user(&repo, "agent47");
    let unknown = user.id + 1000;

    for update in [
        DetailsUpdate::default(),
        set_all("a@example.com", "+44123456789", "A"),
    ] {
        let result = repo.update_details(unknown, &update, &event(Action::ProfileUpdated));
        assert!(
            matches!(
                result,
                Err(UpdateDetailsError::Infra(InfraError::Unexpected(_)))
            ),
            "{result:?}"
        );
    }
    assert!(
        !repo
            .change_password(
                unknown,
                0,
                &PasswordHash::new("new"),
                &event(Action::PasswordChanged)
            )
            .unwrap()
    );
    assert_eq!(stored(&repo, "agent47"), user);
}

fn concurrent_claims_of_one_email_have_exactly_one_winner(db: &TestDb) {
    const THREADS: usize = 8;
    let (repo, _) = db.repo(THREADS as u32);
    let ids: Vec<i64> = (0..THREADS)
        .map(|i| active_user(&repo, &format!("claimer{i}")).id)
        .collect();
    let update = DetailsUpdate {
        email: Some(Some(email("contested@example.com"))),
        ..DetailsUpdate::default()
    };

    let results = race(THREADS, |i| {
        repo.update_details(ids[i], &update, &event(Action::ProfileUpdated))
    });

    let winners = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(UpdateDetailsError::EmailTaken)))
        .count();
    assert_eq!((winners, taken), (1, THREADS - 1), "{results:?}");
}

fn a_details_update_records_its_event_only_when_it_changes(db: &TestDb) {
    let (repo, pool) = db.repo(2);
    let before = owner_and_caller(&repo, "taken@example.com");
    let events = audit_rows(&pool);
    let update = |update: &DetailsUpdate| {
        repo.update_details(
            before.id,
            update,
            &event_about(Action::ProfileUpdated, "caller"),
        )
    };

    // Refused, empty, or for no user: nothing recorded.
    assert!(update(&set_all("taken@example.com", "+33333333", "New")).is_err());
    assert_eq!(update(&DetailsUpdate::default()).unwrap(), before);
    assert!(
        repo.update_details(
            before.id + 1000,
            &set_all("new@example.com", "+33333333", "New"),
            &event(Action::ProfileUpdated),
        )
        .is_err()
    );
    assert_eq!(audit_rows(&pool), events);

    update(&set_all("new@example.com", "+33333333", "New")).unwrap();
    let mut expected = events;
    expected.push(("profile.updated".to_owned(), Some("caller".to_owned())));
    assert_eq!(audit_rows(&pool), expected);
}
