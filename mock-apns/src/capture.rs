//! The capture log: every provider-API request the mock answered, newest first, so a
//! test in any language can assert on what its client sent and what APNs said.
//!
//! Bounded: it keeps the last [`crate::Config::capture_limit`] requests (10 000 by
//! default) and drops the oldest past that. Recording is cheap on the push path: an
//! entry keeps the request's own header map and body buffer (moved, not copied) and is
//! turned into JSON only when someone reads the log. Provider tokens are never shown;
//! the entry records which key (or certificate) authenticated the request instead.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method};
use protocol::{ApnsId, DeviceToken, Environment, Reason, Topic};
use serde::Serialize;

use crate::auth::SigningKey;

/// How a request was authenticated (internal form).
#[derive(Clone)]
pub(crate) enum Authenticated {
    None,
    Token(Arc<SigningKey>),
    Certificate(Arc<str>),
}

/// One answered request, as the push handler hands it over.
pub(crate) struct Entry {
    pub time_ms: u64,
    pub environment: Environment,
    pub connection: u64,
    pub apns_id: ApnsId,
    pub apns_unique_id: Option<uuid::Uuid>,
    pub request: HeaderLines,
    pub token: Option<DeviceToken>,
    pub topic: Option<Topic>,
    pub auth: Authenticated,
    pub body: Bytes,
    pub status: u16,
    pub reason: Option<Reason>,
    pub timestamp: Option<u64>,
}

/// A request's method, path and headers (except `authorization`) as `name: value\n`
/// lines in one buffer, the pseudo-headers first.
///
/// One allocation to make and one to free: an entry must be cheap to record and to
/// evict on the push path, and must not keep h2's decoding buffers alive (a cloned
/// `HeaderMap` or `Uri` would do both). HTTP/2 header values cannot contain a newline
/// and names cannot contain a colon, so the lines split unambiguously.
pub(crate) struct HeaderLines(Box<[u8]>);

impl HeaderLines {
    pub(crate) fn new(method: &Method, path: &str, headers: &HeaderMap) -> Self {
        let mut buf = Vec::with_capacity(256);
        for (name, value) in [(":method", method.as_str()), (":path", path)] {
            buf.extend_from_slice(name.as_bytes());
            buf.extend_from_slice(b": ");
            buf.extend_from_slice(value.as_bytes());
            buf.push(b'\n');
        }
        for (name, value) in headers {
            if name == http::header::AUTHORIZATION {
                continue;
            }
            buf.extend_from_slice(name.as_str().as_bytes());
            buf.extend_from_slice(b": ");
            buf.extend_from_slice(value.as_bytes());
            buf.push(b'\n');
        }
        HeaderLines(buf.into_boxed_slice())
    }

    /// Every line as (name, value), pseudo-headers included.
    fn pairs(&self) -> Vec<(String, String)> {
        self.0
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                let at = line
                    .windows(2)
                    .position(|w| w == b": ")
                    .unwrap_or(line.len());
                let value = line.get(at + 2..).unwrap_or_default();
                (
                    String::from_utf8_lossy(&line[..at]).into_owned(),
                    String::from_utf8_lossy(value).into_owned(),
                )
            })
            .collect()
    }
}

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

/// One answered request, as the admin API shows it.
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
    /// The body as JSON if it parses, else as text (lossy UTF-8).
    pub payload: serde_json::Value,
    /// The body's size in bytes (of what was kept: at most 5121).
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

impl From<&Entry> for CapturedRequest {
    fn from(e: &Entry) -> Self {
        let mut headers = e.request.pairs();
        let pseudo = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (method, path) = (pseudo(":method"), pseudo(":path"));
        headers.retain(|(n, _)| !n.starts_with(':'));
        let payload = serde_json::from_slice(&e.body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&e.body).into_owned())
        });
        CapturedRequest {
            time_ms: e.time_ms,
            environment: e.environment,
            connection: e.connection,
            apns_id: e.apns_id.as_str().to_owned(),
            apns_unique_id: e.apns_unique_id.map(|u| u.hyphenated().to_string()),
            method,
            path,
            token: e.token.as_ref().map(DeviceToken::to_hex),
            topic: e.topic.as_ref().map(|t| t.as_str().to_owned()),
            headers,
            auth: match &e.auth {
                Authenticated::None => AuthSummary::None,
                Authenticated::Token(k) => AuthSummary::Token {
                    key_id: k.key_id.clone(),
                    team_id: k.team_id.clone(),
                },
                Authenticated::Certificate(uid) => AuthSummary::Certificate {
                    uid: uid.to_string(),
                },
            },
            payload,
            payload_size: e.body.len(),
            status: e.status,
            reason: e.reason,
            timestamp: e.timestamp,
        }
    }
}

