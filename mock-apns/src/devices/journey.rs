//! Every notification's journey beyond being accepted, like Apple's delivery log:
//! received → stored or delivered (or delivered from storage, or redelivered) →
//! presented / handled silently / discarded (and why). `GET
//! /api/v1/notifications/{apns_id}` shows one.
//!
//! Bounded: the journeys of the newest [`Journeys::LIMIT`] notifications are kept, in a
//! ring whose slots and step buffers are reused. Cheap to record, since the delivery
//! engine records two or three steps per notification: the key is the apns-id's 36 bytes
//! inline, states are a one-byte enum, nothing is allocated once the ring is full, and the
//! engine's later steps go straight to the slot (a [`Hint`]) without a look-up.

use hashbrown::HashMap;
use std::sync::Mutex;

use serde::Serialize;

/// Where a notification is on its way; on the wire, the kebab-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// APNs accepted it.
    Received,
    /// A subscriber's copy of a broadcast (the detail names the broadcast and channel).
    Broadcast,
    /// Held for an offline device.
    Stored,
    /// A newer one for the same app (or activity) took its place in storage.
    Replaced,
    /// Sent down the device's stream.
    Delivered,
    /// Sent when the device came back.
    DeliveredFromStorage,
    /// Sent again on a new connection, never acknowledged on the last.
    Redelivered,
    /// The phone showed it.
    Presented,
    /// The phone handled it without showing it (a background push).
    HandledSilently,
    /// Dropped (the detail says why).
    Discarded,
    /// The app is not on the device.
    AppNotInstalled,
    /// A push-to-start started a Live Activity.
    ActivityStarted,
    /// A Live Activity shows the update.
    ActivityUpdated,
    /// A Live Activity ended.
    ActivityEnded,
    /// The app's service extension changed the content in time (the detail: what it showed).
    ModifiedByExtension,
    /// The service extension ran out of time: the original content (or its best attempt) shown.
    ExtensionTimedOut,
    /// The service extension failed: the original content shown.
    ExtensionFailed,
    /// A background push woke the app (the detail: `newData`, `noData` or `failed`).
    BackgroundFetch,
    /// A VoIP push reported to CallKit as an incoming call.
    CallReported,
    /// A VoIP push not reported to CallKit: the app was terminated.
    VoipNoCall,
    /// VoIP pushes to the app stopped (too many unreported calls) until it is reinstalled.
    VoipBlocked,
    /// The user tapped, dismissed or chose an action of the notification (the detail says which).
    Responded,
}

impl State {
    /// The state as the admin API and the dashboard name it.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Broadcast => "broadcast",
            State::Stored => "stored",
            State::Replaced => "replaced",
            State::Delivered => "delivered",
            State::DeliveredFromStorage => "delivered-from-storage",
            State::Redelivered => "redelivered",
            State::Presented => "presented",
            State::HandledSilently => "handled-silently",
            State::Discarded => "discarded",
            State::AppNotInstalled => "app-not-installed",
            State::ActivityStarted => "activity-started",
            State::ActivityUpdated => "activity-updated",
            State::ActivityEnded => "activity-ended",
            State::ModifiedByExtension => "modified-by-extension",
            State::ExtensionTimedOut => "extension-timed-out",
            State::ExtensionFailed => "extension-failed",
            State::BackgroundFetch => "background-fetch",
            State::CallReported => "call-reported",
            State::VoipNoCall => "voip-no-call",
            State::VoipBlocked => "voip-blocked",
            State::Responded => "responded",
        }
    }
}

/// One step of a journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Where it got.
    pub state: State,
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

/// One journey in the ring; its `steps` buffer is reused by the journeys that follow.
struct Slot {
    key: Key,
    steps: Vec<Step>,
}

/// The newest journeys in a ring (oldest overwritten first), and where each apns-id's
/// is (hashbrown's default hasher: fast, seeded per process).
#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    next: usize,
    index: HashMap<Key, u32>,
}

/// The journeys, by apns-id.
#[derive(Default)]
pub(crate) struct Journeys {
    inner: Mutex<Table>,
}

/// Where a journey is kept: handed back by [`Journeys::step`] so that the next step of
/// the same notification (the delivery engine records "delivered" and, on the ack,
/// "presented") goes straight to it without a look-up. A stale hint (the journey was
/// overwritten meanwhile) is noticed and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hint(u32);

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
        state: State,
        time_ms: u64,
        detail: Option<String>,
        hint: Option<Hint>,
    ) -> Hint {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let table = &mut *inner;
        let k = key(apns_id);
        let step = Step { state, time_ms, detail };
        let known = hint
            .filter(|h| table.slots.get(h.0 as usize).is_some_and(|slot| slot.key == k))
            .map(|h| h.0)
            .or_else(|| table.index.get(&k).copied());
        if let Some(at) = known {
            table.slots[at as usize].steps.push(step);
            return Hint(at);
        }
        let at = table.next;
        table.next = (at + 1) % Self::LIMIT;
        if at == table.slots.len() {
            table.slots.push(Slot { key: k, steps: Vec::with_capacity(4) });
        } else {
            let old = table.slots[at].key;
            table.index.remove(&old);
            table.slots[at].key = k;
        }
        let steps = &mut table.slots[at].steps;
        steps.clear();
        steps.push(Step { state: State::Received, time_ms: received_ms, detail: None });
        steps.push(step);
        table.index.insert(k, at as u32);
        Hint(at as u32)
    }

    /// Whether the journey of `apns_id` is still kept.
    pub(crate) fn knows(&self, apns_id: &str) -> bool {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).index.contains_key(&key(apns_id))
    }

    /// The journey of `apns_id`, if it is still kept.
    pub(crate) fn get(&self, apns_id: &str) -> Option<Vec<Step>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.index.get(&key(apns_id)).map(|at| inner.slots[*at as usize].steps.clone())
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner = Table::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> String {
        format!("00000000-0000-4000-8000-{n:012}")
    }

    #[test]
    fn bounded_and_hints_go_straight_to_the_journey() {
        let j = Journeys::default();
        let first = j.step(&id(0), 1, State::Delivered, 2, None, None);
        assert_eq!(j.step(&id(0), 1, State::Presented, 3, None, Some(first)), first);
        let states = |n| j.get(&id(n)).map(|s| s.iter().map(|s| s.state.as_str()).collect::<Vec<_>>());
        assert_eq!(states(0), Some(vec!["received", "delivered", "presented"]));
        // Without a hint the index finds it.
        j.step(&id(0), 1, State::Discarded, 4, Some("why".into()), None);
        assert_eq!(j.get(&id(0)).expect("kept")[3].detail.as_deref(), Some("why"));
        // Past the limit the oldest goes, and a stale hint is not followed.
        for n in 1..=Journeys::LIMIT {
            j.step(&id(n), 1, State::Delivered, 2, None, None);
        }
        assert_eq!(states(0), None, "the oldest was overwritten");
        assert_eq!(states(1), Some(vec!["received", "delivered"]));
        let again = j.step(&id(0), 1, State::Presented, 5, None, Some(first));
        assert_ne!(again, first, "a new journey, not the overwritten slot's");
        assert_eq!(states(0), Some(vec!["received", "presented"]));
        assert_eq!(
            states(Journeys::LIMIT),
            Some(vec!["received", "delivered"]),
            "the hinted slot's new owner is untouched"
        );
        j.clear();
        assert_eq!(states(1), None);
    }
}
