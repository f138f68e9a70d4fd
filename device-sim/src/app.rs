//! Step 5 inside the app: the rules iOS holds an app's own code to once a push reaches it,
//! applied to an app that has a [`Handler`] (the team's logic). Each rule's outcome is
//! what the phone acknowledges, so it becomes the notification's journey state.
//!
//! | push | event the app gets | rule |
//! |---|---|---|
//! | alert with `mutable-content: 1` | `didReceive` (the Notification Service Extension) | answer `{"content": {...}}` within [`Rules::extension_budget`]; else `serviceExtensionTimeWillExpire`, then the original content is shown |
//! | background (`content-available: 1`, nothing visible) | `didReceiveRemoteNotification` | within the background budget ([`Rules::background_limit`] per [`Rules::background_window_secs`] of the mock's clock), answer `{"result": "newData"\|"noData"\|"failed"}` within [`Rules::background_time`] |
//! | `voip` | `didReceiveIncomingPushWith` (PushKit) | answer `{"reportNewIncomingCall": {...}}` within [`Rules::voip_time`], or the app is terminated; after [`Rules::voip_strikes`] in a row, VoIP pushes to it stop until it is reinstalled |
//! | alert, app in the foreground | `willPresent` | answer `{"options": [...]}` of `banner`, `list`, `sound`, `badge`; none: nothing shown |
//! | a new token | `didRegisterForRemoteNotifications`, `pushToStartTokenUpdates`, `pushTokenUpdates` | the app hands it to its backend itself |
//! | web push to a web app | `push` (its service worker) | answer `{"showNotification": {"title", "body"?, "tag"?, "navigate"?}}` |
//!
//! Any event may be answered `{"default": true}`: the phone then does what an app
//! without its own logic does (a test harness answers so for events it has no callback
//! for).
//!
//! Apple publishes the ~30 s of the extension and of a background fetch; it publishes no
//! background budget ("two or three per hour") and no count of unreported VoIP pushes
//! after which it stops launching the app: the defaults here (3 per hour; 3 in a row)
//! are choices, and settings.

use std::time::Duration;

use protocol::gateway::{Delivery, Outcome};
use protocol::{Alert, Payload, PushType};
use serde_json::{Value, json};

use crate::handler::{Failure, Handler};
use crate::present::{Decision, Shown};

/// The budgets and counts the phone holds apps' handlers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// How long the service extension has to call its content handler (iOS: ~30 s).
    pub extension_budget: Duration,
    /// How long it has after `serviceExtensionTimeWillExpire` (iOS: a moment).
    pub expire_grace: Duration,
    /// How long a background fetch may run before it counts as failed (iOS: 30 s).
    pub background_time: Duration,
    /// Background pushes an app may receive per window; past it they are throttled.
    pub background_limit: u32,
    /// The window, seconds of the mock's clock.
    pub background_window_secs: u64,
    /// How long PushKit waits for the app to report a call.
    pub voip_time: Duration,
    /// Unreported VoIP pushes in a row after which iOS stops launching the app for them.
    pub voip_strikes: u32,
    /// How long `willPresent` and the other events may take.
    pub answer_time: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            extension_budget: Duration::from_secs(30),
            expire_grace: Duration::from_secs(1),
            background_time: Duration::from_secs(30),
            background_limit: 3,
            background_window_secs: 3600,
            voip_time: Duration::from_secs(10),
            voip_strikes: 3,
            answer_time: Duration::from_secs(5),
        }
    }
}

/// What the phone keeps of an app between pushes for these rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppLife {
    /// When the current background window began, seconds of the mock's clock.
    pub background_window_start: u64,
    /// Unreported VoIP pushes in a row.
    pub voip_failures: u32,
    /// Whether iOS stopped launching the app for VoIP pushes.
    pub voip_blocked: bool,
}

/// The event iOS would call the app with, as JSON.
pub fn event(name: &str, udid: &str, bundle_id: &str, d: &Delivery) -> Value {
    let payload: Value = serde_json::from_str(d.payload.get()).unwrap_or(Value::Null);
    json!({
        "event": name, "udid": udid, "bundleId": bundle_id, "apnsId": d.apns_id,
        "pushType": d.push_type.as_str(), "topic": d.topic, "payload": payload,
    })
}

