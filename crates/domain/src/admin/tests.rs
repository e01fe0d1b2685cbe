//! The administrators' rules (docs/api.md §9), with mocked ports.

use std::sync::Arc;

use mockall::predicate::eq;

use super::*;
use crate::ports::{
    MockApiKeyMinter, MockApiKeyRepository, MockAuditRepository, MockClock,
    MockLoginFailureRepository, MockPasswordHasher, MockSessionRepository, MockTokenService,
    MockUserRepository,
};
use crate::{Claims, CreateUserError, PasswordHash, TokenKind, UpdateUserError};

const NOW: u64 = 1_700_000_000;

#[derive(Default)]
struct Mocks {
    users: MockUserRepository,
    sessions: MockSessionRepository,
    failures: MockLoginFailureRepository,
    hasher: MockPasswordHasher,
    audit: MockAuditRepository,
    api_keys: MockApiKeyRepository,
}

impl Mocks {
    fn service(self) -> AdminService {
        self.service_granting("me")
    }

    /// The service of a catalogue whose new users are granted `defaults`.
    fn service_granting(self, defaults: &str) -> AdminService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        AdminService::new(
            Ports {
                users: Arc::new(self.users),
                sessions: Arc::new(self.sessions),
                login_failures: Arc::new(self.failures),
                hasher: Arc::new(self.hasher),
                tokens: Arc::new(MockTokenService::new()),
                audit: Arc::new(self.audit),
                api_keys: Arc::new(self.api_keys),
                key_minter: Arc::new(MockApiKeyMinter::new()),
                clock: Arc::new(clock),
            },
            ScopeCatalogue::new(&scopes("items:read"), scopes(defaults)).unwrap(),
        )
    }

    fn exists(&mut self, user: User) {
        self.users
            .expect_find_by_username()
            .with(eq(user.username.clone()))
            .returning(move |_| Ok(Some(user.clone())));
    }
}

fn scopes(raw: &str) -> Scopes {
    Scopes::parse(raw).unwrap()
}

fn name(raw: &str) -> Username {
    Username::parse(raw).unwrap()
}

fn someone(id: i64, username: &str, is_superuser: bool, grants: &str) -> User {
    User {
        id,
        username: name(username),
        password_hash: PasswordHash::new("hash"),
        credential_version: 0,
        is_active: true,
        is_superuser,
        scopes: scopes(grants),
        created_at: NOW - 100,
        details: UserDetails::default(),
    }
}

fn root() -> User {
    someone(1, "root", true, "admin me")
}

fn actor() -> Actor {
    Actor {
        user: Some(root()),
        by_key: false,
        origin: Origin::default(),
    }
}

fn claims_of(subject: &str) -> Claims {
    Claims {
        subject: subject.into(),
        kind: TokenKind::Access,
        issued_at: NOW,
        expires_at: NOW + 60,
        id: "jti".into(),
        family: None,
        scopes: Some(scopes("admin")),
    }
}

/// An `admin` access token of `subject`, as the route hands it over.
fn token_of(subject: &str) -> Credential {
    Credential::Token(claims_of(subject))
}

/// An event by root about `subject`.
fn by_root(event: &NewEvent, action: Action, subject: &str) -> bool {
    event.action == action
        && event.actor.as_ref().map(AsRef::as_ref) == Some("root")
        && event.subject.as_ref().map(AsRef::as_ref) == Some(subject)
        && event.at == NOW
}

#[test]
fn only_an_active_superuser_holding_admin_now_may_act() {
    let refused = [
        someone(2, "plain", false, "admin me"),
        User {
            is_active: false,
            ..someone(3, "asleep", true, "admin me")
        },
        someone(4, "stripped", true, "me"),
    ];
    for user in refused {
        let subject = user.username.to_string();
        let mut ports = Mocks::default();
        ports.exists(user);
        assert!(
            matches!(
                ports
                    .service()
                    .acting_superuser(&token_of(&subject), Origin::default()),
                Err(AdminError::Forbidden)
            ),
            "{subject}"
        );
    }
    let mut ports = Mocks::default();
    ports
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    assert!(matches!(
        ports
            .service()
            .acting_superuser(&token_of("ghost"), Origin::default()),
        Err(AdminError::Forbidden)
    ));
    let mut ports = Mocks::default();
    ports.exists(root());
    let actor = ports
        .service()
        .acting_superuser(&token_of("root"), Origin::default())
        .unwrap();
    assert_eq!(actor.user().map(|u| u.id), Some(1));
}

