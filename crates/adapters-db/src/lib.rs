//! Zentra's database adapter: the domain's [`domain::UserRepository`],
//! [`domain::SessionRepository`], [`domain::LoginFailureRepository`] and
//! [`domain::AuditRepository`] and [`domain::ApiKeyRepository`] on diesel, over SQLite or Postgres as
//! `DB__URL` says.
//!
//! Start-up calls [`connect`] (pool + migrations); the app hands the pool to
//! [`DieselUserRepository::new`], [`DieselSessionRepository::new`],
//! [`DieselLoginFailureRepository::new`], [`DieselAuditRepository::new`],
//! [`DieselApiKeyRepository::new`]
//! and to [`ping`] for the health route.

pub mod api_keys;
pub mod audit;
mod batch;
pub mod connection;
pub mod error;
pub mod login_failures;
pub mod migrations;
pub mod pool;
mod rows;
pub mod schema;
pub mod sessions;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod url;
pub mod users;

use std::time::Duration;

pub use api_keys::DieselApiKeyRepository;
pub use audit::DieselAuditRepository;
pub use connection::AnyConnection;
pub use error::{ConnectError, SetupError};
pub use login_failures::DieselLoginFailureRepository;
pub use migrations::run_migrations;
pub use pool::{
    DbPool, PooledConnection, SqliteOptions, SqliteSync, build_pool, build_pool_with, checkout,
    ping,
};
pub use sessions::DieselSessionRepository;
pub use url::{DatabaseUrl, UrlError};
pub use users::DieselUserRepository;

/// The connections that lookups of users by username and of API keys by
/// digest (with a key's last use, written once a minute) need at once on
/// the backend `url` names, however many threads ask: on Postgres lookups
/// waiting together share one query ([`DieselUserRepository`],
/// [`DieselApiKeyRepository`]), at most `MAX_LEADERS` of each kind at
/// once, and one more lets a key's last use be written beside them (more
/// such writes at once wait their turn); on SQLite (`None`) each lookup
/// takes a connection of its own.
#[must_use]
pub fn shared_lookup_connections(url: &DatabaseUrl) -> Option<u32> {
    let batches = u32::try_from(2 * batch::MAX_LEADERS).unwrap_or(u32::MAX);
    (!url.is_sqlite()).then_some(batches + 1)
}

/// How long start-up waits for the database before giving up.
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the pool (waiting at most [`DEFAULT_CONNECTION_TIMEOUT`]) and
/// brings the schema up to date: what the app does at start-up.
///
/// # Errors
/// [`SetupError`] when the database cannot be reached or migrated.
pub fn connect(url: &DatabaseUrl, pool_size: u32) -> Result<DbPool, SetupError> {
    connect_with(url, pool_size, SqliteOptions::default())
}

/// [`connect`] with SQLite files opened as `sqlite` says.
///
/// # Errors
/// [`SetupError`] when the database cannot be reached or migrated.
pub fn connect_with(
    url: &DatabaseUrl,
    pool_size: u32,
    sqlite: SqliteOptions,
) -> Result<DbPool, SetupError> {
    let pool = build_pool_with(url, pool_size, DEFAULT_CONNECTION_TIMEOUT, sqlite)?;
    let mut conn = pool.get().map_err(SetupError::Connect)?;
    run_migrations(&mut conn)?;
    drop(conn);
    Ok(pool)
}
