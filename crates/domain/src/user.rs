use crate::{Email, FullName, PasswordHash, Phone, Scopes, UnixSeconds, Username};

/// A registered user: credentials, grants and personal details together,
/// as the `users` and `user_details` tables hold them.
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
    pub is_superuser: bool,
    /// The scopes the user holds (docs/api.md §9): a token is granted at
    /// most these.
    pub scopes: Scopes,
    pub created_at: UnixSeconds,
    pub details: UserDetails,
}

/// Personal details, all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserDetails {
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub full_name: Option<FullName>,
}

/// What registration (or an administrator) hands the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: Username,
    pub password_hash: PasswordHash,
    pub is_active: bool,
    pub is_superuser: bool,
    pub scopes: Scopes,
    pub details: UserDetails,
    pub created_at: UnixSeconds,
}

/// A change to a user's details: for each field, `None` keeps it,
/// `Some(None)` clears it and `Some(Some(value))` sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailsUpdate {
    pub email: Option<Option<Email>>,
    pub phone: Option<Option<Phone>>,
    pub full_name: Option<Option<FullName>>,
}

impl DetailsUpdate {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.phone.is_none() && self.full_name.is_none()
    }
}

/// A user's superuser flag and scopes: what an administrator's change to
/// them is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    pub is_superuser: bool,
    pub scopes: Scopes,
}

impl Grants {
    /// The grants `user` holds.
    #[must_use]
    pub fn of(user: &User) -> Self {
        Self {
            is_superuser: user.is_superuser,
            scopes: user.scopes.clone(),
        }
    }
}

/// An administrator's change to a user, as the repository applies it in
/// one transaction: `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    pub is_active: Option<bool>,
    pub is_superuser: Option<bool>,
    pub scopes: Option<Scopes>,
    /// The grants the new `is_superuser` / `scopes` were computed from
    /// (a demotion withdraws `admin` from the scopes as read, a grant adds
    /// to them): the change applies only while the stored grants are
    /// still these, a compare-and-set decided in the UPDATE itself, so a
    /// concurrent grant change is never overwritten (a lost update).
    pub grants_as_read: Option<Grants>,
    /// A new password's hash: the credential version moves on.
    pub password_hash: Option<PasswordHash>,
    pub details: DetailsUpdate,
    /// Whether every session of the user ends with the change (a
    /// deactivation, a new password).
    pub revoke_sessions: bool,
}

/// Which users to list: page `page` (from 1) of `per_page`, in id order,
/// of those whose username contains `username_contains` (ignoring ASCII
/// case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    pub page: u32,
    pub per_page: u32,
    pub username_contains: Option<String>,
}

impl UserQuery {
    pub const MAX_PER_PAGE: u32 = 200;
    pub const DEFAULT_PER_PAGE: u32 = 50;
}

/// One page of users and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    pub users: Vec<User>,
    pub total: u64,
}