#[test]
fn a_superuser_cannot_lock_themself_out() {
    let lockouts = [
        UpdateUserRequest {
            is_active: Some(false),
            ..UpdateUserRequest::default()
        },
        UpdateUserRequest {
            is_superuser: Some(false),
            ..UpdateUserRequest::default()
        },
        UpdateUserRequest {
            scopes: Some(scopes("me")),
            ..UpdateUserRequest::default()
        },
    ];
    for request in lockouts {
        let mut ports = Mocks::default();
        ports.exists(root());
        ports.users.expect_update().times(0);
        assert!(matches!(
            ports
                .service()
                .update_user(&actor(), &name("root"), request),
            Err(AdminError::OwnAccount)
        ));
    }
    let mut ports = Mocks::default();
    ports.exists(root());
    ports.users.expect_delete().times(0);
    assert!(matches!(
        ports.service().delete_user(&actor(), &name("root")),
        Err(AdminError::OwnAccount)
    ));
}

#[test]
fn demoting_withdraws_admin_and_promoting_grants_it() {
    for (target, promote, expected) in [
        (
            someone(2, "bob", true, "admin items:read me"),
            false,
            "items:read me",
        ),
        (someone(2, "bob", false, "me"), true, "admin me"),
    ] {
        let mut ports = Mocks::default();
        ports.exists(target);
        ports
            .users
            .expect_update()
            .withf(move |id, change, event| {
                *id == 2
                    && change.is_superuser == Some(promote)
                    && change.scopes == Some(scopes(expected))
                    && !change.revoke_sessions
                    && by_root(event, Action::AdminUserUpdated, "bob")
            })
            .times(1)
            .returning(|_, _, _| Ok(someone(2, "bob", false, "me")));
        let request = UpdateUserRequest {
            is_superuser: Some(promote),
            ..UpdateUserRequest::default()
        };
        ports
            .service()
            .update_user(&actor(), &name("bob"), request)
            .unwrap();
    }
}

#[test]
fn admin_is_only_for_superusers_and_scopes_must_be_known() {
    for (grants, expected) in [("admin me", "needs superuser"), ("me nope", "invalid")] {
        let mut ports = Mocks::default();
        ports.exists(someone(2, "bob", false, "me"));
        ports.users.expect_update().times(0);
        let request = UpdateUserRequest {
            scopes: Some(scopes(grants)),
            ..UpdateUserRequest::default()
        };
        let error = ports
            .service()
            .update_user(&actor(), &name("bob"), request)
            .unwrap_err();
        match expected {
            "needs superuser" => assert!(matches!(error, AdminError::AdminScopeNeedsSuperuser)),
            _ => assert!(matches!(error, AdminError::InvalidScope)),
        }
    }
}

#[test]
fn deactivating_or_a_new_password_ends_every_session() {
    let mut ports = Mocks::default();
    ports.exists(someone(2, "bob", false, "me"));
    ports
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(PasswordHash::new("new-hash")));
    ports
        .users
        .expect_update()
        .withf(|_, change, _| {
            change.revoke_sessions
                && change.password_hash.as_ref().map(AsRef::as_ref) == Some("new-hash")
        })
        .times(1)
        .returning(|_, _, _| Ok(someone(2, "bob", false, "me")));
    let request = UpdateUserRequest {
        password: Some(Password::parse("battery staple").unwrap()),
        ..UpdateUserRequest::default()
    };
    ports
        .service()
        .update_user(&actor(), &name("bob"), request)
        .unwrap();

    let mut ports = Mocks::default();
    ports.exists(someone(2, "bob", false, "me"));
    ports
        .users
        .expect_update()
        .withf(|_, change, _| change.revoke_sessions && change.is_active == Some(false))
        .times(1)
        .returning(|_, _, _| Ok(someone(2, "bob", false, "me")));
    let request = UpdateUserRequest {
        is_active: Some(false),
        ..UpdateUserRequest::default()
    };
    ports
        .service()
        .update_user(&actor(), &name("bob"), request)
        .unwrap();
}

