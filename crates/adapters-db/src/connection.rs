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
