//! Step 5 for a web app on the Home Screen: a Web Push message the phone has decrypted
//! reaches the web app, and is shown the way Safari shows it.
//!
//! 1. A **Declarative Web Push** message (Safari 18.4: `{"web_push": 8030,
//!    "notification": {"title", "navigate", "body"?, "silent"?, …}, "app_badge"?}`, with
//!    `title` and `navigate`) is shown by the browser itself, with no service worker;
//!    `app_badge` sets the icon's badge (some senders put it inside `notification`).
//! 2. Anything else is the service worker's `push` event. The default service worker
//!    shows `title` and `body` when the message is a JSON object with a `title`, and
//!    otherwise the message's text under the web app's name — a web app that subscribed
//!    with `userVisibleOnly: true` must show something for every push.
//!
//! Either way the notification is the web app's (keyed by its origin), banners and
//! sounds unless `silent`, and replaces an earlier one with the same `Topic`.

use protocol::gateway::{Delivery, Outcome, WebMessage};
use serde_json::Value;

use crate::present::{Decision, Shown};

/// What Safari does with a decrypted message (see the module's rules).
pub fn present_web(d: &Delivery) -> Decision {
    let Ok(message) = serde_json::from_str::<WebMessage>(d.payload.get()) else {
        return Decision {
            outcome: Outcome::Discarded,
            reason: Some("unreadable web push message".into()),
            shown: None,
            bundle_id: None,
        };
    };
    let json: Option<Value> = serde_json::from_str(&message.data).ok();
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let declarative = json.as_ref().filter(|v| v.get("web_push").and_then(Value::as_u64) == Some(8030)).and_then(|v| {
        let n = v.get("notification")?;
        let (title, navigate) = (text(n, "title")?, text(n, "navigate")?);
        let badge = v.get("app_badge").or_else(|| n.get("app_badge")).and_then(Value::as_u64);
        let silent = n.get("silent").and_then(Value::as_bool).unwrap_or(false);
        Some((title, text(n, "body"), navigate, badge, silent))
    });
    let (title, body, navigate, badge, silent, by) = match declarative {
        Some((title, body, navigate, badge, silent)) => {
            (Some(title), body, Some(navigate), badge, silent, "declarative")
        }
        None => match json.as_ref().filter(|v| v.get("title").and_then(Value::as_str).is_some()) {
            Some(v) => (text(v, "title"), text(v, "body"), text(v, "url"), None, false, "service-worker"),
            None => (Some(message.name.clone()), Some(message.data.clone()), None, None, false, "service-worker"),
        },
    };
    let shown = Shown {
        apns_id: d.apns_id.clone(),
        bundle_id: message.origin.clone(),
        title,
        subtitle: None,
        body: body.filter(|b| !b.is_empty()),
        sound: (!silent).then(|| "default".to_owned()),
        badge: badge.map(|b| b.min(u64::from(u32::MAX)) as u32),
        banner: !silent,
        thread_id: None,
        collapse_id: d.collapse_id.clone(),
        interruption_level: "active".into(),
        via_service_extension: false,
        in_foreground: false,
        navigate,
        shown_by: Some(by.to_owned()),
    };
    Decision { outcome: Outcome::Presented, reason: None, shown: Some(shown), bundle_id: Some(message.origin) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delivery(data: &str) -> Delivery {
        let message = json!({"origin": "https://news.example", "name": "News", "subscription": "S", "data": data});
        serde_json::from_value(json!({
            "apns_id": "00000000-0000-0000-0000-000000000001", "topic": "https://news.example",
            "push_type": "webpush", "priority": 10, "environment": "production",
            "payload": message, "received_ms": 1, "collapse_id": "score"
        }))
        .expect("delivery")
    }

    #[test]
    fn declarative_messages_are_shown_by_the_browser() {
        let data = r#"{"web_push":8030,"notification":{"title":"Goal","body":"2-1","navigate":"https://news.example/m/1"},"app_badge":4}"#;
        let got = present_web(&delivery(data));
        assert_eq!(got.outcome, Outcome::Presented);
        let s = got.shown.expect("shown");
        assert_eq!((s.title.as_deref(), s.body.as_deref()), (Some("Goal"), Some("2-1")));
        assert_eq!((s.navigate.as_deref(), s.badge), (Some("https://news.example/m/1"), Some(4)));
        assert!(s.shown_by.as_deref() == Some("declarative") && s.banner);
        assert_eq!((s.bundle_id.as_str(), s.collapse_id.as_deref()), ("https://news.example", Some("score")));
        let silent = r#"{"web_push":8030,"notification":{"title":"t","navigate":"https://n.example","silent":true}}"#;
        let s = present_web(&delivery(silent)).shown.expect("shown");
        assert!(!s.banner && s.sound.is_none());
    }

    #[test]
    fn other_messages_go_to_the_default_service_worker() {
        let s = present_web(&delivery(r#"{"title":"Hi","body":"there"}"#)).shown.expect("shown");
        assert_eq!((s.title.as_deref(), s.body.as_deref()), (Some("Hi"), Some("there")));
        assert_eq!(s.shown_by.as_deref(), Some("service-worker"));
        // Declarative without `navigate` is not declarative: the service worker gets it.
        let s = present_web(&delivery(r#"{"web_push":8030,"notification":{"title":"x"}}"#)).shown.expect("shown");
        assert_eq!(s.shown_by.as_deref(), Some("service-worker"));
        let s = present_web(&delivery("plain words")).shown.expect("shown");
        assert_eq!((s.title.as_deref(), s.body.as_deref()), (Some("News"), Some("plain words")));
    }
}
