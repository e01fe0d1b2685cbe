//! Table upkeep: rows that serve nothing any more are deleted on a
//! schedule, not only when their user logs in again (a user who never comes
//! back would otherwise leave their rows forever).

use super::AuthService;
use crate::InfraError;

/// What one upkeep pass deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    pub sessions: u64,
    pub login_failures: u64,
    pub audit_events: u64,
    pub api_keys: u64,
}

impl AuthService {
    /// Deletes the sessions expired by now (revoked ones included: see
    /// [`crate::SessionRepository::prune`]) and the failed-login places
    /// older than the window, the audit events older than their retention
    /// and the API keys expired by now, as of the injected clock.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails; the next pass tries again.
    pub fn prune_expired(&self) -> Result<Pruned, InfraError> {
        let now = self.ports.clock.now();
        let sessions = self.ports.sessions.prune(now)?;
        // The same bound `reserve` forgets by: outside the window a place
        // no longer counts for anyone.
        let before = now.saturating_sub(self.policy.login_limits.window_secs);
        let login_failures = self.ports.login_failures.prune(before)?;
        let retained_from = now.saturating_sub(self.policy.audit_retention_secs);
        let audit_events = self.ports.audit.prune(retained_from)?;
        let api_keys = self.ports.api_keys.prune(now)?;
        Ok(Pruned {
            sessions,
            login_failures,
            audit_events,
            api_keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mockall::predicate::eq;

    use crate::ports::{
        MockApiKeyMinter, MockApiKeyRepository, MockAuditRepository, MockClock,
        MockLoginFailureRepository, MockPasswordHasher, MockSessionRepository, MockTokenService,
        MockUserRepository,
    };
    use crate::{
        AuthPolicy, AuthService, InfraError, LoginLimits, PasswordHash, Ports, Pruned,
        ScopeCatalogue, Scopes,
    };

    const WINDOW: u64 = 900;
    const RETENTION: u64 = 90 * 86_400;

    /// The keys expired by `now` are pruned: two of them.
    fn api_keys(now: u64) -> MockApiKeyRepository {
        let mut keys = MockApiKeyRepository::new();
        keys.expect_prune().with(eq(now)).returning(|_| Ok(2));
        keys
    }

    /// The audit trail prunes whatever it is asked to, finding `pruned`.
    fn audit(pruned: u64) -> MockAuditRepository {
        let mut audit = MockAuditRepository::new();
        audit.expect_prune().returning(move |_| Ok(pruned));
        audit
    }

    fn service(
        now: u64,
        sessions: MockSessionRepository,
        failures: MockLoginFailureRepository,
    ) -> AuthService {
        service_with(now, sessions, failures, audit(0))
    }

    fn service_with(
        now: u64,
        sessions: MockSessionRepository,
        failures: MockLoginFailureRepository,
        audit: MockAuditRepository,
    ) -> AuthService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now);
        AuthService::new(
            Ports {
                users: Arc::new(MockUserRepository::new()),
                sessions: Arc::new(sessions),
                login_failures: Arc::new(failures),
                hasher: Arc::new(MockPasswordHasher::new()),
                tokens: Arc::new(MockTokenService::new()),
                audit: Arc::new(audit),
                api_keys: Arc::new(api_keys(now)),
                key_minter: Arc::new(MockApiKeyMinter::new()),
                clock: Arc::new(clock),
            },
            AuthPolicy {
                dummy_hash: PasswordHash::new("dummy-hash"),
                login_limits: LoginLimits {
                    max_failures: 3,
                    max_failures_per_address: 5,
                    window_secs: WINDOW,
                },
                scopes: ScopeCatalogue::new(&Scopes::empty(), Scopes::legacy()).unwrap(),
                audit_retention_secs: RETENTION,
                issuer: "zentra".into(),
                refresh_reuse_grace_secs: 0,
            },
        )
    }

    #[test]
    fn a_pass_prunes_sessions_expired_now_and_places_older_than_the_window() {
        let now = 1_700_000_000;
        let mut sessions = MockSessionRepository::new();
        sessions
            .expect_prune()
            .with(eq(now))
            .times(1)
            .returning(|_| Ok(3));
        let mut failures = MockLoginFailureRepository::new();
        failures
            .expect_prune()
            .with(eq(now - WINDOW))
            .times(1)
            .returning(|_| Ok(7));
        let mut audit = MockAuditRepository::new();
        audit
            .expect_prune()
            .with(eq(now - RETENTION))
            .times(1)
            .returning(|_| Ok(11));
        let pruned = service_with(now, sessions, failures, audit)
            .prune_expired()
            .unwrap();
        assert_eq!(
            pruned,
            Pruned {
                sessions: 3,
                login_failures: 7,
                audit_events: 11,
                api_keys: 2,
            }
        );
    }

    #[test]
    fn the_clock_decides_what_has_expired() {
        // Early in the epoch the window reaches back before it: nothing
        // underflows.
        let mut sessions = MockSessionRepository::new();
        sessions.expect_prune().with(eq(60)).returning(|_| Ok(0));
        let mut failures = MockLoginFailureRepository::new();
        failures.expect_prune().with(eq(0)).returning(|_| Ok(0));
        assert_eq!(
            service(60, sessions, failures).prune_expired().unwrap(),
            Pruned {
                api_keys: 2,
                ..Pruned::default()
            }
        );
    }

    #[test]
    fn a_failing_store_is_reported() {
        let mut sessions = MockSessionRepository::new();
        sessions
            .expect_prune()
            .returning(|_| Err(InfraError::Unavailable("down".into())));
        let failures = MockLoginFailureRepository::new();
        assert!(service(1000, sessions, failures).prune_expired().is_err());
    }
}
