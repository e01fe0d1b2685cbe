//! Fresh databases for tests (feature `test-support`).
//!
//! - `ZENTRA_TEST_POSTGRES_URL`: an admin URL of a Postgres server
//!   (`postgres://postgres@127.0.0.1:5432/postgres`); each test gets its own
//!   database there. Unset: Postgres tests skip.
//! - `ZENTRA_REQUIRE_POSTGRES=1`: Postgres is mandatory (CI); a missing
//!   `ZENTRA_TEST_POSTGRES_URL` panics instead of skipping.

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// Names the admin URL of the Postgres server the tests may use.
pub const POSTGRES_URL_VAR: &str = "ZENTRA_TEST_POSTGRES_URL";
/// Set to `1` to make Postgres tests mandatory.
pub const REQUIRE_POSTGRES_VAR: &str = "ZENTRA_REQUIRE_POSTGRES";

/// The admin URL from `ZENTRA_TEST_POSTGRES_URL`, or `None` to skip.
///
/// # Panics
/// When the variable is unset (or empty) and `ZENTRA_REQUIRE_POSTGRES=1`.
#[must_use]
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|v| v == "1") => panic!(
            "{REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set: \
             point it at a Postgres server, e.g. postgres://postgres@127.0.0.1:5432/postgres"
        ),
        _ => None,
    }
}

/// A database of its own on the test Postgres server, dropped (forcibly,
/// best-effort) with this value.
#[derive(Debug)]
pub struct TestPostgres {
    /// The new database's URL, as `DB__URL` takes it.
    pub url: String,
    /// The database's name (`zentra_test_<uuid>`).
    pub name: String,
    admin_url: String,
}

impl TestPostgres {
    /// Creates `zentra_test_<uuid>` on the server `admin_url` points at.
    ///
    /// # Panics
    /// When the server cannot be reached or refuses to create the database:
    /// a test cannot go on without it.
    #[must_use]
    pub fn create(admin_url: &str) -> Self {
        let name = format!("zentra_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(admin_url).unwrap_or_else(|err| {
            panic!("cannot connect to the test Postgres ({POSTGRES_URL_VAR}): {err}")
        });
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|err| panic!("cannot create the test database {name}: {err}"));
        Self {
            url: with_database(admin_url, &name),
            name,
            admin_url: admin_url.to_owned(),
        }
    }

    /// [`Self::create`] on the server of [`postgres_admin_url`], or `None`
    /// when Postgres tests are to be skipped.
    ///
    /// # Panics
    /// As [`postgres_admin_url`] and [`Self::create`].
    #[must_use]
    pub fn from_env() -> Option<Self> {
        postgres_admin_url().map(|admin_url| Self::create(&admin_url))
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        // Best-effort: a leftover test database is harmless, a panic in
        // drop (perhaps during another panic) is not.
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// `url` with its database name replaced by `database`; user, host, port
/// and query parameters stay.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A new, empty SQLite file in a temporary directory, and its absolute
/// `sqlite:////…/zentra.db` URL. Keep the directory alive while the
/// database is in use: dropping it deletes the file.
///
/// # Panics
/// When no temporary directory can be created.
#[must_use]
pub fn fresh_sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("cannot create a temporary directory");
    let path: PathBuf = dir.path().join("zentra.db");
    let url = format!("sqlite:///{}", path.display());
    (dir, url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgresql://u:p@db?sslmode=disable", "t1"),
            "postgresql://u:p@db/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://db/", "t1"), "postgres://db/t1");
    }

    #[test]
    fn a_fresh_sqlite_url_is_absolute_and_parses() {
        let (dir, url) = fresh_sqlite();
        assert!(url.starts_with("sqlite:////"), "{url}");
        let parsed = crate::DatabaseUrl::parse(&url).unwrap();
        assert_eq!(
            parsed.sqlite_file(),
            Some(dir.path().join("zentra.db").as_path())
        );
    }
}
