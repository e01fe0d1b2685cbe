//! Rows as the tables hold them, and their conversion into domain types.

use std::cell::RefCell;

use diesel::{AsChangeset, Insertable, Queryable};
use domain::{
    ApiKey, DetailsUpdate, Email, Event, FullName, InfraError, KeyName, NewApiKey, NewEvent,
    NewUser, Origin, PasswordHash, Phone, Scopes, UnixSeconds, User, UserChange, UserDetails,
    Username,
};

use crate::schema::{api_keys, audit_events, login_failures, user_details, users};

/// A `users` row, as `RETURNING users.*` gives it back.
#[derive(Debug, Queryable)]
pub(crate) struct UserRow {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub is_active: bool,
    pub credential_version: i64,
    pub is_superuser: bool,
    pub scopes: String,
    pub created_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct NewUserRow<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub is_active: bool,
    pub is_superuser: bool,
    pub scopes: String,
    pub created_at: i64,
}

impl<'a> NewUserRow<'a> {
    pub(crate) fn new(user: &'a NewUser) -> Result<Self, InfraError> {
        Ok(Self {
            username: user.username.as_ref(),
            password: user.password_hash.as_ref(),
            is_active: user.is_active,
            is_superuser: user.is_superuser,
            scopes: user.scopes.to_string(),
            created_at: to_db_time(user.created_at)?,
        })
    }
}

/// A new `user_details` row. `None` is written as NULL, not left to the
/// column default, so that the statement has one shape whatever is set.
#[derive(Debug, Insertable)]
#[diesel(table_name = user_details, treat_none_as_default_value = false)]
pub(crate) struct NewUserDetailsRow<'a> {
    pub user_id: i64,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub full_name: Option<&'a str>,
}

impl<'a> NewUserDetailsRow<'a> {
    pub(crate) fn new(user_id: i64, details: &'a UserDetails) -> Self {
        Self {
            user_id,
            email: details.email.as_ref().map(AsRef::as_ref),
            phone: details.phone.as_ref().map(AsRef::as_ref),
            full_name: details.full_name.as_ref().map(AsRef::as_ref),
        }
    }
}

/// `users LEFT JOIN user_details`: the details are NULL when the row is
/// missing.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct UserWithDetailsRow {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub is_active: bool,
    pub credential_version: i64,
    pub is_superuser: bool,
    pub scopes: String,
    pub created_at: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub full_name: Option<String>,
}

/// The `users` columns an administrator's change names, as one `UPDATE
/// users SET …`: a `None` field leaves its column out. (The credential
/// version is set beside it, see `users::update`.)
#[derive(Debug, AsChangeset)]
#[diesel(table_name = users)]
pub(crate) struct UserChangeset<'a> {
    pub is_active: Option<bool>,
    pub is_superuser: Option<bool>,
    pub scopes: Option<String>,
    pub password: Option<&'a str>,
}

impl<'a> UserChangeset<'a> {
    pub(crate) fn new(change: &'a UserChange) -> Self {
        Self {
            is_active: change.is_active,
            is_superuser: change.is_superuser,
            scopes: change.scopes.as_ref().map(ToString::to_string),
            password: change.password_hash.as_ref().map(AsRef::as_ref),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.is_active.is_none()
            && self.is_superuser.is_none()
            && self.scopes.is_none()
            && self.password.is_none()
    }
}

/// A details update as one `UPDATE user_details SET …`: a `None` field
/// leaves its column out, `Some(None)` writes NULL.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = user_details)]
pub(crate) struct DetailsChangeset<'a> {
    pub email: Option<Option<&'a str>>,
    pub phone: Option<Option<&'a str>>,
    pub full_name: Option<Option<&'a str>>,
}

impl<'a> DetailsChangeset<'a> {
    pub(crate) fn new(update: &'a DetailsUpdate) -> Self {
        Self {
            email: update
                .email
                .as_ref()
                .map(|email| email.as_ref().map(AsRef::as_ref)),
            phone: update
                .phone
                .as_ref()
                .map(|phone| phone.as_ref().map(AsRef::as_ref)),
            full_name: update
                .full_name
                .as_ref()
                .map(|name| name.as_ref().map(AsRef::as_ref)),
        }
    }

    /// Whether no column would change: diesel refuses to run such an
    /// `UPDATE` (an empty `SET`).
    pub(crate) fn is_empty(&self) -> bool {
        self.email.is_none() && self.phone.is_none() && self.full_name.is_none()
    }
}

/// A new `audit_events` row. `None` is written as NULL (one statement
/// shape, so the prepared statement is reused).
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub(crate) struct NewEventRow<'a> {
    pub at: i64,
    pub action: &'static str,
    pub actor: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub client_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub request_id: Option<&'a str>,
}