/// Whether the handler left the event to the built-in app.
pub fn is_default(answer: &Value) -> bool {
    answer.get("default").and_then(Value::as_bool) == Some(true)
}

fn decided(outcome: Outcome, reason: impl Into<Option<String>>, shown: Option<Shown>, bundle: &str) -> Decision {
    Decision { outcome, reason: reason.into(), shown, bundle_id: Some(bundle.to_owned()) }
}

/// A VoIP push: the app must report a call. `life` counts the failures.
pub async fn voip(
    handler: &mut Handler,
    rules: &Rules,
    life: &mut AppLife,
    event: Value,
    bundle: &str,
) -> Option<Decision> {
    if life.voip_blocked {
        let why = "not launched: too many unreported VoIP pushes";
        return Some(decided(Outcome::VoipBlocked, Some(why.into()), None, bundle));
    }
    let why = match handler.call(event, rules.voip_time).await {
        Ok(answer) if is_default(&answer) => return None,
        Ok(answer) => match answer.get("reportNewIncomingCall") {
            Some(call) if call.is_object() => {
                life.voip_failures = 0;
                let who = call.get("handle").and_then(Value::as_str).unwrap_or("unknown caller");
                return Some(decided(Outcome::CallReported, Some(format!("incoming call: {who}")), None, bundle));
            }
            _ => "returned without reporting a call".to_owned(),
        },
        Err(e) => e.to_string(),
    };
    handler.stop();
    life.voip_failures += 1;
    let mut reason = format!("no call reported ({why}): app terminated");
    if life.voip_failures >= rules.voip_strikes {
        life.voip_blocked = true;
        reason.push_str(&format!("; {} in a row: VoIP pushes stop until the app is reinstalled", life.voip_failures));
    }
    Some(decided(Outcome::VoipNoCall, Some(reason), None, bundle))
}

/// A background push the budget allowed: the app fetches and says how it went.
pub async fn background(handler: &mut Handler, rules: &Rules, event: Value, bundle: &str) -> Option<Decision> {
    let result = match handler.call(event, rules.background_time).await {
        Ok(answer) if is_default(&answer) => return None,
        Ok(answer) => match answer.get("result").and_then(Value::as_str) {
            Some(r @ ("newData" | "noData" | "failed")) => r.to_owned(),
            _ => "failed: the answer has no result of newData, noData or failed".to_owned(),
        },
        Err(e) => {
            handler.stop();
            format!("failed: {e}; app terminated")
        }
    };
    Some(decided(Outcome::BackgroundFetch, Some(result), None, bundle))
}

/// An alert with `mutable-content: 1`: the extension may change what is shown, in time.
pub async fn extension(handler: &mut Handler, rules: &Rules, event: Value, mut shown: Shown) -> Option<Decision> {
    let bundle = shown.bundle_id.clone();
    let expire = {
        let mut e = event.clone();
        e["event"] = "serviceExtensionTimeWillExpire".into();
        e
    };
    let called = handler.call(event, rules.extension_budget).await;
    if called.as_ref().is_ok_and(is_default) {
        return None;
    }
    shown.via_service_extension = true;
    Some(match called {
        Ok(answer) => match answer.get("content") {
            Some(content) if content.is_object() => {
                let before = shown.clone();
                apply(&mut shown, content);
                let outcome = if shown == before { Outcome::Presented } else { Outcome::ModifiedByExtension };
                let reason = (outcome == Outcome::ModifiedByExtension).then(|| text(&shown));
                decided(outcome, reason, Some(shown), &bundle)
            }
            // The content handler called with nothing new: the original is shown.
            _ => decided(Outcome::Presented, None, Some(shown), &bundle),
        },
        Err(Failure::TimedOut(ms)) => {
            let grace = handler.call(expire, rules.expire_grace).await;
            handler.stop();
            match grace.ok().and_then(|a| a.get("content").filter(|c| c.is_object()).cloned()) {
                Some(content) => {
                    apply(&mut shown, &content);
                    let why = format!("no content within {ms} ms; its best attempt shown: {}", text(&shown));
                    decided(Outcome::ExtensionTimedOut, Some(why), Some(shown), &bundle)
                }
                None => decided(
                    Outcome::ExtensionTimedOut,
                    Some(format!("no content within {ms} ms: original shown")),
                    Some(shown),
                    &bundle,
                ),
            }
        }
        Err(Failure::Failed(why)) => {
            handler.stop();
            decided(Outcome::ExtensionFailed, Some(format!("{why}: original shown")), Some(shown), &bundle)
        }
    })
}

