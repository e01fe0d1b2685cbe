//! The `ApiKeyRepository` port on diesel: one `api_keys` row per key,
//! found by its digest (docs/api.md §10).

use std::sync::Arc;

use diesel::prelude::*;
use diesel::sql_types::Bool;
use domain::{
    ApiKey, ApiKeyRepository, InfraError, KeyDigest, NewApiKey, NewEvent, UnixSeconds, User,
    api_key::LAST_USED_RESOLUTION_SECS,
};

use crate::audit::insert_event;
use crate::batch::Lookups;
use crate::connection::{AnyConnection, on_backend};
use crate::error::query_error;
use crate::pool::{DbPool, checkout};
use crate::rows::{ApiKeyRow, NewApiKeyRow, NewEventRow, UserWithDetailsRow, to_db_time};
use crate::schema::{api_keys, user_details, users};
use crate::users::user_with_details;

/// The columns of an [`ApiKeyRow`], in its order (diesel's `Selectable`
/// does not compile through `MultiConnection`'s backend, so the tuple is
/// spelled out once as a type and once as its value).
type ApiKeyColumns = (
    api_keys::id,
    api_keys::user_id,
    api_keys::name,
    api_keys::prefix,
    api_keys::scopes,
    api_keys::created_at,
    api_keys::expires_at,
    api_keys::last_used_at,
);

const API_KEY_COLUMNS: ApiKeyColumns = (
    api_keys::id,
    api_keys::user_id,
    api_keys::name,
    api_keys::prefix,
    api_keys::scopes,
    api_keys::created_at,
    api_keys::expires_at,
    api_keys::last_used_at,
);

/// API keys in `api_keys`, on SQLite or Postgres.
///
/// Every method blocks: call it off the async workers.
#[derive(Debug, Clone)]
pub struct DieselApiKeyRepository {
    pool: DbPool,
    /// Lookups by digest (a key and its owner), batched on Postgres.
    lookups: Arc<Lookups<String, (ApiKeyRow, UserWithDetailsRow)>>,
}

impl DieselApiKeyRepository {
    #[must_use]
    pub fn new(pool: DbPool) -> Self {
        Self {
            pool,
            lookups: Arc::default(),
        }
    }
}

impl ApiKeyRepository for DieselApiKeyRepository {
    /// The user's row is read first in the transaction, `FOR SHARE` on
    /// Postgres: a deletion in flight is waited for (and then the user is
    /// gone), one that comes later waits for this insert and then takes
    /// the key with the user (`ON DELETE CASCADE`). SQLite has one writer
    /// at a time.
    fn create(&self, key: &NewApiKey, event: &NewEvent) -> Result<Option<ApiKey>, InfraError> {
        let row = NewApiKeyRow::new(key)?;
        let event = NewEventRow::new(event)?;
        let mut conn = checkout(&self.pool)?;
        let stored = conn
            .write_transaction(|conn| {
                let owner = users::table.find(key.user_id).select(users::id);
                let exists = match conn {
                    AnyConnection::Postgresql(conn) => {
                        owner.for_share().first::<i64>(conn).optional()
                    }
                    AnyConnection::Sqlite(conn) => owner.first::<i64>(conn).optional(),
                }?
                .is_some();
                if !exists {
                    return Ok(None);
                }
                let stored: ApiKeyRow = diesel::insert_into(api_keys::table)
                    .values(&row)
                    .returning(API_KEY_COLUMNS)
                    .get_result(conn)?;
                insert_event(conn, &event)?;
                Ok::<_, diesel::result::Error>(Some(stored))
            })
            .map_err(query_error)?;
        stored.map(ApiKeyRow::into_key).transpose()
    }

    fn list(&self, user_id: i64) -> Result<Vec<ApiKey>, InfraError> {
        let mut conn = checkout(&self.pool)?;
        let rows: Vec<ApiKeyRow> = api_keys::table
            .filter(api_keys::user_id.eq(user_id))
            .order(api_keys::id.desc())
            .select(API_KEY_COLUMNS)
            .load(&mut conn)
            .map_err(query_error)?;
        rows.into_iter().map(ApiKeyRow::into_key).collect()
    }

    /// One `DELETE` on the key and its owner: of concurrent revocations
    /// exactly one deletes, and only it records `event`.
    fn revoke(&self, user_id: i64, key_id: i64, event: &NewEvent) -> Result<bool, InfraError> {
        let event = NewEventRow::new(event)?;
        let mut conn = checkout(&self.pool)?;
        conn.write_transaction(|conn| {
            let deleted = diesel::delete(
                api_keys::table
                    .filter(api_keys::id.eq(key_id))
                    .filter(api_keys::user_id.eq(user_id)),
            )
            .execute(conn)?;
            if deleted == 0 {
                return Ok(false);
            }
            insert_event(conn, &event)?;
            Ok(true)
        })
        .map_err(query_error)
    }

    /// Every request with a key runs this: one query for the key and its
    /// owner, on the backend's own connection (statement cached by type);
    /// on Postgres, with the lookups waiting at the same time.
    fn find(&self, digest: &KeyDigest) -> Result<Option<(ApiKey, User)>, InfraError> {
        let found = self.lookups.find(
            &self.pool,
            digest.as_str().to_owned(),
            |conn, digest| {
                on_backend!(conn, |conn| {
                    api_keys::table
                        .inner_join(users::table.left_join(user_details::table))
                        .filter(api_keys::digest.eq(digest))
                        .select((API_KEY_COLUMNS, user_with_details()))
                        .first(conn)
                        .optional()
                })
            },
            |conn, digests| {
                on_backend!(conn, |conn| {
                    api_keys::table
                        .inner_join(users::table.left_join(user_details::table))
                        .filter(api_keys::digest.eq_any(digests))
                        .select((api_keys::digest, (API_KEY_COLUMNS, user_with_details())))
                        .load(conn)
                })
            },
        )?;
        found
            .map(|(key, owner)| Ok((key.into_key()?, owner.into_user()?)))
            .transpose()
    }

    /// One conditional `UPDATE`: the once-a-minute rule is in its `WHERE`,
    /// so that requests of the same minute on several instances write once.
    fn touch(&self, key_id: i64, now: UnixSeconds) -> Result<(), InfraError> {
        let now = to_db_time(now)?;
        let due_before = now.saturating_sub(LAST_USED_RESOLUTION_SECS.cast_signed());
        let mut conn = checkout(&self.pool)?;
        diesel::update(
            api_keys::table.filter(api_keys::id.eq(key_id)).filter(
                api_keys::last_used_at
                    .is_null()
                    .into_sql::<Bool>()
                    .or(api_keys::last_used_at.le(due_before)),
            ),
        )
        .set(api_keys::last_used_at.eq(now))
        .execute(&mut conn)
        .map_err(query_error)?;
        Ok(())
    }

    fn prune(&self, now: UnixSeconds) -> Result<u64, InfraError> {
        let now = to_db_time(now)?;
        let mut conn = checkout(&self.pool)?;
        let deleted = diesel::delete(api_keys::table.filter(api_keys::expires_at.le(now)))
            .execute(&mut conn)
            .map_err(query_error)?;
        Ok(deleted as u64)
    }
}
