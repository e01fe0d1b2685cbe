//! Settings from the environment (and a `.env` file), with the names and
//! defaults of docs/api.md §7.
//!
//! Every variable is declared once, below, with its default and its
//! documentation. From those declarations come the structs `config` fills
//! (`SECTION__KEY` is `section.key`), `zentra check-config`'s print-out and
//! `.env.example`. Each value is parsed by its type (`Value`); then
//! `Settings::from_variables` checks what spans several variables. A bad
//! value, or an unknown variable under one of our sections, stops the start
//! with one line naming its variable.

mod value;

use std::time::Duration;

use adapters_crypto::{AccessKeys, JwtAlgorithm, JwtSettings, SecretKey, SigningKeys};
use adapters_db::{DatabaseUrl, SqliteOptions, SqliteSync};
use adapters_http::{MetricsToken, RefreshCookie, RefreshCookieMode};
use base64::Engine;
use domain::{LoginLimits, Password, ScopeCatalogue, Scopes, Username};
use serde::Deserialize;

pub use self::value::SecretText;
use self::value::{Value, check_range, from_text};
use crate::telemetry::LogFormat;

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    fn new(variable: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            message: message.into(),
        }
    }

    /// An error about the variable at `path` (`auth.rounds`).
    fn at(path: &str, message: impl Into<String>) -> Self {
        Self::new(name_of(path), message)
    }
}

