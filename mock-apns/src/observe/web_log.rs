//! The Web Push endpoint's capture log: every request it answered, newest first, as
//! `GET /api/v1/web-pushes` shows it (and `GET /api/v1/notifications/{apns_id}` beside
//! the journey), with counts by status and reason for `GET /metrics`.
//!
//! Kept in memory, the newest [`WebLog::LIMIT`]: unlike APNs's capture log it is not
//! written to the state database (the subscriptions and held messages are; what was
//! answered before a restart is not). The body is encrypted for the phone, so only its
//! length is kept; `authorization` is left out, as in APNs's log.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebRecord {
    /// When it was answered, ms since the epoch.
    pub time_ms: u64,
    /// The `apns-id` it was answered with.
    pub apns_id: String,
    /// The subscription (the path's id), when the path named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// Its web app's origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The request's method and path.
    pub method: String,
    pub path: String,
    /// Its headers but `authorization`, as `[name, value]` pairs.
    pub headers: Vec<(String, String)>,
    /// How many bytes of (encrypted) body it had.
    pub body_bytes: usize,
    /// The answer.
    pub status: u16,
    /// The reason, for a refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// Which records `GET /api/v1/web-pushes` answers.
#[derive(Debug, Clone, Default)]
pub(crate) struct WebFilter {
    pub subscription: Option<String>,
    pub origin: Option<String>,
    pub apns_id: Option<String>,
    pub limit: Option<usize>,
}

/// The log and its counts.
#[derive(Default)]
pub(crate) struct WebLog {
    records: Mutex<VecDeque<WebRecord>>,
    counts: Mutex<BTreeMap<(u16, &'static str), u64>>,
}

impl WebLog {
    /// The most records kept.
    pub const LIMIT: usize = 10_000;

    /// Records one answer.
    pub(crate) fn record(&self, r: WebRecord) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((r.status, r.reason.unwrap_or("")))
            .or_default() += 1;
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() == Self::LIMIT {
            records.pop_back();
        }
        records.push_front(r);
    }

    /// The records `filter` picks, newest first (at most 100 unless it says).
    pub(crate) fn query(&self, filter: &WebFilter) -> Vec<WebRecord> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let is = |want: &Option<String>, got: Option<&str>| want.as_deref().is_none_or(|w| Some(w) == got);
        records
            .iter()
            .filter(|r| {
                is(&filter.subscription, r.subscription.as_deref())
                    && is(&filter.origin, r.origin.as_deref())
                    && is(&filter.apns_id, Some(&r.apns_id))
            })
            .take(filter.limit.unwrap_or(100))
            .cloned()
            .collect()
    }

    /// Answers so far by status and reason (`""` for none).
    pub(crate) fn counts(&self) -> Vec<((u16, &'static str), u64)> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Forgets everything (a reset).
    pub(crate) fn clear(&self) {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, sub: &str, status: u16, reason: Option<&'static str>) -> WebRecord {
        WebRecord {
            time_ms: 1,
            apns_id: id.into(),
            subscription: Some(sub.into()),
            origin: Some("https://a.example".into()),
            method: "POST".into(),
            path: format!("/{sub}"),
            headers: Vec::new(),
            body_bytes: 10,
            status,
            reason,
        }
    }

    #[test]
    fn newest_first_filtered_and_counted() {
        let log = WebLog::default();
        log.record(record("1", "S", 201, None));
        log.record(record("2", "T", 403, Some("BadJwtToken")));
        log.record(record("3", "S", 201, None));
        let ids = |f: &WebFilter| log.query(f).into_iter().map(|r| r.apns_id).collect::<Vec<_>>();
        assert_eq!(ids(&WebFilter::default()), ["3", "2", "1"]);
        assert_eq!(ids(&WebFilter { subscription: Some("S".into()), ..Default::default() }), ["3", "1"]);
        assert_eq!(ids(&WebFilter { apns_id: Some("2".into()), ..Default::default() }), ["2"]);
        assert_eq!(ids(&WebFilter { limit: Some(1), ..Default::default() }), ["3"]);
        assert_eq!(log.counts(), [((201, ""), 2), ((403, "BadJwtToken"), 1)]);
        log.clear();
        assert!(log.query(&WebFilter::default()).is_empty() && log.counts().is_empty());
    }
}
