//! The connection pool: r2d2 over a manager that opens the backend the URL
//! names and reports the real error when it cannot.
//!
//! diesel's own `ConnectionManager` is not used: for a multi-backend
//! connection it tries every backend and reports only "Invalid connection
//! url for multiconnection", hiding a wrong password or a refused port.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::R2D2Connection;
use diesel::{Connection, PgConnection, SqliteConnection};
use domain::InfraError;

use crate::connection::AnyConnection;
use crate::error::{self, ConnectError, SetupError};
use crate::url::DatabaseUrl;

pub type DbPool = r2d2::Pool<AnyConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<AnyConnectionManager>;

/// Set on every new Postgres connection. Every statement is prepared once
/// per connection; by default Postgres plans a prepared statement anew on
/// each execution while that plan looks cheaper than its generic one — and
/// for the batched lookups (`= ANY($1)`, `batch.rs`) it always does, the
/// custom plan knowing the array's length: about a millisecond of planning
/// per execution for the API-key lookup's three-table join. The service's
/// statements are point lookups and small writes, whose generic plans are
/// the index plans, so they are planned once. Measured (users/me, 64
/// connections, 2 cores): with a JWT 30k -> 40.6k req/s, with an API key
/// 17k -> 38.9k.
const POSTGRES_SETTINGS: &str = "SET plan_cache_mode = force_generic_plan";

/// Set on every new SQLite connection, before its [`SqliteSync`]. Without
/// a busy timeout concurrent writers fail at once with "database is
/// locked"; WAL lets readers and one writer work together; SQLite leaves
/// foreign keys off unless asked. A checkpoint (copying the WAL back into
/// the file, and syncing it) runs once the WAL holds 10,000 pages (about
/// 40 MB) instead of SQLite's 1,000: rotations on a 2-core host, in turn
/// (3.0k -> 3.5k req/s on a new file, 2.2k -> 2.5k on a million users).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; \
     PRAGMA journal_mode = WAL; \
     PRAGMA wal_autocheckpoint = 10000; \
     PRAGMA foreign_keys = ON;";

/// When a SQLite commit reaches the disk (`PRAGMA synchronous`; the file
/// is in WAL mode). Postgres decides this on the server
/// (`synchronous_commit`, on by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// Every commit is on disk before it is answered (`FULL`: the WAL is
    /// synced at each commit): a power cut or an operating-system crash
    /// loses nothing acknowledged — a logout, a revocation, a password
    /// change stay done.
    #[default]
    Full,
    /// The WAL is synced at checkpoints only (`NORMAL`): a crash of the
    /// service loses nothing, a power cut may undo the last commits. About
    /// twice the rotations per second (README, Performance).
    Normal,
}

impl SqliteSync {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "PRAGMA synchronous = FULL",
            Self::Normal => "PRAGMA synchronous = NORMAL",
        }
    }
}

impl std::str::FromStr for SqliteSync {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.to_ascii_lowercase().as_str() {
            "full" => Ok(Self::Full),
            "normal" => Ok(Self::Normal),
            _ => Err(format!("{raw:?} is not full or normal")),
        }
    }
}

impl std::fmt::Display for SqliteSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Full => "full",
            Self::Normal => "normal",
        })
    }
}

/// How the service opens SQLite files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SqliteOptions {
    pub sync: SqliteSync,
    /// `PRAGMA mmap_size`: how much of the file each connection reads
    /// through a memory map instead of copying pages into its own cache
    /// (0: none, SQLite's default). A read from a large file that misses
    /// the connection's 2 MB cache is then a memory access, not a `pread`
    /// (README, Performance). The mapped pages are the kernel's page cache,
    /// shared by every connection, but each connection maps the file
    /// itself, and RSS counts a page once per mapping that touched it; an
    /// I/O error on the file becomes a SIGBUS instead of an error.
    pub mmap_bytes: u64,
}

/// How long [`ping`] waits for a free connection: the health route must
/// answer within a second.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Opens connections for the backend `url` names.
#[derive(Debug, Clone)]
pub struct AnyConnectionManager {
    url: DatabaseUrl,
    sqlite: SqliteOptions,
}

impl AnyConnectionManager {
    /// SQLite connections with the default [`SqliteOptions`].
    #[must_use]
    pub fn new(url: DatabaseUrl) -> Self {
        Self::with_sqlite(url, SqliteOptions::default())
    }

    #[must_use]
    pub fn with_sqlite(url: DatabaseUrl, sqlite: SqliteOptions) -> Self {
        Self { url, sqlite }
    }
}

