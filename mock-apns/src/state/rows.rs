//! The rows of the state database, in the shapes the rooms above hand it: what a
//! device, a token, a held notification, a signing key and a batch of the capture log
//! look like when saved. Defined here, at the bottom, so the database needs nothing
//! from the rooms that use it.

use bytes::Bytes;
use protocol::{ActivityTarget, ApnsId, Environment, Priority, PushType};

/// A device as stored in the state database.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredDevice {
    pub udid: String,
    pub generation: u32,
    pub online: bool,
    /// (bundle, team, environment) of each backed-up app.
    pub backup: Option<Vec<(String, String, Environment)>>,
    pub apps: Vec<StoredApp>,
}

/// An app as stored in the state database.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredApp {
    pub bundle_id: String,
    pub team_id: String,
    pub environment: Environment,
    pub install_gen: u32,
    pub version: u32,
    pub uninstalled_at: u64,
    pub learned_at: u64,
    pub pending: bool,
    pub indexed: bool,
    pub token: [u8; 32],
}

/// An entry of the token index as stored: which device (and, per-app, which app) the
/// token belongs to, and when it died (0: live).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredToken {
    pub environment: Environment,
    pub token: [u8; 32],
    pub udid: String,
    /// `None` for a per-device token.
    pub bundle_id: Option<String>,
    pub dead_at: u64,
}

/// A Live Activity token as stored (push-to-start or update), with its device's UDID
/// alongside in the table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredActivity {
    pub bundle_id: String,
    pub environment: Environment,
    pub push_to_start: bool,
    pub attributes_type: String,
    pub activity_id: Option<String>,
    pub token: Vec<u8>,
    pub issued_at: u64,
    pub ended_at: u64,
    pub learned_at: u64,
    pub pending: bool,
    /// The broadcast channel the activity listens to, if any.
    pub channel: Option<String>,
}

/// A broadcast channel as stored (deleted ones too: their ids are never issued again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredChannel {
    pub id: String,
    pub bundle_id: String,
    pub environment: Environment,
    pub storage_policy: u8,
    pub created_at: u64,
    /// 0 while live.
    pub deleted_at: u64,
}

/// A Web Push subscription as stored, with the phone's private key for it (the mock
/// holds it for the phone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredWebSubscription {
    pub id: String,
    pub udid: String,
    pub origin: String,
    pub name: String,
    pub application_server_key: Vec<u8>,
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
    /// The phone's P-256 scalar for it (empty once the subscription ended).
    pub phone_key: Vec<u8>,
    pub created_at: u64,
    /// 0 while live.
    pub ended_at: u64,
    /// What ended it: `removed`, `revoked` or `erased`.
    pub ended_by: Option<String>,
}

/// A signing key as stored: its public half and its restrictions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRow {
    pub key_id: String,
    pub team_id: String,
    /// `sandbox`, `production` or `both`.
    pub environment: String,
    /// For a topic-specific key, its bundle IDs.
    pub topics: Option<Vec<String>>,
    pub related_key_id: Option<String>,
    pub public_key_pem: String,
}

/// A notification APNs is holding for an offline device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub apns_id: ApnsId,
    pub received_ms: u64,
    /// UNIX seconds after which it is discarded.
    pub expires_at: u64,
    pub priority: Priority,
    pub push_type: PushType,
    pub topic: String,
    pub collapse_id: Option<String>,
    pub payload: Bytes,
    /// For a `liveactivity` push: the activity (or push-to-start type) it is for.
    pub activity: Option<ActivityTarget>,
}

/// Which app a held notification is for.
pub(crate) type HeldKey = (Box<str>, Box<str>, Environment);

/// Captured requests as the state database keeps them: many records in one row, so
/// saving a busy second's log is one insert rather than thousands. `bytes` holds, oldest
/// first, each record as its sequence number (u64 LE), its length (u32 LE) and its
/// encoding ([`Slot::encode_into`]).
pub(crate) struct Batch {
    pub oldest: u64,
    pub newest: u64,
    pub bytes: Vec<u8>,
}

impl Batch {
    /// Appends one record (newer than those before it), encoded by `encode`.
    pub(crate) fn push(&mut self, seq: u64, encode: impl FnOnce(&mut Vec<u8>)) {
        if self.bytes.is_empty() {
            self.oldest = seq;
        }
        self.newest = seq;
        self.bytes.extend_from_slice(&seq.to_le_bytes());
        let at = self.bytes.len();
        self.bytes.extend_from_slice(&[0; 4]);
        encode(&mut self.bytes);
        let len = (self.bytes.len() - at - 4) as u32;
        self.bytes[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }

    /// The records of a batch, as (sequence number, encoding); stops at the first that
    /// is cut short.
    pub(crate) fn records(mut b: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        while b.len() >= 12 {
            let seq = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
            let len = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes")) as usize;
            let Some(record) = b.get(12..12 + len) else { break };
            out.push((seq, record.to_vec()));
            b = &b[12 + len..];
        }
        out
    }
}
