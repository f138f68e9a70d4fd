//! The capture log: every provider-API request the mock answered, newest first, so a
//! test in any language can assert on what its client sent and what APNs said.
//!
//! Bounded: it keeps the last [`crate::Config::capture_limit`] requests (10 000 by
//! default) and overwrites the oldest past that. Recording is cheap on the push path: the
//! log is a ring of slots, each with one reused buffer, so once the ring is full a request
//! is recorded by copying a few hundred bytes into a buffer that already exists — no
//! allocation, no free, and no reference kept to h2's buffers. A slot's buffer is as
//! large as the largest request it held (at most 5121 body bytes and an 8000-byte header
//! list). Entries become JSON only when someone reads the log. Provider tokens are never
//! kept; the entry records which key (or certificate) authenticated the request.

use std::sync::{Arc, Mutex};

use http::{HeaderMap, Method};
use protocol::{ApnsId, DeviceToken, Environment, Reason, Topic};
use serde::Serialize;

use crate::state::rows::Batch;

/// A signing key as the capture log names it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct KeyLabel {
    pub key_id: String,
    pub team_id: String,
}

/// How a request was authenticated (internal form).
#[derive(Clone)]
pub(crate) enum Authenticated {
    None,
    Token(Arc<KeyLabel>),
    Certificate(Arc<str>),
    /// Read back from the state database.
    Restored(AuthSummary),
}

/// One answered request, borrowed from the push handler for as long as it takes to copy.
pub(crate) struct Record<'a> {
    pub time_ms: u64,
    pub environment: Environment,
    pub connection: u64,
    pub apns_id: &'a ApnsId,
    pub apns_unique_id: Option<uuid::Uuid>,
    pub method: &'a Method,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub token: Option<&'a DeviceToken>,
    pub topic: Option<&'a Topic>,
    pub auth: &'a Authenticated,
    pub body: &'a [u8],
    pub status: u16,
    pub reason: Option<Reason>,
    pub timestamp: Option<u64>,
    /// The fault rule that fired on this request (`#id action`), if any.
    pub fault: Option<&'a str>,
}

/// A slot of the ring: one request, in a buffer that is reused.
struct Slot {
    /// Increases by one per record, across restarts (for persisting only what is new).
    seq: u64,
    time_ms: u64,
    environment: Environment,
    connection: u64,
    apns_id: ApnsId,
    apns_unique_id: Option<uuid::Uuid>,
    /// One buffer, so that recording a request writes one run of memory: the request
    /// lines, then the token, the topic and the body (lengths below). The request lines
    /// are `name: value\n`, `:method` and `:path` first, then every header except
    /// `authorization`; HTTP/2 header values cannot contain a newline and names cannot
    /// contain a colon, so they split unambiguously. The token is its bytes (none when
    /// the path held none), the topic UTF-8 (none when there was none).
    data: Vec<u8>,
    request_len: usize,
    token_len: usize,
    topic_len: usize,
    auth: Authenticated,
    status: u16,
    reason: Option<Reason>,
    timestamp: Option<u64>,
}

impl Slot {
    fn empty() -> Slot {
        Slot {
            seq: 0,
            time_ms: 0,
            environment: Environment::Sandbox,
            connection: 0,
            apns_id: ApnsId::random(),
            apns_unique_id: None,
            data: Vec::new(),
            request_len: 0,
            token_len: 0,
            topic_len: 0,
            auth: Authenticated::None,
            status: 0,
            reason: None,
            timestamp: None,
        }
    }

