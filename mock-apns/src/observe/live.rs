//! What the dashboard watches: a live stream of what happens (requests answered, journey
//! steps, lifecycle events) as server-sent events, and the counts Apple's console shows
//! (received, delivered, delivered from storage, stored, discarded by reason).
//!
//! Nothing is encoded unless someone is listening: the push path pays one atomic load.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use protocol::{ApnsId, DeviceToken, Environment, ErrorBody, Topic};
use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a slow listener may fall behind before it misses some.
const BACKLOG: usize = 4096;

/// The live event stream.
pub(crate) struct Live {
    tx: broadcast::Sender<String>,
    /// Open listeners, counted here because the channel's own count takes a lock.
    listeners: AtomicUsize,
}

impl Default for Live {
    fn default() -> Self {
        Live { tx: broadcast::channel(BACKLOG).0, listeners: AtomicUsize::new(0) }
    }
}

/// A listener; events stop being encoded once the last one is dropped.
pub(crate) struct Listener<'a> {
    live: &'a Live,
    /// The events.
    pub rx: broadcast::Receiver<String>,
}

impl Drop for Listener<'_> {
    fn drop(&mut self) {
        self.live.listeners.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Live {
    /// A new listener.
    pub(crate) fn subscribe(&self) -> Listener<'_> {
        self.listeners.fetch_add(1, Ordering::Relaxed);
        Listener { live: self, rx: self.tx.subscribe() }
    }

    fn listening(&self) -> bool {
        self.listeners.load(Ordering::Relaxed) > 0
    }

    fn send(&self, kind: &str, data: &impl Serialize) {
        let data = serde_json::to_string(data).unwrap_or_default();
        let _ = self.tx.send(format!("event: {kind}\ndata: {data}\n\n"));
    }

    /// A Web Push request was answered.
    pub(crate) fn web_push(&self, e: &super::web_log::Entry<'_>, udid: Option<&str>) {
        if self.listening() {
            self.send(
                "web-push",
                &serde_json::json!({
                    "time_ms": e.time_ms,
                    "udid": udid,
                    "apns_id": e.apns_id.as_str(),
                    "status": e.status,
                    "reason": e.reason,
                    "subscription": e.subscription,
                    "origin": e.origin,
                }),
            );
        }
    }

    /// A provider-API request was answered.
    pub(crate) fn request(
        &self,
        apns_id: &ApnsId,
        status: u16,
        error: Option<&ErrorBody>,
        token: Option<&DeviceToken>,
        topic: Option<&Topic>,
        env: Environment,
    ) {
        if !self.listening() {
            return;
        }
        self.send(
            "request",
            &serde_json::json!({
                "apns_id": apns_id.as_str(),
                "status": status,
                "reason": error.map(|e| e.reason),
                "timestamp": error.and_then(|e| e.timestamp),
                "token": token.map(DeviceToken::to_hex),
                "topic": topic.map(Topic::as_str),
                "environment": env,
            }),
        );
    }

    /// A notification's journey moved on.
    pub(crate) fn journey(&self, apns_id: &str, state: &str, time_ms: u64, detail: Option<&str>) {
        if self.listening() {
            self.send(
                "journey",
                &serde_json::json!({"apns_id": apns_id, "state": state, "time_ms": time_ms, "detail": detail}),
            );
        }
    }

    /// An app registered (steps 1–2), or its token reached its provider (step 3).
    pub(crate) fn registration(&self, r: &super::registrations::Registration) {
        if self.listening() {
            self.send("registration", r);
        }
    }

    /// A device's life moved on.
    pub(crate) fn lifecycle(&self, event: &crate::registry::events::LifecycleEvent) {
        if self.listening() {
            self.send("lifecycle", event);
        }
    }
}

/// The counts.
#[derive(Default)]
pub(crate) struct Stats {
    /// Pushes answered 200.
    pub accepted: AtomicU64,
    /// Journey states (and discards by reason).
    states: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    /// Counts one journey step.
    pub(crate) fn count(&self, state: &str, detail: Option<&str>) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        bump(&mut states, state);
        if state == "discarded" {
            bump(&mut states, &format!("discarded: {}", detail.unwrap_or("unknown")));
        }
    }

    /// Everything, as the admin API shows it.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, u64> {
        let mut out = self.states.lock().unwrap_or_else(|e| e.into_inner()).clone();
        out.insert("received".into(), self.accepted.load(Ordering::Relaxed));
        out
    }

    /// Back to zero.
    pub(crate) fn clear(&self) {
        self.states.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.accepted.store(0, Ordering::Relaxed);
    }
}

/// Adds one to a count, allocating its name only the first time.
fn bump(states: &mut BTreeMap<String, u64>, name: &str) {
    match states.get_mut(name) {
        Some(n) => *n += 1,
        None => {
            states.insert(name.to_owned(), 1);
        }
    }
}