impl r2d2::ManageConnection for AnyConnectionManager {
    type Connection = AnyConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<AnyConnection, ConnectError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(url)?;
                // Best effort (Postgres 12 and later know the setting): a
                // failure leaves the server's default, which is correct,
                // only slower.
                let _ = conn.batch_execute(POSTGRES_SETTINGS);
                Ok(AnyConnection::Postgresql(conn))
            }
            DatabaseUrl::SqliteMemory => open_sqlite(":memory:", self.sqlite),
            DatabaseUrl::SqliteFile(path) => {
                // `build_pool` has checked the directory; one removed since
                // fails to open like any other unreadable file.
                create_private(path);
                open_sqlite(&sqlite_filename(path)?, self.sqlite)
            }
        }
    }

    /// Required by r2d2 but not called: `test_on_check_out` is off, and
    /// [`checkout`] pings Postgres connections itself, only when due.
    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1").map_err(ConnectError::Ping)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        // Only a connection left in a broken transaction; no round trip.
        conn.is_broken()
    }
}

fn open_sqlite(filename: &str, options: SqliteOptions) -> Result<AnyConnection, ConnectError> {
    let mut conn = SqliteConnection::establish(filename)?;
    conn.batch_execute(SQLITE_PRAGMAS)
        .and_then(|()| conn.batch_execute(options.sync.pragma()))
        .and_then(|()| match options.mmap_bytes {
            0 => Ok(()),
            bytes => conn.batch_execute(&format!("PRAGMA mmap_size = {bytes}")),
        })
        .map_err(ConnectError::Pragmas)?;
    Ok(AnyConnection::Sqlite(conn))
}

/// Creates a missing SQLite file readable and writable by its owner only
/// (0600): it holds password hashes and session ids, and SQLite gives the
/// `-wal` and `-shm` files it creates the main file's mode. An existing
/// file is never touched: its mode is the operator's choice. Any other
/// failure is left for SQLite to report when it opens the file.
fn create_private(path: &Path) {
    let mut options = std::fs::OpenOptions::new();
    // `create_new` fails on an existing file, which is then left as it is.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let _ = options.open(path);
}

/// diesel opens SQLite with URI filenames enabled, so a relative path that
/// happens to start with `file:` would be read as a URI: anchor it.
fn sqlite_filename(path: &Path) -> Result<String, ConnectError> {
    let name = path.to_str().ok_or(ConnectError::NonUtf8Path)?;
    Ok(if name.starts_with("file:") {
        format!("./{name}")
    } else {
        name.to_owned()
    })
}

/// The parent directory of a SQLite file if it does not exist. Directories
/// are never created: a typo in `DB__URL` should stop the start, not leave
/// a database somewhere unexpected.
fn missing_parent(path: &Path) -> Option<PathBuf> {
    let parent = path.parent()?;
    if parent.as_os_str().is_empty() || parent.is_dir() {
        None
    } else {
        Some(parent.to_path_buf())
    }
}

/// Builds the pool and opens its connections, waiting at most
/// `connection_timeout` for them.
///
/// An in-memory SQLite database lives as long as its one connection, so its
/// pool holds exactly one connection, never closed for idleness or age.
///
/// # Errors
/// [`SetupError::MissingDirectory`] at once for a SQLite file in a missing
/// directory; [`SetupError::Connect`] with the driver's last error when no
/// connection could be opened in time; [`SetupError::PoolSize`] for 0.
pub fn build_pool(
    url: &DatabaseUrl,
    size: u32,
    connection_timeout: Duration,
) -> Result<DbPool, SetupError> {
    build_pool_with(url, size, connection_timeout, SqliteOptions::default())
}

/// [`build_pool`] with SQLite files opened as `sqlite` says.
///
/// # Errors
/// As [`build_pool`].
pub fn build_pool_with(
    url: &DatabaseUrl,
    size: u32,
    connection_timeout: Duration,
    sqlite: SqliteOptions,
) -> Result<DbPool, SetupError> {
    if size == 0 {
        return Err(SetupError::PoolSize);
    }
    if let Some(dir) = url.sqlite_file().and_then(missing_parent) {
        return Err(SetupError::MissingDirectory(dir));
    }
    let builder = r2d2::Pool::builder()
        .connection_timeout(connection_timeout)
        .test_on_check_out(false);
    let builder = match url {
        DatabaseUrl::SqliteMemory => builder
            .max_size(1)
            .min_idle(Some(1))
            .idle_timeout(None)
            .max_lifetime(None),
        DatabaseUrl::SqliteFile(_) | DatabaseUrl::Postgres(_) => builder.max_size(size),
    };
    let manager = AnyConnectionManager::with_sqlite(url.clone(), sqlite);
    if url.sqlite_file().is_some() {
        // A new SQLite file switches to WAL on its first connection, which
        // takes the write lock: let one connection do it before the pool
        // opens the others at once (they raced for that lock, and r2d2 logged
        // each loser as an error while it retried). A failure here is
        // reported by the pool below.
        let _ = r2d2::ManageConnection::connect(&manager);
    }
    builder.build(manager).map_err(SetupError::Connect)
}

/// How long a Postgres connection is trusted after it last answered.
const PING_INTERVAL: Duration = Duration::from_secs(1);

/// How long a checkout waits when the pool has no connection at all.
const DOWN_WAIT: Duration = Duration::from_secs(1);

