use mockall::predicate::eq;

use super::*;
use crate::ports::{
    MockClock, MockLoginFailureRepository, MockPasswordHasher, MockSessionRepository,
    MockTokenService, MockUserRepository,
};
use crate::{Email, IssuedToken, Places, TokenError, UserDetails};

const VERSION: i64 = 4;
/// The places `reserve` hands out in these tests.
const PLACES: [i64; 2] = [11, 12];

const NOW: u64 = 1_700_000_000;
const ACCESS_LIFETIME: u64 = 900;
const DUMMY_HASH: &str = "dummy-hash";
const WINDOW: u64 = 900;
const LIMITS: LoginLimits = LoginLimits {
    max_failures: 3,
    max_failures_per_address: 5,
    window_secs: WINDOW,
};

/// The ports of one test; each test states what it expects of them, and
/// any call it did not expect fails the test.
#[derive(Default)]
struct Mocks {
    users: MockUserRepository,
    sessions: MockSessionRepository,
    failures: MockLoginFailureRepository,
    hasher: MockPasswordHasher,
    tokens: MockTokenService,
}

impl Mocks {
    fn service(self) -> AuthService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        AuthService::new(
            Ports {
                users: Arc::new(self.users),
                sessions: Arc::new(self.sessions),
                login_failures: Arc::new(self.failures),
                hasher: Arc::new(self.hasher),
                tokens: Arc::new(self.tokens),
                clock: Arc::new(clock),
            },
            AuthPolicy {
                dummy_hash: PasswordHash::new(DUMMY_HASH),
                login_limits: LIMITS,
            },
        )
    }

    /// Every attempt is admitted; releases and clears are accepted.
    fn no_failures(&mut self) {
        self.attempts_are_admitted();
        self.failures.expect_release().returning(|_| Ok(()));
        self.failures.expect_clear().returning(|_| Ok(()));
    }

    fn attempts_are_admitted(&mut self) {
        self.failures
            .expect_reserve()
            .returning(|_| Ok(Reservation::Admitted(Places(PLACES.to_vec()))));
    }

    /// Stored hashes are at the configured cost.
    fn hashes_are_current(&mut self) {
        self.hasher
            .expect_strength()
            .return_const(HashStrength::Current);
    }

    fn sessions_are_created(&mut self) {
        self.sessions.expect_create().returning(|_| Ok(true));
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
                id: format!("jti-{:?}", request.kind),
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
        credential_version: VERSION,
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
        client_address: Some("10.0.0.1".into()),
    }
}

fn store_down() -> InfraError {
    InfraError::unavailable("connection refused")
}

// --- register -------------------------------------------------------------

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
    let mut ports = Mocks::default();
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

// --- login ----------------------------------------------------------------

/// A login as the HTTP adapter runs it: admitted, then checked.
fn log_in(service: &AuthService, request: LoginRequest) -> Result<TokenPair, LoginError> {
    let attempt = service.admit_login(request)?;
    service.login(attempt)
}

/// The attempt a login of `agent47` from 10.0.0.1 at `NOW` reserves.
fn expected_attempt(username: &str) -> Attempt {
    Attempt {
        limits: vec![
            AttemptLimit {
                key: format!("user:{username}"),
                max: LIMITS.max_failures,
            },
            AttemptLimit {
                key: "addr:10.0.0.1".into(),
                max: LIMITS.max_failures_per_address,
            },
        ],
        now: NOW,
        window_secs: WINDOW,
    }
}

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
        .withf(|session| {
            *session
                == NewSession {
                    family: "new".into(),
                    user_id: 7,
                    credential_version: VERSION,
                    current_token_id: "jti-Refresh".into(),
                    created_at: NOW,
                    expires_at: NOW + ACCESS_LIFETIME,
                }
        })
        .times(1)
        .returning(|_| Ok(true));

    let pair = log_in(&ports.service(), login("agent47", "correct horse")).unwrap();
    assert_eq!(pair.access_token.expose_secret(), "Access-for-agent47-in-");
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

    let result = log_in(&ports.service(), login("agent47", "wrong password"));
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn a_successful_login_gives_back_its_places_and_clears_the_usernames_count() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    ports
        .failures
        .expect_release()
        .withf(|places| places.0 == PLACES)
        .times(1)
        .returning(|_| Ok(()));
    ports
        .failures
        .expect_clear()
        .withf(|key| key == "user:agent47")
        .times(1)
        .returning(|_| Ok(()));
    ports.hashes_are_current();
    ports.user_exists(user("agent47", true));
    ports.hasher.expect_verify().returning(|_, _| Ok(true));
    ports.tokens_are_issued();
    ports.sessions_are_created();

    assert!(log_in(&ports.service(), login("agent47", "correct horse")).is_ok());
}