impl<'a> NewEventRow<'a> {
    pub(crate) fn new(event: &'a NewEvent) -> Result<Self, InfraError> {
        Ok(Self {
            at: to_db_time(event.at)?,
            action: event.action.as_str(),
            actor: event.actor.as_ref().map(AsRef::as_ref),
            subject: event.subject.as_ref().map(AsRef::as_ref),
            client_address: event.origin.client_address.as_deref(),
            user_agent: event.origin.user_agent.as_deref(),
            request_id: event.origin.request_id.as_deref(),
        })
    }
}

/// An `audit_events` row, in the table's column order.
#[derive(Debug, Queryable)]
pub(crate) struct EventRow {
    pub id: i64,
    pub at: i64,
    pub action: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl EventRow {
    pub(crate) fn into_event(self) -> Result<Event, InfraError> {
        Ok(Event {
            id: self.id,
            at: from_db_time(self.at)?,
            action: self.action,
            actor: self.actor,
            subject: self.subject,
            origin: Origin {
                client_address: self.client_address,
                user_agent: self.user_agent,
                request_id: self.request_id,
            },
        })
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = login_failures)]
pub(crate) struct NewLoginFailureRow<'a> {
    pub key: &'a str,
    pub failed_at: i64,
}

/// A time as the `BIGINT` columns hold it. Past `i64::MAX` seconds is no
/// real time: refused rather than wrapped into the past.
pub(crate) fn to_db_time(time: UnixSeconds) -> Result<i64, InfraError> {
    i64::try_from(time).map_err(|_| InfraError::unexpected(format!("time out of range: {time}")))
}

/// A time read back from a `BIGINT` column: every time stored went through
/// [`to_db_time`], so a negative one is a corrupt record.
pub(crate) fn from_db_time(time: i64) -> Result<UnixSeconds, InfraError> {
    UnixSeconds::try_from(time)
        .map_err(|_| InfraError::unexpected(format!("a stored time is negative: {time}")))
}

impl UserRow {
    pub(crate) fn into_user(self, details: UserDetails) -> Result<User, InfraError> {
        Ok(User {
            id: self.id,
            username: stored_username(self.username)?,
            password_hash: PasswordHash::new(self.password),
            credential_version: self.credential_version,
            is_active: self.is_active,
            is_superuser: self.is_superuser,
            scopes: stored_scopes(&self.scopes)?,
            created_at: from_db_time(self.created_at)?,
            details,
        })
    }
}

impl UserWithDetailsRow {
    pub(crate) fn into_user(self) -> Result<User, InfraError> {
        let details = UserDetails {
            email: self.email.map(Email::from_stored),
            phone: self.phone.map(Phone::from_stored),
            full_name: self.full_name.map(FullName::from_stored),
        };
        UserRow {
            id: self.id,
            username: self.username,
            password: self.password,
            is_active: self.is_active,
            credential_version: self.credential_version,
            is_superuser: self.is_superuser,
            scopes: self.scopes,
            created_at: self.created_at,
        }
        .into_user(details)
    }
}

/// An `api_keys` row (all but the digest it is found by).
#[derive(Debug, Clone, Queryable)]
pub(crate) struct ApiKeyRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
}

impl ApiKeyRow {
    pub(crate) fn into_key(self) -> Result<ApiKey, InfraError> {
        Ok(ApiKey {
            id: self.id,
            user_id: self.user_id,
            name: KeyName::from_stored(self.name),
            prefix: self.prefix,
            scopes: stored_scopes(&self.scopes)?,
            created_at: from_db_time(self.created_at)?,
            expires_at: from_db_time(self.expires_at)?,
            last_used_at: self.last_used_at.map(from_db_time).transpose()?,
        })
    }
}

/// A new `api_keys` row.
#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub(crate) struct NewApiKeyRow<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub prefix: &'a str,
    pub digest: &'a str,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl<'a> NewApiKeyRow<'a> {
    pub(crate) fn new(key: &'a NewApiKey) -> Result<Self, InfraError> {
        Ok(Self {
            user_id: key.user_id,
            name: key.name.as_str(),
            prefix: &key.prefix,
            digest: key.digest.as_str(),
            scopes: key.scopes.to_string(),
            created_at: to_db_time(key.created_at)?,
            expires_at: to_db_time(key.expires_at)?,
        })
    }
}

