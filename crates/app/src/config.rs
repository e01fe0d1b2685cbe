//! Settings from the environment (and a `.env` file), with the names and
//! defaults of API.md §7. Every value is checked here, once: a bad one
//! stops the start with one line naming its variable.

use std::{collections::HashMap, fmt, str::FromStr};

use adapters_crypto::{JwtAlgorithm, JwtSettings, SecretKey};
use adapters_db::DatabaseUrl;
use base64::Engine;
use domain::LoginLimits;
use serde::Deserialize;

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Local,
    Staging,
    Production,
}

impl FromStr for Environment {
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

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database_url: DatabaseUrl,
    pub pool_size: u32,
    pub jwt: JwtSettings,
    pub bcrypt_cost: u32,
    pub login_limits: LoginLimits,
    pub server: ServerSettings,
    pub cors_origins: Vec<String>,
    pub log_format: LogFormat,
    /// Things worth a warning once logging is up (random local secrets…).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub body_limit_bytes: usize,
    pub trust_forwarded_for: bool,
    /// The client is this many entries from the right of `X-Forwarded-For`.
    pub trusted_proxy_hops: usize,
    /// How long a client may take to send a request's head, and its body.
    pub client_timeout_secs: u64,
}

/// More proxies than this in front of one service is a misconfiguration.
const MAX_TRUSTED_PROXY_HOPS: usize = 16;

/// The variables as strings, nested as `config` reads `SECTION__KEY`.
#[derive(Debug, Default, Deserialize)]
struct Raw {
    #[serde(default)]
    db: HashMap<String, String>,
    #[serde(default)]
    auth: HashMap<String, String>,
    #[serde(default)]
    server: HashMap<String, String>,
    #[serde(default)]
    log: HashMap<String, String>,
    environment: Option<String>,
    backend_cors_origins: Option<String>,
}