    /// Overwrites the slot with `r`, reusing its buffers.
    fn fill(&mut self, r: &Record<'_>) {
        self.time_ms = r.time_ms;
        self.environment = r.environment;
        self.connection = r.connection;
        self.apns_id = r.apns_id.clone();
        self.apns_unique_id = r.apns_unique_id;
        self.data.clear();
        let fault = r.fault.map(|f| (":fault", f.as_bytes()));
        let pseudo = [(":method", r.method.as_str().as_bytes()), (":path", r.path.as_bytes())].into_iter().chain(fault);
        let headers = r
            .headers
            .iter()
            .filter(|(name, _)| *name != http::header::AUTHORIZATION)
            .map(|(name, value)| (name.as_str(), value.as_bytes()));
        for (name, value) in pseudo.into_iter().chain(headers) {
            self.data.extend_from_slice(name.as_bytes());
            self.data.extend_from_slice(b": ");
            self.data.extend_from_slice(value);
            self.data.push(b'\n');
        }
        self.request_len = self.data.len();
        let token = r.token.map_or(&[][..], DeviceToken::as_bytes);
        self.data.extend_from_slice(token);
        self.token_len = token.len();
        let topic = r.topic.map_or("", Topic::as_str);
        self.data.extend_from_slice(topic.as_bytes());
        self.topic_len = topic.len();
        self.data.extend_from_slice(r.body);
        // Reusing the slot's credential when it is the same one saves two atomic
        // reference-count updates per push (a steady sender uses one key throughout).
        let same = match (&self.auth, r.auth) {
            (Authenticated::Token(a), Authenticated::Token(b)) => Arc::ptr_eq(a, b),
            (Authenticated::Certificate(a), Authenticated::Certificate(b)) => Arc::ptr_eq(a, b),
            (Authenticated::None, Authenticated::None) => true,
            _ => false,
        };
        if !same {
            self.auth = r.auth.clone();
        }
        self.status = r.status;
        self.reason = r.reason;
        self.timestamp = r.timestamp;
    }

    fn request(&self) -> &[u8] {
        &self.data[..self.request_len]
    }

    fn token(&self) -> &[u8] {
        &self.data[self.request_len..][..self.token_len]
    }

    fn topic(&self) -> &str {
        std::str::from_utf8(&self.data[self.request_len + self.token_len..][..self.topic_len]).unwrap_or_default()
    }

    fn body(&self) -> &[u8] {
        &self.data[self.request_len + self.token_len + self.topic_len..]
    }

    /// Every request line as (name, value), pseudo-headers included.
    fn lines(&self) -> Vec<(String, String)> {
        self.request()
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                let at = line.windows(2).position(|w| w == b": ").unwrap_or(line.len());
                let value = line.get(at + 2..).unwrap_or_default();
                (String::from_utf8_lossy(&line[..at]).into_owned(), String::from_utf8_lossy(value).into_owned())
            })
            .collect()
    }

    fn view(&self) -> CapturedRequest {
        let mut headers = self.lines();
        let pseudo = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
        let (method, path, fault) = (pseudo(":method"), pseudo(":path"), pseudo(":fault"));
        headers.retain(|(n, _)| !n.starts_with(':'));
        let body = self.body();
        let payload = serde_json::from_slice(body)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()));
        CapturedRequest {
            time_ms: self.time_ms,
            environment: self.environment,
            connection: self.connection,
            apns_id: self.apns_id.as_str().to_owned(),
            apns_unique_id: self.apns_unique_id.map(|u| u.hyphenated().to_string()),
            method,
            path,
            token: (self.token_len > 0).then(|| hex::encode(self.token())),
            topic: (self.topic_len > 0).then(|| self.topic().to_owned()),
            headers,
            auth: self.view_auth(),
            payload,
            payload_size: body.len(),
            status: self.status,
            reason: self.reason,
            timestamp: self.timestamp,
            fault: (!fault.is_empty()).then_some(fault),
        }
    }
}

