//! What is particular to one backend: SQLite's connection set-up and
//! locking, in-memory databases, and failing fast when the database cannot
//! be reached.

use std::time::{Duration, Instant};

use adapters_db::test_support::fresh_sqlite;
use adapters_db::{
    AnyConnection, DatabaseUrl, DieselUserRepository, SetupError, SqliteOptions, SqliteSync,
    build_pool, connect, connect_with,
};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use domain::{
    Action, CreateUserError, InfraError, NewEvent, NewUser, Origin, PasswordHash, Scopes,
    UserDetails, UserRepository, Username,
};

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        password_hash: PasswordHash::new("h"),
        is_active: true,
        is_superuser: false,
        scopes: Scopes::legacy(),
        details: UserDetails::default(),
        created_at: 1_800_000_000,
    }
}

fn event(action: Action) -> NewEvent {
    NewEvent {
        at: 1_800_000_000,
        action,
        actor: None,
        subject: None,
        origin: Origin::default(),
    }
}

#[derive(QueryableByName)]
struct ForeignKeys {
    #[diesel(sql_type = Integer)]
    foreign_keys: i32,
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

#[derive(QueryableByName)]
struct BusyTimeout {
    #[diesel(sql_type = Integer)]
    timeout: i32,
}

#[derive(QueryableByName)]
struct WalAutocheckpoint {
    #[diesel(sql_type = Integer)]
    wal_autocheckpoint: i32,
}

#[derive(QueryableByName)]
struct Synchronous {
    #[diesel(sql_type = Integer)]
    synchronous: i32,
}

#[test]
fn sqlite_pragmas_are_set_on_every_pooled_connection() {
    let (_dir, url) = fresh_sqlite();
    let pool = connect(&DatabaseUrl::parse(&url).unwrap(), 3).unwrap();

    // Hold all three at once so that each is a different connection.
    let mut held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    for conn in &mut held {
        let AnyConnection::Sqlite(conn) = &mut **conn else {
            panic!("a sqlite URL gave another backend");
        };
        let fk: ForeignKeys = diesel::sql_query("PRAGMA foreign_keys")
            .get_result(conn)
            .unwrap();
        let journal: JournalMode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(conn)
            .unwrap();
        let busy: BusyTimeout = diesel::sql_query("PRAGMA busy_timeout")
            .get_result(conn)
            .unwrap();
        let sync: Synchronous = diesel::sql_query("PRAGMA synchronous")
            .get_result(conn)
            .unwrap();
        assert_eq!(fk.foreign_keys, 1);
        assert_eq!(journal.journal_mode, "wal");
        assert_eq!(busy.timeout, 5000);
        let checkpoint: WalAutocheckpoint = diesel::sql_query("PRAGMA wal_autocheckpoint")
            .get_result(conn)
            .unwrap();
        assert_eq!(sync.synchronous, 2, "FULL");
        assert_eq!(checkpoint.wal_autocheckpoint, 10_000);
    }
}

#[derive(QueryableByName)]
struct MmapSize {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    mmap_size: i64,
}

/// `DB__SQLITE_MMAP_MB`: none by default, the size asked for on every
/// pooled connection when set.
#[test]
fn sqlite_files_are_memory_mapped_only_when_asked() {
    for (mmap_bytes, expected) in [(0, 0), (64 << 20, 64 << 20)] {
        let (_dir, url) = fresh_sqlite();
        let options = SqliteOptions {
            mmap_bytes,
            ..SqliteOptions::default()
        };
        let pool = connect_with(&DatabaseUrl::parse(&url).unwrap(), 2, options).unwrap();
        let mut held: Vec<_> = (0..2).map(|_| pool.get().unwrap()).collect();
        for conn in &mut held {
            let AnyConnection::Sqlite(conn) = &mut **conn else {
                panic!("a sqlite URL gave another backend");
            };
            let size: MmapSize = diesel::sql_query("PRAGMA mmap_size")
                .get_result(conn)
                .unwrap();
            assert_eq!(size.mmap_size, expected);
        }
    }
}

/// `DB__SQLITE_SYNCHRONOUS=normal`: every pooled connection, not only the
/// first.
#[test]
fn sqlite_commits_can_be_synced_at_checkpoints_only() {
    let (_dir, url) = fresh_sqlite();
    let options = SqliteOptions {
        sync: SqliteSync::Normal,
        ..SqliteOptions::default()
    };
    let pool = connect_with(&DatabaseUrl::parse(&url).unwrap(), 3, options).unwrap();
    let mut held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    for conn in &mut held {
        let AnyConnection::Sqlite(conn) = &mut **conn else {
            panic!("a sqlite URL gave another backend");
        };
        let sync: Synchronous = diesel::sql_query("PRAGMA synchronous")
            .get_result(conn)
            .unwrap();
        assert_eq!(sync.synchronous, 1, "NORMAL");
    }
    assert_eq!("Normal".parse::<SqliteSync>(), Ok(SqliteSync::Normal));
    assert_eq!("full".parse::<SqliteSync>(), Ok(SqliteSync::Full));
    assert!("off".parse::<SqliteSync>().is_err());
}

#[test]
fn a_sqlite_file_in_a_missing_directory_is_refused_at_once() {
    let (dir, _) = fresh_sqlite();
    let missing = dir.path().join("missing");
    let url = DatabaseUrl::parse(&format!("sqlite:///{}/zentra.db", missing.display())).unwrap();

    let started = Instant::now();
    let err = build_pool(&url, 2, Duration::from_secs(5)).unwrap_err();

    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(&err, SetupError::MissingDirectory(dir) if *dir == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!missing.exists(), "the directory must not be created");
}

#[test]
fn an_unreachable_postgres_fails_within_the_timeout() {
    let url = DatabaseUrl::parse("postgres://postgres@127.0.0.1:1/x").unwrap();

    let started = Instant::now();
    let err = build_pool(&url, 2, Duration::from_millis(1500)).unwrap_err();

    assert!(started.elapsed() < Duration::from_secs(10), "it hung");
    let SetupError::Connect(cause) = &err else {
        panic!("{err:?}");
    };
    // The real driver error, not diesel's "Invalid connection url for
    // multiconnection".
    assert!(cause.to_string().contains("127.0.0.1"), "{cause}");
    assert!(!cause.to_string().contains("multiconnection"), "{cause}");
}

#[test]
fn an_in_memory_database_keeps_its_data_across_checkouts() {
    let url = DatabaseUrl::parse("sqlite:///:memory:").unwrap();
    let pool = connect(&url, 8).unwrap();
    let repo = DieselUserRepository::new(pool.clone());

    let created = repo
        .create(&new_user("agent47"), &event(Action::UserRegistered))
        .unwrap();
    for _ in 0..3 {
        let found = repo.find_by_username(&Username::parse("agent47").unwrap());
        assert_eq!(found.unwrap(), Some(created.clone()));
    }
    assert_eq!(pool.max_size(), 1);
}

#[test]
fn a_locked_sqlite_database_is_unavailable_not_unexpected() {
    let (_dir, url) = fresh_sqlite();
    let url = DatabaseUrl::parse(&url).unwrap();
    let repo = DieselUserRepository::new(connect(&url, 1).unwrap());

    // Another process holds the write lock for longer than busy_timeout.
    let mut other =
        SqliteConnection::establish(url.sqlite_file().unwrap().to_str().unwrap()).unwrap();
    other.batch_execute("BEGIN IMMEDIATE").unwrap();

    let started = Instant::now();
    let created = repo.create(&new_user("agent47"), &event(Action::UserRegistered));

    assert!(
        matches!(
            created,
            Err(CreateUserError::Infra(InfraError::Unavailable(_)))
        ),
        "{created:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "busy_timeout should make a writer wait"
    );
    other.batch_execute("ROLLBACK").unwrap();
    assert!(
        repo.create(&new_user("agent47"), &event(Action::UserRegistered))
            .is_ok()
    );
}

#[derive(QueryableByName)]
struct BackendPid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

fn backend_pid(conn: &mut AnyConnection) -> i32 {
    diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<BackendPid>(conn)
        .unwrap()
        .pid
}

#[test]
fn a_postgres_connection_killed_by_the_server_is_replaced_at_checkout() {
    let Some(database) = adapters_db::test_support::TestPostgres::from_env() else {
        return;
    };
    let url = DatabaseUrl::parse(&database.url).unwrap();
    let pool = build_pool(&url, 1, Duration::from_secs(5)).unwrap();
    let first = backend_pid(&mut adapters_db::checkout(&pool).unwrap());

    // The server ends the pool's only connection, as a restart would.
    let mut admin = PgConnection::establish(&database.url).unwrap();
    admin
        .batch_execute(&format!("SELECT pg_terminate_backend({first})"))
        .unwrap();
    // Within the ping interval the connection is trusted unpinged, so a
    // query on it fails (as any query does in an outage)...
    let mut trusted = adapters_db::checkout(&pool).unwrap();
    assert!(
        diesel::sql_query("SELECT 1")
            .execute(&mut *trusted)
            .is_err()
    );
    drop(trusted);
    // ...and once the interval is over, checkout pings it, finds it dead
    // and hands out a fresh one instead.
    std::thread::sleep(Duration::from_millis(1100));
    let mut conn = adapters_db::checkout(&pool).unwrap();
    let second = backend_pid(&mut conn);
    assert_ne!(first, second);
    assert!(diesel::sql_query("SELECT 1").execute(&mut *conn).is_ok());
}

#[derive(QueryableByName)]
struct CompileOption {
    #[diesel(sql_type = Text)]
    compile_options: String,
}

/// The bundled SQLite is built with the options `.cargo/config.toml` names:
/// without QPSG every lookup with a bound `LIMIT` was parsed and planned
/// again on each call; without MEMSTATUS=0 every allocation took a global
/// mutex.
#[test]
fn the_bundled_sqlite_has_the_build_options_the_service_relies_on() {
    let mut conn = SqliteConnection::establish(":memory:").unwrap();
    let options: Vec<String> = diesel::sql_query("PRAGMA compile_options")
        .load::<CompileOption>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|option| option.compile_options)
        .collect();
    for wanted in ["ENABLE_QPSG", "DEFAULT_MEMSTATUS=0"] {
        assert!(
            options.iter().any(|option| option == wanted),
            "SQLite lacks {wanted}: {options:?}"
        );
    }
}