/// An alert while the app is in the foreground: the app says how to present it.
pub async fn will_present(handler: &mut Handler, rules: &Rules, event: Value, mut shown: Shown) -> Option<Decision> {
    let bundle = shown.bundle_id.clone();
    let options: Vec<String> = match handler.call(event, rules.answer_time).await {
        Ok(answer) if is_default(&answer) => return None,
        Ok(answer) => answer
            .get("options")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
        Err(e) => {
            return Some(decided(Outcome::Discarded, Some(format!("willPresent failed: {e}")), None, &bundle));
        }
    };
    let has = |o: &str| options.iter().any(|x| x == o);
    if !has("banner") && !has("list") {
        return Some(decided(Outcome::Discarded, Some("willPresent: not shown".into()), None, &bundle));
    }
    shown.banner = has("banner");
    if !has("sound") {
        shown.sound = None;
    }
    if !has("badge") {
        shown.badge = None;
    }
    Some(decided(Outcome::Presented, Some(format!("willPresent: {}", options.join(", "))), Some(shown), &bundle))
}

/// Applies an extension's content (`title`, `subtitle`, `body`, `sound`, `badge`,
/// `threadIdentifier`) to what will be shown.
fn apply(shown: &mut Shown, content: &Value) {
    let s = |k: &str| content.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(t) = s("title") {
        shown.title = Some(t);
    }
    if let Some(t) = s("subtitle") {
        shown.subtitle = Some(t);
    }
    if let Some(t) = s("body") {
        shown.body = Some(t);
    }
    if let Some(t) = s("sound") {
        shown.sound = Some(t);
    }
    if let Some(t) = s("threadIdentifier") {
        shown.thread_id = Some(t);
    }
    if let Some(b) = content.get("badge").and_then(Value::as_u64) {
        shown.badge = Some(b.min(u64::from(u32::MAX)) as u32);
    }
}

/// `title — subtitle — body`, as journeys show it.
pub fn text(s: &Shown) -> String {
    [s.title.as_deref(), s.subtitle.as_deref(), s.body.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" — ")
}

