//! The `SessionRepository` port on diesel: one `sessions` row per
//! refresh-token family (docs/api.md §3.5).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use domain::{
    AccessGrant, Device, InfraError, IssuedPair, NewEvent, NewSession, Rotation, RotationOutcome,
    Scopes, SessionInfo, SessionRepository, UnixSeconds,
};

use crate::audit::insert_event;
use crate::connection::{AnyConnection, on_backend};
use crate::error::query_error;
use crate::pool::{DbPool, checkout};
use crate::rows::{NewEventRow, from_db_time, stored_scopes, to_db_time};
use crate::schema::{sessions, users};

/// [`SessionRepository::rotate`] on Postgres: the conditional UPDATE of
/// the SQLite branch, and the event inserted from the row it returns (no
/// row, no event), in one statement. Every part of a `WITH` runs to
/// completion whether or not the final SELECT reads it.
///
/// A query type of its own rather than `sql_query`, which diesel never
/// prepares: Postgres parsed and planned this statement on every refresh
/// (`base_yyparse`, `copyObjectImpl` at the top of its profile). With a
/// static query id it is prepared once per connection.
struct RotateAndRecord<'a> {
    next_token_id: &'a str,
    expires_at: i64,
    device_address: Option<&'a str>,
    device_agent: Option<&'a str>,
    now: i64,
    current_token_id: &'a str,
    successor_id: Option<&'a str>,
    successor_scopes: Option<&'a str>,
    family: &'a str,
    user_id: i64,
    event: &'a NewEventRow<'a>,
}

impl diesel::query_builder::QueryId for RotateAndRecord<'_> {
    type QueryId = RotateAndRecord<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for RotateAndRecord<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