/// A cookie name as RFC 6265 §4.1.1 has it (an HTTP token): visible ASCII
/// without separators.
fn cookie_name(name: &str) -> Result<String, ConfigError> {
    let is_token = !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&byte));
    if is_token {
        Ok(name.to_owned())
    } else {
        Err(ConfigError::at(
            "auth.refresh_cookie_name",
            "must be a cookie name: visible ASCII without ()<>@,;:\\\"/[]?={}",
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Local,
    Staging,
    Production,
}

impl std::str::FromStr for Environment {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.to_ascii_lowercase().as_str() {
            "local" => Ok(Self::Local),
            "staging" => Ok(Self::Staging),
            "production" => Ok(Self::Production),
            _ => Err(format!(
                "unknown environment {raw:?}, expected local, staging or production"
            )),
        }
    }
}

/// Declares a group of variables: the struct `config` fills and, beside
/// each field, its default (written as in the environment), its doc comment
/// (which `.env.example` repeats) and, for numbers, its range. `sections`
/// nests other groups: `db: DbSettings` reads `DB__*`.
macro_rules! variables {
    (
        $(#[doc = $doc:literal])*
        pub struct $name:ident {
            $(
                $(#[doc = $field_doc:literal])*
                $field:ident: $type:ty = $default:literal $(, range $range:expr)?;
            )*
        }
        $(sections { $($section:ident: $section_type:ident),* })?
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        pub struct $name {
            $(
                $(#[doc = $field_doc])*
                #[serde(deserialize_with = "from_text")]
                pub $field: $type,
            )*
            $($(pub $section: $section_type,)*)?
        }

        impl $name {
            /// The variables declared here and in the sections, in order.
            fn variables(prefix: &str) -> Vec<Variable> {
                vec![$(Variable {
                    path: path_of(prefix, stringify!($field)),
                    default: $default,
                    doc: &[$($field_doc),*],
                }),*]
                .into_iter()
                $($(.chain($section_type::variables(&path_of(prefix, stringify!($section)))))*)?
                .collect()
            }

            /// The values, in the order of [`Self::variables`], as
            /// `check-config` shows them.
            fn shown(&self) -> Vec<String> {
                vec![$(Value::show(&self.$field)),*]
                    .into_iter()
                    $($(.chain(self.$section.shown()))*)?
                    .collect()
            }

            /// Checks the ranges declared beside the fields.
            fn check_ranges(&self, prefix: &str) -> Result<(), ConfigError> {
                let _ = prefix; // unused where no field has a range
                $($(check_range(&path_of(prefix, stringify!($field)), self.$field, $range)?;)?)*
                $($(self.$section.check_ranges(&path_of(prefix, stringify!($section)))?;)*)?
                Ok(())
            }
        }
    };
}

variables! {
    /// Every variable zentra reads, as given (only the secret keys change,
    /// when `Settings::from_variables` makes random ones in `local`).
    pub struct Variables {
        /// local | staging | production. Outside local, both secret keys are required.
        environment: Environment = "local";
        /// Comma-separated origins allowed by CORS, e.g. http://localhost:3000
        backend_cors_origins: Vec<String> = "";
    }
    sections {
        db: DbSettings,
        auth: AuthSettings,
        server: ServerSettings,
        log: LogSettings,
        metrics: MetricsSettings
    }
}

variables! {
    /// `DB__*`: where the data lives.
    pub struct DbSettings {
        /// The database: sqlite:///relative.db, sqlite:////absolute.db,
        /// sqlite:///:memory:, postgres://user:password@host:5432/name or
        /// postgresql://...
        url: DatabaseUrl = "sqlite:///zentra.db";
        /// Connections in the pool (1-1024; :memory: always uses one).
        pool_size: u32 = "8", range 1..=1024;
        /// Threads that look up the user of each users/me request (token
        /// or API key) on Postgres, where lookups waiting together share one
        /// query (0-1024; 0: none, the database lane does it). They hold a
        /// connection only while leading a query or writing a key's last
        /// use: five at most. SQLite does without them.
        lookup_threads: u32 = "32", range 0..=1024;
        /// SQLite only: full syncs every commit to disk before answering;
        /// normal syncs at checkpoints, about twice the writes per second,
        /// but a power cut or OS crash may undo the last commits.
        sqlite_synchronous: SqliteSync = "full";
        /// SQLite only: MB of the file each connection reads through a
        /// memory map (0-2047; 0: none). Faster reads from a file larger
        /// than the page caches; RSS counts the mapped pages once per
        /// connection.
        sqlite_mmap_mb: u32 = "0", range 0..=2047;
        /// Seconds between deletions of expired sessions and of failed
        /// logins older than the window (0-86400; 0: never, besides the
        /// user's own at each login).
        prune_interval_secs: u64 = "300", range 0..=86_400;
        /// A superuser (granted me admin) each start creates if no user of
        /// this name exists; an existing user is never changed. Set both or
        /// neither.
        first_superuser: Option<Username> = "";
        /// Its password (the registration policy: 8+ characters, at most
        /// 72 bytes).
        first_superuser_password: Option<SecretText> = "";
    }
}

variables! {
    /// `AUTH__*`: tokens, password hashing and failed-login limits.
    pub struct AuthSettings {
        /// HS256 | HS384 | HS512 | ES256 | EdDSA | RS256. The last three sign
        /// access tokens with AUTH__SIGNING_KEYS, which other services verify
        /// with /.well-known/jwks.json; refresh tokens are then HS256.
        algorithm: JwtAlgorithm = "HS256";
        /// The key that signs access tokens under HS*: at least 32/48/64
        /// bytes for HS256/384/512; make one with: zentra new-key. Required
        /// outside local; unset (or empty) in local: random per start.
        secret_access_key: Option<SecretKey> = "";
        /// The same for refresh tokens. It must differ from the access key.
        secret_refresh_key: Option<SecretKey> = "";
        /// Under ES256, EdDSA or RS256: the private signing keys, a JWK Set
        /// ({"keys": [...]}) or one JWK; make one with: zentra new-key
        /// --algorithm EdDSA. The first signs, the others only verify
        /// (rotation, README). Required outside local; unset in local: a
        /// random key per start.
        signing_keys: Option<SigningKeys> = "";
        /// Or a file holding them (not both).
        signing_keys_file: String = "";
        /// The iss claim, checked on every token (and the issuer of
        /// /.well-known/oauth-authorization-server).
        issuer: String = "zentra";
        /// When set, access tokens carry it as aud and every token must.
        audience: String = "";
        /// Accepted access tokens remembered, so that one presented again
        /// is not decoded again (0-1000000; 0: decode every time). Expiry
        /// is still checked on every use; about 0.5 KB each at most.
        verified_token_cache: usize = "10000", range 0..=1_000_000;
        /// Access token lifetime, in minutes.
        access_token_expire_mins: u32 = "15", range 1..=u32::MAX / 60;
        /// Refresh token lifetime, in minutes (10080 = 7 days); at least the
        /// access lifetime.
        refresh_token_expire_mins: u32 = "10080", range 1..=u32::MAX / 60;
        /// bcrypt cost, 4-31 (12 takes about 0.3 s per hash on one core).
        rounds: u32 = "12", range 4..=31;
        /// Failed logins allowed per username in the window.
        login_max_failures: u32 = "10", range 1..=1_000_000;
        /// Failed logins allowed per client address in the window.
        login_max_failures_per_address: u32 = "100", range 1..=1_000_000;
        /// The failed-login window, in minutes.
        login_window_mins: u32 = "15", range 1..=525_600;
        /// The operator's own scopes for its other APIs, space- or
        /// comma-separated (each [a-z][a-z0-9_.:-]{0,63}); me, admin and
        /// introspect are always known.
        scopes: Scopes = "";
        /// The grants of a newly registered user (never admin).
        default_scopes: Scopes = "me";
        /// Days audit events are kept (1-36500).
        audit_retention_days: u32 = "90", range 1..=36_500;
        /// off | both | cookie: login and refresh also set the refresh
        /// token in an HttpOnly, Secure, SameSite=Strict cookie (both), or
        /// only there (cookie: the body leaves it out); refresh and logout
        /// then read it, from the service's own origin or one of
        /// BACKEND_CORS_ORIGINS.
        refresh_cookie: RefreshCookieMode = "off";
        /// The cookie's name (__Host-: browsers insist on Secure, Path=/
        /// and no Domain).
        refresh_cookie_name: String = "__Host-zentra_refresh";
        /// Seconds after a rotation during which the refresh token it
        /// retired, presented again (several tabs refreshing at once), gets
        /// the same new pair instead of revoking the session (0-300; 0:
        /// strict reuse detection).
        refresh_reuse_grace_secs: u64 = "0", range 0..=300;
    }
}

variables! {
    /// `SERVER__*`: the HTTP listener.
    pub struct ServerSettings {
        /// The address to listen on.
        host: String = "127.0.0.1";
        /// 0 picks a free port (printed on stdout).
        port: u16 = "8000";
        /// The service's URL as clients reach it (https://auth.example.com),
        /// for the absolute URLs of /.well-known/oauth-authorization-server.
        /// Unset: http://HOST:PORT as bound.
        public_url: String = "";
        /// Larger request bodies get 413.
        body_limit_bytes: usize = "65536", range 1..=64 * 1024 * 1024;
        /// true only behind a proxy that appends to X-Forwarded-For itself.
        trust_forwarded_for: bool = "false";
        /// How many trusted proxies append to X-Forwarded-For (1-16): the
        /// client is that many entries from the right.
        trusted_proxy_hops: usize = "1", range 1..=MAX_TRUSTED_PROXY_HOPS;
        /// Seconds a client gets to send a request's headers, and then its
        /// body (1-600; 408 beyond).
        client_timeout_secs: u64 = "10", range 1..=600;
    }
}

variables! {
    /// `LOG__*`. (The filter is `RUST_LOG`, which tracing reads itself.)
    pub struct LogSettings {
        /// text | json (one JSON object per line)
        format: LogFormat = "text";
    }
}

variables! {
    /// `METRICS__*`: `GET /metrics`, in the Prometheus text format.
    pub struct MetricsSettings {
        /// false: GET /metrics is a 404 and nothing is recorded.
        enabled: bool = "true";
        /// When set, GET /metrics needs Authorization: Bearer <this token>
        /// (401 otherwise). Unset (or empty): open to whoever reaches the port.
        token: Option<MetricsToken> = "";
    }
}

/// More proxies than this in front of one service is a misconfiguration.
const MAX_TRUSTED_PROXY_HOPS: usize = 16;

/// One declared variable, for `.env.example`, `check-config` and errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Where `config` puts it: `db.url` for `DB__URL`.
    pub path: String,
    /// The default, written as in the environment.
    pub default: &'static str,
    /// Its doc comment, a line each.
    pub doc: &'static [&'static str],
}

impl Variable {
    /// `DB__URL`.
    #[must_use]
    pub fn name(&self) -> String {
        name_of(&self.path)
    }

    /// `db` for `db.url`; `None` for the top-level variables.
    #[must_use]
    pub fn section(&self) -> Option<&str> {
        self.path.split_once('.').map(|(section, _)| section)
    }
}

fn path_of(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// `db.url` → `DB__URL`, as `config` reads it the other way.
fn name_of(path: &str) -> String {
    path.replace('.', "__").to_ascii_uppercase()
}

/// What the service runs with: the variables, checked and resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database_url: DatabaseUrl,
    pub pool_size: u32,
    pub lookup_threads: u32,
    pub sqlite: SqliteOptions,
    pub jwt: JwtSettings,
    pub bcrypt_cost: u32,
    pub login_limits: LoginLimits,
    /// The scopes known and the default grants.
    pub scopes: ScopeCatalogue,
    /// How long audit events are kept, in seconds.
    pub audit_retention_secs: u64,
    /// The refresh reuse grace, in seconds (0: none).
    pub refresh_reuse_grace_secs: u64,
    /// `DB__FIRST_SUPERUSER` and its password, when both are set.
    pub first_superuser: Option<(Username, Password)>,
    pub server: ServerSettings,
    /// `SERVER__PUBLIC_URL` without a trailing slash; `None`: the address
    /// bound, known once listening.
    pub public_url: Option<String>,
    pub cors_origins: Vec<String>,
    /// The refresh token in a cookie for browsers (`AUTH__REFRESH_COOKIE*`).
    pub refresh_cookie: RefreshCookie,
    pub log_format: LogFormat,
    /// How often expired sessions and old failed logins are deleted; `None`:
    /// never.
    pub prune_interval: Option<Duration>,
    pub metrics: MetricsSettings,
    /// Things worth a warning once logging is up (random local secrets…).
    pub warnings: Vec<String>,
    /// What they came from, for [`Settings::describe`].
    variables: Variables,
}

impl Settings {
    /// Reads the process environment (after `.env`, which never overrides
    /// variables already set).
    ///
    /// # Errors
    /// The first unusable value.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a broken one is worth saying.
        if let Err(error) = dotenvy::dotenv()
            && !error.not_found()
        {
            return Err(ConfigError::new(".env", error.to_string()));
        }
        Self::from_vars(std::env::vars())
    }

    /// Reads the given variables, as if they were the environment. Ours are
    /// the declared ones and any other under one of our sections (`AUTH__…`),
    /// which is refused as a likely typo; the rest is ignored.
    ///
    /// # Errors
    /// The first unusable value.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let declared = Variables::variables("");
        let mut ours = config::Map::new();
        for (name, value) in vars {
            if declared.iter().any(|variable| variable.name() == name) {
                ours.insert(name, value);
            } else if is_in_a_section(&name, &declared) {
                // Most likely a typo, which would leave a default in force
                // unseen.
                return Err(ConfigError::new(
                    name,
                    "unknown variable; .env.example lists every one zentra reads",
                ));
            }
        }
        let mut builder = config::Config::builder();
        for variable in &declared {
            builder = builder
                .set_default(variable.path.as_str(), variable.default)
                .map_err(from_config)?;
        }
        let variables = builder
            .add_source(
                config::Environment::default()
                    .separator("__")
                    .source(Some(ours)),
            )
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(from_config)?;
        Self::from_variables(variables)
    }

    /// Checks the declared ranges and the rules that span several
    /// variables, and makes random keys for `local` where none are set.
    fn from_variables(mut variables: Variables) -> Result<Self, ConfigError> {
        variables.check_ranges("")?;
        let environment = variables.environment;
        let auth = &mut variables.auth;
        if auth.refresh_token_expire_mins < auth.access_token_expire_mins {
            return Err(ConfigError::at(
                "auth.refresh_token_expire_mins",
                format!(
                    "must be at least {}",
                    name_of("auth.access_token_expire_mins")
                ),
            ));
        }
        // A pair answered again within the grace carries the access token
        // of the rotation: it must still be alive by the end of the grace.
        if auth.refresh_reuse_grace_secs >= u64::from(auth.access_token_expire_mins) * 60 {
            return Err(ConfigError::at(
                "auth.refresh_reuse_grace_secs",
                format!(
                    "must be shorter than the access lifetime ({} minutes)",
                    name_of("auth.access_token_expire_mins")
                ),
            ));
        }
        if auth.issuer.is_empty() {
            return Err(ConfigError::at("auth.issuer", "must not be empty"));
        }
        let mut warnings = Vec::new();
        let access_keys = access_keys(auth, environment, &mut warnings)?;
        let refresh_secret = signing_key(
            "auth.secret_refresh_key",
            &mut auth.secret_refresh_key,
            auth.algorithm.refresh_algorithm(),
            environment,
            &mut warnings,
        )?;
        // With one key for both kinds, only the `type` claim would keep a
        // refresh token from passing as an access token.
        if access_keys == AccessKeys::Hmac(refresh_secret.clone()) {
            return Err(ConfigError::at(
                "auth.secret_refresh_key",
                format!("must differ from {}", name_of("auth.secret_access_key")),
            ));
        }
        let public_url = public_url(&variables.server)?;
        if !auth.algorithm.is_hmac() && environment != Environment::Local {
            discovery_warnings(auth, public_url.as_deref(), &mut warnings);
        }

        let auth = &variables.auth;
        let scopes = ScopeCatalogue::new(&auth.scopes, auth.default_scopes.clone())
            .map_err(|error| ConfigError::at("auth.default_scopes", error.to_string()))?;
        let first_superuser = first_superuser(&variables.db)?;
        Ok(Self {
            environment,
            database_url: variables.db.url.clone(),
            pool_size: variables.db.pool_size,
            lookup_threads: variables.db.lookup_threads,
            sqlite: SqliteOptions {
                sync: variables.db.sqlite_synchronous,
                mmap_bytes: u64::from(variables.db.sqlite_mmap_mb) << 20,
            },
            jwt: JwtSettings {
                algorithm: auth.algorithm,
                access_keys,
                refresh_secret,
                issuer: auth.issuer.clone(),
                audience: (!auth.audience.is_empty()).then(|| auth.audience.clone()),
                access_lifetime_secs: u64::from(auth.access_token_expire_mins) * 60,
                refresh_lifetime_secs: u64::from(auth.refresh_token_expire_mins) * 60,
                verified_cache_entries: auth.verified_token_cache,
            },
            bcrypt_cost: auth.rounds,
            login_limits: LoginLimits {
                max_failures: auth.login_max_failures,
                max_failures_per_address: auth.login_max_failures_per_address,
                window_secs: u64::from(auth.login_window_mins) * 60,
            },
            scopes,
            audit_retention_secs: u64::from(auth.audit_retention_days) * 86_400,
            refresh_reuse_grace_secs: auth.refresh_reuse_grace_secs,
            first_superuser,
            server: variables.server.clone(),
            public_url,
            cors_origins: variables.backend_cors_origins.clone(),
            refresh_cookie: RefreshCookie {
                mode: auth.refresh_cookie,
                name: cookie_name(&auth.refresh_cookie_name)?,
                max_age_secs: u64::from(auth.refresh_token_expire_mins) * 60,
            },
            log_format: variables.log.format,
            prune_interval: (variables.db.prune_interval_secs > 0)
                .then(|| Duration::from_secs(variables.db.prune_interval_secs)),
            metrics: variables.metrics.clone(),
            warnings,
            variables,
        })
    }

    /// Every variable as `VARIABLE = value`, secrets masked, then the
    /// warnings: what `zentra check-config` prints.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (variable, value) in Variables::variables("").iter().zip(self.variables.shown()) {
            out.push_str(&format!("{} = {value}\n", variable.name()));
        }
        for warning in &self.warnings {
            out.push_str(&format!("warning: {warning}\n"));
        }
        out
    }
}

