use mockall::predicate::eq;

use super::*;
use crate::ports::{MockClock, MockPasswordHasher, MockTokenService, MockUserRepository};
use crate::{IssuedToken, TokenError, UserDetails};

const NOW: u64 = 1_700_000_000;
const ACCESS_LIFETIME: u64 = 900;
const DUMMY_HASH: &str = "dummy-hash";

/// The ports of one test; each test states what it expects of them, and
/// any call it did not expect fails the test.
#[derive(Default)]
struct Ports {
    users: MockUserRepository,
    hasher: MockPasswordHasher,
    tokens: MockTokenService,
}

impl Ports {
    fn service(self) -> AuthService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        AuthService::new(
            Arc::new(self.users),
            Arc::new(self.hasher),
            Arc::new(self.tokens),
            Arc::new(clock),
            PasswordHash::new(DUMMY_HASH),
        )
    }

    fn user_exists(&mut self, user: User) {
        let name = user.username.clone();
        self.users
            .expect_find_by_username()
            .with(eq(name))
            .returning(move |_| Ok(Some(user.clone())));
    }

    fn user_missing(&mut self, name: &str) {
        self.users
            .expect_find_by_username()
            .with(eq(Username::parse(name).unwrap()))
            .returning(|_| Ok(None));
    }

    fn token_decodes(&mut self, token: &'static str, claims: Result<Claims, TokenError>) {
        let kind = claims.as_ref().map_or(TokenKind::Access, |c| c.kind);
        self.tokens
            .expect_decode()
            .withf(move |t, k, now| t == token && *k == kind && *now == NOW)
            .returning(move |_, _, _| claims.clone());
    }

    /// Signs tokens as `<kind>-for-<subject>-in-<family>`.
    fn tokens_are_issued(&mut self) {
        self.tokens.expect_issue().returning(|request| {
            let family = match request.kind {
                TokenKind::Access => None,
                TokenKind::Refresh => Some(request.family.clone().unwrap_or("new".into())),
            };
            let claims = Claims {
                subject: request.subject.to_string(),
                kind: request.kind,
                issued_at: request.now,
                expires_at: request.now + ACCESS_LIFETIME,
                id: "jti".into(),
                family: family.clone(),
            };
            let token = format!(
                "{:?}-for-{}-in-{}",
                request.kind,
                request.subject,
                family.unwrap_or_default()
            );
            Ok(IssuedToken { token, claims })
        });
    }
}

fn user(name: &str, is_active: bool) -> User {
    User {
        id: 7,
        username: Username::parse(name).unwrap(),
        password_hash: PasswordHash::new(format!("hash-of-{name}")),
        is_active,
        details: UserDetails::default(),
    }
}

fn claims(kind: TokenKind, subject: &str, family: Option<&str>) -> Claims {
    Claims {
        subject: subject.into(),
        kind,
        issued_at: NOW - 10,
        expires_at: NOW + 10,
        id: "jti".into(),
        family: family.map(Into::into),
    }
}

fn register_request(name: &str) -> RegisterRequest {
    RegisterRequest {
        username: Username::parse(name).unwrap(),
        password: Password::parse("correct horse").unwrap(),
        is_active: true,
    }
}

fn login(name: &str, password: &str) -> LoginRequest {
    LoginRequest {
        username: name.into(),
        password: password.into(),
    }
}

fn store_down() -> InfraError {
    InfraError::unavailable("connection refused")
}

// --- register -------------------------------------------------------------

#[test]
fn registration_stores_the_hash_and_never_the_password() {
    let mut ports = Ports::default();
    ports.user_missing("agent47");
    ports
        .hasher
        .expect_hash()
        .withf(|p| p.expose() == "correct horse")
        .returning(|_| Ok(PasswordHash::new("hashed")));
    ports
        .users
        .expect_create()
        .withf(|new| {
            new.username.as_ref() == "agent47"
                && new.password_hash.as_ref() == "hashed"
                && new.is_active
        })
        .times(1)
        .returning(|_| Ok(user("agent47", true)));

    let created = ports
        .service()
        .register(register_request("agent47"))
        .unwrap();
    assert_eq!(created.username.as_ref(), "agent47");
}