#[test]
fn a_wrong_password_keeps_its_places_as_failures() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    // No release, no clear: the places taken are the failure's record.
    ports.hashes_are_current();
    ports.user_exists(user("agent47", true));
    ports.hasher.expect_verify().returning(|_, _| Ok(false));

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
            .withf(|session| session.credential_version == VERSION)
            .times(1)
            .in_sequence(&mut order)
            .returning(|_| Ok(true));

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
    ports.hashes_are_current();
    ports.user_exists(user("agent47", true));
    ports.hasher.expect_verify().returning(|_, _| Ok(true));
    ports.tokens_are_issued();
    ports.sessions.expect_create().returning(|_| Ok(false));

    let result = log_in(&ports.service(), login("agent47", "correct horse"));
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn a_username_that_could_never_register_is_refused_after_a_hash_check() {
    let mut ports = Mocks::default();
    ports.no_failures();
    ports
        .hasher
        .expect_verify()
        .withf(|_, h| h.as_ref() == DUMMY_HASH)
        .times(1)
        .returning(|_, _| Ok(false));

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
    ports
        .hasher
        .expect_verify()
        .withf(|_, h| h.as_ref() == DUMMY_HASH)
        .times(1)
        .returning(|_, _| Ok(true));

    let result = log_in(&ports.service(), login("agent47", &"a".repeat(73)));
    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
}

#[test]
fn a_refused_reservation_is_too_many_attempts_before_any_check() {
    let mut ports = Mocks::default();
    ports.failures.expect_reserve().returning(|_| {
        Ok(Reservation::Refused {
            retry_after_secs: 300,
        })
    });
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
    ports.hashes_are_current();
    ports.user_exists(user("agent47", true));
    ports.hasher.expect_verify().returning(|_, _| Ok(false));
    let request = LoginRequest {
        client_address: None,
        ..login("agent47", "wrong password")
    };

    assert!(log_in(&ports.service(), request).is_err());
}

#[test]
fn an_inactive_user_can_log_in() {
    let mut ports = Mocks::default();
    ports.no_failures();
    ports.hashes_are_current();
    ports.user_exists(user("sleeper", false));
    ports.hasher.expect_verify().returning(|_, _| Ok(true));
    ports.tokens_are_issued();
    ports.sessions_are_created();

    assert!(log_in(&ports.service(), login("sleeper", "correct horse")).is_ok());
}

#[test]
fn a_store_failure_during_login_gives_the_places_back_and_is_not_bad_credentials() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    ports
        .failures
        .expect_release()
        .withf(|places| places.0 == PLACES)
        .times(1)
        .returning(|_| Ok(()));
    ports
        .users
        .expect_find_by_username()
        .returning(|_| Err(store_down()));

    let result = log_in(&ports.service(), login("agent47", "correct horse"));
    assert!(matches!(result, Err(LoginError::Infra(_))));
}

// --- current user ---------------------------------------------------------

#[test]
fn a_valid_access_token_yields_its_user() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "agent47", None)));
    ports.user_exists(user("agent47", true));

    let found = ports.service().current_user("tok").unwrap();
    assert_eq!(found.username.as_ref(), "agent47");
}

#[test]
fn an_expired_or_foreign_access_token_cannot_authenticate() {
    for error in [TokenError::Expired, TokenError::Invalid] {
        let mut ports = Mocks::default();
        ports.token_decodes("tok", Err(error));
        let result = ports.service().current_user("tok");
        assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
    }
}

#[test]
fn a_token_of_a_deleted_user_cannot_authenticate() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "ghost", None)));
    ports.user_missing("ghost");

    let result = ports.service().current_user("tok");
    assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
}