/// The first superuser: both variables or neither, the password under the
/// registration policy.
fn first_superuser(db: &DbSettings) -> Result<Option<(Username, Password)>, ConfigError> {
    match (&db.first_superuser, &db.first_superuser_password) {
        (None, None) => Ok(None),
        (Some(username), Some(password)) => Password::parse(password.secret())
            .map(|password| Some((username.clone(), password)))
            .map_err(|error| ConfigError::at("db.first_superuser_password", error.to_string())),
        (Some(_), None) => Err(ConfigError::at(
            "db.first_superuser_password",
            format!("is required with {}", name_of("db.first_superuser")),
        )),
        (None, Some(_)) => Err(ConfigError::at(
            "db.first_superuser",
            format!(
                "is required with {}",
                name_of("db.first_superuser_password")
            ),
        )),
    }
}

/// Named like our sections' variables: `AUTH__…`, `DB__…`.
fn is_in_a_section(name: &str, declared: &[Variable]) -> bool {
    declared
        .iter()
        .filter_map(Variable::section)
        .any(|section| name.starts_with(&(name_of(section) + "__")))
}

/// `config` names the path of the value at fault; we name its variable.
fn from_config(error: config::ConfigError) -> ConfigError {
    match error {
        config::ConfigError::At {
            error,
            key: Some(path),
            ..
        } => ConfigError::at(&path, error.to_string()),
        other => ConfigError::new("environment", other.to_string()),
    }
}

