//! Starts the real `zentra` binary on port 0 with a fresh database and
//! speaks HTTP to it.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use adapters_db::test_support::{TestPostgres, fresh_sqlite};
use serde_json::Value;

/// Known secrets, so that tests can forge tokens the way an attacker who
/// stole them would.
pub const ACCESS_SECRET: &str = "e2e-access-secret-0123456789abcdef-0123456789";
pub const REFRESH_SECRET: &str = "e2e-refresh-secret-0123456789abcdef-012345678";
pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a test's data lives; kept alive as long as the test needs it.
pub enum Database {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres(TestPostgres),
}

impl Database {
    /// A fresh database, or `None` when Postgres tests are skipped (no
    /// `ZENTRA_TEST_POSTGRES_URL`; CI makes them mandatory instead).
    pub fn fresh(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let (dir, url) = fresh_sqlite();
                Some(Self::Sqlite { _dir: dir, url })
            }
            Backend::Postgres => {
                let database = TestPostgres::from_env();
                if database.is_none() {
                    eprintln!(
                        "skipped: set ZENTRA_TEST_POSTGRES_URL to run the Postgres end-to-end tests"
                    );
                }
                database.map(Self::Postgres)
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } => url,
            Self::Postgres(database) => &database.url,
        }
    }

    /// The SQLite file, or `None` on Postgres.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match self {
            Self::Sqlite { url, .. } => Some(PathBuf::from(url.trim_start_matches("sqlite:///"))),
            Self::Postgres(_) => None,
        }
    }

    /// The password hash stored for `username`, read straight from the
    /// database (HTTP never shows it).
    pub fn stored_password_hash(&self, username: &str) -> String {
        use adapters_db::schema::users;
        use diesel::{Connection, ExpressionMethods, PgConnection, QueryDsl, RunQueryDsl};
        let query = users::table
            .filter(users::username.eq(username))
            .select(users::password);
        match self {
            Self::Sqlite { .. } => {
                let path = self.sqlite_file().expect("a SQLite file");
                let mut conn = diesel::SqliteConnection::establish(&path.display().to_string())
                    .expect("open the SQLite file");
                query.get_result(&mut conn)
            }
            Self::Postgres(database) => {
                let mut conn = PgConnection::establish(&database.url).expect("connect");
                query.get_result(&mut conn)
            }
        }
        .unwrap_or_else(|error| panic!("no stored hash for {username}: {error}"))
    }
}

/// A running service. Killed when dropped.
pub struct TestApp {
    pub base: String,
    child: Child,
    logs: PathBuf,
    _workdir: tempfile::TempDir,
}