/// When a pooled Postgres connection last answered a ping (kept in the
/// connection's r2d2 extensions, so it survives checkouts).
struct PingedAt(Instant);

/// A connection for one unit of work.
///
/// A Postgres connection can die with the server or the network: it is
/// pinged before use when its last ping is over [`PING_INTERVAL`] old, and
/// one that does not answer is marked broken, so that r2d2 drops it and
/// opens a fresh one: that is how the pool heals after an outage, within
/// about a second. Pinging on every checkout (r2d2's default) cost a round
/// trip per query. An open SQLite file does not go stale, and a failing
/// disk fails the query itself, so SQLite connections are never pinged.
///
/// # Errors
/// [`InfraError::Unavailable`] when no connection is free in time or none
/// answers.
pub fn checkout(pool: &DbPool) -> Result<PooledConnection, InfraError> {
    checkout_within(pool, pool.connection_timeout())
}

fn checkout_within(pool: &DbPool, timeout: Duration) -> Result<PooledConnection, InfraError> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut wait = deadline.saturating_duration_since(Instant::now());
        if pool.state().connections == 0 {
            // Every connection has died and none could be opened again: the
            // database is down, so do not hold the caller (and the thread it
            // runs on) for the whole timeout. A replacement opened in the
            // meantime (after `max_lifetime`, say) takes milliseconds.
            wait = wait.min(DOWN_WAIT);
        }
        let mut conn = pool.get_timeout(wait).map_err(error::pool_error)?;
        let fresh = PooledConnection::extensions(&conn)
            .get::<PingedAt>()
            .is_some_and(|pinged| pinged.0.elapsed() < PING_INTERVAL);
        let AnyConnection::Postgresql(pg) = &mut *conn else {
            return Ok(conn);
        };
        if fresh {
            return Ok(conn);
        }
        match pg.batch_execute("SELECT 1") {
            Ok(()) => {
                PooledConnection::extensions_mut(&mut conn).insert(PingedAt(Instant::now()));
                return Ok(conn);
            }
            Err(dead) => {
                // r2d2 drops a connection whose transaction manager is in
                // error when it comes back (`has_broken`).
                AnsiTransactionManager::transaction_manager_status_mut(pg).set_in_error();
                drop(conn);
                if Instant::now() >= deadline {
                    return Err(InfraError::unavailable(dead));
                }
            }
        }
    }
}

/// Whether the database answers: a free connection within a second, then
/// `SELECT 1`.
///
/// # Errors
/// [`InfraError::Unavailable`] when no connection is free or the database
/// does not answer.
pub fn ping(pool: &DbPool) -> Result<(), InfraError> {
    let mut conn = checkout_within(pool, PING_TIMEOUT)?;
    conn.batch_execute("SELECT 1")
        .map_err(InfraError::unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_file_in_the_working_directory_has_no_missing_parent() {
        assert_eq!(missing_parent(Path::new("zentra.db")), None);
        assert_eq!(missing_parent(Path::new("/tmp/zentra.db")), None);
    }

    #[test]
    fn a_missing_directory_is_named() {
        let path = Path::new("/nonexistent-zentra-dir/sub/zentra.db");
        assert_eq!(
            missing_parent(path),
            Some(PathBuf::from("/nonexistent-zentra-dir/sub"))
        );
    }

    #[test]
    fn a_relative_path_looking_like_a_uri_is_anchored() {
        assert_eq!(
            sqlite_filename(Path::new("file:x.db")).unwrap(),
            "./file:x.db"
        );
        assert_eq!(
            sqlite_filename(Path::new("data/x.db")).unwrap(),
            "data/x.db"
        );
    }

    #[test]
    fn an_in_memory_pool_keeps_its_one_database() {
        let pool = build_pool(&DatabaseUrl::SqliteMemory, 8, Duration::from_secs(5)).unwrap();
        assert_eq!(pool.max_size(), 1);
        pool.get()
            .unwrap()
            .batch_execute("CREATE TABLE kept (x INTEGER)")
            .unwrap();
        pool.get()
            .unwrap()
            .batch_execute("INSERT INTO kept VALUES (1)")
            .unwrap();
        ping(&pool).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_new_sqlite_file_and_its_journals_are_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zentra.db");
        let pool = build_pool(
            &DatabaseUrl::SqliteFile(path.clone()),
            2,
            Duration::from_secs(5),
        )
        .unwrap();
        let mut conn = pool.get().unwrap();
        conn.batch_execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}: {mode:o}", file.display());
        }
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_sqlite_file_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let pool = build_pool(
            &DatabaseUrl::SqliteFile(path.clone()),
            1,
            Duration::from_secs(5),
        )
        .unwrap();
        ping(&pool).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn a_pool_size_of_zero_is_refused() {
        assert!(matches!(
            build_pool(&DatabaseUrl::SqliteMemory, 0, Duration::from_secs(1)),
            Err(SetupError::PoolSize)
        ));
    }
}