/// What signs access tokens: the HMAC secret under HS*, else the key set
/// of `AUTH__SIGNING_KEYS` or `AUTH__SIGNING_KEYS_FILE` (random in `local`
/// when neither is set), whose first key must be of `AUTH__ALGORITHM`.
fn access_keys(
    auth: &mut AuthSettings,
    environment: Environment,
    warnings: &mut Vec<String>,
) -> Result<AccessKeys, ConfigError> {
    let algorithm = auth.algorithm;
    let from_file = signing_keys_file(&auth.signing_keys_file)?;
    if from_file.is_some() && auth.signing_keys.is_some() {
        return Err(ConfigError::at(
            "auth.signing_keys_file",
            format!(
                "and {} are both set: keep one",
                name_of("auth.signing_keys")
            ),
        ));
    }
    let given = from_file.or_else(|| auth.signing_keys.take());
    if algorithm.is_hmac() {
        if given.is_some() {
            return Err(ConfigError::at(
                "auth.algorithm",
                format!(
                    "is {algorithm}, which signs with {}, but {} is set: set the algorithm of its first key",
                    name_of("auth.secret_access_key"),
                    name_of("auth.signing_keys")
                ),
            ));
        }
        let secret = signing_key(
            "auth.secret_access_key",
            &mut auth.secret_access_key,
            algorithm,
            environment,
            warnings,
        )?;
        return Ok(AccessKeys::Hmac(secret));
    }
    if auth.secret_access_key.is_some() {
        warnings.push(format!(
            "{} is not used under {}={algorithm} (access tokens sign with {})",
            name_of("auth.secret_access_key"),
            name_of("auth.algorithm"),
            name_of("auth.signing_keys")
        ));
    }
    let keys = match given {
        Some(keys) => keys,
        None if environment == Environment::Local => {
            warnings.push(format!(
                "{} is not set: using a random {algorithm} key for this run (tokens will not survive a restart)",
                name_of("auth.signing_keys")
            ));
            SigningKeys::generate(algorithm)
                .and_then(|jwk| SigningKeys::parse(&jwk))
                .map_err(|error| ConfigError::at("auth.signing_keys", error.to_string()))?
        }
        None => {
            return Err(ConfigError::at(
                "auth.signing_keys",
                format!(
                    "is required under {}={algorithm} outside ENVIRONMENT=local (or {})",
                    name_of("auth.algorithm"),
                    name_of("auth.signing_keys_file")
                ),
            ));
        }
    };
    if keys.algorithm() != algorithm {
        return Err(ConfigError::at(
            "auth.algorithm",
            format!(
                "is {algorithm}, but the first signing key (kid {:?}) is {}",
                keys.kids().next().unwrap_or_default(),
                keys.algorithm()
            ),
        ));
    }
    auth.signing_keys = Some(keys.clone());
    Ok(AccessKeys::Signing(keys))
}

