//! The failed-login limit (docs/api.md §3.3, §8): a pure decision over the
//! times of recent attempts, so it can be tested with any clock, and the
//! reservation a repository makes with it.
//!
//! An attempt takes its place in the count *before* its password is
//! checked: the repository reserves a place under each of its keys in one
//! atomic step, so concurrent guesses cannot all see the old count. A
//! failure keeps its place; an attempt that turns out not to be a failure
//! (a success, or a check that could not run) gives it back.

use crate::UnixSeconds;

/// How many failed logins a username or a client address may have within
/// the window before further attempts are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    pub max_failures: u32,
    pub max_failures_per_address: u32,
    pub window_secs: u64,
}

/// The key under which failures are counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    Username(String),
    Address(String),
}

impl ThrottleKey {
    /// Longest stored key: a username longer than any registrable one is
    /// still counted, under its first characters.
    const MAX_LEN: usize = 128;

    /// The key as stored: a prefix keeps the two kinds apart.
    #[must_use]
    pub fn storage_key(&self) -> String {
        let (prefix, value) = match self {
            Self::Username(name) => ("user:", name),
            Self::Address(address) => ("addr:", address),
        };
        let value: String = value.chars().take(Self::MAX_LEN).collect();
        format!("{prefix}{value}")
    }
}

/// A limit one key of an attempt must be under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptLimit {
    /// The key as stored ([`ThrottleKey::storage_key`]).
    pub key: String,
    pub max: u32,
}

/// An attempt asking for a place under each of its keys at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub limits: Vec<AttemptLimit>,
    pub now: UnixSeconds,
    pub window_secs: u64,
}

impl Attempt {
    /// The start of the window: places taken before it no longer count.
    #[must_use]
    pub fn since(&self) -> UnixSeconds {
        self.now.saturating_sub(self.window_secs)
    }
}

/// The places an admitted attempt holds, one per key, as the repository
/// identifies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places(pub Vec<i64>);

/// What a reservation gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Every key had room: one place taken under each.
    Admitted(Places),
    /// Some key is at its limit: nothing was taken.
    Refused { retry_after_secs: u64 },
}

/// Seconds until another attempt is allowed, or `None` if one is allowed
/// now. `failures` are the times of the failures within the window,
/// oldest first.
#[must_use]
pub fn retry_after(
    failures: &[UnixSeconds],
    max: u32,
    window_secs: u64,
    now: UnixSeconds,
) -> Option<u64> {
    let max = (max as usize).max(1);
    if failures.len() < max {
        return None;
    }
    // Attempts resume once the count drops below `max`: when the failure
    // at this index leaves the window.
    let releasing = failures[failures.len() - max];
    Some((releasing + window_secs).saturating_sub(now).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_starts_its_length_before_now() {
        let attempt = Attempt {
            limits: vec![],
            now: 1000,
            window_secs: 900,
        };
        assert_eq!(attempt.since(), 100);
        let early = Attempt { now: 10, ..attempt };
        assert_eq!(early.since(), 0);
    }

    #[test]
    fn fewer_failures_than_the_limit_allow_another_attempt() {
        assert_eq!(retry_after(&[], 3, 900, 1000), None);
        assert_eq!(retry_after(&[100, 200], 3, 900, 1000), None);
    }

    #[test]
    fn at_the_limit_the_wait_lasts_until_the_oldest_failure_leaves_the_window() {
        assert_eq!(retry_after(&[100, 200, 300], 3, 900, 400), Some(600));
    }

    #[test]
    fn past_the_limit_enough_failures_must_leave_the_window() {
        // Five failures, limit three: the third must expire (300 + 900).
        assert_eq!(
            retry_after(&[100, 200, 300, 310, 320], 3, 900, 400),
            Some(800)
        );
    }

    #[test]
    fn the_wait_is_at_least_one_second() {
        assert_eq!(retry_after(&[100], 1, 900, 1000), Some(1));
    }

    #[test]
    fn keys_of_the_two_kinds_never_collide_and_stay_short() {
        assert_eq!(ThrottleKey::Username("a".into()).storage_key(), "user:a");
        assert_eq!(ThrottleKey::Address("a".into()).storage_key(), "addr:a");
        assert_eq!(
            ThrottleKey::Username("x".repeat(1000)).storage_key().len(),
            5 + 128
        );
    }
}