impl Slot {
    /// A compact, exact encoding for the state database (bodies and header values are
    /// bytes, not necessarily UTF-8), appended to `out`.
    fn encode_into(&self, out: &mut Vec<u8>) {
        fn bytes(out: &mut Vec<u8>, b: &[u8]) {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
        out.extend_from_slice(&self.time_ms.to_le_bytes());
        out.push(self.environment as u8);
        out.extend_from_slice(&self.connection.to_le_bytes());
        bytes(out, self.apns_id.as_str().as_bytes());
        bytes(out, self.apns_unique_id.as_ref().map_or(&[][..], |u| u.as_bytes()));
        bytes(out, self.request());
        bytes(out, self.token());
        bytes(out, self.topic().as_bytes());
        let auth = serde_json::to_vec(&self.view_auth()).unwrap_or_default();
        bytes(out, &auth);
        bytes(out, self.body());
        out.extend_from_slice(&self.status.to_le_bytes());
        bytes(out, self.reason.map_or("", Reason::as_str).as_bytes());
        out.extend_from_slice(&self.timestamp.unwrap_or(0).to_le_bytes());
    }

    /// The inverse of [`Slot::encode_into`]; `None` for bytes it did not write.
    fn decode(seq: u64, mut b: &[u8]) -> Option<Slot> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, rest) = (b.get(..n)?, b.get(n..)?);
            *b = rest;
            Some(head)
        }
        fn u64_(b: &mut &[u8]) -> Option<u64> {
            Some(u64::from_le_bytes(take(b, 8)?.try_into().ok()?))
        }
        fn bytes<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
            let n = u32::from_le_bytes(take(b, 4)?.try_into().ok()?) as usize;
            take(b, n)
        }
        let time_ms = u64_(&mut b)?;
        let environment = match take(&mut b, 1)?[0] {
            0 => Environment::Sandbox,
            1 => Environment::Production,
            _ => return None,
        };
        let connection = u64_(&mut b)?;
        let apns_id = ApnsId::parse(std::str::from_utf8(bytes(&mut b)?).ok()?).ok()?;
        let unique = bytes(&mut b)?;
        let apns_unique_id = if unique.is_empty() { None } else { Some(uuid::Uuid::from_slice(unique).ok()?) };
        let request = bytes(&mut b)?;
        let token = bytes(&mut b)?;
        let topic = std::str::from_utf8(bytes(&mut b)?).ok()?;
        let auth = Authenticated::Restored(serde_json::from_slice(bytes(&mut b)?).ok()?);
        let body = bytes(&mut b)?;
        let data = [request, token, topic.as_bytes(), body].concat();
        let status = u16::from_le_bytes(take(&mut b, 2)?.try_into().ok()?);
        let reason = std::str::from_utf8(bytes(&mut b)?).ok()?;
        let reason = if reason.is_empty() { None } else { Some(reason.parse().ok()?) };
        let timestamp = Some(u64_(&mut b)?).filter(|t| *t != 0);
        Some(Slot {
            seq,
            time_ms,
            environment,
            connection,
            apns_id,
            apns_unique_id,
            data,
            request_len: request.len(),
            token_len: token.len(),
            topic_len: topic.len(),
            auth,
            status,
            reason,
            timestamp,
        })
    }

    fn view_auth(&self) -> AuthSummary {
        match &self.auth {
            Authenticated::None => AuthSummary::None,
            Authenticated::Token(k) => AuthSummary::Token { key_id: k.key_id.clone(), team_id: k.team_id.clone() },
            Authenticated::Certificate(uid) => AuthSummary::Certificate { uid: uid.to_string() },
            Authenticated::Restored(summary) => summary.clone(),
        }
    }
}

/// How a request was authenticated, as the capture log shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
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
    /// The fault rule that fired on it (`#id action`); status 0 means it was never
    /// answered (stall, reset, close).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
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

/// The slots, oldest overwritten first.
struct Ring {
    slots: Vec<Slot>,
    /// Where the next record goes once the ring is full.
    next: usize,
    /// The sequence number of the newest record.
    seq: u64,
}

/// The bounded log.
pub(crate) struct Capture {
    ring: Mutex<Ring>,
    limit: usize,
}

