//! The use cases against mockall mocks of their ports, one file per use
//! case. Each test states what it expects of the ports through `Mocks`; any
//! call it did not expect fails the test.

use mockall::predicate::eq;

use super::*;
use crate::ports::{
    MockApiKeyMinter, MockApiKeyRepository, MockAuditRepository, MockClock,
    MockLoginFailureRepository, MockPasswordHasher, MockSessionRepository, MockTokenService,
    MockUserRepository,
};
use crate::{Email, IssuedToken, Places, TokenError};

mod api_keys;
mod authorize;
mod current_user;
mod details;
mod devices;
mod events;
mod login;
mod logout;
mod password;
mod refresh;
mod register;
mod scopes;

const VERSION: i64 = 4;
/// The places `reserve` hands out in these tests.
const PLACES: [i64; 2] = [11, 12];

const NOW: u64 = 1_700_000_000;
const ACCESS_LIFETIME: u64 = 900;
const DUMMY_HASH: &str = "dummy-hash";
const WINDOW: u64 = 900;
const RETENTION: u64 = 90 * 86_400;
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
    audit: MockAuditRepository,
    api_keys: MockApiKeyRepository,
    minter: MockApiKeyMinter,
}

impl Mocks {
    fn service(self) -> AuthService {
        self.service_with_grace(0)
    }

