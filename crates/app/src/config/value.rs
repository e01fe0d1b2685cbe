//! How each variable's text becomes a typed value (and how `check-config`
//! shows it again): the one place where values are parsed.

use std::{fmt, ops::RangeInclusive};

use adapters_crypto::{JwtAlgorithm, SecretKey};
use adapters_db::DatabaseUrl;
use adapters_http::MetricsToken;
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

impl Value for JwtAlgorithm {
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

// A signing key; the metrics scrape token.
secrets!(SecretKey, MetricsToken);

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