impl RunQueryDsl<diesel::PgConnection> for RotateAndRecord<'_> {}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for RotateAndRecord<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        let event = self.event;
        out.push_sql("WITH rotated AS (UPDATE sessions SET current_token_id = ");
        out.push_bind_param::<Text, _>(self.next_token_id)?;
        out.push_sql(", expires_at = ");
        out.push_bind_param::<BigInt, _>(&self.expires_at)?;
        out.push_sql(", client_address = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.device_address)?;
        out.push_sql(", user_agent = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.device_agent)?;
        out.push_sql(", last_used_at = ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(", previous_token_id = ");
        out.push_bind_param::<Text, _>(self.current_token_id)?;
        out.push_sql(", successor_access_id = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.successor_id)?;
        out.push_sql(", successor_scopes = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.successor_scopes)?;
        out.push_sql(" WHERE family = ");
        out.push_bind_param::<Text, _>(self.family)?;
        out.push_sql(" AND user_id = ");
        out.push_bind_param::<BigInt, _>(&self.user_id)?;
        out.push_sql(" AND current_token_id = ");
        out.push_bind_param::<Text, _>(self.current_token_id)?;
        out.push_sql(" AND revoked = false AND expires_at > ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(
            " RETURNING scopes), recorded AS (INSERT INTO audit_events \
             (at, action, actor, subject, client_address, user_agent, request_id) SELECT ",
        );
        out.push_bind_param::<BigInt, _>(&event.at)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(event.action)?;
        for value in [
            &event.actor,
            &event.subject,
            &event.client_address,
            &event.user_agent,
            &event.request_id,
        ] {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(value)?;
        }
        out.push_sql(" FROM rotated) SELECT scopes FROM rotated");
        Ok(())
    }
}

/// What a rotation found, as stored.
enum Rotated {
    Moved(String),
    Replayed(ReplayRow),
    Refused,
}

/// A rotation's stored pair, as [`replay`] reads it.
#[derive(Queryable)]
struct ReplayRow {
    current_token_id: String,
    rotated_at: Option<i64>,
    successor_access_id: Option<String>,
    successor_scopes: Option<String>,
}

impl ReplayRow {
    /// The pair, if the rotation stored one (it did under a grace).
    fn into_pair(self) -> Result<Option<IssuedPair>, InfraError> {
        let (Some(rotated_at), Some(token_id), Some(scopes)) = (
            self.rotated_at,
            self.successor_access_id,
            self.successor_scopes,
        ) else {
            return Ok(None);
        };
        Ok(Some(IssuedPair {
            refresh_token_id: self.current_token_id,
            access: AccessGrant {
                token_id,
                scopes: stored_scopes(&scopes)?,
            },
            issued_at: from_db_time(rotated_at)?,
        }))
    }
}

/// After a refused rotation under a grace: the pair the family's latest
/// rotation issued, if that rotation retired the presented token after
/// `grace.rotated_after` and the family is still live and the user's. A
/// read, and nothing else: a replay changes nothing.
fn replay(
    conn: &mut AnyConnection,
    rotation: &Rotation,
    now: i64,
    rotated_after: Option<i64>,
) -> Result<Rotated, diesel::result::Error> {
    let Some(rotated_after) = rotated_after else {
        return Ok(Rotated::Refused);
    };
    let row = sessions::table
        .filter(sessions::family.eq(&rotation.family))
        .filter(sessions::user_id.eq(rotation.user_id))
        .filter(sessions::previous_token_id.eq(&rotation.current_token_id))
        .filter(sessions::revoked.eq(false))
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_used_at.gt(rotated_after))
        .select((
            sessions::current_token_id,
            sessions::last_used_at,
            sessions::successor_access_id,
            sessions::successor_scopes,
        ))
        .first::<ReplayRow>(conn)
        .optional()?;
    Ok(row.map_or(Rotated::Refused, Rotated::Replayed))
}

/// A live session as [`SessionRepository::list_live`] reads it.
#[derive(Queryable)]
struct SessionRow {
    id: i64,
    family: String,
    created_at: i64,
    last_used_at: Option<i64>,
    expires_at: i64,
    client_address: Option<String>,
    user_agent: Option<String>,
}

impl SessionRow {
    fn into_info(self) -> Result<SessionInfo, InfraError> {
        Ok(SessionInfo {
            id: self.id,
            family: self.family,
            created_at: from_db_time(self.created_at)?,
            last_used_at: self.last_used_at.map(from_db_time).transpose()?,
            expires_at: from_db_time(self.expires_at)?,
            device: Device {
                client_address: self.client_address,
                user_agent: self.user_agent,
            },
        })
    }
}

/// What [`RotateAndRecord`] returns.
#[derive(QueryableByName)]
struct RotatedRow {
    #[diesel(sql_type = Text)]
    scopes: String,
}

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
    fn create(&self, session: &NewSession, event: &NewEvent) -> Result<bool, InfraError> {
        let created_at = to_db_time(session.created_at)?;
        let expires_at = to_db_time(session.expires_at)?;
        let scopes = session.scopes.to_string();
        let device = &session.device;
        let event = NewEventRow::new(event)?;
        let mut conn = checkout(&self.pool)?;
        let inserted = conn
            .write_transaction(|conn| {
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
                        scopes.as_str().into_sql::<Text>(),
                        device
                            .client_address
                            .as_deref()
                            .into_sql::<Nullable<Text>>(),
                        device.user_agent.as_deref().into_sql::<Nullable<Text>>(),
                        Some(created_at).into_sql::<Nullable<BigInt>>(),
                    ));
                let columns = (
                    sessions::family,
                    sessions::user_id,
                    sessions::current_token_id,
                    sessions::created_at,
                    sessions::expires_at,
                    sessions::scopes,
                    sessions::client_address,
                    sessions::user_agent,
                    sessions::last_used_at,
                );
                let inserted = match conn {
                    AnyConnection::Postgresql(conn) => diesel::insert_into(sessions::table)
                        .values(source.for_share())
                        .into_columns(columns)
                        .execute(conn),
                    AnyConnection::Sqlite(conn) => diesel::insert_into(sessions::table)
                        .values(source)
                        .into_columns(columns)
                        .execute(conn),
                }?;
                // After the insert, not before: the user's row is then
                // locked before any `sessions` row, the order of every
                // other writer of a user (a password change, an
                // administrator's change, a deletion), so none can
                // deadlock with this transaction.
                diesel::delete(
                    sessions::table
                        .filter(sessions::user_id.eq(session.user_id))
                        .filter(sessions::expires_at.le(created_at))
                        .filter(sessions::family.ne(&session.family)),
                )
                .execute(conn)?;
                if inserted == 1 {
                    insert_event(conn, &event)?;
                }
                Ok::<_, diesel::result::Error>(inserted)
            })
            .map_err(query_error)?;
        Ok(inserted == 1)
    }

    /// One conditional UPDATE, never a read then a write: of concurrent
    /// rotations from one token the database lets exactly one match (on
    /// Postgres the others wait for its row lock, then re-check the WHERE
    /// against the new row and match nothing; SQLite has one writer at a
    /// time). It answers the session's scopes (`RETURNING`), and the event
    /// is inserted only from a row it returned.
    ///
    /// On Postgres both are one statement (a data-modifying `WITH`), so a
    /// refresh costs one round trip, as before the audit trail; on SQLite,
    /// where a statement costs no round trip, one write transaction.
    ///
    /// Under a grace, a refused rotation then reads the pair of the
    /// rotation that retired the token ([`replay`]): after the UPDATE, so
    /// that a concurrent rotation it waited for is seen committed.
    fn rotate(&self, rotation: &Rotation, event: &NewEvent) -> Result<RotationOutcome, InfraError> {
        let now = to_db_time(rotation.now)?;
        let expires_at = to_db_time(rotation.expires_at)?;
        let event = NewEventRow::new(event)?;
        let successor = rotation.grace.as_ref().map(|grace| &grace.access);
        let successor_id = successor.map(|access| access.token_id.as_str());
        let successor_scopes = successor.map(|access| access.scopes.to_string());
        let rotated_after = rotation
            .grace
            .as_ref()
            .map(|grace| to_db_time(grace.rotated_after))
            .transpose()?;
        let mut conn = checkout(&self.pool)?;
        let outcome = match &mut *conn {
            AnyConnection::Postgresql(pg) => {
                let rotated = RotateAndRecord {
                    next_token_id: &rotation.next_token_id,
                    expires_at,
                    device_address: rotation.device.client_address.as_deref(),
                    device_agent: rotation.device.user_agent.as_deref(),
                    now,
                    current_token_id: &rotation.current_token_id,
                    successor_id,
                    successor_scopes: successor_scopes.as_deref(),
                    family: &rotation.family,
                    user_id: rotation.user_id,
                    event: &event,
                }
                .get_result::<RotatedRow>(pg)
                .optional();
                match rotated {
                    Ok(Some(row)) => Ok(Rotated::Moved(row.scopes)),
                    // A statement of its own: under READ COMMITTED it sees
                    // the rotation that made the UPDATE match nothing, once
                    // committed (the UPDATE waited for its row lock).
                    Ok(None) => replay(&mut conn, rotation, now, rotated_after),
                    Err(error) => Err(error),
                }
            }
            AnyConnection::Sqlite(_) => conn.write_transaction(|conn| {
                // On the backend's own connection, so that the statement is
                // prepared once and found by its type (`on_backend`), not
                // rendered again on every refresh.
                let scopes: Option<String> = on_backend!(&mut *conn, |conn| {
                    diesel::update(
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
                        sessions::client_address.eq(rotation.device.client_address.as_deref()),
                        sessions::user_agent.eq(rotation.device.user_agent.as_deref()),
                        sessions::last_used_at.eq(Some(now)),
                        sessions::previous_token_id.eq(Some(&rotation.current_token_id)),
                        sessions::successor_access_id.eq(successor_id),
                        sessions::successor_scopes.eq(successor_scopes.as_deref()),
                    ))
                    .returning(sessions::scopes)
                    .get_result(conn)
                    .optional()
                })?;
                match scopes {
                    Some(scopes) => {
                        insert_event(conn, &event)?;
                        Ok(Rotated::Moved(scopes))
                    }
                    None => replay(conn, rotation, now, rotated_after),
                }
            }),
        }
        .map_err(query_error)?;
        Ok(match outcome {
            Rotated::Moved(scopes) => RotationOutcome::Rotated(stored_scopes(&scopes)?),
            Rotated::Replayed(row) => match row.into_pair()? {
                Some(pair) => RotationOutcome::Replayed(pair),
                None => RotationOutcome::Refused,
            },
            Rotated::Refused => RotationOutcome::Refused,
        })
    }

    fn scopes(&self, family: &str, user_id: i64) -> Result<Option<Scopes>, InfraError> {
        let mut conn = checkout(&self.pool)?;
        let scopes: Option<String> = sessions::table
            .filter(sessions::family.eq(family))
            .filter(sessions::user_id.eq(user_id))
            .select(sessions::scopes)
            .first(&mut conn)
            .optional()
            .map_err(query_error)?;
        scopes.as_deref().map(stored_scopes).transpose()
    }

    /// A conditional UPDATE: of concurrent revocations of one family
    /// exactly one matches (on Postgres the others wait for its row lock
    /// and then find the family revoked), and only it records `event`.
    fn revoke_family(
        &self,
        family: &str,
        user_id: i64,
        event: &NewEvent,
    ) -> Result<bool, InfraError> {
        let event = NewEventRow::new(event)?;
        let mut conn = checkout(&self.pool)?;
        conn.write_transaction(|conn| {
            let revoked = diesel::update(
                sessions::table
                    .filter(sessions::family.eq(family))
                    .filter(sessions::user_id.eq(user_id))
                    .filter(sessions::revoked.eq(false)),
            )
            .set(sessions::revoked.eq(true))
            .execute(conn)?;
            if revoked == 0 {
                return Ok(false);
            }
            insert_event(conn, &event)?;
            Ok(true)
        })
        .map_err(query_error)
    }

    fn revoke_all_for_user(&self, user_id: i64, event: &NewEvent) -> Result<(), InfraError> {
        let event = NewEventRow::new(event)?;
        let mut conn = checkout(&self.pool)?;
        conn.write_transaction(|conn| {
            revoke_all_of(conn, user_id)?;
            insert_event(conn, &event)
        })
        .map_err(query_error)?;
        Ok(())
    }

    fn list_live(&self, user_id: i64, now: UnixSeconds) -> Result<Vec<SessionInfo>, InfraError> {
        let now = to_db_time(now)?;
        let mut conn = checkout(&self.pool)?;
        let rows: Vec<SessionRow> = sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked.eq(false))
            .filter(sessions::expires_at.gt(now))
            .order(sessions::id.desc())
            .select((
                sessions::id,
                sessions::family,
                sessions::created_at,
                sessions::last_used_at,
                sessions::expires_at,
                sessions::client_address,
                sessions::user_agent,
            ))
            .load(&mut conn)
            .map_err(query_error)?;
        rows.into_iter().map(SessionRow::into_info).collect()
    }

    /// A conditional UPDATE, as [`Self::revoke_family`]: of concurrent
    /// revocations of one session exactly one matches and records `event`.
    fn revoke_by_id(
        &self,
        session_id: i64,
        user_id: i64,
        now: UnixSeconds,
        event: &NewEvent,
    ) -> Result<bool, InfraError> {
        let now = to_db_time(now)?;
        let event = NewEventRow::new(event)?;
        let mut conn = checkout(&self.pool)?;
        conn.write_transaction(|conn| {
            let revoked = diesel::update(
                sessions::table
                    .filter(sessions::id.eq(session_id))
                    .filter(sessions::user_id.eq(user_id))
                    .filter(sessions::revoked.eq(false))
                    .filter(sessions::expires_at.gt(now)),
            )
            .set(sessions::revoked.eq(true))
            .execute(conn)?;
            if revoked == 0 {
                return Ok(false);
            }
            insert_event(conn, &event)?;
            Ok(true)
        })
        .map_err(query_error)
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