#[test]
fn acting_on_an_unknown_user_is_not_found() {
    let mut ports = Mocks::default();
    ports
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    let service = ports.service();
    let ghost = name("ghost");
    assert!(matches!(
        service.update_user(&actor(), &ghost, UpdateUserRequest::default()),
        Err(AdminError::NotFound)
    ));
    assert!(matches!(
        service.delete_user(&actor(), &ghost),
        Err(AdminError::NotFound)
    ));
    assert!(matches!(
        service.logout_user(&actor(), &ghost),
        Err(AdminError::NotFound)
    ));
    assert!(matches!(
        service.unlock_user(&actor(), &ghost),
        Err(AdminError::NotFound)
    ));
}

#[test]
fn a_user_deleted_meanwhile_is_not_found() {
    let mut ports = Mocks::default();
    ports.exists(someone(2, "bob", false, "me"));
    ports
        .users
        .expect_update()
        .returning(|_, _, _| Err(UpdateUserError::NotFound));
    assert!(matches!(
        ports
            .service()
            .update_user(&actor(), &name("bob"), UpdateUserRequest::default()),
        Err(AdminError::NotFound)
    ));
}

#[test]
fn every_admin_action_is_recorded_with_the_acting_superuser() {
    let mut ports = Mocks::default();
    ports.exists(someone(2, "bob", false, "me"));
    ports
        .users
        .expect_delete()
        .withf(|id, event| *id == 2 && by_root(event, Action::AdminUserDeleted, "bob"))
        .times(1)
        .returning(|_, _| Ok(true));
    ports
        .failures
        .expect_clear()
        .with(eq("user:bob"))
        .times(2)
        .returning(|_| Ok(()));
    ports
        .sessions
        .expect_revoke_all_for_user()
        .withf(|id, event| *id == 2 && by_root(event, Action::AdminUserLoggedOut, "bob"))
        .times(1)
        .returning(|_, _| Ok(()));
    ports
        .audit
        .expect_record()
        .withf(|event| by_root(event, Action::AdminUserUnlocked, "bob"))
        .times(1)
        .returning(|_| Ok(()));
    let service = ports.service();
    let bob = name("bob");
    service.logout_user(&actor(), &bob).unwrap();
    service.unlock_user(&actor(), &bob).unwrap();
    service.delete_user(&actor(), &bob).unwrap();
}

#[test]
fn a_created_superuser_gets_admin_and_a_created_user_the_defaults() {
    for (is_superuser, expected) in [(true, "admin me"), (false, "me")] {
        let mut ports = Mocks::default();
        ports
            .hasher
            .expect_hash()
            .returning(|_| Ok(PasswordHash::new("h")));
        ports
            .users
            .expect_create()
            .withf(move |user, event| {
                user.scopes == scopes(expected)
                    && user.is_superuser == is_superuser
                    && user.created_at == NOW
                    && by_root(event, Action::AdminUserCreated, "carol")
            })
            .times(1)
            .returning(|_, _| Ok(someone(3, "carol", false, "me")));
        let request = CreateUserRequest {
            username: name("carol"),
            password: Password::parse("correct horse").unwrap(),
            is_active: true,
            is_superuser,
            scopes: None,
            details: UserDetails::default(),
        };
        ports.service().create_user(&actor(), request).unwrap();
    }
}

#[test]
fn the_first_superuser_is_created_once_and_an_existing_user_never_changed() {
    let password = Password::parse("correct horse").unwrap();
    // Exists: nothing else is called.
    let mut ports = Mocks::default();
    ports.exists(someone(1, "root", false, "me"));
    ports.users.expect_create().times(0);
    assert!(
        !ports
            .service()
            .ensure_superuser(&name("root"), &password)
            .unwrap()
    );

    // Absent: an active superuser granted `admin me`, by the system.
    let mut ports = Mocks::default();
    ports
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    ports
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("h")));
    ports
        .users
        .expect_create()
        .withf(|user, event| {
            user.is_active
                && user.is_superuser
                && user.scopes == scopes("admin me")
                && event.actor.is_none()
                && event.action == Action::AdminUserCreated
        })
        .times(1)
        .returning(|_, _| Ok(root()));
    assert!(
        ports
            .service()
            .ensure_superuser(&name("root"), &password)
            .unwrap()
    );

    // Another instance created it in between: not an error.
    let mut ports = Mocks::default();
    ports
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    ports
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("h")));
    ports
        .users
        .expect_create()
        .returning(|_, _| Err(CreateUserError::UsernameTaken));
    assert!(
        !ports
            .service()
            .ensure_superuser(&name("root"), &password)
            .unwrap()
    );
}

