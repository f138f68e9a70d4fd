//! Step 5 on the phone: the device routes a notification to the app by topic and decides,
//! the way iOS does, what the user sees. Pure logic, tested against literal payloads.
//!
//! Rules, in order:
//! 1. No installed app has the topic's bundle ID → **app not installed** (APNs learns of
//!    an uninstall this way).
//! 2. A background update (`content-available: 1`, nothing visible) → **handled
//!    silently**, if the app's background budget allows; past it → **discarded**
//!    (`background-budget`). Silent pushes need no notification permission.
//! 3. Notifications denied for the app → **discarded** (`notifications-disabled`).
//! 4. The app in the foreground → **presented** to the app (shown only as the app's
//!    presentation options say).
//! 5. Otherwise → **presented**: banner (unless `interruption-level: passive`), sound,
//!    badge (0 clears it); `mutable-content: 1` goes through the app's service extension
//!    first if it has one; the notification joins the notification center, grouped by
//!    `thread-id`, replacing an earlier one with the same `apns-collapse-id`.

use protocol::gateway::{Delivery, Outcome};
use protocol::{Alert, Payload, Topic};
use serde::Serialize;

/// Whether the user allowed notifications for an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Authorization {
    /// Allowed.
    #[default]
    Granted,
    /// Refused.
    Denied,
    /// Delivered quietly to the notification center only.
    Provisional,
}

/// What the phone knows of one installed app when a notification arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppState {
    /// The bundle ID.
    pub bundle_id: String,
    /// Notification permission.
    pub authorization: Authorization,
    /// Whether it is on screen.
    pub foreground: bool,
    /// In the foreground: whether the app asks to show a banner anyway.
    pub foreground_banner: bool,
    /// Whether it has a Notification Service Extension (for `mutable-content`).
    pub service_extension: bool,
    /// Background updates it may still receive in the current budget window.
    pub background_budget: u32,
}

/// A notification as the phone shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shown {
    /// The notification.
    pub apns_id: String,
    /// The app.
    pub bundle_id: String,
    /// Title, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Subtitle, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtitle: Option<String>,
    /// Body, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The sound played, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    /// The badge set (0 clears).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub badge: Option<u32>,
    /// Whether a banner appeared (not for passive or provisional ones, nor in the foreground).
    pub banner: bool,
    /// The thread it is grouped in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// `apns-collapse-id`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collapse_id: Option<String>,
    /// The interruption level.
    pub interruption_level: String,
    /// Whether the service extension saw it first.
    pub via_service_extension: bool,
    /// Whether the app was in the foreground.
    pub in_foreground: bool,
    /// For a web app's notification: the URL a tap opens, if the message names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub navigate: Option<String>,
    /// For a web app's notification: who showed it, `declarative` (Safari itself) or
    /// `service-worker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shown_by: Option<String>,
    /// Its category (the actions the user may choose), from `aps.category`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// What the phone did with a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// For the ack.
    pub outcome: Outcome,
    /// For discards: why.
    pub reason: Option<String>,
    /// What the user saw, for presented alerts.
    pub shown: Option<Shown>,
    /// The app that got it, if any.
    pub bundle_id: Option<String>,
}

fn text(v: &Option<serde_json::Value>) -> Option<String> {
    match v {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Object(o)) => o.get("loc-key").and_then(|k| k.as_str()).map(str::to_owned),
        _ => None,
    }
}

