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
//! sounds unless `silent`, and replaces an earlier one with the same `tag` (else the same
//! `Topic`). `navigate` must be an https URL, or the message is not declarative; with
//! `"mutable": true` the service worker sees it first (the default one leaves it as is).
//!
//! The phone makes each web app's subscription keys ([`WebKeys`]: a P-256 key pair and a
//! 16-byte auth secret, the same for the origin while the phone runs) and decrypts what
//! arrives for them (RFC 8291); a message it cannot decrypt is dropped, with the reason.

use std::collections::HashMap;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use protocol::gateway::{Delivery, Outcome, SubscriptionKeys, WebMessage};
use serde_json::Value;

use crate::present::{Decision, Shown};

/// One web app's keys: the private scalar stays on the phone.
struct PhoneKey {
    private: Vec<u8>,
    p256dh: Vec<u8>,
    auth: Vec<u8>,
}

/// The keys a phone made for its web apps' subscriptions, by origin, and which
/// subscription each became.
#[derive(Default)]
pub struct WebKeys {
    by_origin: HashMap<String, PhoneKey>,
    origin_of: HashMap<String, String>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl WebKeys {
    /// The keys to subscribe `origin` with: made the first time, the same after.
    pub fn for_origin(&mut self, origin: &str) -> SubscriptionKeys {
        let key = self.by_origin.entry(origin.to_owned()).or_insert_with(|| {
            let (private, p256dh) = protocol::ece::key_pair().expect("P-256 key generation");
            let mut auth = vec![0u8; 16];
            SystemRandom::new().fill(&mut auth).expect("randomness");
            PhoneKey { private, p256dh, auth }
        });
        SubscriptionKeys { p256dh: b64(&key.p256dh), auth: b64(&key.auth) }
    }

    /// Notes which subscription `origin`'s keys became (the endpoint's last segment).
    pub fn subscribed(&mut self, origin: &str, endpoint: &str) {
        let id = endpoint.rsplit('/').next().unwrap_or(endpoint);
        self.origin_of.insert(id.to_owned(), origin.to_owned());
    }

    /// Decrypts a message sent to `subscription` (base64url aes128gcm).
    fn decrypt(&self, subscription: &str, encrypted: &str) -> Result<Vec<u8>, String> {
        let key = self
            .origin_of
            .get(subscription)
            .and_then(|o| self.by_origin.get(o))
            .ok_or("the phone has no keys for the subscription")?;
        let body = protocol::webpush::base64url(encrypted).ok_or("the message is not base64url")?;
        protocol::ece::decrypt(&body, &key.private, &key.p256dh, &key.auth)
            .map_err(|e| format!("the phone could not decrypt it: {e}"))
    }
}

/// Decides what the phone does with a decrypted (or plain) web push: shown by Safari or
/// by the web app's default service worker.
pub fn present_web(d: &Delivery, keys: &WebKeys) -> Decision {
    match open(d, keys) {
        Ok(opened) => show(d, &opened, None),
        Err(discarded) => *discarded,
    }
}

/// A web push as the phone opened it: whose it is and its text.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The web app.
    pub origin: String,
    /// Its name on the Home Screen.
    pub name: String,
    /// The message, decrypted.
    pub data: String,
    json: Option<Value>,
}

impl Opened {
    /// Whether the web app's service worker gets the message (anything but a Declarative
    /// Web Push message without `mutable`).
    pub fn goes_to_worker(&self) -> bool {
        !matches!(declarative(self.json.as_ref()), Some(d) if d.by == "declarative")
    }
}

