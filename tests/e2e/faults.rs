//! Faults and several instances (issue 6): a killed process loses nothing
//! it acknowledged, a database outage answers 503 and heals by itself, and
//! instances on one Postgres share users, sessions and limits.

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::json;

use crate::support::{Backend, Database, PASSWORD, TestApp};

/// Registers `name` directly (no conformance check, no panic on a dead
/// server): `Some(status)` or `None` when the connection failed.
fn try_register(base: &str, name: &str) -> Option<u16> {
    let body = json!({"username": name, "password": PASSWORD}).to_string();
    match ureq::post(&format!("{base}/api/auth/register"))
        .timeout(Duration::from_secs(10))
        .set("Content-Type", "application/json")
        .send_string(&body)
    {
        Ok(response) => Some(response.status()),
        Err(ureq::Error::Status(status, _)) => Some(status),
        Err(ureq::Error::Transport(_)) => None,
    }
}

fn nothing_acknowledged_is_lost_when_the_service_is_killed(backend: Backend) {
    let Some(database) = Database::fresh(backend) else {
        return;
    };
    let mut app = TestApp::start(database.url(), &[]);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let base = app.base.clone();
            let acknowledged = Arc::clone(&acknowledged);
            thread::spawn(move || {
                for i in 0..500 {
                    let name = format!("crash-{writer}-{i}");
                    match try_register(&base, &name) {
                        Some(201) => acknowledged.lock().unwrap().push(name),
                        Some(_) => {}
                        None => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    // Kill it mid-load, once some registrations went through.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acknowledged.lock().unwrap().len() < 40 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    app.kill();
    for writer in writers {
        writer.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 40,
        "too few registrations before the kill"
    );

    let restarted = TestApp::start(database.url(), &[]);
    for name in &acknowledged {
        assert_eq!(
            restarted.login(name, PASSWORD).status,
            202,
            "{name} was lost"
        );
    }
}

/// A TCP proxy to Postgres that can be cut, as a database outage.
struct Cable {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Cable {
    fn to(target: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (is_up, streams) = (Arc::clone(&up), Arc::clone(&open));
        thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if !is_up.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let mut streams = streams.lock().unwrap();
                streams.push(client.try_clone().unwrap());
                streams.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Self { port, up, open }
    }

    /// Drops every connection and refuses new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn mend(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(read) = from.read(&mut buffer) {
            if read == 0 || to.write_all(&buffer[..read]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

#[test]
fn a_database_outage_answers_503_quickly_and_heals_by_itself() {
    let Some(Database::Postgres(database)) = Database::fresh(Backend::Postgres) else {
        return;
    };
    let cable = Cable::to("127.0.0.1:5432");
    let url = database
        .url
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", cable.port), 1);
    assert_ne!(
        url, database.url,
        "the test database must be on 127.0.0.1:5432"
    );
    let app = TestApp::start(&url, &[]);
    let (access, _) = app.signed_in("agent47");

    cable.cut();
    // Under load: many requests at once; none may hang or fail otherwise.
    let started = Instant::now();
    thread::scope(|scope| {
        let requests: Vec<_> = (0..16)
            .map(|_| scope.spawn(|| app.get("/api/auth/users/me", Some(&access))))
            .collect();
        for request in requests {
            let me = request.join().unwrap();
            me.assert_error(
                503,
                "503_SERVICE_UNAVAILABLE",
                "Service unavailable, try again later.",
            );
            assert_eq!(me.header("Retry-After"), Some("1"));
        }
    });
    // The pool waits at most 10 s for a connection.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    app.get("/api/health", None).assert_error(
        503,
        "503_SERVICE_UNAVAILABLE",
        "Service unavailable, try again later.",
    );
    // Tokens are stateless: verifying one needs no database.
    let verified = app.post_raw(&format!("/api/auth/token/verify/{access}"), None, "");
    assert_eq!(verified.status, 200);
    // The operator learns why, on the request's own line, at warn.
    let logs = app.logs();
    let refused = logs
        .lines()
        .find(|line| line.contains(r#"route="/api/auth/users/me" status=503"#))
        .unwrap_or_else(|| panic!("no log line for the 503:\n{logs}"));
    assert!(refused.contains(" WARN "), "{refused}");
    assert!(refused.contains("request_id="), "{refused}");
    assert!(refused.contains("cause="), "{refused}");

    cable.mend();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = app.get("/api/health", None);
        if health.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the service did not recover");
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(app.get("/api/auth/users/me", Some(&access)).status, 200);
    assert_eq!(app.register("after-outage", PASSWORD).status, 201);
}

#[test]
fn instances_on_one_postgres_share_users_sessions_and_limits() {
    let Some(database) = Database::fresh(Backend::Postgres) else {
        return;
    };
    let limits = [("AUTH__LOGIN_MAX_FAILURES", "3")];
    let (one, two) = thread::scope(|scope| {
        // Started together: their migrations must not collide.
        let one = scope.spawn(|| TestApp::start(database.url(), &limits));
        let two = scope.spawn(|| TestApp::start(database.url(), &limits));
        (one.join().unwrap(), two.join().unwrap())
    });

    assert_eq!(one.register("agent47", PASSWORD).status, 201);
    assert_eq!(two.register("agent47", PASSWORD).status, 400);
    let tokens = two.login("agent47", PASSWORD);
    assert_eq!(tokens.status, 202);
    let first = tokens.str("refresh_token");

    // Rotate on one instance, replay on the other: the family dies everywhere.
    let rotated = one.post_json("/api/auth/token/refresh", &json!({"refresh_token": first}));
    assert_eq!(rotated.status, 201);
    let second = rotated.str("refresh_token");
    two.post_json("/api/auth/token/refresh", &json!({"refresh_token": first}))
        .assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
    one.post_json("/api/auth/token/refresh", &json!({"refresh_token": second}))
        .assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");

    // Failures on either instance count toward one limit.
    for app in [&one, &two, &one] {
        assert_eq!(app.login("agent47", "a wrong guess").status, 401);
    }
    assert_eq!(two.login("agent47", PASSWORD).status, 429);
}

crate::on_both_backends!(nothing_acknowledged_is_lost_when_the_service_is_killed);

/// Logs `name` in directly: `Some((status, Retry-After))`, `None` if the
/// connection failed or timed out.
fn try_login(base: &str, name: &str) -> Option<(u16, Option<String>)> {
    let answer = ureq::post(&format!("{base}/api/auth/token"))
        .timeout(Duration::from_secs(30))
        .send_form(&[("username", name), ("password", PASSWORD)]);
    let response = match answer {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(ureq::Error::Transport(_)) => return None,
    };
    Some((
        response.status(),
        response.header("Retry-After").map(str::to_owned),
    ))
}

#[test]
fn a_login_storm_past_the_hashing_queue_is_shed_with_503_not_timeouts() {
    let Some(database) = Database::fresh(Backend::Sqlite) else {
        return;
    };
    // A real bcrypt cost, so that hashing is the bottleneck. Every login
    // in flight holds a place under the username's failure limit until its
    // check is done (docs/api.md §8): raise it above the crowd, so that what
    // sheds the storm is the hashing queue, not the limit.
    let app = TestApp::start(
        database.url(),
        &[("AUTH__ROUNDS", "12"), ("AUTH__LOGIN_MAX_FAILURES", "1000")],
    );
    assert_eq!(app.register("stormy", PASSWORD).status, 201);
    // Far more logins at once than the hashing threads and queue hold.
    let clients = 96;
    let started = Instant::now();
    let answers: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|_| scope.spawn(|| try_login(&app.base, "stormy")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    assert!(
        answers.iter().all(Option::is_some),
        "a login timed out or failed"
    );
    let answers: Vec<_> = answers.into_iter().flatten().collect();
    let accepted = answers.iter().filter(|(status, _)| *status == 202).count();
    let shed: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == 503)
        .collect();
    assert!(accepted >= 1, "{answers:?}");
    assert!(!shed.is_empty(), "nothing was shed: {answers:?}");
    assert_eq!(accepted + shed.len(), clients, "{answers:?}");
    assert!(shed.iter().all(|(_, retry)| retry.as_deref() == Some("1")));
    // Accepted logins were bounded by the queue, not by the crowd.
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
}

/// Makes files immutable (`chattr +i`, which binds even root) until dropped.
struct Frozen(Vec<std::path::PathBuf>);

impl Frozen {
    fn try_freeze(paths: Vec<std::path::PathBuf>) -> Option<Self> {
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .args(&paths)
            .status()
            .ok()?;
        status.success().then_some(Self(paths))
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .args(&self.0)
            .status();
    }
}

#[test]
fn an_unwritable_sqlite_file_answers_503_and_heals_by_itself() {
    let Some(database) = Database::fresh(Backend::Sqlite) else {
        return;
    };
    let url = database.url().to_owned();
    let app = TestApp::start(&url, &[]);
    let (access, _) = app.signed_in("agent47");

    let file = std::path::PathBuf::from(url.trim_start_matches("sqlite:///"));
    // Not the -shm file: SQLite maps it into memory, and a write fault on
    // that mapping is a SIGBUS no program survives (see the README).
    let files: Vec<_> = ["", "-wal"]
        .iter()
        .map(|suffix| std::path::PathBuf::from(format!("{}{suffix}", file.display())))
        .filter(|path| path.exists())
        .collect();
    let Some(frozen) = Frozen::try_freeze(files) else {
        eprintln!("skipped: chattr +i is not available here");
        return;
    };
    let refused = app.register("while-frozen", PASSWORD);
    refused.assert_error(
        503,
        "503_SERVICE_UNAVAILABLE",
        "Service unavailable, try again later.",
    );
    assert_eq!(refused.header("Retry-After"), Some("1"));
    // Verification needs no database at all.
    let verified = app.post_raw(&format!("/api/auth/token/verify/{access}"), None, "");
    assert_eq!(verified.status, 200);

    drop(frozen);
    assert_eq!(app.register("after-thaw", PASSWORD).status, 201);
    assert_eq!(app.login("after-thaw", PASSWORD).status, 202);
}
