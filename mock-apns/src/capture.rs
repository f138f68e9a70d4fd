//! The capture log: every provider-API request the mock answered, newest first, so a
//! test in any language can assert on what its client sent and what APNs said.
//!
//! Bounded: it keeps the last [`crate::Config::capture_limit`] requests (10 000 by
//! default) and drops the oldest past that. Provider tokens are never kept; the entry
//! records which key (or certificate) authenticated the request instead.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use protocol::{Environment, Reason};
use serde::Serialize;

/// How a request was authenticated, as the capture log shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AuthSummary {
    /// No credential was accepted.
    None,
    /// A provider token signed by this key.
    Token {
        /// The key's id.
        key_id: String,
        /// The team.
        team_id: String,
    },
    /// A client certificate for this bundle ID.
    Certificate {
        /// The certificate's subject UID.
        uid: String,
    },
}

/// One answered request.
#[derive(Debug, Clone, Serialize)]
pub struct CapturedRequest {
    /// When it was answered, ms since the epoch.
    pub time_ms: u64,
    /// Which listener took it.
    pub environment: Environment,
    /// A per-process connection number (requests on one connection share it).
    pub connection: u64,
    /// The `apns-id` of the response (the client's, or the one the mock made).
    pub apns_id: String,
    /// The `apns-unique-id` of the response (sandbox only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apns_unique_id: Option<String>,
    /// `:method`.
    pub method: String,
    /// `:path`.
    pub path: String,
    /// The device token from the path, lowercase hex, if it parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The topic the push was for (sent, or implied by a single-topic certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Request headers other than pseudo-headers and `authorization`, in order.
    pub headers: Vec<(String, String)>,
    /// How the request was authenticated.
    pub auth: AuthSummary,
    /// The body as JSON if it parsed, else as text (lossy UTF-8).
    pub payload: serde_json::Value,
    /// The body's size in bytes.
    pub payload_size: usize,
    /// The status answered.
    pub status: u16,
    /// The reason answered, for errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The 410 timestamp answered, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
}

/// Filters for [`Capture::query`]; `None` matches anything.
#[derive(Debug, Clone, Default)]
pub struct CaptureFilter {
    /// Device token (hex, any case).
    pub token: Option<String>,
    /// Topic.
    pub topic: Option<String>,
    /// apns-id (compared ignoring case).
    pub apns_id: Option<String>,
    /// At most this many entries; default [`CaptureFilter::DEFAULT_LIMIT`].
    pub limit: Option<usize>,
}

impl CaptureFilter {
    /// How many entries a query returns when it does not say.
    pub const DEFAULT_LIMIT: usize = 100;

    fn matches(&self, e: &CapturedRequest) -> bool {
        self.token.as_ref().is_none_or(|t| {
            e.token
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(t))
        }) && self
            .topic
            .as_ref()
            .is_none_or(|t| e.topic.as_deref() == Some(t.as_str()))
            && self
                .apns_id
                .as_ref()
                .is_none_or(|a| e.apns_id.eq_ignore_ascii_case(a))
    }
}

/// The bounded log.
pub struct Capture {
    entries: Mutex<VecDeque<Arc<CapturedRequest>>>,
    limit: usize,
}

impl Capture {
    /// A log keeping at most `limit` entries.
    pub fn new(limit: usize) -> Self {
        Capture {
            entries: Mutex::new(VecDeque::with_capacity(limit.min(1024))),
            limit,
        }
    }

    /// Appends an entry, dropping the oldest past the limit.
    pub fn record(&self, entry: CapturedRequest) {
        if self.limit == 0 {
            return;
        }
        let entry = Arc::new(entry);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.limit {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// Matching entries, newest first.
    pub fn query(&self, filter: &CaptureFilter) -> Vec<Arc<CapturedRequest>> {
        let limit = filter.limit.unwrap_or(CaptureFilter::DEFAULT_LIMIT);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(limit)
            .cloned()
            .collect()
    }

    /// How many entries are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64, token: &str) -> CapturedRequest {
        CapturedRequest {
            time_ms: n,
            environment: Environment::Sandbox,
            connection: 1,
            apns_id: format!("id-{n}"),
            apns_unique_id: None,
            method: "POST".into(),
            path: format!("/3/device/{token}"),
            token: Some(token.into()),
            topic: Some("com.example.app".into()),
            headers: vec![],
            auth: AuthSummary::None,
            payload: serde_json::Value::Null,
            payload_size: 0,
            status: 200,
            reason: None,
            timestamp: None,
        }
    }

    #[test]
    fn bounded_newest_first_and_filtered() {
        let c = Capture::new(3);
        for n in 0..5 {
            c.record(entry(n, if n % 2 == 0 { "aa" } else { "bb" }));
        }
        assert_eq!(c.len(), 3);
        let all: Vec<u64> = c
            .query(&CaptureFilter::default())
            .iter()
            .map(|e| e.time_ms)
            .collect();
        assert_eq!(all, [4, 3, 2]);
        let aa = c.query(&CaptureFilter {
            token: Some("AA".into()),
            ..Default::default()
        });
        assert_eq!(aa.iter().map(|e| e.time_ms).collect::<Vec<_>>(), [4, 2]);
        let one = c.query(&CaptureFilter {
            limit: Some(1),
            ..Default::default()
        });
        assert_eq!(one.len(), 1);
        assert_eq!(
            c.query(&CaptureFilter {
                apns_id: Some("ID-3".into()),
                ..Default::default()
            })[0]
                .time_ms,
            3
        );
        c.clear();
        assert_eq!(c.len(), 0);
    }
}