/// Only these variables are read; the rest of the environment is ignored.
fn is_ours(name: &str) -> bool {
    ["DB__", "AUTH__", "SERVER__", "LOG__"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || name == "ENVIRONMENT"
        || name == "BACKEND_CORS_ORIGINS"
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

    /// Reads the given variables, as if they were the environment.
    ///
    /// # Errors
    /// The first unusable value.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let ours: config::Map<String, String> =
            vars.into_iter().filter(|(name, _)| is_ours(name)).collect();
        let raw: Raw = config::Config::builder()
            .add_source(
                config::Environment::default()
                    .separator("__")
                    .source(Some(ours)),
            )
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|error| ConfigError::new("environment", error.to_string()))?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> Result<Self, ConfigError> {
        let mut warnings = Vec::new();
        let environment: Environment = parse("ENVIRONMENT", raw.environment.as_deref(), "local")?;

        let db = Section::new("DB", &raw.db);
        let database_url = DatabaseUrl::parse(db.get("url").unwrap_or("sqlite:///zentra.db"))
            .map_err(|error| ConfigError::new("DB__URL", error.to_string()))?;
        let pool_size = db.number("pool_size", 8, 1..=1024)?;

        let auth = Section::new("AUTH", &raw.auth);
        let algorithm: JwtAlgorithm = parse("AUTH__ALGORITHM", auth.get("algorithm"), "HS256")?;
        let access_mins = auth.number("access_token_expire_mins", 15, 1..=u32::MAX / 60)?;
        let refresh_mins = auth.number("refresh_token_expire_mins", 10_080, 1..=u32::MAX / 60)?;
        if refresh_mins < access_mins {
            return Err(ConfigError::new(
                "AUTH__REFRESH_TOKEN_EXPIRE_MINS",
                "must be at least AUTH__ACCESS_TOKEN_EXPIRE_MINS",
            ));
        }
        let issuer = auth.get("issuer").unwrap_or("zentra").to_owned();
        if issuer.is_empty() {
            return Err(ConfigError::new("AUTH__ISSUER", "must not be empty"));
        }
        let jwt = JwtSettings {
            algorithm,
            access_secret: secret(
                &auth,
                "secret_access_key",
                algorithm,
                environment,
                &mut warnings,
            )?,
            refresh_secret: secret(
                &auth,
                "secret_refresh_key",
                algorithm,
                environment,
                &mut warnings,
            )?,
            issuer,
            access_lifetime_secs: u64::from(access_mins) * 60,
            refresh_lifetime_secs: u64::from(refresh_mins) * 60,
        };
        // With one key for both kinds, only the `type` claim would keep a
        // refresh token from passing as an access token.
        if jwt.access_secret == jwt.refresh_secret {
            return Err(ConfigError::new(
                "AUTH__SECRET_REFRESH_KEY",
                "must differ from AUTH__SECRET_ACCESS_KEY",
            ));
        }
        let bcrypt_cost = auth.number("rounds", 12, 4..=31)?;
        let login_limits = LoginLimits {
            max_failures: auth.number("login_max_failures", 10, 1..=1_000_000)?,
            max_failures_per_address: auth.number(
                "login_max_failures_per_address",
                100,
                1..=1_000_000,
            )?,
            window_secs: u64::from(auth.number("login_window_mins", 15_u32, 1..=525_600)?) * 60,
        };

        let server_section = Section::new("SERVER", &raw.server);
        let server = ServerSettings {
            host: server_section.get("host").unwrap_or("127.0.0.1").to_owned(),
            port: server_section.number("port", 8000, 0..=u16::MAX)?,
            body_limit_bytes: server_section.number(
                "body_limit_bytes",
                65_536,
                1..=64 * 1024 * 1024,
            )?,
            trust_forwarded_for: server_section.boolean("trust_forwarded_for", false)?,
            trusted_proxy_hops: server_section.number(
                "trusted_proxy_hops",
                1,
                1..=MAX_TRUSTED_PROXY_HOPS,
            )?,
            client_timeout_secs: server_section.number("client_timeout_secs", 10, 1..=600)?,
        };

        let cors_origins = raw
            .backend_cors_origins
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(str::to_owned)
            .collect();

        let log_format = parse(
            "LOG__FORMAT",
            raw.log.get("format").map(String::as_str),
            "text",
        )?;

        Ok(Self {
            environment,
            database_url,
            pool_size,
            jwt,
            bcrypt_cost,
            login_limits,
            server,
            cors_origins,
            log_format,
            warnings,
        })
    }
}

impl Settings {
    /// Every setting as `VARIABLE = value`, secrets masked: what
    /// `zentra check-config` prints.
    #[must_use]
    pub fn describe(&self) -> String {
        let secret = |key: &SecretKey| format!("******** ({} bytes)", key.len());
        let lines = [
            (
                "ENVIRONMENT",
                format!("{:?}", self.environment).to_lowercase(),
            ),
            ("DB__URL", self.database_url.to_string()),
            ("DB__POOL_SIZE", self.pool_size.to_string()),
            ("AUTH__ALGORITHM", self.jwt.algorithm.to_string()),
            ("AUTH__SECRET_ACCESS_KEY", secret(&self.jwt.access_secret)),
            ("AUTH__SECRET_REFRESH_KEY", secret(&self.jwt.refresh_secret)),
            ("AUTH__ISSUER", self.jwt.issuer.clone()),
            (
                "AUTH__ACCESS_TOKEN_EXPIRE_MINS",
                (self.jwt.access_lifetime_secs / 60).to_string(),
            ),
            (
                "AUTH__REFRESH_TOKEN_EXPIRE_MINS",
                (self.jwt.refresh_lifetime_secs / 60).to_string(),
            ),
            ("AUTH__ROUNDS", self.bcrypt_cost.to_string()),
            (
                "AUTH__LOGIN_MAX_FAILURES",
                self.login_limits.max_failures.to_string(),
            ),
            (
                "AUTH__LOGIN_MAX_FAILURES_PER_ADDRESS",
                self.login_limits.max_failures_per_address.to_string(),
            ),
            (
                "AUTH__LOGIN_WINDOW_MINS",
                (self.login_limits.window_secs / 60).to_string(),
            ),
            ("SERVER__HOST", self.server.host.clone()),
            ("SERVER__PORT", self.server.port.to_string()),
            (
                "SERVER__BODY_LIMIT_BYTES",
                self.server.body_limit_bytes.to_string(),
            ),
            (
                "SERVER__TRUST_FORWARDED_FOR",
                self.server.trust_forwarded_for.to_string(),
            ),
            (
                "SERVER__TRUSTED_PROXY_HOPS",
                self.server.trusted_proxy_hops.to_string(),
            ),
            (
                "SERVER__CLIENT_TIMEOUT_SECS",
                self.server.client_timeout_secs.to_string(),
            ),
            ("BACKEND_CORS_ORIGINS", self.cors_origins.join(",")),
            (
                "LOG__FORMAT",
                format!("{:?}", self.log_format).to_lowercase(),
            ),
        ];
        let mut out: String = lines
            .iter()
            .map(|(variable, value)| format!("{variable} = {value}\n"))
            .collect();
        for warning in &self.warnings {
            out.push_str(&format!("warning: {warning}\n"));
        }
        out
    }
}

