//! The `SessionRepository` port on diesel: one `sessions` row per
//! refresh-token family (API.md §3.5).

use diesel::prelude::*;
use domain::{InfraError, NewSession, Rotation, SessionRepository};

use crate::error::query_error;
use crate::pool::{DbPool, checkout};
use crate::rows::{NewSessionRow, to_db_time};
use crate::schema::sessions;

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
    fn create(&self, session: &NewSession) -> Result<(), InfraError> {
        let row = NewSessionRow::new(session)?;
        let now = row.created_at;
        let mut conn = checkout(&self.pool)?;
        conn.transaction(|conn| {
            diesel::delete(
                sessions::table
                    .filter(sessions::user_id.eq(row.user_id))
                    .filter(sessions::expires_at.le(now)),
            )
            .execute(conn)?;
            diesel::insert_into(sessions::table)
                .values(&row)
                .execute(conn)
        })
        .map_err(query_error)?;
        Ok(())
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

    fn revoke_family(&self, family: &str) -> Result<(), InfraError> {
        let mut conn = checkout(&self.pool)?;
        diesel::update(
            sessions::table
                .filter(sessions::family.eq(family))
                .filter(sessions::revoked.eq(false)),
        )
        .set(sessions::revoked.eq(true))
        .execute(&mut conn)
        .map_err(query_error)?;
        Ok(())
    }

    fn revoke_all_for_user(&self, user_id: i64) -> Result<(), InfraError> {
        let mut conn = checkout(&self.pool)?;
        diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked.eq(false)),
        )
        .set(sessions::revoked.eq(true))
        .execute(&mut conn)
        .map_err(query_error)?;
        Ok(())
    }
}