/// Where the acting superuser's request came from.
fn console() -> Origin {
    Origin::new(
        Some("10.9.9.9".into()),
        Some("admin-console"),
        Some("req-9"),
    )
}

fn create_request(username: &str, is_superuser: bool, grants: Option<&str>) -> CreateUserRequest {
    CreateUserRequest {
        username: name(username),
        password: Password::parse("correct horse").unwrap(),
        is_active: true,
        is_superuser,
        scopes: grants.map(scopes),
        details: UserDetails::default(),
    }
}

#[test]
fn a_token_without_the_admin_scope_is_forbidden_even_to_a_superuser() {
    // A login that did not ask for `admin`, and a token from before
    // scopes (counted as `me`): refused before the store is read (no user
    // expectation: a lookup would panic).
    for granted in [Some(scopes("me")), None] {
        let claims = Claims {
            scopes: granted,
            ..claims_of("root")
        };
        assert!(matches!(
            Mocks::default()
                .service()
                .acting_superuser(&Credential::Token(claims), Origin::default()),
            Err(AdminError::Forbidden)
        ));
    }
}

#[test]
fn a_subject_no_user_can_have_is_forbidden_without_a_lookup() {
    assert!(matches!(
        Mocks::default()
            .service()
            .acting_superuser(&token_of("no spaces"), Origin::default()),
        Err(AdminError::Forbidden)
    ));
}

#[test]
fn the_acting_superusers_origin_is_recorded_with_their_change() {
    let mut ports = Mocks::default();
    ports.exists(root());
    ports.exists(someone(2, "bob", false, "me"));
    ports
        .sessions
        .expect_revoke_all_for_user()
        .withf(|id, event| {
            *id == 2
                && by_root(event, Action::AdminUserLoggedOut, "bob")
                && event.origin == console()
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let service = ports.service();
    let actor = service
        .acting_superuser(&token_of("root"), console())
        .unwrap();
    service.logout_user(&actor, &name("bob")).unwrap();
}

#[test]
fn a_superuser_may_still_change_their_own_password_details_and_other_grants() {
    let requests = [
        UpdateUserRequest {
            password: Some(Password::parse("battery staple").unwrap()),
            ..UpdateUserRequest::default()
        },
        UpdateUserRequest {
            is_active: Some(true),
            is_superuser: Some(true),
            ..UpdateUserRequest::default()
        },
        UpdateUserRequest {
            scopes: Some(scopes("admin items:read me")),
            ..UpdateUserRequest::default()
        },
    ];
    for request in requests {
        let mut ports = Mocks::default();
        ports.exists(root());
        ports
            .hasher
            .expect_hash()
            .returning(|_| Ok(PasswordHash::new("new-hash")));
        ports
            .users
            .expect_update()
            .withf(|id, _, event| *id == 1 && by_root(event, Action::AdminUserUpdated, "root"))
            .times(1)
            .returning(|_, _, _| Ok(root()));
        ports
            .service()
            .update_user(&actor(), &name("root"), request)
            .unwrap();
    }
}

#[test]
fn a_change_that_keeps_the_role_keeps_the_grants_and_the_sessions() {
    let mut ports = Mocks::default();
    ports.exists(someone(2, "bob", true, "admin me"));
    ports
        .users
        .expect_update()
        .withf(|_, change, _| {
            *change
                == UserChange {
                    is_active: Some(true),
                    is_superuser: Some(true),
                    grants_as_read: Some(Grants {
                        is_superuser: true,
                        scopes: scopes("admin me"),
                    }),
                    ..UserChange::default()
                }
        })
        .times(1)
        .returning(|_, _, _| Ok(someone(2, "bob", true, "admin me")));
    let request = UpdateUserRequest {
        is_active: Some(true),
        is_superuser: Some(true),
        ..UpdateUserRequest::default()
    };
    ports
        .service()
        .update_user(&actor(), &name("bob"), request)
        .unwrap();
}

#[test]
fn scopes_given_with_a_promotion_are_taken_as_given() {
    let mut ports = Mocks::default();
    ports.exists(someone(2, "bob", false, "me"));
    ports
        .users
        .expect_update()
        .withf(|_, change, _| {
            change.is_superuser == Some(true) && change.scopes == Some(scopes("items:read me"))
        })
        .times(1)
        .returning(|_, _, _| Ok(someone(2, "bob", true, "items:read me")));
    let request = UpdateUserRequest {
        is_superuser: Some(true),
        scopes: Some(scopes("me items:read")),
        ..UpdateUserRequest::default()
    };
    ports
        .service()
        .update_user(&actor(), &name("bob"), request)
        .unwrap();
}

#[test]
fn admin_cannot_stay_with_a_user_being_demoted() {
    let mut ports = Mocks::default();
    ports.exists(someone(2, "bob", true, "admin me"));
    ports.users.expect_update().times(0);
    let request = UpdateUserRequest {
        is_superuser: Some(false),
        scopes: Some(scopes("admin me")),
        ..UpdateUserRequest::default()
    };
    assert!(matches!(
        ports.service().update_user(&actor(), &name("bob"), request),
        Err(AdminError::AdminScopeNeedsSuperuser)
    ));
}

#[test]
fn creating_refuses_admin_for_a_plain_user_and_unknown_scopes_before_hashing() {
    // No hasher or create expectation: a call would panic.
    let service = Mocks::default().service();
    assert!(matches!(
        service.create_user(&actor(), create_request("carol", false, Some("admin me"))),
        Err(AdminError::AdminScopeNeedsSuperuser)
    ));
    assert!(matches!(
        service.create_user(&actor(), create_request("carol", true, Some("me nope"))),
        Err(AdminError::InvalidScope)
    ));
}

#[test]
fn creating_hashes_the_password_and_keeps_the_scopes_asked_for() {
    let mut ports = Mocks::default();
    ports
        .hasher
        .expect_hash()
        .withf(|password| password.expose() == "correct horse")
        .times(1)
        .returning(|_| Ok(PasswordHash::new("h")));
    ports
        .users
        .expect_create()
        .withf(|user, _| {
            user.password_hash.as_ref() == "h" && user.scopes == scopes("items:read me")
        })
        .times(1)
        .returning(|_, _| Ok(someone(3, "carol", false, "items:read me")));
    ports
        .service()
        .create_user(
            &actor(),
            create_request("carol", false, Some("me items:read")),
        )
        .unwrap();
}

#[test]
fn creating_a_taken_username_is_username_taken() {
    let mut ports = Mocks::default();
    ports
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("h")));
    ports
        .users
        .expect_create()
        .returning(|_, _| Err(CreateUserError::UsernameTaken));
    assert!(matches!(
        ports
            .service()
            .create_user(&actor(), create_request("bob", false, None)),
        Err(AdminError::UsernameTaken)
    ));
}