#[test]
fn registration_keeps_the_requested_inactive_flag() {
    let mut ports = Ports::default();
    ports.user_missing("agent47");
    ports
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("hashed")));
    ports
        .users
        .expect_create()
        .withf(|new| !new.is_active)
        .times(1)
        .returning(|_| Ok(user("agent47", false)));
    let request = RegisterRequest {
        is_active: false,
        ..register_request("agent47")
    };

    assert!(!ports.service().register(request).unwrap().is_active);
}

#[test]
fn a_taken_username_is_refused_without_spending_a_hash() {
    let mut ports = Ports::default();
    ports.user_exists(user("agent47", true));
    // No expectation on the hasher or on create: calling either fails.

    let result = ports.service().register(register_request("agent47"));
    assert!(matches!(result, Err(RegisterError::UsernameTaken)));
}

#[test]
fn a_registration_that_loses_a_race_is_username_taken() {
    let mut ports = Ports::default();
    ports.user_missing("agent47");
    ports
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("hashed")));
    ports
        .users
        .expect_create()
        .returning(|_| Err(CreateUserError::UsernameTaken));

    let result = ports.service().register(register_request("agent47"));
    assert!(matches!(result, Err(RegisterError::UsernameTaken)));
}

#[test]
fn a_store_failure_during_registration_is_passed_on() {
    let mut ports = Ports::default();
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

// --- login ----------------------------------------------------------------

#[test]
fn the_right_password_gets_an_access_and_a_refresh_token_of_a_new_family() {
    let mut ports = Ports::default();
    ports.user_exists(user("agent47", true));
    ports
        .hasher
        .expect_verify()
        .withf(|p, h| p.expose() == "correct horse" && h.as_ref() == "hash-of-agent47")
        .times(1)
        .returning(|_, _| Ok(true));
    ports.tokens_are_issued();

    let pair = ports
        .service()
        .login(login("agent47", "correct horse"))
        .unwrap();
    assert_eq!(pair.access_token, "Access-for-agent47-in-");
    assert_eq!(pair.refresh_token, "Refresh-for-agent47-in-new");
    assert_eq!(pair.expires_in, ACCESS_LIFETIME);
}

#[test]
fn a_wrong_password_is_invalid_credentials() {
    let mut ports = Ports::default();
    ports.user_exists(user("agent47", true));
    ports.hasher.expect_verify().returning(|_, _| Ok(false));

    let result = ports.service().login(login("agent47", "wrong password"));
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn an_unknown_user_still_costs_one_hash_check_against_the_dummy_hash() {
    let mut ports = Ports::default();
    ports.user_missing("nobody");
    ports
        .hasher
        .expect_verify()
        .withf(|p, h| p.expose() == "some password" && h.as_ref() == DUMMY_HASH)
        .times(1)
        .returning(|_, _| Ok(true));

    let result = ports.service().login(login("nobody", "some password"));
    // Even a dummy "match" must not log anyone in.
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn a_username_that_could_never_register_is_refused_after_a_hash_check() {
    let mut ports = Ports::default();
    ports
        .hasher
        .expect_verify()
        .withf(|_, h| h.as_ref() == DUMMY_HASH)
        .times(1)
        .returning(|_, _| Ok(false));

    let result = ports
        .service()
        .login(login("no spaces allowed", "some password"));
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn a_password_over_72_bytes_never_matches_even_if_its_prefix_would() {
    let mut ports = Ports::default();
    ports.user_exists(user("agent47", true));
    // bcrypt would accept the first 72 bytes; the service must not ask it
    // about the user's hash at all, only spend the dummy check.
    ports
        .hasher
        .expect_verify()
        .withf(|_, h| h.as_ref() == DUMMY_HASH)
        .times(1)
        .returning(|_, _| Ok(true));

    let result = ports.service().login(login("agent47", &"a".repeat(73)));
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn an_inactive_user_can_log_in() {
    let mut ports = Ports::default();
    ports.user_exists(user("sleeper", false));
    ports.hasher.expect_verify().returning(|_, _| Ok(true));
    ports.tokens_are_issued();

    assert!(
        ports
            .service()
            .login(login("sleeper", "correct horse"))
            .is_ok()
    );
}

#[test]
fn a_store_failure_during_login_is_not_reported_as_bad_credentials() {
    let mut ports = Ports::default();
    ports
        .users
        .expect_find_by_username()
        .returning(|_| Err(store_down()));

    let result = ports.service().login(login("agent47", "correct horse"));
    assert!(matches!(result, Err(LoginError::Infra(_))));
}

// --- current user ---------------------------------------------------------

#[test]
fn a_valid_access_token_yields_its_user() {
    let mut ports = Ports::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "agent47", None)));
    ports.user_exists(user("agent47", true));

    let found = ports.service().current_user("tok").unwrap();
    assert_eq!(found.username.as_ref(), "agent47");
}

#[test]
fn an_expired_or_foreign_access_token_cannot_authenticate() {
    for error in [TokenError::Expired, TokenError::Invalid] {
        let mut ports = Ports::default();
        ports.token_decodes("tok", Err(error));
        let result = ports.service().current_user("tok");
        assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
    }
}

#[test]
fn a_token_of_a_deleted_user_cannot_authenticate() {
    let mut ports = Ports::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "ghost", None)));
    ports.user_missing("ghost");

    let result = ports.service().current_user("tok");
    assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
}

