//! The schema migrations, one folder per backend with matching versions,
//! embedded at build time (`build.rs` makes cargo notice new ones).

use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::connection::AnyConnection;
use crate::error::SetupError;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Key of the Postgres advisory lock held while migrating, so that several
/// instances starting at once migrate one after the other ("zentradb").
const MIGRATION_LOCK_KEY: i64 = 0x7a65_6e74_7261_6462;

/// Runs the migrations not yet applied, and returns their versions (none
/// when the schema is current).
///
/// Concurrent callers are serialised: a session advisory lock on Postgres,
/// an immediate (write-locking) transaction on SQLite.
///
/// # Errors
/// [`SetupError::Migrations`] when a migration or the lock fails.
pub fn run_migrations(conn: &mut AnyConnection) -> Result<Vec<String>, SetupError> {
    match conn {
        AnyConnection::Postgresql(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .map_err(|err| SetupError::Migrations(err.into()))?;
            let applied = pg
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|versions| versions.iter().map(ToString::to_string).collect());
            // Release even after a failure: the connection goes back to the
            // pool, and a session lock would outlive this call.
            let unlocked =
                pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
            let applied = applied.map_err(SetupError::Migrations)?;
            unlocked.map_err(|err| SetupError::Migrations(err.into()))?;
            Ok(applied)
        }
        AnyConnection::Sqlite(sqlite) => sqlite
            .immediate_transaction(|sqlite| {
                sqlite
                    .run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(|versions| versions.iter().map(ToString::to_string).collect())
            })
            .map_err(SetupError::Migrations),
    }
}