#[test]
fn granting_adds_to_the_users_grants() {
    let mut ports = Mocks::default();
    ports.exists(someone(2, "bob", false, "me"));
    ports
        .users
        .expect_update()
        .withf(|id, change, event| {
            *id == 2
                && change.scopes == Some(scopes("items:read me"))
                && change.is_superuser.is_none()
                && by_root(event, Action::AdminUserUpdated, "bob")
        })
        .times(1)
        .returning(|_, _, _| Ok(someone(2, "bob", false, "items:read me")));
    let granted = ports
        .service()
        .grant(&actor(), &name("bob"), &scopes("items:read"))
        .unwrap();
    assert_eq!(granted.scopes, scopes("items:read me"));
}

#[test]
fn granting_admin_to_a_plain_user_is_refused() {
    let mut ports = Mocks::default();
    ports.exists(someone(2, "bob", false, "me"));
    ports.users.expect_update().times(0);
    assert!(matches!(
        ports
            .service()
            .grant(&actor(), &name("bob"), &scopes("admin")),
        Err(AdminError::AdminScopeNeedsSuperuser)
    ));
}

#[test]
fn deleting_a_user_gone_meanwhile_is_not_found_and_clears_nothing() {
    let mut ports = Mocks::default();
    ports.exists(someone(2, "bob", false, "me"));
    ports.users.expect_delete().returning(|_, _| Ok(false));
    ports.failures.expect_clear().times(0);
    assert!(matches!(
        ports.service().delete_user(&actor(), &name("bob")),
        Err(AdminError::NotFound)
    ));
}

