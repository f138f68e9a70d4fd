//! Steps 1–3 as the dashboard draws them: each time an app registers, what it asked and
//! the inputs APNs derived its token from (UDID, bundle ID, environment, the token scope
//! and both generations), whether the token is new or the one it had; and, when the
//! simulator reports it, the token reaching the provider (step 3). Real devices never
//! tell APNs about step 3: the simulated phone does, so the flow can be shown whole.
//!
//! Bounded: the newest [`Registrations::LIMIT`] are kept, in memory only.

use std::collections::VecDeque;
use std::sync::Mutex;

use protocol::Environment;
use serde::Serialize;

use crate::registry::TokenScope;

/// One registration, as the admin API and the live stream show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    /// Increases by one per registration.
    pub id: u64,
    /// When the app asked (ms since the epoch).
    pub time_ms: u64,
    /// The device.
    pub udid: String,
    /// The app.
    pub bundle_id: String,
    /// Its `aps-environment`.
    pub environment: Environment,
    /// `device` (the app's device token), or for Live Activities `push-to-start` (the app
    /// declared an `ActivityAttributes` type) or `update` (an activity started).
    pub kind: &'static str,
    /// For a Live Activity token, the other input: the attributes type (push-to-start) or
    /// the activity (update).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
    /// The token APNs answered with (step 2).
    pub token: String,
    /// `per-app` (the bundle ID is an input) or `per-device` (it is not).
    pub scope: TokenScope,
    /// The device's erase counter: an input of every token on it.
    pub device_generation: u32,
    /// The app's reinstall counter: an input of its token (per-app scope).
    pub install_generation: u32,
    /// `first` (the first token this app got here, as far as the log goes back), `new`
    /// (it differs from the last one), or `unchanged`.
    pub token_was: &'static str,
    /// Step 3, once reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handed_over: Option<HandOver>,
}

/// Step 3: the token reached (or did not reach) the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandOver {
    /// When (ms since the epoch).
    pub time_ms: u64,
    /// The provider's URL.
    pub provider: String,
    /// Whether the provider took it.
    pub accepted: bool,
    /// What went wrong, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What [`Registrations::registered`] is told.
pub(crate) struct Registered<'a> {
    pub time_ms: u64,
    pub udid: &'a str,
    pub bundle_id: &'a str,
    pub environment: Environment,
    pub kind: &'static str,
    pub activity: Option<&'a str>,
    pub token: &'a str,
    pub scope: TokenScope,
    pub device_generation: u32,
    pub install_generation: u32,
}

/// The bounded log.
#[derive(Default)]
pub(crate) struct Registrations {
    log: Mutex<(u64, VecDeque<Registration>)>,
}

impl Registrations {
    /// How many registrations are kept.
    pub const LIMIT: usize = 500;

    /// Steps 1–2 happened: notes them and answers the record.
    pub(crate) fn registered(&self, r: Registered<'_>) -> Registration {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let before = log.1.iter().rev().find(|x| {
            x.udid == r.udid
                && x.bundle_id == r.bundle_id
                && x.environment == r.environment
                && x.kind == r.kind
                && x.activity.as_deref() == r.activity
        });
        let token_was = match before {
            None => "first",
            Some(b) if b.token != r.token => "new",
            Some(_) => "unchanged",
        };
        log.0 += 1;
        let record = Registration {
            id: log.0,
            time_ms: r.time_ms,
            udid: r.udid.to_owned(),
            bundle_id: r.bundle_id.to_owned(),
            environment: r.environment,
            kind: r.kind,
            activity: r.activity.map(str::to_owned),
            token: r.token.to_owned(),
            scope: r.scope,
            device_generation: r.device_generation,
            install_generation: r.install_generation,
            token_was,
            handed_over: None,
        };
        if log.1.len() == Self::LIMIT {
            log.1.pop_front();
        }
        log.1.push_back(record.clone());
        record
    }

    /// Step 3 was reported: attaches it to the newest registration that gave this device
    /// and app this token, and answers it (`None` when there is none).
    pub(crate) fn handed_over(&self, udid: &str, bundle_id: &str, token: &str, step: HandOver) -> Option<Registration> {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let record = log.1.iter_mut().rev().find(|x| x.udid == udid && x.bundle_id == bundle_id && x.token == token)?;
        record.handed_over = Some(step);
        Some(record.clone())
    }

    /// The newest first, optionally of one device.
    pub(crate) fn list(&self, udid: Option<&str>, limit: usize) -> Vec<Registration> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.1.iter().rev().filter(|r| udid.is_none_or(|u| r.udid == u)).take(limit).cloned().collect()
    }

    /// Forgets them all.
    pub(crate) fn clear(&self) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).1.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg<'a>(udid: &'a str, token: &'a str) -> Registered<'a> {
        Registered {
            time_ms: 1,
            udid,
            bundle_id: "com.example.chat",
            environment: Environment::Sandbox,
            kind: "device",
            activity: None,
            token,
            scope: TokenScope::PerApp,
            device_generation: 0,
            install_generation: 0,
        }
    }

    #[test]
    fn a_token_is_first_then_unchanged_then_new() {
        let log = Registrations::default();
        assert_eq!(log.registered(reg("A", "aa")).token_was, "first");
        assert_eq!(log.registered(reg("A", "aa")).token_was, "unchanged");
        assert_eq!(log.registered(reg("A", "bb")).token_was, "new");
        assert_eq!(log.registered(reg("B", "bb")).token_was, "first", "another device is another story");
        let step = HandOver { time_ms: 2, provider: "http://p".into(), accepted: true, error: None };
        let updated = log.handed_over("A", "com.example.chat", "bb", step.clone()).expect("found");
        assert_eq!((updated.id, updated.handed_over), (3, Some(step.clone())));
        assert!(log.handed_over("A", "com.example.chat", "cc", step).is_none());
        let a = log.list(Some("A"), 10);
        assert_eq!(a.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 2, 1], "newest first");
        assert_eq!(log.list(None, 2).len(), 2);
    }

    #[test]
    fn the_log_is_bounded() {
        let log = Registrations::default();
        for _ in 0..Registrations::LIMIT + 10 {
            log.registered(reg("A", "aa"));
        }
        let all = log.list(None, usize::MAX);
        assert_eq!(all.len(), Registrations::LIMIT);
        assert_eq!(all[0].id, (Registrations::LIMIT + 10) as u64);
    }
}
