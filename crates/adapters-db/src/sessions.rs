//! The `SessionRepository` port on diesel: one `sessions` row per
//! refresh-token family (docs/api.md §3.5).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use domain::{InfraError, NewSession, Rotation, SessionRepository, UnixSeconds};

use crate::connection::AnyConnection;
use crate::error::query_error;
use crate::pool::{DbPool, checkout};
use crate::rows::to_db_time;
use crate::schema::{sessions, users};

/// Refresh sessions in `sessions`, on SQLite or Postgres.
///
/// Every method blocks: call it off the async workers.
#[derive(Debug, Clone)]
pub struct DieselSessionRepository {
    pool: DbPool,
}

impl DieselSessionRepository {
    #[must_use]
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }
}

impl SessionRepository for DieselSessionRepository {
    /// Also deletes the user's expired sessions: their refresh tokens have
    /// expired too, so the rows serve nothing, and without this the table
    /// would only grow. A user's rows stay bounded by the sessions started
    /// within one refresh-token lifetime.
    fn create(&self, session: &NewSession) -> Result<bool, InfraError> {
        let created_at = to_db_time(session.created_at)?;
        let expires_at = to_db_time(session.expires_at)?;
        let mut conn = checkout(&self.pool)?;
        let inserted = conn
            .write_transaction(|conn| {
                diesel::delete(
                    sessions::table
                        .filter(sessions::user_id.eq(session.user_id))
                        .filter(sessions::expires_at.le(created_at)),
                )
                .execute(conn)?;
                // INSERT … SELECT from the user's row, only while it still
                // has the credential version that was verified: the check
                // and the insert are one statement. On Postgres the row is
                // read FOR SHARE, which waits for a password change in
                // flight (it holds the row's update lock) and then re-reads
                // the row: the new version matches nothing. If the insert
                // locks first, the change waits for it and then revokes the
                // new session too. SQLite has one writer at a time.
                let source = users::table
                    .filter(users::id.eq(session.user_id))
                    .filter(users::credential_version.eq(session.credential_version))
                    .select((
                        session.family.as_str().into_sql::<Text>(),
                        users::id,
                        session.current_token_id.as_str().into_sql::<Text>(),
                        created_at.into_sql::<BigInt>(),
                        expires_at.into_sql::<BigInt>(),
                    ));
                let columns = (
                    sessions::family,
                    sessions::user_id,
                    sessions::current_token_id,
                    sessions::created_at,
                    sessions::expires_at,
                );
                match conn {
                    AnyConnection::Postgresql(conn) => diesel::insert_into(sessions::table)
                        .values(source.for_share())
                        .into_columns(columns)
                        .execute(conn),
                    AnyConnection::Sqlite(conn) => diesel::insert_into(sessions::table)
                        .values(source)
                        .into_columns(columns)
                        .execute(conn),
                }
            })
            .map_err(query_error)?;
        Ok(inserted == 1)
    }

    fn rotate(&self, rotation: &Rotation) -> Result<bool, InfraError> {
        let now = to_db_time(rotation.now)?;
        let expires_at = to_db_time(rotation.expires_at)?;
        let mut conn = checkout(&self.pool)?;
        // One conditional UPDATE, never a read then a write: of concurrent
        // rotations from one token the database lets exactly one match (on
        // Postgres the others wait for its row lock, then re-check the
        // WHERE against the new row and match nothing; SQLite has one
        // writer at a time).
        let rotated = diesel::update(
            sessions::table
                .filter(sessions::family.eq(&rotation.family))
                .filter(sessions::user_id.eq(rotation.user_id))
                .filter(sessions::current_token_id.eq(&rotation.current_token_id))
                .filter(sessions::revoked.eq(false))
                .filter(sessions::expires_at.gt(now)),
        )
        .set((
            sessions::current_token_id.eq(&rotation.next_token_id),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(&mut conn)
        .map_err(query_error)?;
        Ok(rotated == 1)
    }

    fn revoke_family(&self, family: &str, user_id: i64) -> Result<(), InfraError> {
        let mut conn = checkout(&self.pool)?;
        diesel::update(
            sessions::table
                .filter(sessions::family.eq(family))
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked.eq(false)),
        )
        .set(sessions::revoked.eq(true))
        .execute(&mut conn)
        .map_err(query_error)?;
        Ok(())
    }

    fn revoke_all_for_user(&self, user_id: i64) -> Result<(), InfraError> {
        let mut conn = checkout(&self.pool)?;
        revoke_all_of(&mut conn, user_id).map_err(query_error)?;
        Ok(())
    }

    /// One `DELETE` on the expiry alone. No index on `expires_at`: this
    /// runs every few minutes, while an index would cost every rotation
    /// (which moves `expires_at`) an index update.
    fn prune(&self, now: UnixSeconds) -> Result<u64, InfraError> {
        let now = to_db_time(now)?;
        let mut conn = checkout(&self.pool)?;
        let deleted = diesel::delete(sessions::table.filter(sessions::expires_at.le(now)))
            .execute(&mut conn)
            .map_err(query_error)?;
        Ok(deleted as u64)
    }
}

/// Revokes every live session of user `user_id`, on `conn` (inside the
/// caller's transaction, if any).
pub(crate) fn revoke_all_of(conn: &mut AnyConnection, user_id: i64) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked.eq(false)),
    )
    .set(sessions::revoked.eq(true))
    .execute(conn)
}
