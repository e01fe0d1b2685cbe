//! The `LoginFailureRepository` port on diesel: one `login_failures` row
//! per failed login per key (API.md §3.3), shared by every instance.

use diesel::prelude::*;
use domain::{InfraError, LoginFailureRepository, UnixSeconds};

use crate::error::query_error;
use crate::pool::{DbPool, checkout};
use crate::rows::{NewLoginFailureRow, from_db_time, to_db_time};
use crate::schema::login_failures;

/// Failed logins in `login_failures`, on SQLite or Postgres.
///
/// Every method blocks: call it off the async workers.
#[derive(Debug, Clone)]
pub struct DieselLoginFailureRepository {
    pool: DbPool,
}

impl DieselLoginFailureRepository {
    #[must_use]
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }
}

impl LoginFailureRepository for DieselLoginFailureRepository {
    fn recent(&self, key: &str, since: UnixSeconds) -> Result<Vec<UnixSeconds>, InfraError> {
        // A `since` past the column's range finds nothing, as it would.
        let Ok(since) = to_db_time(since) else {
            return Ok(Vec::new());
        };
        let mut conn = checkout(&self.pool)?;
        let times: Vec<i64> = login_failures::table
            .filter(login_failures::key.eq(key))
            .filter(login_failures::failed_at.ge(since))
            .order((login_failures::failed_at.asc(), login_failures::id.asc()))
            .select(login_failures::failed_at)
            .load(&mut conn)
            .map_err(query_error)?;
        times.into_iter().map(from_db_time).collect()
    }

    fn record(
        &self,
        keys: &[String],
        at: UnixSeconds,
        forget_before: UnixSeconds,
    ) -> Result<(), InfraError> {
        let failed_at = to_db_time(at)?;
        let forget_before = to_db_time(forget_before)?;
        let mut conn = checkout(&self.pool)?;
        conn.transaction(|conn| {
            // One INSERT per key: diesel's multi-row insert does not compile
            // on the multi-backend connection (and there are one or two keys).
            for key in keys {
                diesel::insert_into(login_failures::table)
                    .values(NewLoginFailureRow { key, failed_at })
                    .execute(conn)?;
            }
            diesel::delete(
                login_failures::table.filter(login_failures::failed_at.lt(forget_before)),
            )
            .execute(conn)
        })
        .map_err(query_error)?;
        Ok(())
    }

    fn clear(&self, key: &str) -> Result<(), InfraError> {
        let mut conn = checkout(&self.pool)?;
        diesel::delete(login_failures::table.filter(login_failures::key.eq(key)))
            .execute(&mut conn)
            .map_err(query_error)?;
        Ok(())
    }
}