impl Capture {
    /// A log keeping at most `limit` entries.
    pub(crate) fn new(limit: usize) -> Self {
        Capture { ring: Mutex::new(Ring { slots: Vec::new(), next: 0, seq: 0 }), limit }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an answered request, overwriting the oldest past the limit.
    pub(crate) fn record(&self, record: &Record<'_>) {
        if self.limit == 0 {
            return;
        }
        let mut ring = self.ring();
        ring.seq += 1;
        let seq = ring.seq;
        let at = if ring.slots.len() < self.limit {
            ring.slots.push(Slot::empty());
            ring.slots.len() - 1
        } else {
            let at = ring.next;
            ring.next = (at + 1) % self.limit;
            at
        };
        ring.slots[at].fill(record);
        ring.slots[at].seq = seq;
    }

    /// The sequence number of the newest record (0 when there is none).
    pub(crate) fn newest_seq(&self) -> u64 {
        self.ring().seq
    }

    /// The records newer than `after`, encoded for the state database as one batch
    /// (see [`Batch`]); `None` when there are none.
    pub(crate) fn export_since(&self, after: u64) -> Option<Batch> {
        let ring = self.ring();
        let n = ring.slots.len();
        let newer = (0..n).map(|i| &ring.slots[(ring.next + n - 1 - i) % n]).take_while(|s| s.seq > after).count();
        if newer == 0 {
            return None;
        }
        let mut batch = Batch { oldest: 0, newest: 0, bytes: Vec::with_capacity(newer * 512) };
        for i in (0..newer).rev() {
            let slot = &ring.slots[(ring.next + n - 1 - i) % n];
            batch.push(slot.seq, |out| slot.encode_into(out));
        }
        Some(batch)
    }

    /// Puts records read from the state database back (oldest first); records that do
    /// not decode are skipped.
    pub(crate) fn import(&self, rows: Vec<(u64, Vec<u8>)>) {
        if self.limit == 0 {
            return;
        }
        let mut ring = self.ring();
        let skip = rows.len().saturating_sub(self.limit);
        for (seq, body) in rows.into_iter().skip(skip) {
            let Some(slot) = Slot::decode(seq, &body) else {
                continue;
            };
            ring.seq = ring.seq.max(seq);
            if ring.slots.len() < self.limit {
                ring.slots.push(slot);
            } else {
                let at = ring.next;
                ring.slots[at] = slot;
                ring.next = (at + 1) % self.limit;
            }
        }
    }

    /// Matching entries, newest first.
    pub(crate) fn query(&self, filter: &CaptureFilter) -> Vec<CapturedRequest> {
        let limit = filter.limit.unwrap_or(CaptureFilter::DEFAULT_LIMIT);
        // A token filter that is not hex matches nothing (no entry has such a token).
        let token = filter.token.as_deref().map(DeviceToken::parse_hex);
        let ring = self.ring();
        let n = ring.slots.len();
        // Newest first: from just before `next` backwards, wrapping.
        let newest_first = (0..n).map(|i| &ring.slots[(ring.next + n - 1 - i) % n]);
        newest_first
            .filter(|e| match &token {
                None => true,
                Some(Ok(t)) => e.token() == t.as_bytes(),
                Some(Err(_)) => false,
            })
            .filter(|e| filter.topic.as_deref().is_none_or(|t| e.topic() == t))
            .filter(|e| filter.apns_id.as_deref().is_none_or(|a| e.apns_id.as_str().eq_ignore_ascii_case(a)))
            .take(limit)
            .map(Slot::view)
            .collect()
    }

    /// How many entries are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.ring().slots.len()
    }