/// The built `zentra` binary, beside this test binary's `deps/` folder.
/// `cargo test` builds it because the `app` package has integration tests.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ZENTRA_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join("zentra");
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace` (or `cargo build --bin zentra`) first",
        path.display()
    );
    path
}

impl TestApp {
    /// Starts the service on a fresh database of `backend`; `None` when
    /// that backend's tests are skipped.
    pub fn spawn(backend: Backend) -> Option<(Self, Database)> {
        Self::spawn_with(backend, &[])
    }

    /// [`Self::spawn`] with extra settings.
    pub fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Option<(Self, Database)> {
        let database = Database::fresh(backend)?;
        let app = Self::start(database.url(), extra);
        Some((app, database))
    }

    /// Starts the service on `db_url` with the test settings plus `extra`.
    pub fn start(db_url: &str, extra: &[(&str, &str)]) -> Self {
        Self::launch(Command::new(binary()), db_url, extra)
    }

    /// [`Self::start`] under the file mode mask `umask` (octal, as the
    /// shell's `umask` takes it), whatever the test process's own is.
    pub fn start_with_umask(db_url: &str, extra: &[(&str, &str)], umask: &str) -> Self {
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\""))
            .arg(binary());
        Self::launch(command, db_url, extra)
    }

    fn launch(mut command: Command, db_url: &str, extra: &[(&str, &str)]) -> Self {
        let workdir = tempfile::tempdir().expect("work dir");
        let logs = workdir.path().join("zentra.log");
        command
            .env_clear()
            .current_dir(workdir.path())
            .env("DB__URL", db_url)
            .env("DB__POOL_SIZE", "4")
            .env("SERVER__PORT", "0")
            .env("AUTH__ROUNDS", "4")
            .env("AUTH__SECRET_ACCESS_KEY", ACCESS_SECRET)
            .env("AUTH__SECRET_REFRESH_KEY", REFRESH_SECRET)
            .env("RUST_LOG", "info")
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&logs).expect("log file"));
        let mut child = command.spawn().expect("start zentra");

        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("zentra listening on ") {
                    let _ = sender.send(address.to_owned());
                }
            }
        });
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => Self {
                base,
                child,
                logs,
                _workdir: workdir,
            },
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "zentra did not start; its log:\n{}",
                    std::fs::read_to_string(&logs).unwrap_or_default()
                );
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.logs).unwrap_or_default()
    }

    /// `kill -9`: no graceful shutdown, no flush, nothing.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Waits for the process to exit by itself.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    // --- HTTP ---------------------------------------------------------------

    pub fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        let mut request = agent().get(&self.url(path));
        if let Some(token) = bearer {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        Reply::checked(&self.base, "GET", path, request.call())
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, Some("application/json"), &body.to_string())
    }

    pub fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.post_raw(path, Some("application/x-www-form-urlencoded"), &body)
    }

    pub fn post_raw(&self, path: &str, content_type: Option<&str>, body: &str) -> Reply {
        let mut request = agent().post(&self.url(path));
        if let Some(content_type) = content_type {
            request = request.set("Content-Type", content_type);
        }
        Reply::checked(&self.base, "POST", path, request.send_string(body))
    }

    pub fn post_raw_bearer(&self, path: &str, token: &str) -> Reply {
        let request = agent()
            .post(&self.url(path))
            .set("Authorization", &format!("Bearer {token}"));
        Reply::checked(&self.base, "POST", path, request.call())
    }

    pub fn post_json_bearer(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send_json_bearer("POST", path, token, body)
    }

    pub fn patch_json_bearer(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send_json_bearer("PATCH", path, token, body)
    }

    fn send_json_bearer(&self, method: &str, path: &str, token: &str, body: &Value) -> Reply {
        let request = agent()
            .request(method, &self.url(path))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "application/json");
        Reply::checked(
            &self.base,
            method,
            path,
            request.send_string(&body.to_string()),
        )
    }

    pub fn get_with_headers(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request_with_headers("GET", path, headers)
    }

    pub fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let request = headers.iter().fold(
            agent().request(method, &self.url(path)),
            |request, (name, value)| request.set(name, value),
        );
        Reply::checked(&self.base, method, path, request.call())
    }

    pub fn request(&self, method: &str, path: &str) -> Reply {
        Reply::checked(
            &self.base,
            method,
            path,
            agent().request(method, &self.url(path)).call(),
        )
    }

    // --- the seed's steps ----------------------------------------------------

    pub fn register(&self, username: &str, password: &str) -> Reply {
        self.post_json(
            "/api/auth/register",
            &serde_json::json!({"username": username, "password": password}),
        )
    }

    pub fn login(&self, username: &str, password: &str) -> Reply {
        self.post_form(
            "/api/auth/token",
            &[("username", username), ("password", password)],
        )
    }

    /// Registers `username` and logs in: (access token, refresh token).
    pub fn signed_in(&self, username: &str) -> (String, String) {
        assert_eq!(self.register(username, PASSWORD).status, 201);
        let tokens = self.login(username, PASSWORD);
        assert_eq!(tokens.status, 202, "{}", tokens.body);
        (tokens.str("access_token"), tokens.str("refresh_token"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .redirects(0)
        .build()
}

fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A response: status, headers and the JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    /// Reads the answer and checks it against the documented schema.
    fn checked(
        base: &str,
        method: &str,
        path: &str,
        result: Result<ureq::Response, ureq::Error>,
    ) -> Self {
        let reply = Self::from(result);
        crate::conformance::check(base, method, path, reply.status, &reply.body);
        reply
    }

    fn from(result: Result<ureq::Response, ureq::Error>) -> Self {
        let response = match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(error) => panic!("request failed: {error}"),
        };
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|name| {
                let value = response.header(&name)?.to_owned();
                Some((name, value))
            })
            .collect();
        let content_type = response.content_type().to_owned();
        let text = response.into_string().expect("body");
        // Only a CORS preflight answers with no body at all.
        let body = if text.is_empty() && status == 200 {
            Value::Null
        } else {
            assert_eq!(content_type, "application/json", "status {status}: {text}");
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn str(&self, field: &str) -> String {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string {field} in {}", self.body))
            .to_owned()
    }

    /// Asserts an error envelope of docs/api.md §1.
    pub fn assert_error(&self, status: u16, response: &str, message: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["status"], "error", "{}", self.body);
        assert_eq!(self.body["code"], status, "{}", self.body);
        assert_eq!(self.body["response"], response, "{}", self.body);
        assert_eq!(self.body["message"], message, "{}", self.body);
        assert!(self.body.get("data").is_none(), "{}", self.body);
        if status == 401 {
            assert_eq!(self.header("WWW-Authenticate"), Some("Bearer"));
            assert_eq!(self.body["headers"]["WWW-Authenticate"], "Bearer");
        }
    }

    /// Asserts a 422 naming `field` in its details.
    pub fn assert_invalid(&self, field: &str) {
        assert_eq!(self.status, 422, "{}", self.body);
        assert_eq!(self.body["response"], "422_UNPROCESSABLE_ENTITY");
        assert_eq!(self.body["message"], "Validation failed.");
        let fields: Vec<_> = self.body["details"]
            .as_array()
            .unwrap_or_else(|| panic!("no details in {}", self.body))
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{field} not in {}", self.body);
    }
}

/// Seconds since the Unix epoch, as token claims count time.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// What came back on a raw TCP connection (see [`raw_exchange`]).
#[derive(Debug)]
pub struct RawAnswer {
    /// The status of the first response, if one began.
    pub status: Option<u16>,
    /// The response head (status line and headers), as text.
    pub head: String,
    pub body: Vec<u8>,
    /// The server closed (or reset) the connection.
    pub closed: bool,
    /// From the last byte sent to the answer, the close or the deadline.
    pub elapsed: Duration,
}

/// Sends `bytes` as they are on a new connection to the app at `base`,
/// then reads until a whole response (by its `Content-Length`) has come,
/// the server closes, or `wait` has passed. Never blocks longer than `wait`.
pub fn raw_exchange(base: &str, bytes: &[u8], wait: Duration) -> RawAnswer {
    use std::io::{ErrorKind, Read, Write};
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("write timeout");
    // The server may refuse before everything is written: that is an answer.
    let _ = stream.write_all(bytes);
    let sent = std::time::Instant::now();
    let mut received = Vec::new();
    let mut closed = false;
    let mut chunk = [0u8; 4096];
    while sent.elapsed() < wait {
        match stream.read(&mut chunk) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => {
                received.extend_from_slice(&chunk[..n]);
                if response_is_complete(&received) {
                    break;
                }
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    let elapsed = sent.elapsed();
    let split = find(&received, b"\r\n\r\n");
    let (head, body) = match split {
        Some(at) => (&received[..at], received[at + 4..].to_vec()),
        None => (&received[..], Vec::new()),
    };
    let head = String::from_utf8_lossy(head).into_owned();
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| head.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    RawAnswer {
        status,
        head,
        body,
        closed,
        elapsed,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A head and as many body bytes as its `Content-Length` says (none
/// without one).
fn response_is_complete(received: &[u8]) -> bool {
    let Some(at) = find(received, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&received[..at]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    received.len() >= at + 4 + length
}

/// Instantiates each named test once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $test() { super::$test($crate::support::Backend::Sqlite) })*
        }
        mod postgres {
            $(#[test] fn $test() { super::$test($crate::support::Backend::Postgres) })*
        }
    };
}

// --- scopes, administrators and the audit trail (docs/api.md §9) -------------

impl TestApp {
    /// Any request: `bearer` as `Authorization`, `headers` as given, and a
    /// JSON `body` if any.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut request = agent().request(method, &self.url(path));
        if let Some(token) = bearer {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let request = headers
            .iter()
            .fold(request, |request, (name, value)| request.set(name, value));
        let result = match body {
            Some(body) => request
                .set("Content-Type", "application/json")
                .send_string(&body.to_string()),
            None => request.call(),
        };
        Reply::checked(&self.base, method, path, result)
    }

    pub fn get_bearer(&self, path: &str, token: &str) -> Reply {
        self.get(path, Some(token))
    }

    pub fn delete_bearer(&self, path: &str, token: &str) -> Reply {
        self.send("DELETE", path, Some(token), &[], None)
    }

    /// The OAuth2 password form with a `scope`.
    pub fn login_with_scope(&self, username: &str, password: &str, scope: &str) -> Reply {
        self.post_form(
            "/api/auth/token",
            &[
                ("username", username),
                ("password", password),
                ("scope", scope),
            ],
        )
    }

    /// An access token of `username` carrying `scope`, checked to be what
    /// was granted.
    pub fn token_with_scope(&self, username: &str, password: &str, scope: &str) -> String {
        let tokens = self.login_with_scope(username, password, scope);
        assert_eq!(tokens.status, 202, "{}", tokens.body);
        assert_eq!(tokens.str("scope"), scope, "{}", tokens.body);
        tokens.str("access_token")
    }
}

impl Reply {
    /// Asserts the 403 of a token without the scope `needed` (RFC 6750
    /// §3.1): on the HTTP response and in the envelope alike.
    pub fn assert_insufficient_scope(&self, needed: &str) {
        self.assert_error(403, "403_FORBIDDEN", "Not enough permissions.");
        let expected = format!("Bearer error=\"insufficient_scope\", scope=\"{needed}\"");
        assert_eq!(
            self.header("WWW-Authenticate"),
            Some(expected.as_str()),
            "{:?}",
            self.headers
        );
        assert_eq!(
            self.body["headers"]["WWW-Authenticate"], expected,
            "{}",
            self.body
        );
    }
}

/// The claims of a JWT, read without checking it.
pub fn claims(token: &str) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let middle = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(middle).expect("base64url")).expect("JSON")
}

/// Whether python3 can `import modules` (an independent implementation a
/// test checks the service against). Without it the test skips with a
/// notice, unless `require_var` is 1 (`.ci/run` installs `package` and sets
/// it): then this panics.
pub fn python_can_import(modules: &str, require_var: &str, package: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !ok {
        assert!(
            std::env::var(require_var).as_deref() != Ok("1"),
            "{require_var}=1 but python3 cannot import {modules} (python3 -m pip install {package})"
        );
        eprintln!("skipped: needs python3 with {modules} (python3 -m pip install {package})");
    }
    ok
}

/// Runs the python3 `script` with `args`, `input` on its standard input,
/// for a minute at most; its standard output. Panics with `failure` and
/// python's standard error if it fails.
pub fn python(script: &str, args: &[&str], input: &str, failure: &str) -> Vec<u8> {
    use std::io::Write;
    let mut python = Command::new("timeout")
        .args(["60", "python3", "-c", script])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    python
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = python.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{failure}:\n{}\n{input}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
