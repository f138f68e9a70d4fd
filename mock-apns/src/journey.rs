//! Every notification's journey beyond being accepted, like Apple's delivery log:
//! received → stored or delivered (or delivered from storage, or redelivered) →
//! presented / handled silently / discarded (and why). `GET
//! /api/v1/notifications/{apns_id}` shows one.
//!
//! Bounded: the journeys of the newest [`Journeys::LIMIT`] notifications are kept. Cheap
//! to record, since the delivery engine records two or three steps per notification: the
//! key is the apns-id's 36 bytes inline and states are static strings, so a journey costs
//! one allocation.

use std::collections::VecDeque;

use hashbrown::HashMap;
use std::sync::Mutex;

use serde::Serialize;

/// One step of a journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `received`, `stored`, `delivered`, `delivered-from-storage`, `redelivered`,
    /// `presented`, `handled-silently`, `discarded`, `app-not-installed`.
    pub state: &'static str,
    /// When, ms since the epoch.
    pub time_ms: u64,
    /// Why, for discards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An apns-id as a fixed-size key (canonical UUIDs are 36 bytes; others are padded).
type Key = [u8; 36];

fn key(apns_id: &str) -> Key {
    let mut k = [0u8; 36];
    let n = apns_id.len().min(36);
    k[..n].copy_from_slice(&apns_id.as_bytes()[..n]);
    k
}

/// Journeys by apns-id (hashbrown's default hasher: fast, seeded per process), and the
/// apns-ids oldest first (for the bound).
type Table = (HashMap<Key, Vec<Step>>, VecDeque<Key>);

/// The journeys, by apns-id.
#[derive(Default)]
pub(crate) struct Journeys {
    inner: Mutex<Table>,
}

impl Journeys {
    /// How many notifications' journeys are kept.
    pub const LIMIT: usize = 10_000;

    /// Adds a step to `apns_id`'s journey. A new journey starts with its `received` step
    /// at `received_ms`: journeys are only kept for notifications that went further than
    /// being accepted (stored, delivered, discarded), so the push path of a notification
    /// for a device with no gateway connection pays nothing here — the capture log already
    /// says it was received.
    pub(crate) fn step(
        &self,
        apns_id: &str,
        received_ms: u64,
        state: &'static str,
        time_ms: u64,
        detail: Option<String>,
    ) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *inner;
        let k = key(apns_id);
        let step = Step { state, time_ms, detail };
        if let Some(steps) = map.get_mut(&k) {
            steps.push(step);
            return;
        }
        if order.len() >= Self::LIMIT
            && let Some(oldest) = order.pop_front()
        {
            map.remove(&oldest);
        }
        order.push_back(k);
        let mut steps = Vec::with_capacity(4);
        steps.push(Step { state: "received", time_ms: received_ms, detail: None });
        steps.push(step);
        map.insert(k, steps);
    }

    /// One journey.
    pub(crate) fn get(&self, apns_id: &str) -> Option<Vec<Step>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.0.get(&key(apns_id)).cloned()
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.0.clear();
        inner.1.clear();
    }
}
