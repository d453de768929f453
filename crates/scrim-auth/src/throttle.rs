//! Failed-attempt counting with lockout, for sign-ins and API-key checks.
//!
//! A [`Throttle`] counts failures per key (an account, a source address, a key id) in a
//! fixed window; at `max_failures` the key is locked out for `lockout`, and every attempt
//! in that time is refused before any credential is checked. A success clears the count.
//! Memory is bounded: past `capacity` keys, entries that are neither locked nor recent are
//! dropped, and if every entry is live the oldest unlocked window goes first.
//!
//! Time is passed in, so the behaviour is tested without waiting.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits of one throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures within `window` that trigger a lockout.
    pub max_failures: u32,
    pub window: Duration,
    /// How long a locked key is refused.
    pub lockout: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockedOut {
    pub retry_after: Duration,
}

impl std::fmt::Display for LockedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many failed attempts; try again in {} seconds",
            self.retry_after.as_secs().max(1)
        )
    }
}

impl std::error::Error for LockedOut {}

/// Failure counts per key, shared by every request of a process.
#[derive(Debug)]
pub struct Throttle<K> {
    policy: ThrottlePolicy,
    capacity: usize,
    entries: Mutex<HashMap<K, Entry>>,
}

impl<K: Eq + Hash + Clone> Throttle<K> {
    pub fn new(policy: ThrottlePolicy, capacity: usize) -> Self {
        Throttle {
            policy,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn policy(&self) -> ThrottlePolicy {
        self.policy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refuses `key` while it is locked out.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), LockedOut> {
        match self.lock().get(key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(LockedOut {
                retry_after: until - now,
            }),
            _ => Ok(()),
        }
    }

    /// Counts a failure; returns the lockout if this failure started one.
    pub fn fail(&self, key: &K, now: Instant) -> Option<LockedOut> {
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            self.make_room(&mut entries, now);
        }
        let entry = entries.entry(key.clone()).or_insert(Entry {
            window_start: now,
            failures: 0,
            locked_until: None,
        });
        if entry.locked_until.is_some_and(|until| until <= now) {
            // A lockout that ended starts a fresh window.
            *entry = Entry {
                window_start: now,
                failures: 0,
                locked_until: None,
            };
        }
        if now.duration_since(entry.window_start) >= self.policy.window {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= self.policy.max_failures && entry.locked_until.is_none() {
            entry.locked_until = Some(now + self.policy.lockout);
            return Some(LockedOut {
                retry_after: self.policy.lockout,
            });
        }
        None
    }

    /// Clears `key`'s failures after a success. A lockout in force stays.
    pub fn succeed(&self, key: &K, now: Instant) {
        let mut entries = self.lock();
        if entries
            .get(key)
            .is_some_and(|e| e.locked_until.is_none_or(|until| until <= now))
        {
            entries.remove(key);
        }
    }

    fn make_room(&self, entries: &mut HashMap<K, Entry>, now: Instant) {
        let window = self.policy.window;
        entries.retain(|_, e| {
            e.locked_until.is_some_and(|until| until > now)
                || now.duration_since(e.window_start) < window
        });
        // Still full: drop the oldest window, unlocked keys before locked ones.
        if entries.len() >= self.capacity
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| (e.locked_until.is_some_and(|u| u > now), e.window_start))
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
    }

    /// Keys currently tracked (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
        }
    }

    #[test]
    fn locks_after_max_failures_and_unlocks_after_lockout() {
        let t = Throttle::new(policy(), 100);
        let now = Instant::now();
        assert_eq!(t.fail(&"a", now), None);
        assert_eq!(t.fail(&"a", now), None);
        assert!(t.check(&"a", now).is_ok());
        let locked = t.fail(&"a", now).unwrap();
        assert_eq!(locked.retry_after, Duration::from_secs(300));
        let err = t.check(&"a", now + Duration::from_secs(100)).unwrap_err();
        assert_eq!(err.retry_after, Duration::from_secs(200));
        assert!(err.to_string().contains("200 seconds"));
        // Another key is unaffected.
        assert!(t.check(&"b", now).is_ok());
        // A success during the lockout does not lift it.
        t.succeed(&"a", now + Duration::from_secs(1));
        assert!(t.check(&"a", now + Duration::from_secs(2)).is_err());
        let later = now + Duration::from_secs(300);
        assert!(t.check(&"a", later).is_ok());
        // After the lockout the count starts again.
        assert_eq!(t.fail(&"a", later), None);
    }

    #[test]
    fn failures_outside_the_window_and_successes_reset_the_count() {
        let t = Throttle::new(policy(), 100);
        let now = Instant::now();
        t.fail(&"a", now);
        t.fail(&"a", now);
        assert_eq!(t.fail(&"a", now + Duration::from_secs(61)), None);
        t.succeed(&"a", now + Duration::from_secs(62));
        assert!(t.is_empty());
        t.fail(&"a", now);
        t.fail(&"a", now);
        assert!(t.fail(&"a", now).is_some());
    }

    #[test]
    fn memory_stays_bounded_and_locked_keys_survive_eviction() {
        let t = Throttle::new(policy(), 10);
        let now = Instant::now();
        for _ in 0..3 {
            t.fail(&0u32, now);
        }
        for k in 1..200u32 {
            t.fail(&k, now + Duration::from_secs(61 + u64::from(k)));
            assert!(t.len() <= 10);
        }
        assert!(t.check(&0, now + Duration::from_secs(299)).is_err());
    }
}
