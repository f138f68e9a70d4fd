//! The lifecycle log: every device event (install, update, uninstall, reinstall, erase,
//! backup, restore, offline, online, and APNs learning that an app is gone) with what it
//! did to each token — the part of the story the capture log of requests cannot show.
//!
//! Bounded like the capture log (the newest [`Events::LIMIT`] are kept, in memory and in
//! the state database).

use std::collections::VecDeque;
use std::sync::Mutex;

use protocol::Environment;
use serde::{Deserialize, Serialize};

use super::TokenChange;

/// One event, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// Increases by one per event, across restarts.
    pub seq: u64,
    /// When it happened, ms since the epoch.
    pub time_ms: u64,
    /// The device.
    pub udid: String,
    /// `install`, `update`, `uninstall`, `reinstall`, `erase`, `backup`, `restore`,
    /// `offline`, `online`, `unregistered` (APNs learned an app is gone) or
    /// `undeliverable` (a push found the app gone while the device was offline; APNs
    /// learns when it returns); for Live Activities `push-to-start-token` (an app declared
    /// an attributes type), `activity-start`, `activity-end`, and `activity-unregistered`
    /// / `activity-undeliverable` (the same two, for an ended activity's token).
    pub kind: String,
    /// The app, for app events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    /// For a restore onto another device: that device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_udid: Option<String>,
    /// For Live Activity events: the `ActivityAttributes` type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes_type: Option<String>,
    /// For Live Activity events: the activity (absent for a push-to-start token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<String>,
    /// What happened to each token it touched.
    pub tokens: Vec<TokenChangeView>,
}

/// One token change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenChangeView {
    /// The device the token belongs to.
    pub udid: String,
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The token before (absent for a new install).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The token after (absent when the app has no live token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// Whether the token changed.
    pub changed: bool,
}

impl From<&TokenChange> for TokenChangeView {
    fn from(c: &TokenChange) -> Self {
        TokenChangeView {
            udid: c.udid.clone(),
            bundle_id: c.bundle_id.clone(),
            environment: c.environment,
            old: c.old.as_ref().map(|t| t.to_hex()),
            new: c.new.as_ref().map(|t| t.to_hex()),
            changed: c.old != c.new,
        }
    }
}

/// The bounded log.
#[derive(Default)]
pub(crate) struct Events {
    inner: Mutex<(u64, VecDeque<LifecycleEvent>)>,
}

impl Events {
    /// How many events are kept.
    pub const LIMIT: u64 = 10_000;

    /// Appends an event (its `seq` is assigned here) and returns it.
    pub(crate) fn push(&self, mut event: LifecycleEvent) -> LifecycleEvent {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.0 += 1;
        event.seq = inner.0;
        if inner.1.len() as u64 >= Self::LIMIT {
            inner.1.pop_front();
        }
        inner.1.push_back(event.clone());
        event
    }

    /// Puts stored events back.
    pub(crate) fn load(&self, events: impl IntoIterator<Item = LifecycleEvent>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for e in events {
            inner.0 = inner.0.max(e.seq);
            inner.1.push_back(e);
        }
        while inner.1.len() as u64 > Self::LIMIT {
            inner.1.pop_front();
        }
    }

    /// Newest first, optionally for one device.
    pub(crate) fn query(&self, udid: Option<&str>, limit: usize) -> Vec<LifecycleEvent> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .1
            .iter()
            .rev()
            .filter(|e| udid.is_none_or(|u| e.udid == u || e.to_udid.as_deref() == Some(u)))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Forgets everything (sequence numbers go on).
    pub(crate) fn clear(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).1.clear();
    }
}
