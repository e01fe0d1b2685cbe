//! One connection type for both backends. Backend-specific work (pragmas,
//! advisory locks, migrations) matches on the variant.

use diesel::{PgConnection, SqliteConnection};

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}