/// Decides what happens to `d` on a phone with `apps` installed.
pub fn present(d: &Delivery, apps: &[AppState]) -> Decision {
    let bundle = Topic::parse(&d.topic).map(|t| t.bundle_id().to_owned()).unwrap_or_default();
    let Some(app) = apps.iter().find(|a| a.bundle_id == bundle) else {
        return Decision { outcome: Outcome::AppNotInstalled, reason: None, shown: None, bundle_id: None };
    };
    let decision = |outcome, reason: Option<&str>, shown| Decision {
        outcome,
        reason: reason.map(str::to_owned),
        shown,
        bundle_id: Some(app.bundle_id.clone()),
    };
    let payload: Payload = serde_json::from_str(d.payload.get()).unwrap_or_default();
    let aps = &payload.aps;
    if aps.is_silent() {
        return if app.background_budget > 0 {
            decision(Outcome::HandledSilently, None, None)
        } else {
            decision(Outcome::Discarded, Some("background-budget"), None)
        };
    }
    if app.authorization == Authorization::Denied {
        return decision(Outcome::Discarded, Some("notifications-disabled"), None);
    }
    let (title, subtitle, body) = match &aps.alert {
        Some(Alert::Text(body)) => (None, None, Some(body.clone())),
        Some(Alert::Dict(a)) => (text(&a.title), a.subtitle.clone(), text(&a.body)),
        None => (None, None, None),
    };
    let sound = match &aps.sound {
        Some(protocol::Sound::Name(n)) => Some(n.clone()),
        Some(protocol::Sound::Critical { name, .. }) => Some(name.clone().unwrap_or_else(|| "default".into())),
        None => None,
    };
    let level = match aps.interruption_level {
        Some(protocol::InterruptionLevel::Passive) => "passive",
        Some(protocol::InterruptionLevel::TimeSensitive) => "time-sensitive",
        Some(protocol::InterruptionLevel::Critical) => "critical",
        _ => "active",
    };
    let quiet = level == "passive" || app.authorization == Authorization::Provisional;
    let banner = if app.foreground { app.foreground_banner } else { !quiet && (title.is_some() || body.is_some()) };
    let shown = Shown {
        apns_id: d.apns_id.clone(),
        bundle_id: app.bundle_id.clone(),
        title,
        subtitle,
        body,
        sound: if quiet { None } else { sound },
        badge: aps.badge,
        banner,
        thread_id: aps.thread_id.clone(),
        collapse_id: d.collapse_id.clone(),
        interruption_level: level.to_owned(),
        via_service_extension: aps.mutable_content == Some(1) && app.service_extension,
        in_foreground: app.foreground,
        navigate: None,
        shown_by: None,
        category: aps.category.clone(),
    };
    decision(Outcome::Presented, None, Some(shown))
}

/// The notification center: what was presented, newest first, one per collapse id.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NotificationCenter {
    /// Shown notifications, newest first.
    pub items: Vec<Shown>,
}

impl NotificationCenter {
    /// The most kept; older ones fall off.
    pub const LIMIT: usize = 200;

    /// Adds a shown notification, replacing an earlier one of the same app with the
    /// same collapse id; returns whether it replaced one.
    pub fn add(&mut self, shown: Shown) -> bool {
        let before = self.items.len();
        if let Some(c) = &shown.collapse_id {
            self.items.retain(|s| !(s.bundle_id == shown.bundle_id && s.collapse_id.as_ref() == Some(c)));
        }
        let replaced = self.items.len() < before;
        self.items.insert(0, shown);
        self.items.truncate(Self::LIMIT);
        replaced
    }

