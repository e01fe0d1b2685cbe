//! One connection type for both backends. Backend-specific work (pragmas,
//! advisory locks, migrations) matches on the variant.

use diesel::{PgConnection, SqliteConnection};

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$inner` bound to the backend's own connection
/// (`&mut SqliteConnection` or `&mut PgConnection`); the body is compiled
/// once per backend.
///
/// For hot queries: diesel's `MultiConnection` cannot cache a statement by
/// its type, so through `AnyConnection` every execution first renders the
/// SQL text again (about as costly as the SQLite lookup itself); on the
/// backend's own connection the prepared statement is found by type.
macro_rules! on_backend {
    ($conn:expr, |$inner:ident| $body:expr) => {
        match $conn {
            $crate::connection::AnyConnection::Sqlite($inner) => $body,
            $crate::connection::AnyConnection::Postgresql($inner) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Held by this process's SQLite write transaction, one at a time (see
/// [`AnyConnection::write_transaction`]).
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl AnyConnection {
    /// Runs `work` in a transaction that writes: on SQLite it begins with
    /// `BEGIN IMMEDIATE`, so it holds the database's one write lock from
    /// its first statement (a deferred transaction that reads, then
    /// writes, would be refused with "database is locked" when another
    /// writer got there in between, instead of waiting); on Postgres it is
    /// a plain transaction, whose callers lock what they decide on.
    ///
    /// # Errors
    /// The error of `work`, or of beginning or ending the transaction.
    pub fn write_transaction<T, E>(
        &mut self,
        work: impl FnOnce(&mut Self) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};

        let Self::Sqlite(sqlite) = self else {
            return self.transaction(work);
        };
        // SQLite has one writer at a time, and a writer refused the lock
        // sleeps in its busy handler (1, 2, 5 … 100 ms) instead of being
        // woken when the lock is free: under load a few rotations waited
        // over two seconds (p99 1.1 s with 64 clients on a new file). This
        // process's writers queue here instead and are woken in turn (p99
        // 33 ms, for 17 % fewer rotations per second); the busy handler is
        // left to other processes on the same file. Never nested: `work`
        // writes on this connection only.
        let _one_writer = SQLITE_WRITER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // What `SqliteConnection::immediate_transaction` does, on this
        // connection: `work` needs the multi-backend one. The multi-backend
        // transaction manager delegates to the backend's, so the state
        // begun here is the one committed or rolled back below.
        AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
        match work(self) {
            Ok(value) => {
                <Self as Connection>::TransactionManager::commit_transaction(self)?;
                Ok(value)
            }
            Err(error) => {
                match <Self as Connection>::TransactionManager::rollback_transaction(self) {
                    Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
                    Err(rollback) => Err(rollback.into()),
                }
            }
        }
    }
}
