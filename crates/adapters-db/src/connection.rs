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
