//! The `LoginFailureRepository` port on diesel: one `login_failures` row
//! per place in the count per key (docs/api.md §3.3, §8), shared by every
//! instance.

use diesel::prelude::*;
use diesel::sql_types::Text;
use domain::{
    Attempt, InfraError, LoginFailureRepository, Places, Reservation, UnixSeconds, throttle,
};

use crate::connection::AnyConnection;
use crate::error::query_error;
use crate::pool::{DbPool, checkout};
use crate::rows::{NewLoginFailureRow, to_db_time};
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
    /// One short transaction: lock the attempt's keys, count each key's
    /// places in the window, and take one place per key only if all have
    /// room. The lock makes count-then-insert safe under Postgres READ
    /// COMMITTED, where two transactions counting at once would both see
    /// room: a transaction-scoped advisory lock per key (taken in key
    /// order, so two attempts sharing keys cannot deadlock), released at
    /// commit, after which the next holder's count sees the new place.
    /// On SQLite the transaction holds the database's write lock from its
    /// `BEGIN IMMEDIATE`. Both work across instances sharing the database.
    fn reserve(&self, attempt: &Attempt) -> Result<Reservation, InfraError> {
        let now = to_db_time(attempt.now)?;
        let since = to_db_time(attempt.since())?;
        let mut conn = checkout(&self.pool)?;
        let reservation = conn
            .write_transaction(|conn| {
                lock_keys(conn, attempt)?;
                let mut wait = None;
                for limit in &attempt.limits {
                    let places: Vec<i64> = login_failures::table
                        .filter(login_failures::key.eq(&limit.key))
                        .filter(login_failures::failed_at.ge(since))
                        .order((login_failures::failed_at.asc(), login_failures::id.asc()))
                        .select(login_failures::failed_at)
                        .load(conn)?;
                    // Every time loaded is at or after `since`, never negative.
                    let places: Vec<UnixSeconds> = places
                        .into_iter()
                        .map(|at| UnixSeconds::try_from(at).unwrap_or_default())
                        .collect();
                    wait = wait.max(throttle::retry_after(
                        &places,
                        limit.max,
                        attempt.window_secs,
                        attempt.now,
                    ));
                }
                if let Some(retry_after_secs) = wait {
                    return Ok(Reservation::Refused { retry_after_secs });
                }
                // One INSERT per key: diesel's multi-row insert does not
                // compile on the multi-backend connection (and there are
                // one or two keys).
                let mut taken = Vec::with_capacity(attempt.limits.len());
                for limit in &attempt.limits {
                    let id: i64 = diesel::insert_into(login_failures::table)
                        .values(NewLoginFailureRow {
                            key: &limit.key,
                            failed_at: now,
                        })
                        .returning(login_failures::id)
                        .get_result(conn)?;
                    taken.push(id);
                }
                Ok::<_, diesel::result::Error>(Reservation::Admitted(Places(taken)))
            })
            .map_err(query_error)?;
        // Forgetting old places of every key needs no lock: outside the
        // window they no longer count for anyone.
        forget_before(&mut conn, since).map_err(query_error)?;
        Ok(reservation)
    }

    fn release(&self, places: &Places) -> Result<(), InfraError> {
        let mut conn = checkout(&self.pool)?;
        diesel::delete(login_failures::table.filter(login_failures::id.eq_any(&places.0)))
            .execute(&mut conn)
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

    fn prune(&self, before: UnixSeconds) -> Result<u64, InfraError> {
        let before = to_db_time(before)?;
        let mut conn = checkout(&self.pool)?;
        let deleted = forget_before(&mut conn, before).map_err(query_error)?;
        Ok(deleted as u64)
    }
}

/// Deletes the places (of every key) taken before `before`.
fn forget_before(conn: &mut AnyConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(login_failures::failed_at.lt(before))).execute(conn)
}

/// On Postgres, takes a transaction-scoped advisory lock per key, in key
/// order. On SQLite nothing: the write transaction already excludes every
/// other writer.
fn lock_keys(conn: &mut AnyConnection, attempt: &Attempt) -> QueryResult<()> {
    let AnyConnection::Postgresql(conn) = conn else {
        return Ok(());
    };
    let mut keys: Vec<&str> = attempt.limits.iter().map(|l| l.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<Text, _>(key)
            .execute(conn)?;
    }
    Ok(())
}
