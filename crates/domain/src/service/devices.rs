//! Sessions per device (docs/api.md §11): the caller's live sessions, each
//! with where it was last used from, and revoking one of them.

use crate::{Action, AuthService, Credential, InfraError, NewEvent, Origin, SessionInfo, User};

/// A live session and whether the caller's own credential belongs to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSession {
    pub session: SessionInfo,
    pub current: bool,
}

impl AuthService {
    /// `user`'s live sessions, newest first; `current` marks the session
    /// of the access token `credential` is (an API key belongs to none).
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    pub fn list_sessions(
        &self,
        credential: &Credential,
        user: &User,
    ) -> Result<Vec<ListedSession>, InfraError> {
        let own = match credential {
            Credential::Token(claims) => claims.family.as_deref(),
            Credential::ApiKey { .. } => None,
        };
        let sessions = self
            .ports
            .sessions
            .list_live(user.id, self.ports.clock.now())?;
        Ok(sessions
            .into_iter()
            .map(|session| ListedSession {
                current: own == Some(session.family.as_str()),
                session,
            })
            .collect())
    }

    /// Revokes one of `user`'s live sessions (`session.revoked`): its
    /// refresh token stops working; its access tokens run out.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails; `Ok(false)` when `user` has no
    /// such live session.
    pub fn revoke_session(
        &self,
        user: &User,
        session_id: i64,
        origin: &Origin,
    ) -> Result<bool, InfraError> {
        let now = self.ports.clock.now();
        let event = NewEvent::by(&user.username, Action::SessionRevoked, origin, now);
        self.ports
            .sessions
            .revoke_by_id(session_id, user.id, now, &event)
    }
}
