//! The counters behind `GET /metrics`: requests by environment, status and reason, and
//! how long answers took (the rest of the page is read from the other rooms when
//! scraped, by `admin/metrics.rs`).
//!
//! The push path only bumps atomics in fixed arrays (no map lookups, no labels built);
//! the text is assembled when scraped. Written by hand rather than through a metrics
//! registry because a registry's labelled families cost a locked map lookup per push.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use protocol::{Environment, Reason};

/// Histogram bucket bounds, in seconds.
pub(crate) const BUCKETS: [f64; 14] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// The counters.
pub(crate) struct Metrics {
    /// Per environment: index 0 counts successes, 1 + `Reason as usize` each reason,
    /// and the last one requests a fault rule left unanswered.
    pub(crate) requests: [Vec<AtomicU64>; 2],
    /// Per environment: answers by histogram bucket (+Inf last), their sum in µs.
    pub(crate) latency: [Vec<AtomicU64>; 2],
    pub(crate) latency_sum_us: [AtomicU64; 2],
    /// Channel management calls: create, read, delete, list.
    pub(crate) channel_calls: [AtomicU64; 4],
    /// Broadcasts accepted, and the deliveries they fanned out to.
    pub(crate) broadcasts: AtomicU64,
    pub(crate) fanned_out: AtomicU64,
}

/// The channel calls, in the order [`Metrics::channel_calls`] counts them.
pub(crate) const CHANNEL_CALLS: [&str; 4] = ["create", "read", "delete", "list"];

impl Default for Metrics {
    fn default() -> Self {
        let row = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        let reasons = Reason::ALL.len() + 2;
        Metrics {
            requests: [row(reasons), row(reasons)],
            latency: [row(BUCKETS.len() + 1), row(BUCKETS.len() + 1)],
            latency_sum_us: [AtomicU64::new(0), AtomicU64::new(0)],
            channel_calls: Default::default(),
            broadcasts: AtomicU64::new(0),
            fanned_out: AtomicU64::new(0),
        }
    }
}

pub(crate) fn env_index(env: Environment) -> usize {
    match env {
        Environment::Sandbox => 0,
        Environment::Production => 1,
    }
}

impl Metrics {
    /// Counts one request: answered with `reason` (or success), or unanswered (status 0).
    pub(crate) fn request(&self, env: Environment, status: u16, reason: Option<Reason>) {
        let row = &self.requests[env_index(env)];
        let i = match (status, reason) {
            (0, _) => row.len() - 1,
            (_, Some(r)) => 1 + r as usize,
            (_, None) => 0,
        };
        row[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long an answer took, from the request's headers to its response.
    pub(crate) fn latency(&self, env: Environment, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        let e = env_index(env);
        self.latency[e][bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us[e].fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts one channel management call that succeeded.
    pub(crate) fn channel_call(&self, call: &str) {
        if let Some(i) = CHANNEL_CALLS.iter().position(|c| *c == call) {
            self.channel_calls[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one accepted broadcast and its subscribers.
    pub(crate) fn broadcast(&self, subscribers: usize) {
        self.broadcasts.fetch_add(1, Ordering::Relaxed);
        self.fanned_out.fetch_add(subscribers as u64, Ordering::Relaxed);
    }

    /// Back to zero.
    pub(crate) fn clear(&self) {
        let rows = self.requests.iter().chain(&self.latency);
        let singles = self.latency_sum_us.iter().chain(&self.channel_calls).chain([&self.broadcasts, &self.fanned_out]);
        for n in rows.flat_map(|r| r.iter()).chain(singles) {
            n.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_their_slots() {
        let m = Metrics::default();
        m.request(Environment::Sandbox, 200, None);
        m.request(Environment::Sandbox, 410, Some(Reason::Unregistered));
        m.request(Environment::Production, 0, None);
        assert_eq!(m.requests[0][0].load(Ordering::Relaxed), 1);
        assert_eq!(m.requests[0][1 + Reason::Unregistered as usize].load(Ordering::Relaxed), 1);
        assert_eq!(m.requests[1].last().map(|n| n.load(Ordering::Relaxed)), Some(1));
        m.latency(Environment::Sandbox, Duration::from_micros(300));
        assert_eq!(m.latency[0][2].load(Ordering::Relaxed), 1, "0.3 ms is in the 0.5 ms bucket");
        m.clear();
        assert_eq!(m.requests[0][0].load(Ordering::Relaxed), 0);
    }
}
