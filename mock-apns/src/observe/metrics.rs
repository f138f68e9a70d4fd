//! `GET /metrics` in Prometheus's text format: requests by environment, status and
//! reason; notifications by journey state and discards by why; open provider and device
//! connections; JWT verifications against cache hits; and how long answers took.
//!
//! The push path only bumps atomics in fixed arrays (no map lookups, no labels built);
//! the text is assembled when scraped. Written by hand rather than through a metrics
//! registry because a registry's labelled families cost a locked map lookup per push.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use protocol::{Environment, Reason};

use crate::Shared;

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 14] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// The counters.
pub(crate) struct Metrics {
    /// Per environment: index 0 counts successes, 1 + `Reason as usize` each reason,
    /// and the last one requests a fault rule left unanswered.
    requests: [Vec<AtomicU64>; 2],
    /// Per environment: answers by histogram bucket (+Inf last), their sum in µs.
    latency: [Vec<AtomicU64>; 2],
    latency_sum_us: [AtomicU64; 2],
}

impl Default for Metrics {
    fn default() -> Self {
        let row = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        let reasons = Reason::ALL.len() + 2;
        Metrics {
            requests: [row(reasons), row(reasons)],
            latency: [row(BUCKETS.len() + 1), row(BUCKETS.len() + 1)],
            latency_sum_us: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }
}

fn env_index(env: Environment) -> usize {
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

    /// Back to zero.
    pub(crate) fn clear(&self) {
        let rows = self.requests.iter().chain(&self.latency);
        for n in rows.flat_map(|r| r.iter()).chain(&self.latency_sum_us) {
            n.store(0, Ordering::Relaxed);
        }
    }
}

/// The exposition text.
pub(crate) fn render(shared: &Shared) -> String {
    let m = &shared.metrics;
    let mut out = String::with_capacity(8192);
    let envs = [Environment::Sandbox, Environment::Production];

    family(&mut out, "apns_requests_total", "counter", "Provider API requests, by environment, status and reason.");
    for env in envs {
        let row = &m.requests[env_index(env)];
        let mut line = |status: u16, reason: &str, n: &AtomicU64| {
            let n = n.load(Ordering::Relaxed);
            if n > 0 || (status == 200 && reason.is_empty()) {
                let _ = writeln!(
                    out,
                    "apns_requests_total{{environment=\"{}\",status=\"{status}\",reason=\"{reason}\"}} {n}",
                    env.as_str()
                );
            }
        };
        line(200, "", &row[0]);
        for r in Reason::ALL {
            line(r.status(), r.as_str(), &row[1 + *r as usize]);
        }
        line(0, "", &row[row.len() - 1]);
    }

    let stats = shared.stats.snapshot();
    family(&mut out, "apns_notifications_total", "counter", "Notifications by what happened to them (journey states).");
    for state in [
        "received",
        "stored",
        "delivered",
        "delivered-from-storage",
        "redelivered",
        "presented",
        "handled-silently",
        "app-not-installed",
        "discarded",
    ] {
        let n = stats.get(state).copied().unwrap_or(0);
        let _ = writeln!(out, "apns_notifications_total{{state=\"{state}\"}} {n}");
    }
    family(&mut out, "apns_discarded_total", "counter", "Discarded notifications, by why.");
    for (key, n) in &stats {
        if let Some(why) = key.strip_prefix("discarded: ") {
            let _ = writeln!(out, "apns_discarded_total{{reason=\"{}\"}} {n}", escape(why));
        }
    }

    family(
        &mut out,
        "apns_open_connections",
        "gauge",
        "Open connections: providers on the provider API, devices on the gateway.",
    );
    let providers = shared.provider_conns.len();
    let _ = writeln!(out, "apns_open_connections{{kind=\"provider\"}} {providers}");
    let _ = writeln!(out, "apns_open_connections{{kind=\"device\"}} {}", shared.connections.count());

    family(
        &mut out,
        "apns_jwt_verifications_total",
        "counter",
        "Provider tokens checked with a full ES256 verification.",
    );
    let _ = writeln!(out, "apns_jwt_verifications_total {}", shared.tokens.verifications.load(Ordering::Relaxed));
    family(&mut out, "apns_jwt_cache_hits_total", "counter", "Provider tokens found already verified.");
    let _ = writeln!(out, "apns_jwt_cache_hits_total {}", shared.tokens.hits.load(Ordering::Relaxed));

    family(
        &mut out,
        "apns_request_duration_seconds",
        "histogram",
        "From a request's headers to its answer, by environment.",
    );
    for env in envs {
        let e = env_index(env);
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().map(|b| b.to_string()).chain(["+Inf".to_owned()]).enumerate() {
            cumulative += m.latency[e][i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "apns_request_duration_seconds_bucket{{environment=\"{}\",le=\"{bound}\"}} {cumulative}",
                env.as_str()
            );
        }
        let sum = m.latency_sum_us[e].load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "apns_request_duration_seconds_sum{{environment=\"{}\"}} {sum}", env.as_str());
        let _ = writeln!(out, "apns_request_duration_seconds_count{{environment=\"{}\"}} {cumulative}", env.as_str());
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
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