#[test]
fn a_token_whose_subject_is_no_valid_username_cannot_authenticate() {
    let mut ports = Ports::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "x", None)));
    // No store expectation: the service must not even look.

    let result = ports.service().current_user("tok");
    assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
}

#[test]
fn an_inactive_user_is_told_so() {
    let mut ports = Ports::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "sleeper", None)));
    ports.user_exists(user("sleeper", false));

    let result = ports.service().current_user("tok");
    assert!(matches!(result, Err(AuthenticateError::InactiveUser)));
}

// --- verify ---------------------------------------------------------------

#[test]
fn verify_checks_the_token_as_an_access_token_without_reading_the_store() {
    let mut ports = Ports::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "agent47", None)));

    let verified = ports.service().verify("tok").unwrap();
    assert_eq!(verified.subject, "agent47");
}

#[test]
fn verify_refuses_what_the_token_service_refuses() {
    let mut ports = Ports::default();
    ports.token_decodes("tok", Err(TokenError::Expired));

    assert_eq!(ports.service().verify("tok"), Err(TokenError::Expired));
}

// --- refresh --------------------------------------------------------------

#[test]
fn a_refresh_issues_a_new_pair_in_the_same_family() {
    let mut ports = Ports::default();
    ports.token_decodes(
        "rt",
        Ok(claims(TokenKind::Refresh, "agent47", Some("fam-1"))),
    );
    ports.user_exists(user("agent47", true));
    ports.tokens_are_issued();

    let pair = ports.service().refresh("rt").unwrap();
    assert_eq!(pair.access_token, "Access-for-agent47-in-");
    assert_eq!(pair.refresh_token, "Refresh-for-agent47-in-fam-1");
}

#[test]
fn an_access_token_cannot_refresh() {
    let mut ports = Ports::default();
    // The service asks for a refresh token; an access token decodes as invalid.
    ports
        .tokens
        .expect_decode()
        .withf(|_, kind, _| *kind == TokenKind::Refresh)
        .returning(|_, _, _| Err(TokenError::Invalid));

    let result = ports.service().refresh("access-token");
    assert!(matches!(result, Err(RefreshError::InvalidToken)));
}

#[test]
fn an_expired_refresh_token_cannot_refresh() {
    let mut ports = Ports::default();
    ports
        .tokens
        .expect_decode()
        .returning(|_, _, _| Err(TokenError::Expired));

    assert!(matches!(
        ports.service().refresh("rt"),
        Err(RefreshError::InvalidToken)
    ));
}

#[test]
fn a_refresh_token_of_a_deleted_user_cannot_refresh() {
    let mut ports = Ports::default();
    ports.token_decodes("rt", Ok(claims(TokenKind::Refresh, "ghost", Some("f"))));
    ports.user_missing("ghost");

    assert!(matches!(
        ports.service().refresh("rt"),
        Err(RefreshError::InvalidToken)
    ));
}

#[test]
fn an_inactive_user_can_refresh() {
    let mut ports = Ports::default();
    ports.token_decodes("rt", Ok(claims(TokenKind::Refresh, "sleeper", Some("f"))));
    ports.user_exists(user("sleeper", false));
    ports.tokens_are_issued();

    assert!(ports.service().refresh("rt").is_ok());
}
