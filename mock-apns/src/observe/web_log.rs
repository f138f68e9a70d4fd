//! The Web Push endpoint's capture log: every request it answered, newest first, as
//! `GET /api/v1/web-pushes` shows it (and `GET /api/v1/notifications/{apns_id}` beside
//! the journey), with counts by status and reason for `GET /metrics`.
//!
//! Kept in memory, the newest [`WebLog::LIMIT`]: unlike APNs's capture log it is not
//! written to the state database (the subscriptions and held messages are; what was
//! answered before a restart is not). The body is encrypted for the phone, so only its
//! length is kept; `authorization` is left out, as in APNs's log.

use std::collections::BTreeMap;
use std::sync::Mutex;

use protocol::ApnsId;
use serde::Serialize;

/// One answered request, as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebRecord {
    /// When it was answered, ms since the epoch.
    pub time_ms: u64,
    /// The `apns-id` it was answered with.
    #[serde(serialize_with = "apns_id")]
    pub apns_id: ApnsId,
    /// The subscription (the path's id), when the path named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// Its web app's origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The request's method and path.
    #[serde(serialize_with = "method")]
    pub method: http::Method,
    pub path: String,
    /// Its headers but `authorization`, as `[name, value]` pairs (kept as `name: value`
    /// lines in one buffer: header values cannot hold a newline, nor names a colon).
    #[serde(serialize_with = "headers")]
    pub headers: Vec<u8>,
    /// How many bytes of (encrypted) body it had.
    pub body_bytes: usize,
    /// The answer.
    pub status: u16,
    /// The reason, for a refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// One answer to record, borrowed from the request: the log copies it into a slot whose
/// buffers it reuses, so recording allocates nothing once the ring is full.
pub(crate) struct Entry<'a> {
    pub time_ms: u64,
    pub apns_id: &'a ApnsId,
    pub subscription: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub method: &'a http::Method,
    pub path: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body_bytes: usize,
    pub status: u16,
    pub reason: Option<&'static str>,
}

fn set(slot: &mut Option<String>, value: Option<&str>) {
    match (slot.as_mut(), value) {
        (Some(s), Some(v)) => {
            s.clear();
            s.push_str(v);
        }
        (_, v) => *slot = v.map(str::to_owned),
    }
}

impl WebRecord {
    /// Overwrites this record with `e`, keeping its buffers.
    fn fill(&mut self, e: &Entry<'_>) {
        self.time_ms = e.time_ms;
        self.apns_id = e.apns_id.clone();
        set(&mut self.subscription, e.subscription);
        set(&mut self.origin, e.origin);
        self.method.clone_from(e.method);
        self.path.clear();
        self.path.push_str(e.path);
        self.headers.clear();
        for (name, value) in e.headers {
            if name != http::header::AUTHORIZATION {
                self.headers.extend_from_slice(name.as_str().as_bytes());
                self.headers.extend_from_slice(b": ");
                self.headers.extend_from_slice(value.as_bytes());
                self.headers.push(b'\n');
            }
        }
        self.body_bytes = e.body_bytes;
        self.status = e.status;
        self.reason = e.reason;
    }

    fn new(e: &Entry<'_>) -> WebRecord {
        let mut r = WebRecord {
            time_ms: 0,
            apns_id: e.apns_id.clone(),
            subscription: None,
            origin: None,
            method: http::Method::POST,
            path: String::new(),
            headers: Vec::with_capacity(256),
            body_bytes: 0,
            status: 0,
            reason: None,
        };
        r.fill(e);
        r
    }
}

fn apns_id<S: serde::Serializer>(id: &ApnsId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(id.as_str())
}

