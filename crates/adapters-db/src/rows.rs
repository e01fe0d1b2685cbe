//! Rows as the tables hold them, and their conversion into domain types.

use diesel::{Insertable, Queryable};
use domain::{InfraError, PasswordHash, User, UserDetails, Username};

use crate::schema::{user_details, users};

/// A `users` row, as `RETURNING users.*` gives it back.
#[derive(Debug, Queryable)]
pub(crate) struct UserRow {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub is_active: bool,
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
    pub email: Option<String>,
    pub phone: Option<String>,
    pub full_name: Option<String>,
}

impl UserRow {
    pub(crate) fn into_user(self, details: UserDetails) -> Result<User, InfraError> {
        Ok(User {
            id: self.id,
            username: stored_username(self.username)?,
            password_hash: PasswordHash::new(self.password),
            is_active: self.is_active,
            details,
        })
    }
}

impl UserWithDetailsRow {
    pub(crate) fn into_user(self) -> Result<User, InfraError> {
        let details = UserDetails {
            email: self.email,
            phone: self.phone,
            full_name: self.full_name,
        };
        UserRow {
            id: self.id,
            username: self.username,
            password: self.password,
            is_active: self.is_active,
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
        assert_eq!(user.details.email.as_deref(), Some("a@b.example"));
        assert_eq!(user.details.phone, None);
        assert_eq!(user.details.full_name.as_deref(), Some("Agent"));
    }

    #[test]
    fn a_stored_username_that_breaks_the_policy_is_unexpected() {
        let err = row("a b").into_user().unwrap_err();
        assert!(matches!(err, InfraError::Unexpected(_)), "{err:?}");
    }
}