/// Reads (and decrypts) a web push, or says why it is dropped.
pub fn open(d: &Delivery, keys: &WebKeys) -> Result<Opened, Box<Decision>> {
    let discard =
        |why: String| Decision { outcome: Outcome::Discarded, reason: Some(why), shown: None, bundle_id: None };
    let Ok(message) = serde_json::from_str::<WebMessage>(d.payload.get()) else {
        return Err(Box::new(discard("unreadable web push message".into())));
    };
    let data = match (&message.data, &message.encrypted) {
        (Some(text), _) => text.clone(),
        (None, Some(encrypted)) => match keys.decrypt(&message.subscription, encrypted) {
            Ok(plain) => String::from_utf8_lossy(&plain).into_owned(),
            Err(why) => return Err(Box::new(Decision { bundle_id: Some(message.origin.clone()), ..discard(why) })),
        },
        (None, None) => String::new(),
    };
    let json = serde_json::from_str(&data).ok();
    Ok(Opened { origin: message.origin, name: message.name, data, json })
}

struct Declarative {
    title: String,
    body: Option<String>,
    navigate: String,
    badge: Option<u64>,
    silent: bool,
    by: &'static str,
    tag: Option<String>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn declarative(json: Option<&Value>) -> Option<Declarative> {
    let v = json.filter(|v| v.get("web_push").and_then(Value::as_u64) == Some(8030))?;
    let n = v.get("notification")?;
    let navigate = text(n, "navigate").filter(|url| url.starts_with("https://"))?;
    let title = text(n, "title")?;
    let badge = v.get("app_badge").or_else(|| n.get("app_badge")).and_then(Value::as_u64);
    let silent = n.get("silent").and_then(Value::as_bool).unwrap_or(false);
    // `mutable: true` lets the service worker change it first; the default one does
    // not, so the same notification is shown, by the service worker.
    let by = if v.get("mutable").and_then(Value::as_bool) == Some(true) { "service-worker" } else { "declarative" };
    Some(Declarative { title, body: text(n, "body"), navigate, badge, silent, by, tag: text(n, "tag") })
}

/// What is shown for an opened web push: `worker` is what the web app's own service
/// worker passed to `showNotification` (`title`, `body`, `tag`, `navigate`); `None`
/// for the default service worker.
pub fn show(d: &Delivery, opened: &Opened, worker: Option<&Value>) -> Decision {
    let (title, body, navigate, badge, silent, by, tag) = match (worker, declarative(opened.json.as_ref())) {
        (Some(n), _) => (
            text(n, "title"),
            text(n, "body"),
            text(n, "navigate"),
            None,
            n.get("silent").and_then(Value::as_bool).unwrap_or(false),
            "service-worker",
            text(n, "tag"),
        ),
        (None, Some(x)) => (Some(x.title), x.body, Some(x.navigate), x.badge, x.silent, x.by, x.tag),
        (None, None) => match opened.json.as_ref().filter(|v| v.get("title").and_then(Value::as_str).is_some()) {
            Some(v) => {
                (text(v, "title"), text(v, "body"), text(v, "url"), None, false, "service-worker", text(v, "tag"))
            }
            None => (Some(opened.name.clone()), Some(opened.data.clone()), None, None, false, "service-worker", None),
        },
    };
    let shown = Shown {
        apns_id: d.apns_id.clone(),
        bundle_id: opened.origin.clone(),
        title,
        subtitle: None,
        body: body.filter(|b| !b.is_empty()),
        sound: (!silent).then(|| "default".to_owned()),
        badge: badge.map(|b| b.min(u64::from(u32::MAX)) as u32),
        banner: !silent,
        thread_id: None,
        // A notification's `tag` replaces the one shown with the same tag (the
        // Notifications API); else the message's `Topic` does.
        collapse_id: tag.or_else(|| d.collapse_id.clone()),
        interruption_level: "active".into(),
        via_service_extension: false,
        in_foreground: false,
        navigate,
        shown_by: Some(by.to_owned()),
        category: None,
    };
    Decision { outcome: Outcome::Presented, reason: None, shown: Some(shown), bundle_id: Some(opened.origin.clone()) }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::agreement::{ECDH_P256, PrivateKey};
    use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};

    use super::*;
    use serde_json::json;

    fn delivery(data: &str) -> Delivery {
        let message = json!({"origin": "https://news.example", "name": "News", "subscription": "S", "data": data});
        delivery_of(message)
    }

