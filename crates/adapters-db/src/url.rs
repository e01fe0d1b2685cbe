//! `DB__URL`, in the SQLAlchemy forms the original Python service read.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where the database lives, parsed from `DB__URL`.
///
/// Accepted forms (as SQLAlchemy reads them):
/// - `sqlite:///rel/x.db`: a file relative to the working directory;
/// - `sqlite:////abs/x.db`: an absolute path;
/// - `sqlite:///:memory:` (or bare `sqlite://`): an in-memory database;
/// - `postgres://…`, `postgresql://…` (and `postgresql+<driver>://…`): handed
///   to libpq as it is, with the driver part dropped.
///
/// `Display` and `Debug` never show a Postgres password, so the value can be
/// logged.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    SqliteMemory,
    SqliteFile(PathBuf),
    Postgres(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the database URL is empty")]
    Empty,
    #[error(
        "unsupported database URL scheme `{0}`: use sqlite:///relative.db, sqlite:////absolute.db, sqlite:///:memory:, postgres://… or postgresql://…"
    )]
    UnsupportedScheme(String),
    #[error(
        "a SQLite URL needs three slashes before a relative path (sqlite:///x.db) and four before an absolute one (sqlite:////var/x.db)"
    )]
    SqliteHost,
    #[error("the SQLite URL names no file: use sqlite:///x.db or sqlite:///:memory:")]
    SqliteEmptyPath,
    #[error("query parameters are not supported in a SQLite URL")]
    SqliteQuery,
    #[error("the SQLite URL names a directory, not a file")]
    SqliteDirectory,
    #[error("the database URL contains a NUL character")]
    Nul,
}