/// Whether iOS runs the service extension for this push: `mutable-content: 1` with an
/// alert (silent pushes and sound- or badge-only ones never reach it).
pub fn wants_extension(d: &Delivery) -> bool {
    if d.push_type != PushType::Alert {
        return false;
    }
    let payload: Payload = serde_json::from_str(d.payload.get()).unwrap_or_default();
    let has_alert = match &payload.aps.alert {
        Some(Alert::Text(t)) => !t.is_empty(),
        Some(Alert::Dict(_)) => true,
        None => false,
    };
    payload.aps.mutable_content == Some(1) && has_alert
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::Target;

    fn shown() -> Shown {
        Shown {
            apns_id: "1".into(),
            bundle_id: "com.example.chat".into(),
            title: Some("New message".into()),
            subtitle: None,
            body: Some("(encrypted)".into()),
            sound: Some("default".into()),
            badge: Some(1),
            banner: true,
            thread_id: None,
            collapse_id: None,
            interruption_level: "active".into(),
            via_service_extension: false,
            in_foreground: false,
            navigate: None,
            shown_by: None,
            category: None,
        }
    }

    fn answering(v: Value) -> Handler {
        Handler::new(Target::function(move |_| std::future::ready(v.clone())), None)
    }

    fn slow() -> Handler {
        Handler::new(
            Target::function(|e: Value| async move {
                if e["event"] == "serviceExtensionTimeWillExpire" {
                    return json!({"content": {"body": "best attempt"}});
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
                json!({})
            }),
            None,
        )
    }

    fn quick() -> Rules {
        Rules {
            extension_budget: Duration::from_millis(50),
            voip_time: Duration::from_millis(50),
            background_time: Duration::from_millis(50),
            ..Rules::default()
        }
    }

    #[tokio::test]
    async fn the_extension_modifies_in_time_or_the_original_is_shown() {
        let ev = json!({"event": "didReceive"});
        let mut h = answering(json!({"content": {"body": "Lunch at 1?"}}));
        let d = extension(&mut h, &quick(), ev.clone(), shown()).await.expect("ran");
        assert_eq!((d.outcome, d.reason.as_deref()), (Outcome::ModifiedByExtension, Some("New message — Lunch at 1?")));
        assert!(d.shown.expect("shown").via_service_extension);
        let d = extension(&mut slow(), &quick(), ev.clone(), shown()).await.expect("ran");
        assert_eq!(d.outcome, Outcome::ExtensionTimedOut);
        assert_eq!(d.shown.expect("shown").body.as_deref(), Some("best attempt"));
        let mut never = Handler::new(
            Target::function(|_| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                json!({})
            }),
            None,
        );
        let d = extension(&mut never, &quick(), ev.clone(), shown()).await.expect("ran");
        assert_eq!(d.outcome, Outcome::ExtensionTimedOut);
        assert!(d.reason.as_deref().is_some_and(|r| r.ends_with("original shown")));
        assert_eq!(d.shown.expect("shown").body.as_deref(), Some("(encrypted)"));
        let d =
            extension(&mut answering(json!({"content": "nope"})), &quick(), ev.clone(), shown()).await.expect("ran");
        assert_eq!(d.outcome, Outcome::Presented, "no new content: the original");
        assert!(extension(&mut answering(json!({"default": true})), &quick(), ev, shown()).await.is_none());
    }

    #[test]
    fn only_an_alert_with_mutable_content_goes_to_the_extension() {
        let d = |push_type: &str, payload: Value| -> Delivery {
            serde_json::from_value(json!({
                "apns_id": "1", "topic": "com.example.chat", "push_type": push_type, "priority": 10,
                "environment": "sandbox", "payload": payload, "received_ms": 1
            }))
            .expect("delivery")
        };
        assert!(wants_extension(&d("alert", json!({"aps": {"alert": "hi", "mutable-content": 1}}))));
        assert!(!wants_extension(&d("alert", json!({"aps": {"alert": "hi"}}))), "not mutable");
        assert!(!wants_extension(&d("alert", json!({"aps": {"badge": 1, "mutable-content": 1}}))), "no alert");
        assert!(!wants_extension(&d("alert", json!({"aps": {"sound": "a", "mutable-content": 1}}))), "sound only");
        let silent = json!({"aps": {"content-available": 1, "mutable-content": 1}});
        assert!(!wants_extension(&d("background", silent)), "a background push");
        assert!(!wants_extension(&d("voip", json!({"aps": {"alert": "x", "mutable-content": 1}}))), "VoIP");
    }

    #[tokio::test]
    async fn voip_without_a_call_terminates_and_then_blocks() {
        let rules = quick();
        let mut life = AppLife::default();
        let mut good = answering(json!({"reportNewIncomingCall": {"handle": "Ann"}}));
        let d = voip(&mut good, &rules, &mut life, json!({}), "com.example.chat").await.expect("ran");
        assert_eq!((d.outcome, d.reason.as_deref()), (Outcome::CallReported, Some("incoming call: Ann")));
        let mut bad = answering(json!({}));
        for n in 1..=3 {
            let d = voip(&mut bad, &rules, &mut life, json!({}), "com.example.chat").await.expect("ran");
            assert_eq!(d.outcome, Outcome::VoipNoCall, "strike {n}");
        }
        assert!(life.voip_blocked);
        let d = voip(&mut good, &rules, &mut life, json!({}), "com.example.chat").await.expect("ran");
        assert_eq!(d.outcome, Outcome::VoipBlocked, "even a good answer is never asked for");
    }

    #[tokio::test]
    async fn background_results_and_foreground_options() {
        let d = background(&mut answering(json!({"result": "newData"})), &quick(), json!({}), "a").await.expect("ran");
        assert_eq!((d.outcome, d.reason.as_deref()), (Outcome::BackgroundFetch, Some("newData")));
        let d = background(&mut answering(json!({"result": 7})), &quick(), json!({}), "a").await.expect("ran");
        assert!(d.reason.expect("why").starts_with("failed"));
        let d = will_present(&mut answering(json!({"options": ["list"]})), &quick(), json!({}), shown())
            .await
            .expect("ran");
        let s = d.shown.expect("listed");
        assert!(!s.banner && s.sound.is_none() && s.badge.is_none());
        let d = will_present(&mut answering(json!({"options": []})), &quick(), json!({}), shown()).await.expect("ran");
        assert_eq!(d.outcome, Outcome::Discarded);
    }
}
