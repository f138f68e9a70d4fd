//! Live Activities (ActivityKit) on the wire: what a `liveactivity` push's `aps` must hold
//! for the phone to apply it, read into one typed view or into the reason the phone drops
//! it, and the kinds of token an activity is reached by.
//!
//! APNs itself checks a Live Activity push's headers (topic suffix, priority 5 or 10, the
//! token's kind) and size; it does not read `aps`. A push whose `aps` is wrong is
//! accepted (200) and dropped by the device, so the rules here are the device's:
//!
//! | event | needs | may carry |
//! |---|---|---|
//! | any | `event` (`start`, `update`, `end`), `timestamp` (UNIX seconds) | `stale-date`, `relevance-score`, `alert` |
//! | `start` | `attributes-type`, `attributes` (object), `content-state` (object), `alert` | `input-push-token: 1` or `input-push-channel` (not both) |
//! | `update` | `content-state` (object) | |
//! | `end` | the final `content-state` (object) | `dismissal-date` (UNIX seconds; past: removed now) |
//!
//! Apple: "Starting and updating Live Activities with ActivityKit push notifications".

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `aps.event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivityEvent {
    /// Push-to-start: create an activity (iOS 17.2+).
    Start,
    /// New content state.
    Update,
    /// The last content state; the activity ends.
    End,
}

impl ActivityEvent {
    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActivityEvent::Start => "start",
            ActivityEvent::Update => "update",
            ActivityEvent::End => "end",
        }
    }
}

/// Which token an activity push goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActivityTokenKind {
    /// One per app and `ActivityAttributes` type: starts activities.
    PushToStart,
    /// One per running activity: updates and ends it.
    Update,
}

/// Which activity (or which attributes type, for push-to-start) a delivered `liveactivity`
/// push is for: the device knows its tokens; the gateway line names what the token meant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ActivityTarget {
    /// The app's push-to-start token for this type.
    PushToStart {
        /// The `ActivityAttributes` type.
        attributes_type: String,
    },
    /// A running activity's update token.
    Update {
        /// The activity.
        activity_id: String,
    },
}

/// A Live Activity push the phone can apply.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityPush {
    /// What it does.
    pub event: ActivityEvent,
    /// When the provider sent it, UNIX seconds; an update older than the state shown is dropped.
    pub timestamp: u64,
    /// The new (or, on end, final) dynamic state.
    pub content_state: Map<String, Value>,
    /// When the content goes stale, UNIX seconds.
    pub stale_date: Option<u64>,
    /// On end: when to remove it from the Lock Screen, UNIX seconds.
    pub dismissal_date: Option<u64>,
    /// Ordering among the app's activities.
    pub relevance_score: Option<f64>,
    /// An alert that lights the screen (required on start).
    pub alert: Option<Value>,
    /// On start: the `ActivityAttributes` type.
    pub attributes_type: Option<String>,
    /// On start: the static attributes.
    pub attributes: Option<Map<String, Value>>,
    /// On start: give the new activity its own update token.
    pub input_push_token: bool,
    /// On start: subscribe the new activity to this broadcast channel.
    pub input_push_channel: Option<String>,
}

fn seconds(aps: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match aps.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0 && f.is_finite()).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| format!("{key} must be UNIX seconds")),
    }
}

fn object(aps: &Map<String, Value>, key: &str) -> Result<Option<Map<String, Value>>, String> {
    match aps.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o.clone())),
        Some(_) => Err(format!("{key} must be an object")),
    }
}

impl ActivityPush {
    /// Reads a payload the way the phone does: the push, or why it is dropped.
    pub fn read(payload: &[u8]) -> Result<ActivityPush, String> {
        let value: Value = serde_json::from_slice(payload).map_err(|_| "the payload is not JSON".to_owned())?;
        let Some(Value::Object(aps)) = value.get("aps") else {
            return Err("no aps dictionary".into());
        };
        let event = match aps.get("event").and_then(Value::as_str) {
            Some("start") => ActivityEvent::Start,
            Some("update") => ActivityEvent::Update,
            Some("end") => ActivityEvent::End,
            Some(other) => return Err(format!("event {other:?} is not start, update or end")),
            None => return Err("no event".into()),
        };
        let timestamp = seconds(aps, "timestamp")?.ok_or("no timestamp")?;
        let content_state = object(aps, "content-state")?;
        let attributes = object(aps, "attributes")?;
        let attributes_type = match aps.get("attributes-type") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => return Err("attributes-type must be a type name".into()),
        };
        let input_push_token = match aps.get("input-push-token") {
            None | Some(Value::Null) => false,
            Some(v) if v.as_u64() == Some(1) || v.as_bool() == Some(true) => true,
            Some(v) if v.as_u64() == Some(0) || v.as_bool() == Some(false) => false,
            Some(_) => return Err("input-push-token must be 1".into()),
        };
        let input_push_channel = match aps.get("input-push-channel") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("input-push-channel must be a channel id".into()),
        };
        let relevance_score = match aps.get("relevance-score") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_f64().ok_or("relevance-score must be a number")?),
        };
        let alert = aps.get("alert").filter(|v| !v.is_null()).cloned();
        let content_state = match (event, content_state) {
            (_, Some(state)) => state,
            (ActivityEvent::Start, None) => return Err("a start needs content-state".into()),
            (ActivityEvent::Update, None) => return Err("an update needs content-state".into()),
            (ActivityEvent::End, None) => return Err("an end needs its final content-state".into()),
        };
        if event == ActivityEvent::Start {
            if attributes_type.is_none() || attributes.is_none() {
                return Err("a start needs attributes-type and attributes".into());
            }
            if alert.is_none() {
                return Err("a start needs an alert".into());
            }
            if input_push_token && input_push_channel.is_some() {
                return Err("input-push-token and input-push-channel are alternatives".into());
            }
        }
        Ok(ActivityPush {
            event,
            timestamp,
            content_state,
            stale_date: seconds(aps, "stale-date")?,
            dismissal_date: seconds(aps, "dismissal-date")?,
            relevance_score,
            alert,
            attributes_type,
            attributes,
            input_push_token,
            input_push_channel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Result<ActivityPush, String> {
        ActivityPush::read(v.to_string().as_bytes())
    }

    #[test]
    fn the_three_events_as_apple_writes_them() {
        let start = read(json!({"aps": {
            "timestamp": 1_800_000_000, "event": "start", "content-state": {"eta": 10},
            "attributes-type": "DeliveryAttributes", "attributes": {"order": "A1"},
            "alert": {"title": "On its way", "body": "10 min"}, "input-push-token": 1
        }}))
        .expect("a start");
        assert_eq!(start.event, ActivityEvent::Start);
        assert_eq!(start.attributes_type.as_deref(), Some("DeliveryAttributes"));
        assert!(start.input_push_token);
        let update = read(json!({"aps": {"timestamp": 1, "event": "update", "content-state": {"eta": 5},
            "stale-date": 2, "relevance-score": 50}}))
        .expect("an update");
        assert_eq!((update.stale_date, update.relevance_score), (Some(2), Some(50.0)));
        let end = read(json!({"aps": {"timestamp": 3, "event": "end", "content-state": {"eta": 0},
            "dismissal-date": 4}}))
        .expect("an end");
        assert_eq!(end.dismissal_date, Some(4));
    }

    #[test]
    fn what_the_phone_drops_and_why() {
        let cases = [
            (json!({"x": 1}), "no aps dictionary"),
            (json!({"aps": {"timestamp": 1, "content-state": {}}}), "no event"),
            (json!({"aps": {"event": "pause", "timestamp": 1}}), "event \"pause\" is not start, update or end"),
            (json!({"aps": {"event": "update", "content-state": {}}}), "no timestamp"),
            (
                json!({"aps": {"event": "update", "timestamp": "now", "content-state": {}}}),
                "timestamp must be UNIX seconds",
            ),
            (json!({"aps": {"event": "update", "timestamp": 1}}), "an update needs content-state"),
            (json!({"aps": {"event": "end", "timestamp": 1}}), "an end needs its final content-state"),
            (
                json!({"aps": {"event": "update", "timestamp": 1, "content-state": 3}}),
                "content-state must be an object",
            ),
            (
                json!({"aps": {"event": "start", "timestamp": 1, "content-state": {}, "alert": "x"}}),
                "a start needs attributes-type and attributes",
            ),
            (
                json!({"aps": {"event": "start", "timestamp": 1, "content-state": {}, "attributes-type": "T", "attributes": {}}}),
                "a start needs an alert",
            ),
            (
                json!({"aps": {"event": "start", "timestamp": 1, "content-state": {}, "attributes-type": "T",
                    "attributes": {}, "alert": "x", "input-push-token": 1, "input-push-channel": "abc="}}),
                "input-push-token and input-push-channel are alternatives",
            ),
        ];
        for (payload, why) in cases {
            assert_eq!(read(payload.clone()).err().as_deref(), Some(why), "{payload}");
        }
    }
}
