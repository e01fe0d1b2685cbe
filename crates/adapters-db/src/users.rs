//! The `UserRepository` port on diesel.

use diesel::dsl::Nullable;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{Bool, Text};
use domain::{
    CreateUserError, DetailsUpdate, InfraError, NewEvent, NewUser, PasswordHash,
    UpdateDetailsError, UpdateUserError, User, UserChange, UserPage, UserQuery, UserRepository,
    Username,
};

use std::sync::Arc;

use crate::audit::insert_event;
use crate::batch::Lookups;
use crate::connection::{AnyConnection, on_backend};
use crate::error::{create_user_error, query_error, update_details_error, update_user_error};
use crate::pool::{DbPool, checkout};
use crate::rows::{
    DetailsChangeset, NewEventRow, NewUserDetailsRow, NewUserRow, UserChangeset, UserRow,
    UserWithDetailsRow,
};
use crate::schema::{user_details, users};
use crate::sessions::revoke_all_of;

/// The total and one page of the users `$matches` (an `Option` of a
/// filter) selects, in id order, on the backend's own connection `$conn`.
macro_rules! page {
    ($conn:ident, $matches:expr, $limit:expr, $offset:expr) => {{
        let mut count = users::table.select(diesel::dsl::count_star()).into_boxed();
        let mut rows = users::table
            .left_join(user_details::table)
            .select(user_with_details())
            .order(users::id)
            .limit($limit)
            .offset($offset)
            .into_boxed();
        let matches = $matches;
        if let Some(matches) = matches {
            count = count.filter(matches.clone());
            rows = rows.filter(matches);
        }
        let total: i64 = count.get_result($conn)?;
        let rows: Vec<UserWithDetailsRow> = rows.load($conn)?;
        Ok::<_, DieselError>((rows, total))
    }};
}

/// Users in `users` and `user_details`, on SQLite or Postgres.
///
/// Every method blocks: call it off the async workers.
#[derive(Debug, Clone)]
pub struct DieselUserRepository {
    pool: DbPool,
    /// Lookups by username, batched on Postgres.
    lookups: Arc<Lookups<String, UserWithDetailsRow>>,
}

impl DieselUserRepository {
    #[must_use]
    pub fn new(pool: DbPool) -> Self {
        Self {
            pool,
            lookups: Arc::default(),
        }
    }
}

impl UserRepository for DieselUserRepository {
    fn create(&self, user: &NewUser, event: &NewEvent) -> Result<User, CreateUserError> {
        let new_row = NewUserRow::new(user)?;
        let event = NewEventRow::new(event)?;
        let mut conn = checkout(&self.pool)?;
        let row = conn
            .write_transaction(|conn| {
                // No check-then-insert: the UNIQUE constraints decide, so two
                // concurrent creations of one name (or with one email) cannot
                // both win. On Postgres the second insert waits for the
                // first's transaction and fails once it commits; SQLite has
                // one writer at a time.
                let row: UserRow = diesel::insert_into(users::table)
                    .values(&new_row)
                    .returning(users::all_columns)
                    .get_result(conn)?;
                diesel::insert_into(user_details::table)
                    .values(NewUserDetailsRow::new(row.id, &user.details))
                    .execute(conn)?;
                insert_event(conn, &event)?;
                Ok(row)
            })
            .map_err(create_user_error)?;
        Ok(row.into_user(user.details.clone())?)
    }

    /// Every authenticated request runs this. On Postgres, lookups that
    /// wait at the same time share one round trip ([`Batcher`]); on
    /// SQLite, where a query is a function call, each runs on its own.
    fn find_by_username(&self, username: &Username) -> Result<Option<User>, InfraError> {
        let row = self.lookups.find(
            &self.pool,
            username.as_ref().to_owned(),
            |conn, username| {
                // On the backend's own connection, so the statement is
                // cached by type (see `on_backend`).
                on_backend!(conn, |conn| {
                    users::table
                        .left_join(user_details::table)
                        .filter(users::username.eq(username))
                        .select(user_with_details())
                        .first::<UserWithDetailsRow>(conn)
                        .optional()
                })
            },
            |conn, usernames| {
                let rows: Vec<UserWithDetailsRow> = on_backend!(conn, |conn| {
                    users::table
                        .left_join(user_details::table)
                        .filter(users::username.eq_any(usernames))
                        .select(user_with_details())
                        .load(conn)
                })?;
                Ok(rows
                    .into_iter()
                    .map(|row| (row.username.clone(), row))
                    .collect())
            },
        )?;
        row.map(UserWithDetailsRow::into_user).transpose()
    }