/// Under an asymmetric algorithm others discover the service (docs/api.md
/// §12): RFC 8414 §2 wants `issuer` to be the https URL the metadata is
/// served from, and strict clients refuse another; unset, the metadata's
/// URLs are the bound address, wrong behind a proxy.
fn discovery_warnings(auth: &AuthSettings, public_url: Option<&str>, warnings: &mut Vec<String>) {
    let algorithm = auth.algorithm;
    if !(auth.issuer.starts_with("https://") || auth.issuer.starts_with("http://")) {
        warnings.push(format!(
            "{} is {:?}, not a URL: under {}={algorithm}, RFC 8414 wants the issuer to be the https URL discovery is served from (strict clients refuse another)",
            name_of("auth.issuer"),
            auth.issuer,
            name_of("auth.algorithm"),
        ));
    }
    if public_url.is_none() {
        warnings.push(format!(
            "{} is not set: the discovery metadata and its jwks_uri name the bound address over http://, wrong behind a proxy",
            name_of("server.public_url"),
        ));
    }
}

/// The key set in `AUTH__SIGNING_KEYS_FILE`, if it names a file.
fn signing_keys_file(path: &str) -> Result<Option<SigningKeys>, ConfigError> {
    if path.is_empty() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|error| {
        ConfigError::at(
            "auth.signing_keys_file",
            format!("cannot read {path}: {error}"),
        )
    })?;
    SigningKeys::parse(&text)
        .map(Some)
        .map_err(|error| ConfigError::at("auth.signing_keys_file", error.to_string()))
}

