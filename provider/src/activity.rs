//! Live Activity notifications, as a provider builds them: a start (push-to-start, with
//! the attributes and an alert), updates and an end, each with a typed content state
//! serialised with serde's default JSON coding (what ActivityKit decodes). The result is
//! a [`Notification`] for the `<bundle>.push-type.liveactivity` topic, checked before it
//! is sent against what the phone would drop (`protocol::ActivityPush`).
//!
//! ```
//! # use provider::LiveActivity;
//! #[derive(serde::Serialize)]
//! struct Eta { minutes: u32 }
//! let n = LiveActivity::update(&Eta { minutes: 5 }, 1_800_000_000)
//!     .expect("serialisable")
//!     .stale_date(1_800_000_900)
//!     .notification("80f2…token", "com.example.food");
//! assert_eq!(n.topic.as_deref(), Some("com.example.food.push-type.liveactivity"));
//! ```

use protocol::{ActivityEvent, ActivityPush, Priority, PushType};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{Error, Notification};

/// One Live Activity push's `aps`.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveActivity {
    event: ActivityEvent,
    aps: Map<String, Value>,
}

fn object(what: &str, v: &impl Serialize) -> Result<Value, Error> {
    match serde_json::to_value(v) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Error::Invalid(format!("{what} must serialise to a JSON object"))),
        Err(e) => Err(Error::Invalid(format!("{what}: {e}"))),
    }
}

impl LiveActivity {
    fn new(event: ActivityEvent, state: &impl Serialize, timestamp: u64) -> Result<Self, Error> {
        let mut aps = Map::new();
        aps.insert("event".into(), json!(event.as_str()));
        aps.insert("timestamp".into(), json!(timestamp));
        aps.insert("content-state".into(), object("content-state", state)?);
        Ok(LiveActivity { event, aps })
    }

    /// A push-to-start (iOS 17.2+): the attributes type and its static attributes, the
    /// first content state and the alert that announces it. `timestamp` is UNIX seconds.
    pub fn start(
        attributes_type: &str,
        attributes: &impl Serialize,
        state: &impl Serialize,
        alert: Value,
        timestamp: u64,
    ) -> Result<Self, Error> {
        let mut la = Self::new(ActivityEvent::Start, state, timestamp)?;
        la.aps.insert("attributes-type".into(), json!(attributes_type));
        la.aps.insert("attributes".into(), object("attributes", attributes)?);
        la.aps.insert("alert".into(), alert);
        Ok(la)
    }

    /// A new content state for a running activity.
    pub fn update(state: &impl Serialize, timestamp: u64) -> Result<Self, Error> {
        Self::new(ActivityEvent::Update, state, timestamp)
    }

    /// The final content state; the activity ends.
    pub fn end(state: &impl Serialize, timestamp: u64) -> Result<Self, Error> {
        Self::new(ActivityEvent::End, state, timestamp)
    }

    fn set(mut self, key: &str, value: Value) -> Self {
        self.aps.insert(key.into(), value);
        self
    }

    /// When the content goes stale (UNIX seconds).
    pub fn stale_date(self, secs: u64) -> Self {
        self.set("stale-date", json!(secs))
    }

    /// On end: when to remove it from the Lock Screen (UNIX seconds; past: now).
    pub fn dismissal_date(self, secs: u64) -> Self {
        self.set("dismissal-date", json!(secs))
    }

    /// Ordering among the app's activities (and which one the Dynamic Island shows).
    pub fn relevance_score(self, score: f64) -> Self {
        self.set("relevance-score", json!(score))
    }

    /// An alert that lights the screen (required on start; optional on update and end).
    pub fn alert(self, alert: Value) -> Self {
        self.set("alert", alert)
    }

    /// On start: give the new activity its own update token.
    pub fn input_push_token(self) -> Self {
        self.set("input-push-token", json!(1))
    }

    /// On start: subscribe the new activity to a broadcast channel.
    pub fn input_push_channel(self, channel_id: &str) -> Self {
        self.set("input-push-channel", json!(channel_id))
    }

    /// Which event this is.
    pub fn event(&self) -> ActivityEvent {
        self.event
    }

    /// The whole payload, `{"aps": {…}}`.
    pub fn payload(&self) -> Value {
        json!({ "aps": self.aps })
    }

    /// The notification for one activity token (an update token, or a push-to-start
    /// token for a start) of `bundle_id`: push type `liveactivity`, its topic, priority 10.
    pub fn notification(&self, token: impl Into<String>, bundle_id: &str) -> Notification {
        Notification::raw(token, self.payload().to_string())
            .topic(format!("{bundle_id}.push-type.liveactivity"))
            .push_type(PushType::Liveactivity)
            .priority(Priority::Immediate)
    }

    /// Checks the payload the way the phone reads it: `Err` says why it would be dropped.
    pub fn check(&self) -> Result<(), Error> {
        ActivityPush::read(self.payload().to_string().as_bytes()).map(|_| ()).map_err(Error::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Order {
        id: &'static str,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Eta {
        minutes_left: u32,
    }

    #[test]
    fn the_three_events_as_apple_writes_them() {
        let start = LiveActivity::start(
            "DeliveryAttributes",
            &Order { id: "A1" },
            &Eta { minutes_left: 20 },
            json!({"title": "On its way"}),
            100,
        )
        .expect("builds")
        .input_push_token();
        assert_eq!(
            start.payload(),
            json!({"aps": {"event": "start", "timestamp": 100, "content-state": {"minutesLeft": 20},
                "attributes-type": "DeliveryAttributes", "attributes": {"id": "A1"},
                "alert": {"title": "On its way"}, "input-push-token": 1}})
        );
        start.check().expect("a start the phone applies");
        let n = LiveActivity::update(&Eta { minutes_left: 5 }, 160)
            .expect("builds")
            .stale_date(900)
            .notification("ab", "com.example.food");
        assert_eq!(
            (n.topic.as_deref(), n.push_type, n.priority),
            (Some("com.example.food.push-type.liveactivity"), Some(PushType::Liveactivity), Some(Priority::Immediate))
        );
        let end = LiveActivity::end(&Eta { minutes_left: 0 }, 200).expect("builds").dismissal_date(300);
        assert_eq!(end.payload()["aps"]["dismissal-date"], 300);
        end.check().expect("an end the phone applies");
    }

    #[test]
    fn what_the_phone_would_drop_is_caught_before_sending() {
        assert!(LiveActivity::update(&3, 1).is_err(), "a content state is an object");
        let both = LiveActivity::start("T", &Order { id: "x" }, &Eta { minutes_left: 1 }, json!("hi"), 1)
            .expect("builds")
            .input_push_token()
            .input_push_channel("dHVuYQ==");
        assert_eq!(
            both.check().err().map(|e| e.to_string()),
            Some("not sent: input-push-token and input-push-channel are alternatives".into())
        );
    }
}
