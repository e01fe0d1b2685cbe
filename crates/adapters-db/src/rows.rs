//! Rows as the tables hold them, and their conversion into domain types.

use diesel::{AsChangeset, Insertable, Queryable};
use domain::{
    DetailsUpdate, Email, FullName, InfraError, PasswordHash, Phone, UnixSeconds, User,
    UserDetails, Username,
};

use crate::schema::{login_failures, user_details, users};

/// A `users` row, as `RETURNING users.*` gives it back.
#[derive(Debug, Queryable)]
pub(crate) struct UserRow {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub is_active: bool,
    pub credential_version: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct NewUserRow<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub is_active: bool,
}

/// A new `user_details` row: every detail starts empty (NULL).
#[derive(Debug, Insertable)]
#[diesel(table_name = user_details)]
pub(crate) struct NewUserDetailsRow {
    pub user_id: i64,
}

/// `users LEFT JOIN user_details`: the details are NULL when the row is
/// missing.
#[derive(Debug, Queryable)]
pub(crate) struct UserWithDetailsRow {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub is_active: bool,
    pub credential_version: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub full_name: Option<String>,
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

impl UserRow {
    pub(crate) fn into_user(self, details: UserDetails) -> Result<User, InfraError> {
        Ok(User {
            id: self.id,
            username: stored_username(self.username)?,
            password_hash: PasswordHash::new(self.password),
            credential_version: self.credential_version,
            is_active: self.is_active,
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
        }
        .into_user(details)
    }
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
            email: Some("a@b.example".to_owned()),
            phone: None,
            full_name: Some("Agent".to_owned()),
        }
    }

    #[test]
    fn a_joined_row_becomes_a_user_with_its_details() {
        let user = row("agent47").into_user().unwrap();
        assert_eq!(user.id, 7);
        assert_eq!(user.username.as_ref(), "agent47");
        assert_eq!(user.password_hash.as_ref(), "$2b$04$hash");
        assert!(!user.is_active);
        assert_eq!(user.credential_version, 3);
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
    fn a_stored_username_that_breaks_the_policy_is_unexpected() {
        let err = row("a b").into_user().unwrap_err();
        assert!(matches!(err, InfraError::Unexpected(_)), "{err:?}");
    }
}