/// Filters for [`crate::MockApns::notifications`]; `None` matches anything.
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
}

/// The bounded log.
pub(crate) struct Capture {
    entries: Mutex<VecDeque<Entry>>,
    limit: usize,
}

impl Capture {
    /// A log keeping at most `limit` entries.
    pub(crate) fn new(limit: usize) -> Self {
        Capture {
            entries: Mutex::new(VecDeque::with_capacity(limit.min(1024))),
            limit,
        }
    }

    /// Appends an entry, dropping the oldest past the limit (after the lock is released).
    pub(crate) fn record(&self, entry: Entry) {
        if self.limit == 0 {
            return;
        }
        let evicted = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let evicted = if entries.len() >= self.limit {
                entries.pop_front()
            } else {
                None
            };
            entries.push_back(entry);
            evicted
        };
        drop(evicted);
    }

    /// Matching entries, newest first.
    pub(crate) fn query(&self, filter: &CaptureFilter) -> Vec<CapturedRequest> {
        let limit = filter.limit.unwrap_or(CaptureFilter::DEFAULT_LIMIT);
        // A token filter that is not hex matches nothing (no entry has such a token).
        let token = filter.token.as_deref().map(DeviceToken::parse_hex);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .rev()
            .filter(|e| match &token {
                None => true,
                Some(Ok(t)) => e.token.as_ref() == Some(t),
                Some(Err(_)) => false,
            })
            .filter(|e| {
                filter
                    .topic
                    .as_deref()
                    .is_none_or(|t| e.topic.as_ref().is_some_and(|x| x.as_str() == t))
            })
            .filter(|e| {
                filter
                    .apns_id
                    .as_deref()
                    .is_none_or(|a| e.apns_id.as_str().eq_ignore_ascii_case(a))
            })
            .take(limit)
            .map(CapturedRequest::from)
            .collect()
    }

    /// How many entries are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        let old = std::mem::take(&mut *self.entries.lock().unwrap_or_else(|e| e.into_inner()));
        drop(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64, token: &str) -> Entry {
        Entry {
            time_ms: n,
            environment: Environment::Sandbox,
            connection: 1,
            apns_id: ApnsId::parse(&format!("00000000-0000-0000-0000-{n:012}")).expect("uuid"),
            apns_unique_id: None,
            request: HeaderLines::new(
                &Method::POST,
                &format!("/3/device/{token}"),
                &HeaderMap::new(),
            ),
            token: DeviceToken::parse_hex(token).ok(),
            topic: Topic::parse("com.example.app").ok(),
            auth: Authenticated::None,
            body: Bytes::from_static(br#"{"aps":{}}"#),
            status: 200,
            reason: None,
            timestamp: None,
        }
    }

    #[test]
    fn header_lines_keep_order_and_drop_the_jwt() {
        let mut h = HeaderMap::new();
        h.insert("apns-topic", "com.example.app".parse().expect("value"));
        h.insert("authorization", "bearer secret".parse().expect("value"));
        h.append("x-multi", "a: b".parse().expect("value"));
        h.append("x-multi", "".parse().expect("value"));
        let pairs = HeaderLines::new(&Method::POST, "/3/device/00", &h).pairs();
        let expected = [
            (":method", "POST"),
            (":path", "/3/device/00"),
            ("apns-topic", "com.example.app"),
            ("x-multi", "a: b"),
            ("x-multi", ""),
        ];
        assert_eq!(pairs, expected.map(|(n, v)| (n.to_owned(), v.to_owned())));
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
        assert!(
            c.query(&CaptureFilter {
                token: Some("zz".into()),
                ..Default::default()
            })
            .is_empty()
        );
        let one = c.query(&CaptureFilter {
            limit: Some(1),
            ..Default::default()
        });
        assert_eq!(one.len(), 1);
        let by_id = c.query(&CaptureFilter {
            apns_id: Some("00000000-0000-0000-0000-000000000003".into()),
            ..Default::default()
        });
        assert_eq!(by_id[0].time_ms, 3);
        assert_eq!(by_id[0].payload, serde_json::json!({"aps": {}}));
        assert_eq!(
            (by_id[0].method.as_str(), by_id[0].path.as_str()),
            ("POST", "/3/device/bb")
        );
        assert!(by_id[0].headers.is_empty());
        c.clear();
        assert_eq!(c.len(), 0);
    }
}
