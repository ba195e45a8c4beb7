//! Login throttling: a pure state machine per username, and a bounded in-memory map of them.
//!
//! # Policy
//!
//! Counted are *consecutive* failed sign-ins for one username:
//!
//! | failures so far | the next attempt may be made                     |
//! |-----------------|--------------------------------------------------|
//! | 0, 1, 2         | at once (the first [`FREE_FAILURES`] are free)     |
//! | 3 … 9           | 2^(failures − 3) s after the last failure: 1, 2, 4, 8, 16, 32, then capped at [`MAX_DELAY`] (60 s) |
//! | 10              | locked for [`LOCKOUT`] (15 min) after the last failure |
//!
//! - Failures older than [`FORGET_AFTER`] (15 min) are forgotten: 15 minutes after the last
//!   failure (so also when a lock ends) the count starts again from 0.
//! - A successful sign-in ([`LoginThrottle::record_success`]) and a password reset by an
//!   account manager ([`ThrottleStore::clear`]) clear the count at once.
//! - An attempt refused by [`LoginThrottle::check`] must not check the password and is
//!   not counted as a failure.
//! - Unknown usernames are throttled exactly like real ones (the store does not know
//!   which exist), so the answers do not reveal which accounts exist.
//!
//! The state is local to each node and not synced: a node restart forgets it, which costs
//! an attacker at most another 10 attempts and needs access to the node.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use time::{Duration, OffsetDateTime};

/// Failures allowed before any delay.
pub const FREE_FAILURES: u32 = 3;
/// Longest delay between attempts before the lock.
pub const MAX_DELAY: Duration = Duration::seconds(60);
/// Consecutive failures that lock the login.
pub const LOCK_AT_FAILURES: u32 = 10;
/// How long a lock lasts, from the last failure.
pub const LOCKOUT: Duration = Duration::minutes(15);
/// Failures older than this (measured from the last one) are forgotten.
pub const FORGET_AFTER: Duration = Duration::minutes(15);
/// Usernames tracked by a [`ThrottleStore`] before forgotten entries are evicted.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// A sign-in attempt refused because of earlier failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "too many failed sign-in attempts; try again in {} seconds",
    self.retry_after_secs()
)]
pub struct Throttled {
    /// How long until the next attempt is allowed.
    pub retry_after: Duration,
}

impl Throttled {
    /// `retry_after` in whole seconds, rounded up (for a `Retry-After` header).
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.whole_seconds();
        let rounded = if self.retry_after.subsec_nanoseconds() > 0 {
            secs + 1
        } else {
            secs
        };
        u64::try_from(rounded).unwrap_or(0)
    }
}

/// Failed sign-ins of one username; see the module documentation for the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginThrottle {
    /// Consecutive failures not yet forgotten.
    pub failures: u32,
    pub last_failure: Option<OffsetDateTime>,
    pub locked_until: Option<OffsetDateTime>,
}

impl LoginThrottle {
    /// The wait after `failures` consecutive failures (zero if none is needed), not
    /// counting the lock.
    pub fn delay_after(failures: u32) -> Duration {
        if failures < FREE_FAILURES {
            return Duration::ZERO;
        }
        let exponent = failures - FREE_FAILURES;
        // 2^6 = 64 s is already past the cap; avoid shifting further.
        if exponent >= 6 {
            return MAX_DELAY;
        }
        Duration::seconds(1_i64 << exponent).min(MAX_DELAY)
    }

    /// Whether the failures are old enough to be forgotten at `now`.
    fn is_forgotten(&self, now: OffsetDateTime) -> bool {
        match self.last_failure {
            None => true,
            Some(last) => now - last >= FORGET_AFTER,
        }
    }

    /// Whether this entry holds nothing that still matters at `now` (no failures that count,
    /// no lock): it can be dropped.
    pub fn is_idle(&self, now: OffsetDateTime) -> bool {
        self.is_forgotten(now) && self.locked_until.is_none_or(|until| now >= until)
    }

    /// Whether a sign-in attempt may be made at `now`.
    pub fn check(&self, now: OffsetDateTime) -> Result<(), Throttled> {
        if let Some(until) = self.locked_until
            && now < until
        {
            return Err(Throttled {
                retry_after: until - now,
            });
        }
        if self.is_forgotten(now) {
            return Ok(());
        }
        let Some(last) = self.last_failure else {
            return Ok(());
        };
        let allowed_at = last + Self::delay_after(self.failures);
        if now < allowed_at {
            Err(Throttled {
                retry_after: allowed_at - now,
            })
        } else {
            Ok(())
        }
    }

