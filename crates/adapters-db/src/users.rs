//! The `UserRepository` port on diesel.

use diesel::dsl::Nullable;
use diesel::prelude::*;
use domain::{
    CreateUserError, DetailsUpdate, InfraError, NewUser, PasswordHash, UpdateDetailsError, User,
    UserDetails, UserRepository, Username,
};

use crate::connection::{AnyConnection, on_backend};
use crate::error::{create_user_error, query_error, update_details_error};
use crate::pool::{DbPool, checkout};
use crate::rows::{DetailsChangeset, NewUserDetailsRow, NewUserRow, UserRow, UserWithDetailsRow};
use crate::schema::{user_details, users};
use crate::sessions::revoke_all_of;

/// Users in `users` and `user_details`, on SQLite or Postgres.
///
/// Every method blocks: call it off the async workers.
#[derive(Debug, Clone)]
pub struct DieselUserRepository {
    pool: DbPool,
}

impl DieselUserRepository {
    #[must_use]
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }
}

impl UserRepository for DieselUserRepository {
    fn create(&self, user: &NewUser) -> Result<User, CreateUserError> {
        let mut conn = checkout(&self.pool)?;
        let row = conn
            .transaction(|conn| {
                // No check-then-insert: the UNIQUE constraint decides, so two
                // concurrent registrations of one name cannot both win.
                let row: UserRow = diesel::insert_into(users::table)
                    .values(NewUserRow {
                        username: user.username.as_ref(),
                        password: user.password_hash.as_ref(),
                        is_active: user.is_active,
                    })
                    .returning(users::all_columns)
                    .get_result(conn)?;
                diesel::insert_into(user_details::table)
                    .values(NewUserDetailsRow { user_id: row.id })
                    .execute(conn)?;
                Ok(row)
            })
            .map_err(create_user_error)?;
        Ok(row.into_user(UserDetails::default())?)
    }

    fn find_by_username(&self, username: &Username) -> Result<Option<User>, InfraError> {
        let mut conn = checkout(&self.pool)?;
        // Every authenticated request runs this: on the backend's own
        // connection, so the statement is cached by type (see `on_backend`).
        on_backend!(&mut *conn, |conn| {
            users::table
                .left_join(user_details::table)
                .filter(users::username.eq(username.as_ref()))
                .select(user_with_details())
                .first::<UserWithDetailsRow>(conn)
        })
        .optional()
        .map_err(query_error)?
        .map(UserWithDetailsRow::into_user)
        .transpose()
    }

    fn update_details(
        &self,
        user_id: i64,
        update: &DetailsUpdate,
    ) -> Result<User, UpdateDetailsError> {
        let changeset = DetailsChangeset::new(update);
        let mut conn = checkout(&self.pool)?;
        let row = conn
            .transaction(|conn| {
                // No check-then-update: the UNIQUE constraints decide, so two
                // users setting one email at once cannot both get it.
                if !changeset.is_empty() {
                    let updated = diesel::update(
                        user_details::table.filter(user_details::user_id.eq(user_id)),
                    )
                    .set(&changeset)
                    .execute(conn)?;
                    if updated == 0 {
                        return Ok(None);
                    }
                }
                find_by_id(conn, user_id)
            })
            .map_err(update_details_error)?;
        let row = row.ok_or_else(|| {
            InfraError::unexpected(format!("no user with details has id {user_id}"))
        })?;
        Ok(row.into_user()?)
    }

    fn change_password(
        &self,
        user_id: i64,
        expected: i64,
        password_hash: &PasswordHash,
    ) -> Result<bool, InfraError> {
        let mut conn = checkout(&self.pool)?;
        conn.write_transaction(|conn| {
            // The user's row first: on Postgres its lock is what a
            // concurrent session insert (reading the row FOR SHARE) waits
            // for; once this commits, that insert sees the new version and
            // stores nothing, and any session it stored before is revoked
            // below, in this same transaction.
            let changed = diesel::update(at_version(user_id, expected))
                .set((
                    users::password.eq(password_hash.as_ref()),
                    users::credential_version.eq(users::credential_version + 1),
                ))
                .execute(conn)?;
            if changed == 0 {
                return Ok(false);
            }
            revoke_all_of(conn, user_id)?;
            Ok(true)
        })
        .map_err(query_error)
    }

    fn rehash_password(
        &self,
        user_id: i64,
        expected: i64,
        password_hash: &PasswordHash,
    ) -> Result<bool, InfraError> {
        let mut conn = checkout(&self.pool)?;
        let changed = diesel::update(at_version(user_id, expected))
            .set(users::password.eq(password_hash.as_ref()))
            .execute(&mut conn)
            .map_err(query_error)?;
        Ok(changed == 1)
    }
}

/// The row of user `user_id` while their credential is still at version
/// `expected` (docs/api.md §8): a write through it changes nothing once
/// another has moved the version on.
fn at_version(
    user_id: i64,
    expected: i64,
) -> diesel::dsl::Filter<
    diesel::dsl::Find<users::table, i64>,
    diesel::dsl::Eq<users::credential_version, i64>,
> {
    users::table
        .find(user_id)
        .filter(users::credential_version.eq(expected))
}

/// The user `user_id` with their details.
fn find_by_id(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Option<UserWithDetailsRow>> {
    users::table
        .left_join(user_details::table)
        .filter(users::id.eq(user_id))
        .select(user_with_details())
        .first(conn)
        .optional()
}

/// The columns of a [`UserWithDetailsRow`].
type UserWithDetailsColumns = (
    users::id,
    users::username,
    users::password,
    users::is_active,
    users::credential_version,
    Nullable<user_details::email>,
    Nullable<user_details::phone>,
    Nullable<user_details::full_name>,
);

/// The columns of a [`UserWithDetailsRow`] from `users LEFT JOIN
/// user_details` (the details are NULL when the row is missing).
fn user_with_details() -> UserWithDetailsColumns {
    (
        users::id,
        users::username,
        users::password,
        users::is_active,
        users::credential_version,
        user_details::email.nullable(),
        user_details::phone.nullable(),
        user_details::full_name.nullable(),
    )
}