/// One `SECTION__` group of variables.
struct Section<'a> {
    name: &'static str,
    values: &'a HashMap<String, String>,
}

impl<'a> Section<'a> {
    fn new(name: &'static str, values: &'a HashMap<String, String>) -> Self {
        Self { name, values }
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.values.get(key).map(String::as_str)
    }

    /// The variable's name as the user wrote it, for error messages.
    fn variable(&self, key: &str) -> String {
        format!("{}__{}", self.name, key.to_ascii_uppercase())
    }

    fn number<T>(
        &self,
        key: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
    {
        let Some(raw) = self.get(key) else {
            return Ok(default);
        };
        let value: T = raw.trim().parse().map_err(|_| {
            ConfigError::new(self.variable(key), format!("{raw:?} is not a whole number"))
        })?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::new(
                self.variable(key),
                format!(
                    "{value} is out of range {}..={}",
                    range.start(),
                    range.end()
                ),
            ))
        }
    }

    fn boolean(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(|raw| raw.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(raw) => match raw.as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(ConfigError::new(
                    self.variable(key),
                    format!("{raw:?} is not true or false"),
                )),
            },
        }
    }
}

fn parse<T: FromStr<Err = String>>(
    variable: &'static str,
    raw: Option<&str>,
    default: &str,
) -> Result<T, ConfigError> {
    raw.unwrap_or(default)
        .trim()
        .parse()
        .map_err(|message| ConfigError::new(variable, message))
}

/// A signing key: required and long enough outside `local` (RFC 7518 §3.2);
/// in `local`, random per start when unset, so that the service runs with
/// no set-up at all.
fn secret(
    auth: &Section<'_>,
    key: &str,
    algorithm: JwtAlgorithm,
    environment: Environment,
    warnings: &mut Vec<String>,
) -> Result<SecretKey, ConfigError> {
    let variable = auth.variable(key);
    let minimum = algorithm.min_key_bytes();
    match auth.get(key).filter(|value| !value.is_empty()) {
        None if environment == Environment::Local => {
            warnings.push(format!(
                "{variable} is not set: using a random key for this run (tokens will not survive a restart)"
            ));
            Ok(SecretKey::new(random_key()))
        }
        None => Err(ConfigError::new(
            variable,
            "is required outside ENVIRONMENT=local",
        )),
        Some(value) if value.len() < minimum => {
            let message = format!(
                "is {} bytes; {algorithm} needs at least {minimum}",
                value.len()
            );
            if environment == Environment::Local {
                warnings.push(format!("{variable} {message}"));
                Ok(SecretKey::new(value))
            } else {
                Err(ConfigError::new(variable, message))
            }
        }
        Some(value) => Ok(SecretKey::new(value)),
    }
}

/// A fresh URL-safe key of 64 random bytes (enough for HS512).
#[must_use]
pub fn random_key() -> String {
    let mut bytes = [0u8; 64];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests;