#[test]
fn the_first_superuser_also_gets_the_default_grants() {
    let mut ports = Mocks::default();
    ports
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    ports
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("h")));
    ports
        .users
        .expect_create()
        .withf(|user, event| {
            user.scopes == scopes("admin items:read me")
                && event.subject.as_ref().map(AsRef::as_ref) == Some("root")
        })
        .times(1)
        .returning(|_, _| Ok(root()));
    let password = Password::parse("correct horse").unwrap();
    assert!(
        ports
            .service_granting("me items:read")
            .ensure_superuser(&name("root"), &password)
            .unwrap()
    );
}

#[test]
fn the_admin_listings_pass_their_queries_through() {
    let mut ports = Mocks::default();
    let query = UserQuery {
        page: 2,
        per_page: 10,
        username_contains: Some("bo".into()),
    };
    let expected = query.clone();
    ports
        .users
        .expect_list()
        .withf(move |q| *q == expected)
        .times(1)
        .returning(|_| {
            Ok(UserPage {
                users: vec![someone(2, "bob", false, "me")],
                total: 11,
            })
        });
    ports
        .audit
        .expect_list()
        .times(1)
        .returning(|_| Ok(Vec::new()));
    let service = ports.service();
    assert_eq!(service.list_users(&query).unwrap().total, 11);
    let events = EventQuery {
        subject: None,
        current_account_only: false,
        action: Some(Action::LoginFailed),
        before: None,
        limit: EventQuery::DEFAULT_LIMIT,
    };
    assert!(service.events(&events).unwrap().is_empty());
}

#[test]
fn a_change_that_touches_no_grant_does_not_depend_on_them() {
    let mut ports = Mocks::default();
    ports.exists(someone(2, "bob", false, "me"));
    ports
        .users
        .expect_update()
        .withf(|_, change, _| change.grants_as_read.is_none() && change.is_active == Some(false))
        .times(1)
        .returning(|_, _, _| Ok(someone(2, "bob", false, "me")));
    let request = UpdateUserRequest {
        is_active: Some(false),
        ..UpdateUserRequest::default()
    };
    ports
        .service()
        .update_user(&actor(), &name("bob"), request)
        .unwrap();
}

/// Another administrator grants bob `items:read` between this demotion's
/// read and its write: the demotion is computed again from the new grants,
/// so `items:read` survives it, and the new password is hashed once.
#[test]
fn a_grant_change_that_lost_a_race_is_computed_again_from_the_grants_now() {
    let mut ports = Mocks::default();
    let mut reads = 0;
    ports
        .users
        .expect_find_by_username()
        .with(eq(name("bob")))
        .times(2)
        .returning(move |_| {
            reads += 1;
            let grants = if reads == 1 {
                "admin me"
            } else {
                "admin items:read me"
            };
            Ok(Some(someone(2, "bob", true, grants)))
        });
    ports
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(PasswordHash::new("new-hash")));
    let read = |grants: &str| {
        Some(Grants {
            is_superuser: true,
            scopes: scopes(grants),
        })
    };
    let first = read("admin me");
    ports
        .users
        .expect_update()
        .withf(move |_, change, _| change.grants_as_read == first)
        .times(1)
        .returning(|_, _, _| Err(UpdateUserError::GrantsChanged));
    let second = read("admin items:read me");
    ports
        .users
        .expect_update()
        .withf(move |_, change, _| {
            change.grants_as_read == second
                && change.scopes == Some(scopes("items:read me"))
                && change.is_superuser == Some(false)
                && change.password_hash.as_ref().map(AsRef::as_ref) == Some("new-hash")
        })
        .times(1)
        .returning(|_, _, _| Ok(someone(2, "bob", false, "items:read me")));
    let request = UpdateUserRequest {
        is_superuser: Some(false),
        password: Some(Password::parse("battery staple").unwrap()),
        ..UpdateUserRequest::default()
    };
    let stored = ports
        .service()
        .update_user(&actor(), &name("bob"), request)
        .unwrap();
    assert_eq!(stored.scopes, scopes("items:read me"));
}

#[test]
fn a_grant_that_keeps_losing_the_race_gives_up_as_a_conflict() {
    let mut ports = Mocks::default();
    ports.exists(someone(2, "bob", false, "me"));
    ports
        .users
        .expect_update()
        .withf(|_, change, _| change.scopes == Some(scopes("items:read me")))
        .times(AdminService::CHANGE_ATTEMPTS)
        .returning(|_, _, _| Err(UpdateUserError::GrantsChanged));
    let error = ports
        .service()
        .grant(&actor(), &name("bob"), &scopes("items:read"))
        .unwrap_err();
    assert!(matches!(error, AdminError::Conflict), "{error:?}");
}