    /// Counts a failed attempt made at `now`.
    pub fn record_failure(&mut self, now: OffsetDateTime) {
        if self.is_forgotten(now) {
            *self = Self::default();
        }
        self.failures = self.failures.saturating_add(1);
        self.last_failure = Some(now);
        if self.failures >= LOCK_AT_FAILURES {
            self.locked_until = Some(now + LOCKOUT);
        }
    }

    /// Clears everything after a successful sign-in.
    pub fn record_success(&mut self) {
        *self = Self::default();
    }
}

/// The [`LoginThrottle`]s of one node, keyed by lower-cased username (known or not).
/// Cloning gives another handle to the same map.
#[derive(Clone)]
pub struct ThrottleStore {
    entries: Arc<Mutex<HashMap<String, LoginThrottle>>>,
    max_entries: usize,
}

impl std::fmt::Debug for ThrottleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThrottleStore")
            .field("entries", &self.entries.lock().len())
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

impl Default for ThrottleStore {
    fn default() -> Self {
        Self::new()
    }
}

fn key(username: &str) -> String {
    username.trim().to_lowercase()
}

impl ThrottleStore {
    pub fn new() -> Self {
        Self::with_max_entries(DEFAULT_MAX_ENTRIES)
    }

    /// A store that starts evicting once it tracks `max_entries` usernames.
    pub fn with_max_entries(max_entries: usize) -> Self {
        Self {
            entries: Arc::new(Mutex::new(HashMap::new())),
            max_entries: max_entries.max(1),
        }
    }

    /// Whether `username` may attempt to sign in at `now`.
    pub fn check(&self, username: &str, now: OffsetDateTime) -> Result<(), Throttled> {
        match self.entries.lock().get(&key(username)) {
            Some(throttle) => throttle.check(now),
            None => Ok(()),
        }
    }

