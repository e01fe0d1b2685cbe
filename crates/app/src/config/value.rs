//! How each variable's text becomes a typed value (and how `check-config`
//! shows it again): the one place where values are parsed.

use std::{fmt, ops::RangeInclusive};

use adapters_crypto::{JwtAlgorithm, SecretKey, SigningKeys};
use adapters_db::{DatabaseUrl, SqliteSync};
use adapters_http::{MetricsToken, RefreshCookieMode};
use domain::{Scopes, Username};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

use super::{ConfigError, Environment};
use crate::telemetry::LogFormat;

/// How a variable's text becomes its value, and how `check-config` shows
/// the value again.
pub(super) trait Value: Sized {
    /// Why the text is no value of this type, never echoing a secret.
    fn parse(raw: &str) -> Result<Self, String>;
    fn show(&self) -> String;
}

/// serde's way into [`Value::parse`]: every variable arrives as text (and
/// stays text: no `try_parsing`, which once turned the secret "0123" into
/// 123).
pub(super) fn from_text<'de, D: Deserializer<'de>, T: Value>(
    deserializer: D,
) -> Result<T, D::Error> {
    let raw = String::deserialize(deserializer)?;
    T::parse(&raw).map_err(serde::de::Error::custom)
}

impl Value for Environment {
    fn parse(raw: &str) -> Result<Self, String> {
        raw.trim().parse()
    }

    fn show(&self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

impl Value for LogFormat {
    fn parse(raw: &str) -> Result<Self, String> {
        raw.trim().parse()
    }

    fn show(&self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

impl Value for RefreshCookieMode {
    fn parse(raw: &str) -> Result<Self, String> {
        raw.trim().parse()
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

impl Value for JwtAlgorithm {
    fn parse(raw: &str) -> Result<Self, String> {
        raw.trim().parse()
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

impl Value for SqliteSync {
    fn parse(raw: &str) -> Result<Self, String> {
        raw.trim().parse()
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

impl Value for DatabaseUrl {
    fn parse(raw: &str) -> Result<Self, String> {
        Self::parse(raw).map_err(|error| error.to_string())
    }

    /// Without a Postgres password.
    fn show(&self) -> String {
        self.to_string()
    }
}

/// A secret: empty counts as unset, and only its length is ever shown.
macro_rules! secrets {
    ($($type:ty),*) => {$(
        impl Value for Option<$type> {
            fn parse(raw: &str) -> Result<Self, String> {
                Ok((!raw.is_empty()).then(|| <$type>::new(raw)))
            }

            fn show(&self) -> String {
                match self {
                    Some(secret) => format!("******** ({} bytes)", secret.byte_len()),
                    None => "(not set)".to_owned(),
                }
            }
        }
    )*};
}

// A signing key; the metrics scrape token; the first superuser's password.
secrets!(SecretKey, MetricsToken, SecretText);

/// Private signing keys: empty counts as unset; shown by their kids only.
impl Value for Option<SigningKeys> {
    fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        SigningKeys::parse(raw)
            .map(Some)
            .map_err(|error| error.to_string())
    }

    fn show(&self) -> String {
        match self {
            Some(keys) => format!(
                "******** ({} key(s), kid {})",
                keys.kids().count(),
                keys.kids().collect::<Vec<_>>().join(", ")
            ),
            None => "(not set)".to_owned(),
        }
    }
}

/// A secret that is text (a password): `Debug` never shows it.
#[derive(Debug, Clone)]
pub struct SecretText(SecretString);

impl SecretText {
    fn new(raw: &str) -> Self {
        Self(raw.into())
    }

    fn byte_len(&self) -> usize {
        self.0.expose_secret().len()
    }

    /// The text, to parse it as a password.
    #[must_use]
    pub fn secret(&self) -> SecretString {
        self.0.clone()
    }
}

/// For configuration tests; nothing in the service compares them.
impl PartialEq for SecretText {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl Eq for SecretText {}

/// Scope names, space- or comma-separated.
impl Value for Scopes {
    fn parse(raw: &str) -> Result<Self, String> {
        Self::parse(raw).map_err(|error| error.to_string())
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

/// A username; empty counts as unset.
impl Value for Option<Username> {
    fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Ok(None);
        }
        Username::parse(raw)
            .map(Some)
            .map_err(|error| error.to_string())
    }

    fn show(&self) -> String {
        self.as_ref()
            .map_or_else(|| "(not set)".to_owned(), ToString::to_string)
    }
}

impl Value for String {
    fn parse(raw: &str) -> Result<Self, String> {
        Ok(raw.to_owned())
    }

    fn show(&self) -> String {
        self.clone()
    }
}

/// A comma-separated list; blanks around and between items are dropped.
impl Value for Vec<String> {
    fn parse(raw: &str) -> Result<Self, String> {
        Ok(raw
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect())
    }

    fn show(&self) -> String {
        self.join(",")
    }
}

impl Value for bool {
    fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            other => Err(format!("{other:?} is not true or false")),
        }
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

macro_rules! whole_numbers {
    ($($type:ty),*) => {$(
        impl Value for $type {
            fn parse(raw: &str) -> Result<Self, String> {
                raw.trim()
                    .parse()
                    .map_err(|_| format!("{raw:?} is not a whole number"))
            }

            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

whole_numbers!(u16, u32, u64, usize);

pub(super) fn check_range<T: PartialOrd + fmt::Display>(
    path: &str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::at(
            path,
            format!(
                "{value} is out of range {}..={}",
                range.start(),
                range.end()
            ),
        ))
    }
}