    /// An empty `update` changes nothing and records nothing.
    fn update_details(
        &self,
        user_id: i64,
        update: &DetailsUpdate,
        event: &NewEvent,
    ) -> Result<User, UpdateDetailsError> {
        let changeset = DetailsChangeset::new(update);
        let event = NewEventRow::new(event)?;
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
                    insert_event(conn, &event)?;
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
        event: &NewEvent,
    ) -> Result<bool, InfraError> {
        let event = NewEventRow::new(event)?;
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
            insert_event(conn, &event)?;
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

    /// The count and the page are read in one transaction, so that they
    /// agree: SQLite reads both from one snapshot; Postgres needs
    /// REPEATABLE READ for that (READ COMMITTED takes a snapshot per
    /// statement), read-only, so it can never fail to serialise.
    fn list(&self, query: &UserQuery) -> Result<UserPage, InfraError> {
        let pattern = query
            .username_contains
            .as_deref()
            .filter(|contains| !contains.is_empty())
            .map(contains_pattern);
        let pattern = pattern.as_deref();
        let limit = i64::from(query.per_page);
        let offset = i64::from(query.page.max(1) - 1) * limit;
        let mut conn = checkout(&self.pool)?;
        // Usernames are ASCII (`Username::parse`), and the match ignores
        // ASCII case only. SQLite's LIKE does just that. Postgres's ILIKE
        // and lower() follow the database's locale (a Turkish one lowers
        // `I` to `ı`): there the name is lowered with `translate`, A-Z to
        // a-z, and compared case-sensitively with the lowered pattern.
        let (rows, total) = match &mut *conn {
            AnyConnection::Sqlite(conn) => conn.transaction(|conn| {
                page!(
                    conn,
                    pattern.map(|pattern| users::username.like(pattern).escape(ESCAPE)),
                    limit,
                    offset
                )
            }),
            AnyConnection::Postgresql(conn) => conn
                .build_transaction()
                .repeatable_read()
                .read_only()
                .run(|conn| {
                    page!(
                        conn,
                        pattern.map(|pattern| {
                            translate(users::username, ASCII_UPPER, ASCII_LOWER)
                                .like(pattern)
                                .escape(ESCAPE)
                        }),
                        limit,
                        offset
                    )
                }),
        }
        .map_err(query_error)?;
        Ok(UserPage {
            users: rows
                .into_iter()
                .map(UserWithDetailsRow::into_user)
                .collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or_default(),
        })
    }

    /// One write transaction, in the order every writer of a user takes
    /// its locks: the user's row, then the details, then the sessions
    /// (as `change_password` and `delete` do, and as a session insert
    /// reads the user's row FOR SHARE before it writes `sessions`), so
    /// none of them can deadlock with another. The user's row is always
    /// written, even when only details change: that is the existence
    /// check, and on Postgres the row lock a concurrent session insert
    /// waits for, so a password change or a revocation here either
    /// revokes that new session or makes it refuse.
    ///
    /// A new password revokes every session even without
    /// `change.revoke_sessions`. An empty `change` changes nothing and
    /// records nothing.
    fn update(
        &self,
        user_id: i64,
        change: &UserChange,
        event: &NewEvent,
    ) -> Result<User, UpdateUserError> {
        let columns = UserChangeset::new(change);
        let details = DetailsChangeset::new(&change.details);
        let mut conn = checkout(&self.pool)?;
        if columns.is_empty() && details.is_empty() && !change.revoke_sessions {
            let row = find_by_id(&mut conn, user_id).map_err(query_error)?;
            return Ok(row.ok_or(UpdateUserError::NotFound)?.into_user()?);
        }
        let event = NewEventRow::new(event)?;
        // A new password moves the credential on; nothing else does.
        let version_step = i64::from(change.password_hash.is_some());
        // The compare-and-set of the grants as read, in the UPDATE's own
        // WHERE: under Postgres READ COMMITTED a concurrent writer's
        // commit is waited for and the condition checked again on the row
        // it left; SQLite's writers take turns. `check_grants` false
        // makes the condition true, so one statement serves both kinds of
        // change. Stored scopes are always a `Scopes` written out
        // (sorted, single spaces), so equal sets are equal texts.
        let (check_grants, superuser_as_read, scopes_as_read) = match &change.grants_as_read {
            Some(grants) => (true, grants.is_superuser, grants.scopes.to_string()),
            None => (false, false, String::new()),
        };
        let row = conn
            .write_transaction(|conn| {
                let found = diesel::update(
                    users::table.find(user_id).filter(
                        (!check_grants).into_sql::<Bool>().or(users::is_superuser
                            .eq(superuser_as_read)
                            .and(users::scopes.eq(&scopes_as_read))),
                    ),
                )
                .set((
                    &columns,
                    users::credential_version.eq(users::credential_version + version_step),
                ))
                .execute(conn)?;
                if found == 0 {
                    let exists = check_grants && find_by_id(conn, user_id)?.is_some();
                    return Ok(Err(if exists {
                        UpdateUserError::GrantsChanged
                    } else {
                        UpdateUserError::NotFound
                    }));
                }
                // The UNIQUE constraints decide, as in `update_details`; a
                // violation fails the transaction, and every change above
                // is rolled back with it.
                if !details.is_empty() {
                    let updated = diesel::update(
                        user_details::table.filter(user_details::user_id.eq(user_id)),
                    )
                    .set(&details)
                    .execute(conn)?;
                    if updated == 0 {
                        return Err(DieselError::QueryBuilderError(
                            format!("user {user_id} has no details row").into(),
                        ));
                    }
                }
                // A new password ends the sessions of the old one, as
                // `change_password` does, whatever the change asks:
                // otherwise a session started for the old version just
                // before this commit would outlive it (docs/api.md §8).
                if change.revoke_sessions || change.password_hash.is_some() {
                    revoke_all_of(conn, user_id)?;
                }
                insert_event(conn, &event)?;
                Ok(find_by_id(conn, user_id)?.ok_or(UpdateUserError::NotFound))
            })
            .map_err(update_user_error)??;
        Ok(row.into_user()?)
    }

    /// The details and sessions go with the user's row (ON DELETE CASCADE,
    /// on SQLite with `PRAGMA foreign_keys = ON`); the audit events name
    /// users by username, not by key, and stay. On Postgres the DELETE
    /// locks the user's row first: a session insert in flight (holding it
    /// FOR SHARE) commits first and its session is deleted too, or it waits
    /// and then finds no user to insert for.
    fn delete(&self, user_id: i64, event: &NewEvent) -> Result<bool, InfraError> {
        let event = NewEventRow::new(event)?;
        let mut conn = checkout(&self.pool)?;
        conn.write_transaction(|conn| {
            let deleted = diesel::delete(users::table.find(user_id)).execute(conn)?;
            if deleted == 0 {
                return Ok(false);
            }
            insert_event(conn, &event)?;
            Ok(true)
        })
        .map_err(query_error)
    }
}

/// The escape character of the LIKE patterns of [`contains_pattern`].
const ESCAPE: char = '\\';
const ASCII_UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ASCII_LOWER: &str = "abcdefghijklmnopqrstuvwxyz";

diesel::define_sql_function! {
    /// Postgres's `translate(string, from, to)`: each character of `from`
    /// in `string` replaced by the one at the same place in `to`.
    fn translate(string: Text, from: Text, to: Text) -> Text;
}

/// A LIKE pattern (escaped by [`ESCAPE`]) matching names that contain
/// `text`, ASCII-lower-cased: `%` and `_` in it are literal characters,
/// not wildcards.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | ESCAPE) {
            pattern.push(ESCAPE);
        }
        pattern.push(c.to_ascii_lowercase());
    }
    pattern.push('%');
    pattern
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
    users::is_superuser,
    users::scopes,
    users::created_at,
    Nullable<user_details::email>,
    Nullable<user_details::phone>,
    Nullable<user_details::full_name>,
);

/// The columns of a [`UserWithDetailsRow`] from `users LEFT JOIN
/// user_details` (the details are NULL when the row is missing).
pub(crate) fn user_with_details() -> UserWithDetailsColumns {
    (
        users::id,
        users::username,
        users::password,
        users::is_active,
        users::credential_version,
        users::is_superuser,
        users::scopes,
        users::created_at,
        user_details::email.nullable(),
        user_details::phone.nullable(),
        user_details::full_name.nullable(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contains_pattern_escapes_the_wildcards_and_lowers_ascii() {
        assert_eq!(contains_pattern("Agent"), "%agent%");
        assert_eq!(contains_pattern("a_b%c"), r"%a\_b\%c%");
        assert_eq!(contains_pattern(r"x\y"), r"%x\\y%");
        assert_eq!(contains_pattern("ÉA"), "%Éa%");
    }
}
