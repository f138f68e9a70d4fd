//! `GET /metrics`: the Prometheus text, assembled when scraped from the counters every
//! room keeps.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::{Environment, Reason};

use super::Shared;
use crate::observe::metrics::{BUCKETS, CHANNEL_CALLS, env_index};

/// The exposition text.
pub(crate) fn render(shared: &Shared) -> String {
    let m = &shared.observe.metrics;
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

    let stats = shared.observe.stats.snapshot();
    family(&mut out, "apns_notifications_total", "counter", "Notifications by what happened to them (journey states).");
    for state in [
        "received",
        "stored",
        "replaced",
        "delivered",
        "delivered-from-storage",
        "redelivered",
        "presented",
        "handled-silently",
        "app-not-installed",
        "activity-started",
        "activity-updated",
        "activity-ended",
        "modified-by-extension",
        "extension-timed-out",
        "extension-failed",
        "background-fetch",
        "call-reported",
        "voip-no-call",
        "voip-blocked",
        "responded",
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
        "apns_peer_misbehaviour_total",
        "counter",
        "Peers that broke TLS or HTTP/2, or stalled a handshake, by kind.",
    );
    for kind in crate::observe::misbehaviour::Kind::ALL {
        let _ = writeln!(
            out,
            "apns_peer_misbehaviour_total{{kind=\"{}\"}} {}",
            kind.as_str(),
            shared.observe.misbehaviour.total(kind)
        );
    }
    family(&mut out, "apns_channel_calls_total", "counter", "Channel management calls that succeeded, by call.");
    for (i, call) in CHANNEL_CALLS.iter().enumerate() {
        let _ = writeln!(
            out,
            "apns_channel_calls_total{{call=\"{call}\"}} {}",
            shared.observe.metrics.channel_calls[i].load(Ordering::Relaxed)
        );
    }
    family(&mut out, "apns_broadcasts_total", "counter", "Broadcasts accepted.");
    let _ = writeln!(out, "apns_broadcasts_total {}", shared.observe.metrics.broadcasts.load(Ordering::Relaxed));
    family(
        &mut out,
        "apns_broadcast_deliveries_total",
        "counter",
        "Subscribers the accepted broadcasts fanned out to.",
    );
    let _ =
        writeln!(out, "apns_broadcast_deliveries_total {}", shared.observe.metrics.fanned_out.load(Ordering::Relaxed));

    family(
        &mut out,
        "apns_web_push_requests_total",
        "counter",
        "Requests to the Web Push endpoint, by status and reason.",
    );
    let web = shared.observe.web_log.counts();
    if !web.iter().any(|((status, _), _)| *status == 201) {
        let _ = writeln!(out, "apns_web_push_requests_total{{status=\"201\",reason=\"\"}} 0");
    }
    for ((status, reason), n) in web {
        let _ = writeln!(out, "apns_web_push_requests_total{{status=\"{status}\",reason=\"{reason}\"}} {n}");
    }
    family(&mut out, "apns_web_subscriptions", "gauge", "Web Push subscriptions, by state (active, ended: 410).");
    let (active, ended) = shared.registry.web.counts();
    let _ = writeln!(out, "apns_web_subscriptions{{state=\"active\"}} {active}");
    let _ = writeln!(out, "apns_web_subscriptions{{state=\"ended\"}} {ended}");

    family(
        &mut out,
        "apns_live_activity_tokens",
        "gauge",
        "Live Activity tokens, by kind and state (active, ended: 200 and dropped, gone: 410).",
    );
    for ((kind, state), n) in shared.registry.table.activity_counts() {
        let _ = writeln!(out, "apns_live_activity_tokens{{kind=\"{kind}\",state=\"{state}\"}} {n}");
    }

    family(
        &mut out,
        "apns_open_connections",
        "gauge",
        "Open connections: providers on the provider API, devices on the gateway.",
    );
    let providers = shared.provider_conns.len();
    let _ = writeln!(out, "apns_open_connections{{kind=\"provider\"}} {providers}");
    let _ = writeln!(out, "apns_open_connections{{kind=\"device\"}} {}", shared.devices.connections.count());

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
