//! Small wire forms the DTOs share: times as RFC 3339 text and scope sets
//! as lists, each written straight into the body (no text or list built
//! first).

use std::{
    fmt,
    time::{Duration, UNIX_EPOCH},
};

use domain::{Scope, Scopes, UnixSeconds};
use serde::{Serialize, Serializer};

/// An id from a path: anything but a positive integer names nothing.
pub(crate) fn positive_id(path: &str) -> Option<i64> {
    path.parse::<i64>().ok().filter(|id| *id > 0)
}

/// A time as RFC 3339 text in UTC to the second: `2026-12-02T07:10:00Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rfc3339(pub UnixSeconds);

impl Rfc3339 {
    /// 9999-12-31T23:59:59Z: RFC 3339 has four digits for the year.
    const LAST: UnixSeconds = 253_402_300_799;
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = UNIX_EPOCH + Duration::from_secs(self.0.min(Self::LAST));
        write!(f, "{}", humantime::format_rfc3339_seconds(time))
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A set of scopes as a JSON list of names, in name order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScopeList<'a>(pub &'a Scopes);

impl Serialize for ScopeList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Scope::as_str))
    }
}

/// A set of scopes as one space-separated text (RFC 6749 §3.3), as the
/// token response's `scope`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScopeText<'a>(pub &'a Scopes);

impl Serialize for ScopeText<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_in_utc_to_the_second() {
        assert_eq!(Rfc3339(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Rfc3339(1_796_195_400).to_string(), "2026-12-02T07:10:00Z");
        assert_eq!(Rfc3339(u64::MAX).to_string(), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn scopes_are_a_list_or_a_space_separated_text() {
        let scopes = Scopes::parse("me admin").unwrap();
        assert_eq!(
            serde_json::to_value(ScopeList(&scopes)).unwrap(),
            serde_json::json!(["admin", "me"])
        );
        assert_eq!(
            serde_json::to_value(ScopeText(&scopes)).unwrap(),
            serde_json::json!("admin me")
        );
        assert_eq!(
            serde_json::to_value(ScopeList(&Scopes::empty())).unwrap(),
            serde_json::json!([])
        );
    }
}