fn method<S: serde::Serializer>(m: &http::Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

fn headers<S: serde::Serializer>(lines: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let text = String::from_utf8_lossy(lines);
    let mut seq = s.serialize_seq(None)?;
    for line in text.lines() {
        let (name, value) = line.split_once(": ").unwrap_or((line, ""));
        seq.serialize_element(&(name, value))?;
    }
    seq.end()
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
    inner: Mutex<Inner>,
}

/// The newest records in a ring (the oldest overwritten first), and the counts.
#[derive(Default)]
struct Inner {
    ring: Vec<WebRecord>,
    /// Where the next record goes once the ring is full (the oldest).
    next: usize,
    counts: BTreeMap<(u16, &'static str), u64>,
}

impl WebLog {
    /// The most records kept.
    pub const LIMIT: usize = 10_000;

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one answer.
    pub(crate) fn record(&self, e: &Entry<'_>) {
        let mut inner = self.lock();
        *inner.counts.entry((e.status, e.reason.unwrap_or(""))).or_default() += 1;
        if inner.ring.len() < Self::LIMIT {
            inner.ring.push(WebRecord::new(e));
        } else {
            let at = inner.next;
            inner.ring[at].fill(e);
            inner.next = (at + 1) % Self::LIMIT;
        }
    }

    /// The records `filter` picks, newest first (at most 100 unless it says).
    pub(crate) fn query(&self, filter: &WebFilter) -> Vec<WebRecord> {
        let inner = self.lock();
        let is = |want: &Option<String>, got: Option<&str>| want.as_deref().is_none_or(|w| Some(w) == got);
        let (older, newer) = inner.ring.split_at(inner.next);
        newer
            .iter()
            .chain(older)
            .rev()
            .filter(|r| {
                is(&filter.subscription, r.subscription.as_deref())
                    && is(&filter.origin, r.origin.as_deref())
                    && is(&filter.apns_id, Some(r.apns_id.as_str()))
            })
            .take(filter.limit.unwrap_or(100))
            .cloned()
            .collect()
    }

    /// Answers so far by status and reason (`""` for none).
    pub(crate) fn counts(&self) -> Vec<((u16, &'static str), u64)> {
        self.lock().counts.iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Forgets everything (a reset).
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.ring.clear();
        inner.next = 0;
        inner.counts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(log: &WebLog, id: &str, sub: &str, status: u16, reason: Option<&'static str>) {
        let mut headers = http::HeaderMap::new();
        headers.insert("ttl", http::HeaderValue::from_static("60"));
        headers.insert("authorization", http::HeaderValue::from_static("vapid t=x, k=y"));
        let apns_id = ApnsId::parse(&format!("00000000-0000-4000-8000-{id:0>12}")).expect("uuid");
        let path = format!("/{sub}");
        log.record(&Entry {
            time_ms: 1,
            apns_id: &apns_id,
            subscription: Some(sub),
            origin: Some("https://a.example"),
            method: &http::Method::POST,
            path: &path,
            headers: &headers,
            body_bytes: 10,
            status,
            reason,
        });
    }

    fn ids(log: &WebLog, f: &WebFilter) -> Vec<String> {
        log.query(f)
            .into_iter()
            .map(|r| {
                r.apns_id.as_str().trim_start_matches("00000000-0000-4000-8000-").trim_start_matches('0').to_owned()
            })
            .collect()
    }

    #[test]
    fn newest_first_filtered_and_counted() {
        let log = WebLog::default();
        record(&log, "1", "S", 201, None);
        record(&log, "2", "T", 403, Some("BadJwtToken"));
        record(&log, "3", "S", 201, None);
        assert_eq!(ids(&log, &WebFilter::default()), ["3", "2", "1"]);
        assert_eq!(ids(&log, &WebFilter { subscription: Some("S".into()), ..Default::default() }), ["3", "1"]);
        let two = "00000000-0000-4000-8000-000000000002".to_owned();
        assert_eq!(ids(&log, &WebFilter { apns_id: Some(two), ..Default::default() }), ["2"]);
        assert_eq!(ids(&log, &WebFilter { limit: Some(1), ..Default::default() }), ["3"]);
        let json = serde_json::to_value(&log.query(&WebFilter::default())[0]).expect("JSON");
        assert_eq!(json["headers"], serde_json::json!([["ttl", "60"]]), "authorization is left out");
        assert_eq!(json["method"], "POST");
        assert_eq!(log.counts(), [((201, ""), 2), ((403, "BadJwtToken"), 1)]);
        log.clear();
        assert!(log.query(&WebFilter::default()).is_empty() && log.counts().is_empty());
    }

    #[test]
    fn the_ring_keeps_the_newest() {
        let log = WebLog::default();
        for i in 0..WebLog::LIMIT + 5 {
            record(&log, &i.to_string(), "S", 201, None);
        }
        let all = ids(&log, &WebFilter { limit: Some(usize::MAX), ..Default::default() });
        assert_eq!(all.len(), WebLog::LIMIT);
        assert_eq!(all.first().map(String::as_str), Some("10004"));
        assert_eq!(all.last().map(String::as_str), Some("5"));
    }
}