    /// The notifications of one thread of one app, newest first.
    pub fn thread(&self, bundle_id: &str, thread_id: Option<&str>) -> Vec<&Shown> {
        self.items.iter().filter(|s| s.bundle_id == bundle_id && s.thread_id.as_deref() == thread_id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delivery(topic: &str, payload: serde_json::Value, collapse: Option<&str>) -> Delivery {
        serde_json::from_value(json!({
            "apns_id": "00000000-0000-0000-0000-000000000001", "topic": topic, "push_type": "alert",
            "priority": 10, "environment": "sandbox", "payload": payload, "received_ms": 1,
            "collapse_id": collapse
        }))
        .expect("delivery")
    }

    fn app(bundle: &str) -> AppState {
        AppState {
            bundle_id: bundle.into(),
            authorization: Authorization::Granted,
            foreground: false,
            foreground_banner: false,
            service_extension: false,
            background_budget: 3,
        }
    }

    #[test]
    fn background_alert_is_a_banner_with_sound_and_badge() {
        let d = delivery(
            "com.example.chat",
            json!({"aps": {"alert": {"title": "Ann", "body": "Lunch?"}, "sound": "default", "badge": 3, "thread-id": "ann"}}),
            None,
        );
        let got = present(&d, &[app("com.example.chat")]);
        assert_eq!(got.outcome, Outcome::Presented);
        let s = got.shown.expect("shown");
        assert_eq!(
            (s.title.as_deref(), s.body.as_deref(), s.sound.as_deref(), s.badge),
            (Some("Ann"), Some("Lunch?"), Some("default"), Some(3))
        );
        assert!(s.banner);
        assert_eq!(s.thread_id.as_deref(), Some("ann"));
    }

    #[test]
    fn routing_permission_silence_and_budget() {
        let alert = json!({"aps": {"alert": "hi"}});
        assert_eq!(
            present(&delivery("com.example.mail", alert.clone(), None), &[app("com.example.chat")]).outcome,
            Outcome::AppNotInstalled
        );
        // The topic's suffix still routes to the app.
        assert_eq!(
            present(&delivery("com.example.chat.voip", alert.clone(), None), &[app("com.example.chat")]).outcome,
            Outcome::Presented
        );
        let denied = AppState { authorization: Authorization::Denied, ..app("com.example.chat") };
        let got = present(&delivery("com.example.chat", alert.clone(), None), std::slice::from_ref(&denied));
        assert_eq!((got.outcome, got.reason.as_deref()), (Outcome::Discarded, Some("notifications-disabled")));
        let silent = json!({"aps": {"content-available": 1}, "k": 1});
        assert_eq!(
            present(&delivery("com.example.chat", silent.clone(), None), &[denied]).outcome,
            Outcome::HandledSilently
        );
        let spent = AppState { background_budget: 0, ..app("com.example.chat") };
        let got = present(&delivery("com.example.chat", silent, None), &[spent]);
        assert_eq!((got.outcome, got.reason.as_deref()), (Outcome::Discarded, Some("background-budget")));
    }

    #[test]
    fn foreground_passive_provisional_and_extension() {
        let alert = json!({"aps": {"alert": "hi", "sound": "ping.aiff", "mutable-content": 1}});
        let fg = AppState { foreground: true, ..app("com.example.chat") };
        let s = present(&delivery("com.example.chat", alert.clone(), None), &[fg]).shown.expect("to the app");
        assert!(!s.banner && s.in_foreground);
        let ext = AppState { service_extension: true, ..app("com.example.chat") };
        assert!(
            present(&delivery("com.example.chat", alert.clone(), None), &[ext])
                .shown
                .expect("shown")
                .via_service_extension
        );
        let passive = json!({"aps": {"alert": "fyi", "sound": "default", "interruption-level": "passive"}});
        let s =
            present(&delivery("com.example.chat", passive, None), &[app("com.example.chat")]).shown.expect("listed");
        assert!(!s.banner && s.sound.is_none());
        let prov = AppState { authorization: Authorization::Provisional, ..app("com.example.chat") };
        assert!(!present(&delivery("com.example.chat", alert, None), &[prov]).shown.expect("quietly").banner);
    }

    #[test]
    fn collapse_id_replaces_and_threads_group() {
        let mut c = NotificationCenter::default();
        let show = |id: &str, body: &str, collapse: Option<&str>, thread: Option<&str>| {
            let mut d = delivery("com.example.news", json!({"aps": {"alert": body, "thread-id": thread}}), collapse);
            d.apns_id = id.into();
            present(&d, &[app("com.example.news")]).shown.expect("shown")
        };
        c.add(show("1", "score 1-0", Some("match"), Some("sport")));
        c.add(show("2", "score 2-0", Some("match"), Some("sport")));
        c.add(show("3", "rain", None, Some("weather")));
        assert_eq!(c.items.len(), 2);
        assert_eq!(c.thread("com.example.news", Some("sport"))[0].body.as_deref(), Some("score 2-0"));
        assert_eq!(c.thread("com.example.news", Some("weather")).len(), 1);
    }
}
