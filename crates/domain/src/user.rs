use crate::{Email, FullName, PasswordHash, Phone, Username};

/// A registered user: credentials and personal details together, as the
/// `users` and `user_details` tables hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: Username,
    pub password_hash: PasswordHash,
    /// Which password this is: every password change moves it on, a
    /// re-hash of the same password does not. A session is started only
    /// for the version whose hash was verified (docs/api.md §8).
    pub credential_version: i64,
    pub is_active: bool,
    pub details: UserDetails,
}

/// Personal details, all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserDetails {
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub full_name: Option<FullName>,
}

/// What registration hands the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: Username,
    pub password_hash: PasswordHash,
    pub is_active: bool,
}

/// A change to a user's details: for each field, `None` keeps it,
/// `Some(None)` clears it and `Some(Some(value))` sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailsUpdate {
    pub email: Option<Option<Email>>,
    pub phone: Option<Option<Phone>>,
    pub full_name: Option<Option<FullName>>,
}