fn admin_key(scopes_: &str) -> ApiKey {
    ApiKey {
        id: 5,
        user_id: 1,
        name: crate::KeyName::parse("ops").unwrap(),
        prefix: "abcdefgh".into(),
        scopes: scopes(scopes_),
        created_at: NOW - 10,
        expires_at: NOW + 10,
        last_used_at: Some(NOW - 5),
    }
}

fn key_credential() -> Credential {
    Credential::ApiKey {
        digest: crate::KeyDigest::new("d".into()),
        needed: scopes("admin"),
    }
}

#[test]
fn a_key_acts_as_a_superuser_only_with_admin_and_a_superuser_owner() {
    let cases = [
        (admin_key("admin me"), root(), true),
        (admin_key("me"), root(), false),
        (
            admin_key("admin"),
            someone(2, "plain", false, "admin me"),
            false,
        ),
    ];
    for (key, owner, allowed) in cases {
        let mut ports = Mocks::default();
        ports
            .api_keys
            .expect_find()
            .returning(move |_| Ok(Some((key.clone(), owner.clone()))));
        let result = ports
            .service()
            .acting_superuser(&key_credential(), Origin::default());
        match (allowed, result) {
            (true, Ok(actor)) => assert_eq!(actor.user().map(|u| u.id), Some(1)),
            (false, Err(AdminError::Authenticate(AuthenticateError::InsufficientScope { .. })))
            | (false, Err(AdminError::Forbidden)) => {}
            (allowed, other) => panic!("allowed {allowed}: {other:?}"),
        }
    }
    let mut unknown = Mocks::default();
    unknown.api_keys.expect_find().returning(|_| Ok(None));
    assert!(matches!(
        unknown
            .service()
            .acting_superuser(&key_credential(), Origin::default()),
        Err(AdminError::Authenticate(AuthenticateError::InvalidToken))
    ));
}

#[test]
fn an_admin_revokes_a_users_key_only_if_it_is_theirs_and_it_is_recorded() {
    for (stored, expected_ok) in [(true, true), (false, false)] {
        let mut ports = Mocks::default();
        ports.exists(someone(2, "agent47", false, "me"));
        ports
            .api_keys
            .expect_revoke()
            .withf(|user_id, key_id, event| {
                *user_id == 2
                    && *key_id == 5
                    && by_root(event, Action::AdminApiKeyRevoked, "agent47")
            })
            .times(1)
            .returning(move |_, _, _| Ok(stored));
        let result = ports
            .service()
            .revoke_api_key(&actor(), &name("agent47"), 5);
        assert_eq!(result.is_ok(), expected_ok);
        if !expected_ok {
            assert!(matches!(result, Err(AdminError::KeyNotFound)));
        }
    }
}

#[test]
fn a_key_sets_no_password_through_the_admin_api() {
    let by_key = Actor {
        by_key: true,
        ..actor()
    };
    // Refused before any hash or write: no hasher or store expectation.
    let mut ports = Mocks::default();
    ports.exists(someone(2, "agent47", false, "me"));
    let service = ports.service();
    let result = service.update_user(
        &by_key,
        &name("agent47"),
        UpdateUserRequest {
            password: Some(Password::parse("a new password").unwrap()),
            ..UpdateUserRequest::default()
        },
    );
    assert!(matches!(result, Err(AdminError::Forbidden)), "{result:?}");
    let created = service.create_user(&by_key, create_request("agent48", false, None));
    assert!(matches!(created, Err(AdminError::Forbidden)), "{created:?}");
}

#[test]
fn an_admin_key_makes_an_actor_that_sets_no_password() {
    let mut ports = Mocks::default();
    ports
        .api_keys
        .expect_find()
        .returning(|_| Ok(Some((admin_key("admin me"), root()))));
    let actor = ports
        .service()
        .acting_superuser(&key_credential(), Origin::default())
        .unwrap();
    assert!(actor.by_key);
    let token_actor = {
        let mut ports = Mocks::default();
        ports.exists(root());
        ports
            .service()
            .acting_superuser(&token_of("root"), Origin::default())
            .unwrap()
    };
    assert!(!token_actor.by_key);
}