    /// With `AUTH__REFRESH_REUSE_GRACE_SECS` at `grace`.
    fn service_with_grace(self, grace: u64) -> AuthService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        AuthService::new(
            Ports {
                users: Arc::new(self.users),
                sessions: Arc::new(self.sessions),
                login_failures: Arc::new(self.failures),
                hasher: Arc::new(self.hasher),
                tokens: Arc::new(self.tokens),
                audit: Arc::new(self.audit),
                api_keys: Arc::new(self.api_keys),
                key_minter: Arc::new(self.minter),
                clock: Arc::new(clock),
            },
            AuthPolicy {
                dummy_hash: PasswordHash::new(DUMMY_HASH),
                login_limits: LIMITS,
                scopes: catalogue(),
                audit_retention_secs: RETENTION,
                issuer: "zentra".into(),
                refresh_reuse_grace_secs: grace,
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

    /// Exactly once, the reserved places are given back.
    fn places_are_given_back(&mut self) {
        self.failures
            .expect_release()
            .withf(|places| places.0 == PLACES)
            .times(1)
            .returning(|_| Ok(()));
    }

    fn attempts_are_refused(&mut self, retry_after_secs: u64) {
        self.failures
            .expect_reserve()
            .returning(move |_| Ok(Reservation::Refused { retry_after_secs }));
    }

    /// Every password hashes to `hash`.
    fn passwords_hash_to(&mut self, hash: &'static str) {
        self.hasher
            .expect_hash()
            .returning(move |_| Ok(PasswordHash::new(hash)));
    }

    /// `user` exists, their hash is at the configured cost, and the
    /// password given for them is right.
    fn password_is_right(&mut self, user: User) {
        self.user_exists(user);
        self.hashes_are_current();
        self.hasher.expect_verify().returning(|_, _| Ok(true));
    }

    /// `user` exists, their hash is at the configured cost, and the
    /// password given for them is wrong.
    fn password_is_wrong(&mut self, user: User) {
        self.user_exists(user);
        self.hashes_are_current();
        self.hasher.expect_verify().returning(|_, _| Ok(false));
    }

    /// The right password for `user`: tokens issued, a session started.
    fn login_succeeds(&mut self, user: User) {
        self.password_is_right(user);
        self.tokens_are_issued();
        self.sessions_are_created();
    }

    /// Exactly one check, against the dummy hash, answering `answer`.
    fn only_the_dummy_hash_is_checked(&mut self, answer: bool) {
        self.hasher
            .expect_verify()
            .withf(|_, h| h.as_ref() == DUMMY_HASH)
            .times(1)
            .returning(move |_, _| Ok(answer));
    }

    fn sessions_are_created(&mut self) {
        self.sessions.expect_create().returning(|_, _| Ok(true));
    }

    /// Exactly once, `family` is revoked as user 7's, with an event of
    /// `action` by agent47 (or whoever the token named).
    fn family_is_revoked(&mut self, family: &'static str, action: Action) {
        self.sessions
            .expect_revoke_family()
            .withf(move |f, owner, event| {
                f == family && *owner == 7 && event.action == action && event.at == NOW
            })
            .times(1)
            .returning(|_, _, _| Ok(true));
    }

    /// Exactly once, an event of `action` about `subject` is recorded
    /// through the audit port, from the test's origin.
    fn event_is_recorded(&mut self, action: Action, subject: &'static str) {
        self.audit
            .expect_record()
            .withf(move |event| {
                event.action == action
                    && event.subject.as_ref().map(AsRef::as_ref) == Some(subject)
                    && event.at == NOW
                    && event.origin == origin()
            })
            .times(1)
            .returning(|_| Ok(()));
    }

    /// Any event may be recorded through the audit port.
    fn events_are_recorded(&mut self) {
        self.audit.expect_record().returning(|_| Ok(()));
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

    /// Signs tokens as `<kind>-for-<subject>-in-<family>`; a refresh
    /// token without a family starts `new`, an access token carries the
    /// session it is given (`sid`) and its scopes.
    fn tokens_are_issued(&mut self) {
        self.tokens.expect_issue().returning(|request| {
            let (family, scopes) = match request.kind {
                TokenKind::Access => (request.family.clone(), Some(request.scopes.clone())),
                TokenKind::Refresh => (Some(request.family.clone().unwrap_or("new".into())), None),
            };
            let claims = Claims {
                subject: request.subject.to_string(),
                kind: request.kind,
                issued_at: request.now,
                expires_at: request.now + ACCESS_LIFETIME,
                id: request
                    .id
                    .clone()
                    .unwrap_or_else(|| format!("jti-{:?}", request.kind)),
                family: family.clone(),
                scopes,
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

/// A refresh with `rt` of agent47's family `fam-1`, whose session was
/// granted `session` at login, by a user (id 7) now granted `grants`; no
/// token signing expected yet.
fn refresh_of_fam_1(session: &'static str, grants: &str) -> Mocks {
    let mut ports = Mocks::default();
    ports.token_decodes(
        "rt",
        Ok(claims(TokenKind::Refresh, "agent47", Some("fam-1"))),
    );
    ports.user_exists(user_granted("agent47", true, grants));
    ports
        .sessions
        .expect_scopes()
        .withf(|family, owner| family == "fam-1" && *owner == 7)
        .returning(move |_, _| Ok(Some(scopes(session))));
    ports
}

/// The catalogue of these tests: the built-ins and the operator's
/// `items:read items:write`; a new user is granted `me`.
fn catalogue() -> ScopeCatalogue {
    ScopeCatalogue::new(&scopes("items:read items:write"), scopes("me")).unwrap()
}

fn scopes(raw: &str) -> Scopes {
    Scopes::parse(raw).unwrap()
}

/// A user (id 7) granted `me`, not a superuser.
fn user(name: &str, is_active: bool) -> User {
    user_granted(name, is_active, "me")
}

/// A user (id 7) granted `grants`, not a superuser.
fn user_granted(name: &str, is_active: bool, grants: &str) -> User {
    User {
        id: 7,
        username: Username::parse(name).unwrap(),
        password_hash: PasswordHash::new(format!("hash-of-{name}")),
        credential_version: VERSION,
        is_active,
        is_superuser: false,
        scopes: scopes(grants),
        created_at: NOW - 1000,
        details: UserDetails::default(),
    }
}

/// Claims without a `scope` claim (a refresh token's, or an access token
/// issued before scopes).
fn claims(kind: TokenKind, subject: &str, family: Option<&str>) -> Claims {
    Claims {
        subject: subject.into(),
        kind,
        issued_at: NOW - 10,
        expires_at: NOW + 10,
        id: "jti".into(),
        family: family.map(Into::into),
        scopes: None,
    }
}

/// An access token's claims granting `granted`.
fn access_claims(subject: &str, granted: &str) -> Claims {
    Claims {
        scopes: Some(scopes(granted)),
        ..claims(TokenKind::Access, subject, Some("fam-1"))
    }
}

/// Where the test's requests come from.
fn origin() -> Origin {
    Origin::new(Some("10.0.0.1".into()), Some("test-agent"), Some("req-1"))
}

/// The device of [`origin`]: what a session started or refreshed from it
/// records.
fn device() -> Device {
    Device {
        client_address: Some("10.0.0.1".into()),
        user_agent: Some("test-agent".into()),
    }
}

fn login(name: &str, password: &str) -> LoginRequest {
    LoginRequest {
        username: name.into(),
        password: password.into(),
        scope: None,
        origin: origin(),
    }
}

/// A login asking for `scope`.
fn login_asking(name: &str, password: &str, scope: &str) -> LoginRequest {
    LoginRequest {
        scope: Some(scope.into()),
        ..login(name, password)
    }
}

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

fn store_down() -> InfraError {
    InfraError::unavailable("connection refused")
}
