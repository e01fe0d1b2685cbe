//! The `AuditRepository` port on diesel: one `audit_events` row per event
//! (docs/api.md §9). Events that record a change are inserted by the
//! change's own repository call, in its transaction, with [`insert_event`].

use diesel::prelude::*;
use domain::{Action, AuditRepository, Event, EventQuery, InfraError, NewEvent, UnixSeconds};

use crate::connection::{AnyConnection, on_backend};
use crate::error::query_error;
use crate::pool::{DbPool, checkout};
use crate::rows::{EventRow, NewEventRow, to_db_time};
use crate::schema::audit_events;

/// The audit trail in `audit_events`, on SQLite or Postgres.
///
/// Every method blocks: call it off the async workers.
#[derive(Debug, Clone)]
pub struct DieselAuditRepository {
    pool: DbPool,
}

impl DieselAuditRepository {
    #[must_use]
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }
}

impl AuditRepository for DieselAuditRepository {
    fn record(&self, event: &NewEvent) -> Result<(), InfraError> {
        let row = NewEventRow::new(event)?;
        let mut conn = checkout(&self.pool)?;
        insert_event(&mut conn, &row).map_err(query_error)?;
        Ok(())
    }

    /// Newest first by id: the indexes on `(subject, id)` and `(action,
    /// id)` serve a filtered page, the primary key an unfiltered one.
    fn list(&self, query: &EventQuery) -> Result<Vec<Event>, InfraError> {
        let mut select = audit_events::table
            .order(audit_events::id.desc())
            .limit(i64::from(query.limit))
            .into_boxed();
        if let Some(subject) = &query.subject {
            select = select.filter(audit_events::subject.eq(subject.as_ref()));
        }
        if let Some(action) = query.action {
            select = select.filter(audit_events::action.eq(action.as_str()));
        }
        if let Some(before) = query.before {
            select = select.filter(audit_events::id.lt(before));
        }
        let mut conn = checkout(&self.pool)?;
        if let (Some(subject), true) = (&query.subject, query.current_account_only) {
            // The account's creation event is stored with the user, in its
            // transaction, and events are only ever appended: the newest
            // creation event of the name is the current account's, and
            // reading it first decides nothing another call could change.
            let created: Option<i64> = audit_events::table
                .filter(audit_events::subject.eq(subject.as_ref()))
                .filter(audit_events::action.eq_any([
                    Action::UserRegistered.as_str(),
                    Action::AdminUserCreated.as_str(),
                ]))
                .select(diesel::dsl::max(audit_events::id))
                .first(&mut conn)
                .map_err(query_error)?;
            if let Some(created) = created {
                select = select.filter(audit_events::id.ge(created));
            }
        }
        select
            .load::<EventRow>(&mut conn)
            .map_err(query_error)?
            .into_iter()
            .map(EventRow::into_event)
            .collect()
    }

    /// One `DELETE` on the time, served by the index on `at`.
    fn prune(&self, before: UnixSeconds) -> Result<u64, InfraError> {
        let before = to_db_time(before)?;
        let mut conn = checkout(&self.pool)?;
        let deleted = diesel::delete(audit_events::table.filter(audit_events::at.lt(before)))
            .execute(&mut conn)
            .map_err(query_error)?;
        Ok(deleted as u64)
    }
}

/// Inserts `event` on `conn`, inside the caller's transaction if any. On
/// the backend's own connection: logins and refreshes run it, and there
/// the prepared statement is found by its type (see `on_backend`).
pub(crate) fn insert_event(
    conn: &mut AnyConnection,
    event: &NewEventRow<'_>,
) -> QueryResult<usize> {
    on_backend!(conn, |conn| {
        diesel::insert_into(audit_events::table)
            .values(event)
            .execute(conn)
    })
}
