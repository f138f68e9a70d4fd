//! Store and forward: when a device cannot be reached, APNs keeps a push — at most one
//! per app per device, the latest replacing the one before — until it expires
//! (`apns-expiration`, or 30 days when the header is absent, whichever is sooner).
//! `apns-expiration: 0`, or a date already past, means "try once": such a push is not
//! stored. A push that is stored is answered 200 only once it is durable in the state
//! database, so a crash right after the answer loses nothing.
//!
//! Apple: "Sending notification requests to APNs" (apns-expiration) and "Viewing the
//! status of push notifications" (stored: device offline).

use std::collections::HashMap;
use std::sync::Mutex;

use protocol::{Environment, Expiration, Priority, PushType};
use serde::Serialize;

use crate::state::rows::{Held, HeldKey};

/// The longest APNs stores a notification: 30 days, in seconds.
pub const MAX_STORAGE_SECS: u64 = 30 * 24 * 60 * 60;

/// A held notification as the admin API shows it (on its app, in `GET /api/v1/devices`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredView {
    /// The notification's apns-id.
    pub apns_id: String,
    /// When APNs accepted it, ms since the epoch.
    pub received_ms: u64,
    /// When it will be discarded if still undelivered, UNIX seconds.
    pub expires_at: u64,
    /// Its priority.
    pub priority: Priority,
    /// Its push type.
    pub push_type: PushType,
    /// Its topic.
    pub topic: String,
    /// Its collapse id, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collapse_id: Option<String>,
    /// The payload as JSON.
    pub payload: serde_json::Value,
}

impl From<&Held> for StoredView {
    fn from(h: &Held) -> Self {
        StoredView {
            apns_id: h.apns_id.as_str().to_owned(),
            received_ms: h.received_ms,
            expires_at: h.expires_at,
            priority: h.priority,
            push_type: h.push_type,
            topic: h.topic.clone(),
            collapse_id: h.collapse_id.clone(),
            payload: serde_json::from_slice(&h.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// When a push accepted at `now_secs` with `expiration` must be discarded, or `None` if
/// it must not be stored at all (expiration 0, or already past).
pub(crate) fn storage_deadline(expiration: Option<Expiration>, now_secs: u64) -> Option<u64> {
    let limit = now_secs + MAX_STORAGE_SECS;
    match expiration {
        None => Some(limit),
        Some(e) if e.is_immediate() || e.0 <= now_secs => None,
        Some(e) => Some(e.0.min(limit)),
    }
}

/// Everything held, one per app per device.
#[derive(Default)]
pub(crate) struct Storage {
    held: Mutex<HashMap<HeldKey, Held>>,
}

impl Storage {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<HeldKey, Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds `n` for the app, replacing what was held before; answers what it replaced
    /// (another notification, not `n` held again).
    pub(crate) fn hold(&self, key: HeldKey, n: Held) -> Option<Held> {
        let id = n.apns_id.clone();
        self.map().insert(key, n).filter(|old| old.apns_id != id)
    }

    /// What is held for an app that has not expired by `now_secs`.
    pub(crate) fn get(&self, udid: &str, bundle_id: &str, env: Environment, now_secs: u64) -> Option<Held> {
        let key: HeldKey = (udid.into(), bundle_id.into(), env);
        self.map().get(&key).filter(|h| h.expires_at > now_secs).cloned()
    }

    /// Everything held for a device, removed (the engine puts back what it delivers until
    /// it is acknowledged).
    pub(crate) fn take_device(&self, udid: &str) -> Vec<(HeldKey, Held)> {
        let mut map = self.map();
        let keys: Vec<HeldKey> = map.keys().filter(|k| &*k.0 == udid).cloned().collect();
        keys.into_iter().filter_map(|k| map.remove(&k).map(|v| (k, v))).collect()
    }

    /// What is held for a device in the slots `slot` picks (expired or not), left held.
    pub(crate) fn of_device(&self, udid: &str, slot: impl Fn(&str) -> bool) -> Vec<(HeldKey, Held)> {
        self.map().iter().filter(|(k, _)| &*k.0 == udid && slot(&k.1)).map(|(k, h)| (k.clone(), h.clone())).collect()
    }

    /// Releases what is held for an app once the device acknowledged it, unless a newer
    /// notification replaced it meanwhile. Returns whether it was released.
    pub(crate) fn release(&self, key: &HeldKey, apns_id: &str) -> bool {
        let mut map = self.map();
        if map.get(key).is_some_and(|h| h.apns_id.as_str() == apns_id) {
            map.remove(key);
            return true;
        }
        false
    }

    /// Drops everything held for a device (its tokens died: an erase).
    pub(crate) fn drop_device(&self, udid: &str) {
        self.map().retain(|k, _| &*k.0 != udid);
    }

    /// How many notifications are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        self.map().clear();
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use protocol::ApnsId;

    use super::*;

    #[test]
    fn what_is_stored_and_until_when() {
        let now = 1_800_000_000;
        assert_eq!(storage_deadline(None, now), Some(now + MAX_STORAGE_SECS));
        assert_eq!(storage_deadline(Some(Expiration(0)), now), None, "0 means try once");
        assert_eq!(storage_deadline(Some(Expiration(now - 1)), now), None, "already past");
        assert_eq!(storage_deadline(Some(Expiration(now + 60)), now), Some(now + 60));
        assert_eq!(storage_deadline(Some(Expiration(now + 2 * MAX_STORAGE_SECS)), now), Some(now + MAX_STORAGE_SECS));
    }

    #[test]
    fn one_per_app_the_latest() {
        let s = Storage::default();
        let held = |id: &str, exp| Held {
            apns_id: ApnsId::parse(id).expect("uuid"),
            received_ms: 1,
            expires_at: exp,
            priority: Priority::Immediate,
            push_type: PushType::Alert,
            topic: "com.example.chat".into(),
            collapse_id: None,
            payload: Bytes::from_static(b"{}"),
            activity: None,
        };
        let key = || -> HeldKey { ("U1".into(), "com.example.chat".into(), Environment::Sandbox) };
        s.hold(key(), held("00000000-0000-0000-0000-000000000001", 100));
        s.hold(key(), held("00000000-0000-0000-0000-000000000002", 100));
        assert_eq!(s.len(), 1);
        let got = s.get("U1", "com.example.chat", Environment::Sandbox, 50).expect("held");
        assert_eq!(got.apns_id.as_str(), "00000000-0000-0000-0000-000000000002");
        assert!(s.get("U1", "com.example.chat", Environment::Sandbox, 100).is_none(), "expired");
        s.drop_device("U1");
        assert_eq!(s.len(), 0);
    }
}