/// `SERVER__PUBLIC_URL`: an http(s) URL with no query or fragment, kept
/// without its trailing slash so that paths append to it.
fn public_url(server: &ServerSettings) -> Result<Option<String>, ConfigError> {
    let url = server.public_url.trim_end_matches('/');
    if url.is_empty() {
        return Ok(None);
    }
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match host {
        Some(rest) if !rest.is_empty() && !rest.contains(['?', '#', ' ']) => {
            Ok(Some(url.to_owned()))
        }
        _ => Err(ConfigError::at(
            "server.public_url",
            "must be an http:// or https:// URL without query or fragment",
        )),
    }
}

/// A signing key: required and long enough outside `local` (RFC 7518 §3.2);
/// in `local`, random per start when unset, so that the service runs with
/// no set-up at all. The key chosen is left in `slot` for `check-config`.
fn signing_key(
    path: &str,
    slot: &mut Option<SecretKey>,
    algorithm: JwtAlgorithm,
    environment: Environment,
    warnings: &mut Vec<String>,
) -> Result<SecretKey, ConfigError> {
    let variable = name_of(path);
    let minimum = algorithm.min_key_bytes();
    let key = match slot.take() {
        None if environment == Environment::Local => {
            warnings.push(format!(
                "{variable} is not set: using a random key for this run (tokens will not survive a restart)"
            ));
            SecretKey::new(random_key())
        }
        None => {
            return Err(ConfigError::new(
                variable,
                "is required outside ENVIRONMENT=local",
            ));
        }
        Some(key) if key.byte_len() < minimum => {
            let message = format!(
                "is {} bytes; {algorithm} needs at least {minimum}",
                key.byte_len()
            );
            if environment != Environment::Local {
                return Err(ConfigError::new(variable, message));
            }
            warnings.push(format!("{variable} {message}"));
            key
        }
        Some(key) => key,
    };
    *slot = Some(key.clone());
    Ok(key)
}

/// A fresh URL-safe key of 64 random bytes (enough for HS512).
#[must_use]
pub fn random_key() -> String {
    let mut bytes = [0u8; 64];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

const ENV_EXAMPLE_HEADER: &str = "\
# Zentra configuration. Copy to .env (variables already set in the
# environment win over this file). Every value shown is the default.
# Generated from the declarations in crates/app/src/config.rs.
";

const ENV_EXAMPLE_FOOTER: &str = "
# Log filter, e.g. info, warn, zentra=debug (read by tracing itself)
# RUST_LOG=info
";

/// The text of `.env.example`: every variable with its doc comment and its
/// default, a paragraph per section.
#[must_use]
pub fn env_example() -> String {
    let mut out = String::from(ENV_EXAMPLE_HEADER);
    let mut section = None;
    for variable in Variables::variables("") {
        if section != Some(variable.section().map(str::to_owned)) {
            section = Some(variable.section().map(str::to_owned));
            out.push('\n');
        }
        for line in variable.doc {
            out.push_str(&format!("#{}\n", line.trim_end()));
        }
        out.push_str(&format!("{}={}\n", variable.name(), variable.default));
    }
    out.push_str(ENV_EXAMPLE_FOOTER);
    out
}

#[cfg(test)]
mod tests;