impl DatabaseUrl {
    /// Parses `DB__URL`. Surrounding whitespace is ignored.
    ///
    /// # Errors
    /// [`UrlError`] saying what is wrong with anything but the forms above.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::Empty);
        }
        if raw.contains('\0') {
            return Err(UrlError::Nul);
        }
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(UrlError::UnsupportedScheme(
                raw.split(':').next().unwrap_or(raw).to_owned(),
            ));
        };
        let (base, driver) = match scheme.split_once('+') {
            Some((base, driver)) => (base, Some(driver)),
            None => (scheme, None),
        };
        match (base, driver) {
            ("sqlite", None) => Self::parse_sqlite(rest),
            ("postgres" | "postgresql", None) => Ok(Self::Postgres(raw.to_owned())),
            // SQLAlchemy names the Python driver after a `+`; libpq does not
            // know it, and it does not matter here.
            ("postgresql", Some(driver)) if !driver.is_empty() => {
                Ok(Self::Postgres(format!("postgresql://{rest}")))
            }
            _ => Err(UrlError::UnsupportedScheme(scheme.to_owned())),
        }
    }

    fn parse_sqlite(after_scheme: &str) -> Result<Self, UrlError> {
        // SQLAlchemy: `sqlite://` alone is an in-memory database.
        if after_scheme.is_empty() {
            return Ok(Self::SqliteMemory);
        }
        let Some(path) = after_scheme.strip_prefix('/') else {
            return Err(UrlError::SqliteHost);
        };
        if path.contains('?') {
            return Err(UrlError::SqliteQuery);
        }
        match path {
            "" | "/" => Err(UrlError::SqliteEmptyPath),
            ":memory:" => Ok(Self::SqliteMemory),
            _ if path.ends_with('/') => Err(UrlError::SqliteDirectory),
            _ => Ok(Self::SqliteFile(PathBuf::from(path))),
        }
    }

    /// Whether this is SQLite (file or memory) rather than Postgres.
    #[must_use]
    pub fn is_sqlite(&self) -> bool {
        !matches!(self, Self::Postgres(_))
    }

    /// The SQLite file, if this names one.
    #[must_use]
    pub fn sqlite_file(&self) -> Option<&Path> {
        match self {
            Self::SqliteFile(path) => Some(path),
            _ => None,
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SqliteMemory => f.write_str("sqlite:///:memory:"),
            Self::SqliteFile(path) => write!(f, "sqlite:///{}", path.display()),
            Self::Postgres(url) => f.write_str(&mask_postgres_password(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = UrlError;

    fn from_str(raw: &str) -> Result<Self, UrlError> {
        Self::parse(raw)
    }
}

const MASK: &str = "***";

/// Replaces the password of `scheme://user:password@host/db?password=…`.
///
/// Errs on the side of hiding: everything up to the last `@` before the
/// query counts as user information, even with an unencoded `/` in it.
fn mask_postgres_password(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = before_query.split_once("://").unwrap_or(("", before_query));
    let mut masked = format!("{scheme}://");
    match rest.rsplit_once('@') {
        Some((userinfo, host_and_path)) => {
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    masked.push_str(user);
                    masked.push(':');
                    masked.push_str(MASK);
                }
                None => masked.push_str(userinfo),
            }
            masked.push('@');
            masked.push_str(host_and_path);
        }
        None => masked.push_str(rest),
    }
    if let Some(query) = query {
        masked.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                    format!("{key}={MASK}")
                }
                _ => param.to_owned(),
            })
            .collect();
        masked.push_str(&params.join("&"));
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> DatabaseUrl {
        DatabaseUrl::parse(raw).unwrap()
    }

    #[test]
    fn three_slashes_name_a_relative_file() {
        assert_eq!(
            parse("sqlite:///rel/x.db"),
            DatabaseUrl::SqliteFile(PathBuf::from("rel/x.db"))
        );
        assert_eq!(
            parse("sqlite:///zentra.db"),
            DatabaseUrl::SqliteFile(PathBuf::from("zentra.db"))
        );
    }

    #[test]
    fn four_slashes_name_an_absolute_file() {
        let url = parse("sqlite:////abs/x.db");
        assert_eq!(url, DatabaseUrl::SqliteFile(PathBuf::from("/abs/x.db")));
        assert!(url.sqlite_file().unwrap().is_absolute());
    }

    #[test]
    fn memory_forms_are_in_memory() {
        assert_eq!(parse("sqlite:///:memory:"), DatabaseUrl::SqliteMemory);
        assert_eq!(parse("sqlite://"), DatabaseUrl::SqliteMemory);
    }

    #[test]
    fn postgres_urls_are_kept_as_they_are() {
        for raw in [
            "postgres://u:p@db:5432/zentra",
            "postgresql://u@db/zentra?sslmode=require",
        ] {
            assert_eq!(parse(raw), DatabaseUrl::Postgres(raw.to_owned()));
        }
    }

    #[test]
    fn a_sqlalchemy_driver_name_is_dropped() {
        assert_eq!(
            parse("postgresql+psycopg2://u:p@db/zentra"),
            DatabaseUrl::Postgres("postgresql://u:p@db/zentra".to_owned())
        );
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert_eq!(parse("  sqlite:///:memory:\n"), DatabaseUrl::SqliteMemory);
    }

    #[test]
    fn other_schemes_are_refused_by_name() {
        let err = DatabaseUrl::parse("mysql://u@db/zentra").unwrap_err();
        assert_eq!(err, UrlError::UnsupportedScheme("mysql".to_owned()));
        assert!(err.to_string().contains("mysql"));
        assert_eq!(
            DatabaseUrl::parse("sqlite+pysqlite:///x.db").unwrap_err(),
            UrlError::UnsupportedScheme("sqlite+pysqlite".to_owned())
        );
        assert_eq!(
            DatabaseUrl::parse("zentra.db").unwrap_err(),
            UrlError::UnsupportedScheme("zentra.db".to_owned())
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql+://db/x").unwrap_err(),
            UrlError::UnsupportedScheme("postgresql+".to_owned())
        );
    }

    #[test]
    fn two_slashes_before_a_file_are_refused() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://x.db").unwrap_err(),
            UrlError::SqliteHost
        );
    }

    #[test]
    fn a_sqlite_url_without_a_file_is_refused() {
        assert_eq!(DatabaseUrl::parse("").unwrap_err(), UrlError::Empty);
        assert_eq!(DatabaseUrl::parse("   ").unwrap_err(), UrlError::Empty);
        assert_eq!(
            DatabaseUrl::parse("sqlite:///").unwrap_err(),
            UrlError::SqliteEmptyPath
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:////").unwrap_err(),
            UrlError::SqliteEmptyPath
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:////var/lib/").unwrap_err(),
            UrlError::SqliteDirectory
        );
    }

    #[test]
    fn sqlite_query_parameters_are_refused_rather_than_put_in_the_file_name() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///x.db?mode=ro").unwrap_err(),
            UrlError::SqliteQuery
        );
    }

    #[test]
    fn a_nul_character_is_refused() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///x\0.db").unwrap_err(),
            UrlError::Nul
        );
    }

    #[test]
    fn display_round_trips_sqlite_urls() {
        for raw in [
            "sqlite:///rel/x.db",
            "sqlite:////abs/x.db",
            "sqlite:///:memory:",
        ] {
            assert_eq!(parse(raw).to_string(), raw);
        }
    }

    #[test]
    fn display_masks_the_postgres_password() {
        let url = parse("postgres://zentra:s3cr3t@db:5432/zentra");
        assert_eq!(url.to_string(), "postgres://zentra:***@db:5432/zentra");
        assert!(!format!("{url:?}").contains("s3cr3t"));
    }

    #[test]
    fn display_masks_a_password_with_odd_characters_or_in_the_query() {
        let url = parse("postgres://u:pa/ss@w@db/zentra");
        assert!(!url.to_string().contains("pa/ss"), "{url}");
        let url = parse("postgresql://u@db/zentra?sslmode=require&password=s3cr3t");
        assert_eq!(
            url.to_string(),
            "postgresql://u@db/zentra?sslmode=require&password=***"
        );
    }

    #[test]
    fn display_keeps_a_url_without_password() {
        let raw = "postgres://postgres@127.0.0.1:5432/postgres";
        assert_eq!(parse(raw).to_string(), raw);
    }
}