    /// Counts a failed sign-in of `username` at `now`.
    ///
    /// When a new username would take the map past its bound, entries whose failures are
    /// forgotten are evicted first; if that is not enough (a flood of distinct usernames
    /// within 15 minutes), the unlocked entry with the oldest last failure goes (a locked
    /// one only if every entry is locked).
    pub fn record_failure(&self, username: &str, now: OffsetDateTime) {
        let key = key(username);
        let mut entries = self.entries.lock();
        if !entries.contains_key(&key) && entries.len() >= self.max_entries {
            entries.retain(|_, throttle| !throttle.is_idle(now));
            while entries.len() >= self.max_entries {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, throttle)| {
                        let locked = throttle.locked_until.is_some_and(|until| now < until);
                        (locked, throttle.last_failure)
                    })
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => entries.remove(&k),
                    None => break,
                };
            }
        }
        entries.entry(key).or_default().record_failure(now);
    }

    /// Forgets the failures of `username` after a successful sign-in.
    pub fn record_success(&self, username: &str) {
        self.entries.lock().remove(&key(username));
    }

    /// Forgets the failures (and lifts the lock) of `username`: an account manager reset
    /// the password.
    pub fn clear(&self, username: &str) {
        self.record_success(username);
    }

    /// The throttle state of `username` (a copy), if any failure is tracked.
    pub fn get(&self, username: &str) -> Option<LoginThrottle> {
        self.entries.lock().get(&key(username)).cloned()
    }

    /// How many usernames are tracked.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2025-03-03 09:00 UTC);

    fn after(failures: u32) -> LoginThrottle {
        let mut throttle = LoginThrottle::default();
        for _ in 0..failures {
            throttle.record_failure(T0);
        }
        throttle
    }

    #[test]
    fn schedule_table() {
        // failures so far → wait before the next attempt
        let table: [(u32, i64); 13] = [
            (0, 0),
            (1, 0),
            (2, 0),
            (3, 1),
            (4, 2),
            (5, 4),
            (6, 8),
            (7, 16),
            (8, 32),
            (9, 60),
            (10, 15 * 60),
            (11, 15 * 60),
            (12, 15 * 60),
        ];
        for (failures, wait) in table {
            let throttle = after(failures);
            let expected = Duration::seconds(wait);
            match throttle.check(T0) {
                Ok(()) => assert_eq!(wait, 0, "after {failures} failures"),
                Err(t) => assert_eq!(t.retry_after, expected, "after {failures} failures"),
            }
            // Allowed exactly when the wait is over, not a nanosecond before.
            assert!(throttle.check(T0 + expected).is_ok(), "after {failures}");
            if wait > 0 {
                let early = throttle.check(T0 + expected - Duration::nanoseconds(1));
                assert_eq!(early.unwrap_err().retry_after_secs(), 1, "after {failures}");
            }
        }
    }

    #[test]
    fn attacker_retrying_as_soon_as_allowed_is_locked_at_the_tenth_failure() {
        let mut throttle = LoginThrottle::default();
        let mut now = T0;
        for attempt in 1..=10 {
            if let Err(t) = throttle.check(now) {
                now += t.retry_after;
            }
            assert!(throttle.check(now).is_ok(), "attempt {attempt}");
            throttle.record_failure(now);
        }
        // 1+2+4+8+16+32 s of waiting before the 10th failure.
        assert_eq!(now, T0 + Duration::seconds(63 + 60));
        assert_eq!(throttle.locked_until, Some(now + LOCKOUT));
        let refused = throttle.check(now + Duration::minutes(14)).unwrap_err();
        assert_eq!(refused.retry_after, Duration::minutes(1));
        assert_eq!(
            refused.to_string(),
            "too many failed sign-in attempts; try again in 60 seconds"
        );
        // The lock ends after 15 minutes, and the count starts over.
        let unlocked = now + Duration::minutes(15);
        assert!(throttle.check(unlocked).is_ok());
        throttle.record_failure(unlocked);
        assert_eq!(throttle.failures, 1);
        assert_eq!(throttle.locked_until, None);
        assert!(throttle.check(unlocked).is_ok());
    }

    #[test]
    fn failures_are_forgotten_after_15_minutes_but_not_before() {
        let mut throttle = after(5);
        throttle.record_failure(T0 + Duration::minutes(14));
        assert_eq!(
            throttle.failures, 6,
            "14 minutes is not long enough to forget"
        );

        let mut throttle = after(5);
        let later = T0 + FORGET_AFTER;
        assert!(throttle.check(later).is_ok());
        assert!(throttle.is_idle(later));
        throttle.record_failure(later);
        assert_eq!(throttle.failures, 1);
        assert!(throttle.check(later).is_ok());
    }

    #[test]
    fn success_clears_everything() {
        let mut throttle = after(10);
        assert!(throttle.check(T0).is_err());
        throttle.record_success();
        assert_eq!(throttle, LoginThrottle::default());
        assert!(throttle.check(T0).is_ok());
    }

    #[test]
    fn store_keys_are_case_insensitive_and_unknown_names_are_treated_alike() {
        let store = ThrottleStore::new();
        for _ in 0..4 {
            store.record_failure("Alice", T0);
            store.record_failure("no-such-user", T0);
        }
        let alice = store.check(" alice ", T0).unwrap_err();
        let nobody = store.check("NO-SUCH-USER", T0).unwrap_err();
        assert_eq!(alice, nobody);
        assert_eq!(alice.retry_after, Duration::seconds(2));
        assert!(store.check("bob", T0).is_ok());
        assert_eq!(store.len(), 2, "a check alone records nothing");
        store.record_success("ALICE");
        assert!(store.check("alice", T0).is_ok());
        assert_eq!(store.get("alice"), None);
    }

    #[test]
    fn account_manager_reset_lifts_a_lock() {
        let store = ThrottleStore::new();
        for _ in 0..10 {
            store.record_failure("alice", T0);
        }
        assert!(store.check("alice", T0 + Duration::minutes(5)).is_err());
        store.clear("Alice");
        assert!(store.check("alice", T0 + Duration::minutes(5)).is_ok());
    }

    #[test]
    fn store_is_bounded_and_evicts_forgotten_entries_first() {
        let store = ThrottleStore::with_max_entries(3);
        store.record_failure("old-1", T0);
        store.record_failure("old-2", T0);
        let later = T0 + Duration::minutes(16);
        for _ in 0..10 {
            store.record_failure("locked", later);
        }
        store.record_failure("new", later);
        assert_eq!(store.len(), 2, "both forgotten entries evicted");
        assert!(store.check("locked", later).is_err());

        // A flood of distinct names within 15 minutes: the bound holds, the oldest goes,
        // the most recent lock stays.
        store.record_failure("flood-1", later + Duration::seconds(1));
        store.record_failure("flood-2", later + Duration::seconds(2));
        assert!(store.len() <= 3);
        assert_eq!(store.get("new"), None);
        assert!(store.get("flood-2").is_some());
    }
}
