//! The audit trail (docs/api.md §9): security events, each with its time,
//! action, actor, subject user and where the request came from; never a
//! password, hash, token or key.

use std::fmt;

use crate::{UnixSeconds, Username, text};

/// What happened. The names are the contract's (docs/api.md §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    UserRegistered,
    LoginSucceeded,
    LoginFailed,
    LoginLocked,
    TokenRefreshed,
    TokenReuseDetected,
    SessionLogout,
    SessionLogoutAll,
    SessionRevoked,
    PasswordChanged,
    ProfileUpdated,
    ApiKeyCreated,
    ApiKeyRevoked,
    AdminUserCreated,
    AdminUserUpdated,
    AdminUserDeleted,
    AdminUserLoggedOut,
    AdminUserUnlocked,
    AdminApiKeyRevoked,
}

impl Action {
    /// Every action, for documentation and for checking filters.
    pub const ALL: [Self; 19] = [
        Self::UserRegistered,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LoginLocked,
        Self::TokenRefreshed,
        Self::TokenReuseDetected,
        Self::SessionLogout,
        Self::SessionLogoutAll,
        Self::SessionRevoked,
        Self::PasswordChanged,
        Self::ProfileUpdated,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::AdminUserCreated,
        Self::AdminUserUpdated,
        Self::AdminUserDeleted,
        Self::AdminUserLoggedOut,
        Self::AdminUserUnlocked,
        Self::AdminApiKeyRevoked,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRegistered => "user.registered",
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::LoginLocked => "login.locked",
            Self::TokenRefreshed => "token.refreshed",
            Self::TokenReuseDetected => "token.reuse_detected",
            Self::SessionLogout => "session.logout",
            Self::SessionLogoutAll => "session.logout_all",
            Self::SessionRevoked => "session.revoked",
            Self::PasswordChanged => "password.changed",
            Self::ProfileUpdated => "profile.updated",
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::AdminUserCreated => "admin.user_created",
            Self::AdminUserUpdated => "admin.user_updated",
            Self::AdminUserDeleted => "admin.user_deleted",
            Self::AdminUserLoggedOut => "admin.user_logged_out",
            Self::AdminUserUnlocked => "admin.user_unlocked",
            Self::AdminApiKeyRevoked => "admin.api_key_revoked",
        }
    }

    /// The action of that name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a request came from, as the HTTP adapter saw it. Every field is
/// bounded and storable ([`Origin::new`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl Origin {
    /// Longest user agent kept: the rest is cut (at a character boundary).
    pub const MAX_USER_AGENT_CHARS: usize = 256;
    /// Longest request id kept.
    pub const MAX_REQUEST_ID_CHARS: usize = 128;

    /// An origin from the request's text, bounded and storable: text that
    /// could not be stored (a NUL) is dropped, not refused, since the
    /// request itself may be fine.
    #[must_use]
    pub fn new(
        client_address: Option<String>,
        user_agent: Option<&str>,
        request_id: Option<&str>,
    ) -> Self {
        let keep = |text: &str, max: usize| {
            text::is_storable(text).then(|| text.chars().take(max).collect::<String>())
        };
        Self {
            client_address: client_address.filter(|address| text::is_storable(address)),
            user_agent: user_agent.and_then(|agent| keep(agent, Self::MAX_USER_AGENT_CHARS)),
            request_id: request_id.and_then(|id| keep(id, Self::MAX_REQUEST_ID_CHARS)),
        }
    }
}

/// An event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub at: UnixSeconds,
    pub action: Action,
    /// Who did it: the user themself, an administrator, or `None` for the
    /// system (start-up, an operator's command).
    pub actor: Option<Username>,
    /// The user it happened to (a failed login names the username tried,
    /// if it is one a user could have).
    pub subject: Option<Username>,
    pub origin: Origin,
}

impl NewEvent {
    /// An event a user caused on their own account.
    #[must_use]
    pub fn by(user: &Username, action: Action, origin: &Origin, at: UnixSeconds) -> Self {
        Self {
            at,
            action,
            actor: Some(user.clone()),
            subject: Some(user.clone()),
            origin: origin.clone(),
        }
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Increasing with time: newer events have larger ids.
    pub id: i64,
    pub at: UnixSeconds,
    /// The action's name, as stored (an action a later version dropped is
    /// still listed).
    pub action: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub origin: Origin,
}

/// Which events to list: newest first, at most `limit`, only those with an
/// id below `before` (the last id of the previous page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    pub subject: Option<Username>,
    /// Only the events of `subject`'s current account: from its creation
    /// (its `user.registered` or `admin.user_created`, stored with the user
    /// itself) on, so that a new account of a deleted user's name does not
    /// read the old account's trail as its own.
    pub current_account_only: bool,
    pub action: Option<Action>,
    pub before: Option<i64>,
    pub limit: u32,
}

impl EventQuery {
    pub const MAX_LIMIT: u32 = 200;
    pub const DEFAULT_LIMIT: u32 = 50;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_distinct_name_that_reads_back() {
        let mut names: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        for action in Action::ALL {
            assert_eq!(Action::from_name(action.as_str()), Some(action));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
        assert_eq!(Action::from_name("login.nope"), None);
    }

    #[test]
    fn an_origin_is_bounded_and_storable() {
        let long = "x".repeat(1000);
        let origin = Origin::new(Some("10.0.0.1".into()), Some(&long), Some("a\0b"));
        assert_eq!(origin.client_address.as_deref(), Some("10.0.0.1"));
        assert_eq!(
            origin.user_agent.as_deref().map(str::len),
            Some(Origin::MAX_USER_AGENT_CHARS)
        );
        assert_eq!(origin.request_id, None);
    }
}