#[test]
fn a_token_whose_subject_is_no_valid_username_cannot_authenticate() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "x", None)));
    // No store expectation: the service must not even look.

    let result = ports.service().current_user("tok");
    assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
}

#[test]
fn an_inactive_user_is_told_so() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "sleeper", None)));
    ports.user_exists(user("sleeper", false));

    let result = ports.service().current_user("tok");
    assert!(matches!(result, Err(AuthenticateError::InactiveUser)));
}

// --- verify ---------------------------------------------------------------

#[test]
fn verify_checks_the_token_as_an_access_token_without_reading_the_store() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(claims(TokenKind::Access, "agent47", None)));

    let verified = ports.service().verify("tok").unwrap();
    assert_eq!(verified.subject, "agent47");
}

#[test]
fn verify_refuses_what_the_token_service_refuses() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Err(TokenError::Expired));

    assert_eq!(ports.service().verify("tok"), Err(TokenError::Expired));
}

// --- refresh ----------------------------------------------------------------

fn rotation_to_next(family: &'static str) -> impl Fn(&Rotation) -> bool {
    move |rotation| {
        *rotation
            == Rotation {
                family: family.into(),
                user_id: 7,
                current_token_id: "jti".into(),
                next_token_id: "jti-Refresh".into(),
                expires_at: NOW + ACCESS_LIFETIME,
                now: NOW,
            }
    }
}

#[test]
fn a_refresh_rotates_the_session_to_the_new_token() {
    let mut ports = Mocks::default();
    ports.token_decodes(
        "rt",
        Ok(claims(TokenKind::Refresh, "agent47", Some("fam-1"))),
    );
    ports.user_exists(user("agent47", true));
    ports.tokens_are_issued();
    ports
        .sessions
        .expect_rotate()
        .withf(rotation_to_next("fam-1"))
        .times(1)
        .returning(|_| Ok(true));

    let pair = ports.service().refresh("rt").unwrap();
    assert_eq!(pair.access_token.expose_secret(), "Access-for-agent47-in-");
    assert_eq!(
        pair.refresh_token.expose_secret(),
        "Refresh-for-agent47-in-fam-1"
    );
}

#[test]
fn a_replayed_refresh_token_revokes_its_whole_family() {
    let mut ports = Mocks::default();
    ports.token_decodes(
        "old",
        Ok(claims(TokenKind::Refresh, "agent47", Some("fam-1"))),
    );
    ports.user_exists(user("agent47", true));
    ports.tokens_are_issued();
    ports.sessions.expect_rotate().returning(|_| Ok(false));
    ports
        .sessions
        .expect_revoke_family()
        .withf(|family, owner| family == "fam-1" && *owner == 7)
        .times(1)
        .returning(|_, _| Ok(()));

    assert!(matches!(
        ports.service().refresh("old"),
        Err(RefreshError::InvalidToken)
    ));
}

#[test]
fn a_refresh_token_without_a_family_is_invalid() {
    let mut ports = Mocks::default();
    ports.token_decodes("rt", Ok(claims(TokenKind::Refresh, "agent47", None)));

    assert!(matches!(
        ports.service().refresh("rt"),
        Err(RefreshError::InvalidToken)
    ));
}

#[test]
fn an_access_token_cannot_refresh() {
    let mut ports = Mocks::default();
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
    let mut ports = Mocks::default();
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
    let mut ports = Mocks::default();
    ports.token_decodes("rt", Ok(claims(TokenKind::Refresh, "ghost", Some("f"))));
    ports.user_missing("ghost");

    assert!(matches!(
        ports.service().refresh("rt"),
        Err(RefreshError::InvalidToken)
    ));
}

#[test]
fn an_inactive_user_can_refresh() {
    let mut ports = Mocks::default();
    ports.token_decodes("rt", Ok(claims(TokenKind::Refresh, "sleeper", Some("f"))));
    ports.user_exists(user("sleeper", false));
    ports.tokens_are_issued();
    ports.sessions.expect_rotate().returning(|_| Ok(true));

    assert!(ports.service().refresh("rt").is_ok());
}

// --- logout -----------------------------------------------------------------