    fn delivery_of(message: serde_json::Value) -> Delivery {
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
        let got = present_web(&delivery(data), &WebKeys::default());
        assert_eq!(got.outcome, Outcome::Presented);
        let s = got.shown.expect("shown");
        assert_eq!((s.title.as_deref(), s.body.as_deref()), (Some("Goal"), Some("2-1")));
        assert_eq!((s.navigate.as_deref(), s.badge), (Some("https://news.example/m/1"), Some(4)));
        assert!(s.shown_by.as_deref() == Some("declarative") && s.banner);
        assert_eq!((s.bundle_id.as_str(), s.collapse_id.as_deref()), ("https://news.example", Some("score")));
        let mutable =
            r#"{"web_push":8030,"notification":{"title":"t","navigate":"https://n.example","tag":"m"},"mutable":true}"#;
        let s = present_web(&delivery(mutable), &WebKeys::default()).shown.expect("shown");
        assert_eq!((s.shown_by.as_deref(), s.collapse_id.as_deref()), (Some("service-worker"), Some("m")));
        let insecure = r#"{"web_push":8030,"notification":{"title":"t","navigate":"http://n.example"}}"#;
        let s = present_web(&delivery(insecure), &WebKeys::default()).shown.expect("shown");
        assert_eq!(s.shown_by.as_deref(), Some("service-worker"), "navigate must be https");
        let silent = r#"{"web_push":8030,"notification":{"title":"t","navigate":"https://n.example","silent":true}}"#;
        let s = present_web(&delivery(silent), &WebKeys::default()).shown.expect("shown");
        assert!(!s.banner && s.sound.is_none());
    }

    #[test]
    fn the_phone_decrypts_with_the_keys_it_made() {
        let mut keys = WebKeys::default();
        let mine = keys.for_origin("https://news.example");
        assert_eq!(keys.for_origin("https://news.example"), mine, "the same keys for the origin");
        keys.subscribed("https://news.example", "https://127.0.0.1:2200/SUB");
        let p256dh = protocol::webpush::base64url(&mine.p256dh).expect("b64");
        let auth = protocol::webpush::base64url(&mine.auth).expect("b64");
        let sender = PrivateKey::generate(&ECDH_P256).expect("key");
        let scalar: EcPrivateKeyBin<'static> = sender.as_be_bytes().expect("scalar");
        let body = protocol::ece::encrypt(
            br#"{"title":"Hi","body":"sealed"}"#,
            &p256dh,
            &auth,
            scalar.as_ref(),
            &[3; 16],
            4096,
        )
        .expect("encrypts");
        let sealed = |sub: &str| {
            delivery_of(
                json!({"origin": "https://news.example", "name": "News", "subscription": sub, "encrypted": b64(&body)}),
            )
        };
        let s = present_web(&sealed("SUB"), &keys).shown.expect("shown");
        assert_eq!(s.body.as_deref(), Some("sealed"));
        let lost = present_web(&sealed("OTHER"), &keys);
        assert_eq!(lost.outcome, Outcome::Discarded);
        assert!(lost.reason.is_some_and(|r| r.contains("no keys")));
    }

    #[test]
    fn other_messages_go_to_the_default_service_worker() {
        let s = present_web(&delivery(r#"{"title":"Hi","body":"there"}"#), &WebKeys::default()).shown.expect("shown");
        assert_eq!((s.title.as_deref(), s.body.as_deref()), (Some("Hi"), Some("there")));
        assert_eq!(s.shown_by.as_deref(), Some("service-worker"));
        // Declarative without `navigate` is not declarative: the service worker gets it.
        let s = present_web(&delivery(r#"{"web_push":8030,"notification":{"title":"x"}}"#), &WebKeys::default())
            .shown
            .expect("shown");
        assert_eq!(s.shown_by.as_deref(), Some("service-worker"));
        let s = present_web(&delivery("plain words"), &WebKeys::default()).shown.expect("shown");
        assert_eq!((s.title.as_deref(), s.body.as_deref()), (Some("News"), Some("plain words")));
    }
}