    /// Forgets everything (and frees the buffers).
    pub(crate) fn clear(&self) {
        let old = {
            let mut ring = self.ring();
            ring.next = 0;
            std::mem::take(&mut ring.slots)
        };
        drop(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(c: &Capture, n: u64, token: &str, headers: &HeaderMap) {
        let apns_id = ApnsId::parse(&format!("00000000-0000-0000-0000-{n:012}")).expect("uuid");
        let token = DeviceToken::parse_hex(token).ok();
        let topic = Topic::parse("com.example.app").ok();
        let body = format!(r#"{{"aps":{{"n":{n}}}}}"#);
        c.record(&Record {
            time_ms: n,
            environment: Environment::Sandbox,
            connection: 1,
            apns_id: &apns_id,
            apns_unique_id: None,
            method: &Method::POST,
            path: &format!("/3/device/{n}"),
            headers,
            token: token.as_ref(),
            topic: topic.as_ref(),
            auth: &Authenticated::None,
            body: body.as_bytes(),
            status: 200,
            reason: None,
            timestamp: None,
            fault: None,
        });
    }

    #[test]
    fn headers_keep_order_and_drop_the_jwt() {
        let mut h = HeaderMap::new();
        h.insert("apns-topic", "com.example.app".parse().expect("value"));
        h.insert("authorization", "bearer secret".parse().expect("value"));
        h.append("x-multi", "a: b".parse().expect("value"));
        h.append("x-multi", "".parse().expect("value"));
        let c = Capture::new(2);
        check(&c, 1, "00", &h);
        let e = &c.query(&CaptureFilter::default())[0];
        let expected = [("apns-topic", "com.example.app"), ("x-multi", "a: b"), ("x-multi", "")];
        assert_eq!(e.headers, expected.map(|(n, v)| (n.to_owned(), v.to_owned())));
        assert_eq!((e.method.as_str(), e.path.as_str()), ("POST", "/3/device/1"));
    }

    #[test]
    fn records_survive_export_and_import() {
        let c = Capture::new(3);
        let mut h = HeaderMap::new();
        h.insert("apns-topic", "com.example.app".parse().expect("value"));
        for n in 0..5 {
            check(&c, n, "aa", &h);
        }
        let seqs =
            |b: Option<Batch>| Batch::records(&b.expect("a batch").bytes).iter().map(|r| r.0).collect::<Vec<_>>();
        let newer = c.export_since(3).expect("a batch");
        assert_eq!((newer.oldest, newer.newest), (4, 5));
        assert_eq!(seqs(Some(newer)), [4, 5]);
        assert!(c.export_since(5).is_none());
        let all = c.export_since(0).expect("a batch");
        let mut cut = all.bytes.clone();
        cut.truncate(cut.len() - 1);
        assert_eq!(Batch::records(&cut).len(), 2, "a record cut short is not read");
        let back = Capture::new(3);
        back.import(Batch::records(&all.bytes));
        let (a, b) = (c.query(&CaptureFilter::default()), back.query(&CaptureFilter::default()));
        assert_eq!(serde_json::to_value(&a).expect("json"), serde_json::to_value(&b).expect("json"));
        assert!(Slot::decode(1, b"garbage").is_none());
        check(&back, 9, "bb", &h);
        assert_eq!(seqs(back.export_since(5)), [6], "sequence numbers go on after a restart");
    }

    #[test]
    fn bounded_newest_first_filtered_and_reused() {
        let c = Capture::new(3);
        let h = HeaderMap::new();
        for n in 0..5 {
            check(&c, n, if n % 2 == 0 { "aa" } else { "bb" }, &h);
        }
        assert_eq!(c.len(), 3);
        let all: Vec<u64> = c.query(&CaptureFilter::default()).iter().map(|e| e.time_ms).collect();
        assert_eq!(all, [4, 3, 2]);
        let aa = c.query(&CaptureFilter { token: Some("AA".into()), ..Default::default() });
        assert_eq!(aa.iter().map(|e| e.time_ms).collect::<Vec<_>>(), [4, 2]);
        assert!(c.query(&CaptureFilter { token: Some("zz".into()), ..Default::default() }).is_empty());
        assert_eq!(c.query(&CaptureFilter { limit: Some(1), ..Default::default() }).len(), 1);
        let by_id = c.query(&CaptureFilter {
            apns_id: Some("00000000-0000-0000-0000-000000000003".into()),
            ..Default::default()
        });
        assert_eq!(by_id[0].time_ms, 3);
        assert_eq!(by_id[0].payload, serde_json::json!({"aps": {"n": 3}}));
        assert_eq!(by_id[0].token.as_deref(), Some("bb"));
        // Slots are overwritten in place: every older buffer holds only its new request.
        for n in 5..10 {
            check(&c, n, "cc", &h);
        }
        let all = c.query(&CaptureFilter::default());
        assert_eq!(all.iter().map(|e| e.time_ms).collect::<Vec<_>>(), [9, 8, 7]);
        assert_eq!(all[2].payload, serde_json::json!({"aps": {"n": 7}}));
        c.clear();
        assert_eq!(c.len(), 0);
        assert!(c.query(&CaptureFilter::default()).is_empty());
    }
}
