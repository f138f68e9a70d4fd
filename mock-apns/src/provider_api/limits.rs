//! Rate limits: APNs answers 429 TooManyRequests when a provider pushes to one device
//! too fast, and throttles a provider that sends too much overall. Apple publishes no
//! numbers, so both limits are off until a test sets them (`PUT /api/v1/rate-limits`):
//! a mock that throttled by default would fail load tests for a rule nobody can state.
//!
//! Each limit is a token bucket of `max` pushes refilled over `per_ms`, on the mock's
//! clock (so a test with a manual clock is exact). Only pushes that would be accepted
//! count and are refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Buckets kept per token before the table is cleared (a bound on memory).
const MAX_BUCKETS: usize = 100_000;

/// At most `max` pushes per `per_ms` milliseconds (bursts up to `max`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// The burst, and how many pushes each `per_ms` refills.
    pub max: u32,
    /// The window, in milliseconds.
    pub per_ms: u64,
}

/// `PUT /api/v1/rate-limits`: both limits (absent = off).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Pushes to one device token.
    #[serde(default)]
    pub per_token: Option<Rate>,
    /// All pushes accepted by the mock.
    #[serde(default)]
    pub global: Option<Rate>,
}

#[derive(Clone, Copy)]
struct Bucket {
    level: f64,
    at_ms: u64,
}

impl Bucket {
    fn full(rate: Rate, now: u64) -> Bucket {
        Bucket { level: f64::from(rate.max), at_ms: now }
    }

    /// Takes one push if there is room.
    fn take(&mut self, rate: Rate, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.at_ms) as f64;
        self.level = (self.level + elapsed * f64::from(rate.max) / rate.per_ms as f64).min(f64::from(rate.max));
        self.at_ms = now.max(self.at_ms);
        if self.level >= 1.0 {
            self.level -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The limiter.
#[derive(Default)]
pub(crate) struct Limiter {
    on: AtomicBool,
    limits: RwLock<RateLimits>,
    tokens: DashMap<Vec<u8>, Bucket>,
    global: Mutex<Option<Bucket>>,
}

impl Limiter {
    /// Replaces the limits (and forgets the buckets).
    pub(crate) fn set(&self, limits: RateLimits) -> Result<RateLimits, Error> {
        for rate in [limits.per_token, limits.global].into_iter().flatten() {
            if rate.max == 0 || rate.per_ms == 0 {
                return Err(Error::Invalid("a rate needs max >= 1 and per_ms >= 1".into()));
            }
        }
        *self.limits.write().unwrap_or_else(|e| e.into_inner()) = limits.clone();
        self.tokens.clear();
        *self.global.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.on.store(limits.per_token.is_some() || limits.global.is_some(), Ordering::Release);
        Ok(limits)
    }

    /// The limits now.
    pub(crate) fn get(&self) -> RateLimits {
        self.limits.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a push to `token` may be accepted now (and counts it if so).
    pub(crate) fn allow(&self, token: &[u8], now_ms: impl FnOnce() -> u64) -> bool {
        if !self.on.load(Ordering::Acquire) {
            return true;
        }
        let now_ms = now_ms();
        let limits = self.get();
        if let Some(rate) = limits.per_token {
            if self.tokens.len() >= MAX_BUCKETS {
                self.tokens.clear();
            }
            let mut bucket = self.tokens.entry(token.to_vec()).or_insert_with(|| Bucket::full(rate, now_ms));
            if !bucket.take(rate, now_ms) {
                return false;
            }
        }
        if let Some(rate) = limits.global {
            let mut global = self.global.lock().unwrap_or_else(|e| e.into_inner());
            if !global.get_or_insert_with(|| Bucket::full(rate, now_ms)).take(rate, now_ms) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_over_its_window() {
        let l = Limiter::default();
        assert!((0..100).all(|_| l.allow(b"a", || 0)), "off by default");
        l.set(RateLimits { per_token: Some(Rate { max: 2, per_ms: 1000 }), global: None }).expect("set");
        assert!(l.allow(b"a", || 0) && l.allow(b"a", || 0));
        assert!(!l.allow(b"a", || 0), "third in the window");
        assert!(l.allow(b"b", || 0), "another token has its own bucket");
        assert!(!l.allow(b"a", || 499));
        assert!(l.allow(b"a", || 500), "half the window refills one");
        assert!(l.allow(b"a", || 5000) && l.allow(b"a", || 5000) && !l.allow(b"a", || 5000), "never above max");
        assert!(l.set(RateLimits { per_token: Some(Rate { max: 0, per_ms: 1 }), global: None }).is_err());
    }

    #[test]
    fn the_global_limit_counts_every_token() {
        let l = Limiter::default();
        l.set(RateLimits { per_token: None, global: Some(Rate { max: 3, per_ms: 1000 }) }).expect("set");
        assert!(l.allow(b"a", || 0) && l.allow(b"b", || 0) && l.allow(b"c", || 0));
        assert!(!l.allow(b"d", || 0));
    }
}