/// Every stored set of scopes is a `Scopes` written out; one that does not
/// parse now is a corrupt record.
///
/// Every authenticated request reads its user's grants, and most users hold
/// the same ones (the default grants): the last set parsed on this thread
/// is kept by its text and shared (`Scopes` clones are a reference count),
/// which saves three allocations and the name checks per request
/// (callgrind: ~700 instructions of users/me). Parsing is a function of the
/// text alone, so a hit is the parse's own answer.
pub(crate) fn stored_scopes(raw: &str) -> Result<Scopes, InfraError> {
    thread_local! {
        static LAST: RefCell<Option<(Box<str>, Scopes)>> = const { RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| {
        if let Some((text, scopes)) = last.as_ref()
            && **text == *raw
        {
            return Ok(scopes.clone());
        }
        let scopes = Scopes::parse(raw)
            .map_err(|err| InfraError::unexpected(format!("stored scopes do not parse: {err}")))?;
        *last = Some((raw.into(), scopes.clone()));
        Ok(scopes)
    })
}

/// Every stored name passed `Username::parse` on the way in; one that does
/// not now is a corrupt record, not a user.
fn stored_username(raw: String) -> Result<Username, InfraError> {
    Username::parse(raw).map_err(|err| {
        InfraError::unexpected(format!("a stored username breaks the policy: {err}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(username: &str) -> UserWithDetailsRow {
        UserWithDetailsRow {
            id: 7,
            username: username.to_owned(),
            password: "$2b$04$hash".to_owned(),
            is_active: false,
            credential_version: 3,
            is_superuser: true,
            scopes: "admin me".to_owned(),
            created_at: 1_700_000_000,
            email: Some("a@b.example".to_owned()),
            phone: None,
            full_name: Some("Agent".to_owned()),
        }
    }

    #[test]
    fn stored_scopes_are_parsed_from_each_text_whatever_was_read_before() {
        let parsed = |raw: &str| Scopes::parse(raw).expect("valid scopes");
        for raw in ["me", "admin me", "me", "", "me", "items:read me"] {
            assert_eq!(stored_scopes(raw).expect(raw), parsed(raw), "{raw:?}");
        }
        assert!(stored_scopes("me Admin").is_err());
        assert!(stored_scopes("me").is_ok());
        assert!(
            stored_scopes("me Admin").is_err(),
            "a corrupt set is never remembered"
        );
    }

    #[test]
    fn a_joined_row_becomes_a_user_with_its_details() {
        let user = row("agent47").into_user().unwrap();
        assert_eq!(user.id, 7);
        assert_eq!(user.username.as_ref(), "agent47");
        assert_eq!(user.password_hash.as_ref(), "$2b$04$hash");
        assert!(!user.is_active);
        assert_eq!(user.credential_version, 3);
        assert!(user.is_superuser);
        assert_eq!(user.scopes.to_string(), "admin me");
        assert_eq!(user.created_at, 1_700_000_000);
        assert_eq!(
            user.details.email.as_ref().map(AsRef::as_ref),
            Some("a@b.example")
        );
        assert_eq!(user.details.phone, None);
        assert_eq!(
            user.details.full_name.as_ref().map(AsRef::as_ref),
            Some("Agent")
        );
    }

    #[test]
    fn times_beyond_the_column_are_refused_not_wrapped() {
        assert_eq!(to_db_time(1_700_000_000).unwrap(), 1_700_000_000);
        assert!(matches!(
            to_db_time(u64::MAX),
            Err(InfraError::Unexpected(_))
        ));
    }

    #[test]
    fn a_changeset_keeps_what_the_update_leaves_out() {
        let update = DetailsUpdate {
            email: None,
            phone: Some(None),
            full_name: Some(Some(FullName::parse("Agent").unwrap())),
        };
        let changeset = DetailsChangeset::new(&update);
        assert_eq!(changeset.email, None);
        assert_eq!(changeset.phone, Some(None));
        assert_eq!(changeset.full_name, Some(Some("Agent")));
        assert!(!changeset.is_empty());
        assert!(DetailsChangeset::new(&DetailsUpdate::default()).is_empty());
    }

    #[test]
    fn stored_scopes_or_times_that_do_not_read_back_are_unexpected() {
        let mut bad_scopes = row("agent47");
        bad_scopes.scopes = "me Admin".to_owned();
        assert!(matches!(
            bad_scopes.into_user(),
            Err(InfraError::Unexpected(_))
        ));
        let mut bad_time = row("agent47");
        bad_time.created_at = -1;
        assert!(matches!(
            bad_time.into_user(),
            Err(InfraError::Unexpected(_))
        ));
        let mut no_scopes = row("agent47");
        no_scopes.scopes = String::new();
        assert_eq!(no_scopes.into_user().unwrap().scopes, Scopes::empty());
    }

    #[test]
    fn a_user_change_names_only_the_columns_it_sets() {
        assert!(UserChangeset::new(&UserChange::default()).is_empty());
        let change = UserChange {
            scopes: Some(Scopes::parse("me admin").unwrap()),
            password_hash: Some(PasswordHash::new("h")),
            ..UserChange::default()
        };
        let changeset = UserChangeset::new(&change);
        assert_eq!(changeset.scopes.as_deref(), Some("admin me"));
        assert_eq!(changeset.password, Some("h"));
        assert_eq!(changeset.is_active, None);
        assert!(!changeset.is_empty());
    }

    #[test]
    fn a_stored_username_that_breaks_the_policy_is_unexpected() {
        let err = row("a b").into_user().unwrap_err();
        assert!(matches!(err, InfraError::Unexpected(_)), "{err:?}");
    }
}