#[test]
fn logout_revokes_the_family_of_the_token_even_once_expired() {
    let mut ports = Mocks::default();
    // Decoded at time 0: expiry does not stop a logout.
    ports
        .tokens
        .expect_decode()
        .withf(|token, kind, now| token == "rt" && *kind == TokenKind::Refresh && *now == 0)
        .returning(|_, _, _| Ok(claims(TokenKind::Refresh, "agent47", Some("fam-1"))));
    ports.user_exists(user("agent47", true));
    // Only as the subject's own: a family of another user is left alone.
    ports
        .sessions
        .expect_revoke_family()
        .withf(|family, owner| family == "fam-1" && *owner == 7)
        .times(1)
        .returning(|_, _| Ok(()));

    assert!(ports.service().logout("rt").is_ok());
}

#[test]
fn logout_with_a_token_of_a_deleted_user_touches_nothing() {
    let mut ports = Mocks::default();
    ports
        .tokens
        .expect_decode()
        .returning(|_, _, _| Ok(claims(TokenKind::Refresh, "ghost", Some("fam-1"))));
    ports.user_missing("ghost");
    // No session expectation: revoking anything would fail the test.

    assert!(ports.service().logout("rt").is_ok());
}

#[test]
fn logout_with_anything_else_succeeds_and_touches_nothing() {
    let mut ports = Mocks::default();
    ports
        .tokens
        .expect_decode()
        .returning(|_, _, _| Err(TokenError::Invalid));
    // No session expectation: revoking anything would fail the test.

    assert!(ports.service().logout("garbage").is_ok());
}

#[test]
fn logout_everywhere_revokes_every_session_of_the_user() {
    let mut ports = Mocks::default();
    ports
        .sessions
        .expect_revoke_all_for_user()
        .with(eq(7))
        .times(1)
        .returning(|_| Ok(()));

    assert!(ports.service().logout_all(&user("agent47", true)).is_ok());
}

// --- details and password -----------------------------------------------------

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

/// A password change as the HTTP adapter runs it: admitted, then checked.
fn change(
    service: &AuthService,
    user: &User,
    request: ChangePasswordRequest,
) -> Result<(), ChangePasswordError> {
    let attempt = service.admit_password_change(user.clone(), request)?;
    service.change_password(attempt)
}

fn change_password_request(current: &str) -> ChangePasswordRequest {
    ChangePasswordRequest {
        current_password: current.into(),
        new_password: Password::parse("brand new horse").unwrap(),
        client_address: Some("10.0.0.1".into()),
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
    // No hash, no update.

    let result = change(
        &ports.service(),
        &user("agent47", true),
        change_password_request("wrong one"),
    );
    assert!(matches!(
        result,
        Err(ChangePasswordError::IncorrectPassword)
    ));
}

#[test]
fn at_the_limit_a_password_change_is_refused_before_the_check() {
    let mut ports = Mocks::default();
    ports.failures.expect_reserve().returning(|_| {
        Ok(Reservation::Refused {
            retry_after_secs: 60,
        })
    });
    // No hasher: even the right current password is not checked.

    let result = change(
        &ports.service(),
        &user("agent47", true),
        change_password_request("correct horse"),
    );
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
        .withf(|id, version, hash| *id == 7 && *version == VERSION && hash.as_ref() == "new-hash")
        .times(1)
        .returning(|_, _, _| Ok(true));

    let result = change(
        &ports.service(),
        &user("agent47", true),
        change_password_request("correct horse"),
    );
    assert!(result.is_ok());
}

#[test]
fn a_password_change_that_loses_to_a_concurrent_one_is_incorrect_password() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    ports.hasher.expect_verify().returning(|_, _| Ok(true));
    ports
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("new-hash")));
    ports
        .users
        .expect_change_password()
        .returning(|_, _, _| Ok(false));

    let result = change(
        &ports.service(),
        &user("agent47", true),
        change_password_request("correct horse"),
    );
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

#[test]
fn an_attempt_that_never_ran_gives_its_places_back() {
    let mut ports = Mocks::default();
    ports.attempts_are_admitted();
    ports
        .failures
        .expect_release()
        .withf(|places| places.0 == PLACES)
        .times(1)
        .returning(|_| Ok(()));
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
    };
    let shown = format!("{pair:?}");
    assert!(!shown.contains("token.secret"), "{shown}");
}
