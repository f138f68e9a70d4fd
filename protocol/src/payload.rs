//! The notification payload: the `aps` dictionary Apple defines, and the app's own keys
//! beside it.
//!
//! Every `aps` key of Apple's "Generating a remote notification" table is a field here,
//! including the Live Activity keys from ActivityKit's push article. Keys Apple adds later
//! are kept in [`Aps::other`] rather than dropped, because APNs ignores unknown `aps` keys
//! and so must anything that relays a payload.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::PushType;

/// The largest body APNs accepts for `push_type`, in bytes: 5120 for VoIP, 4096 for
/// everything else (Live Activity device pushes included). Broadcasts allow 5120 too.
pub const fn max_payload_size(push_type: PushType) -> usize {
    match push_type {
        PushType::Voip => 5120,
        _ => 4096,
    }
}

/// A whole payload: `{"aps": {…}, "custom": …}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// Apple's dictionary. Absent in a few kinds of push (MDM), so it defaults to empty.
    #[serde(default, skip_serializing_if = "Aps::is_empty")]
    pub aps: Aps,
    /// The app's own keys, which live beside `aps`, never inside it.
    #[serde(flatten)]
    pub custom: Map<String, Value>,
}

/// The `aps` dictionary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Aps {
    /// The alert: a string (used as the body) or a dictionary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<Alert>,
    /// The number on the app icon; 0 removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<u32>,
    /// A sound file name, `"default"`, or a critical-alert dictionary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<Sound>,
    /// Groups notifications into threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// A registered notification category (action buttons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// 1: a background update; must come without alert, badge or sound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_available: Option<u8>,
    /// 1: route through the Notification Service Extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutable_content: Option<u8>,
    /// The window or scene to bring forward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_content_id: Option<String>,
    /// passive, active, time-sensitive or critical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interruption_level: Option<InterruptionLevel>,
    /// 0–1 for summaries; any number for Live Activity ordering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevance_score: Option<f64>,
    /// Focus filter criteria.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_criteria: Option<String>,
    /// Live Activity: UNIX seconds at which the activity becomes stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_date: Option<u64>,
    /// Live Activity: the new content state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_state: Option<Map<String, Value>>,
    /// Live Activity: UNIX seconds when the update was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// Live Activity: `start`, `update` or `end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Live Activity end: when to remove it (UNIX seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dismissal_date: Option<u64>,
    /// Live Activity start: the attributes struct's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes_type: Option<String>,
    /// Live Activity start: the static attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
    /// Live Activity start: 1 to get a per-activity update token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_push_token: Option<u8>,
    /// Live Activity start: the broadcast channel to subscribe to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_push_channel: Option<String>,
    /// iOS 12 summary argument (deprecated, still sent by some clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_arg: Option<String>,
    /// iOS 12 summary argument count (deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_arg_count: Option<u32>,
    /// Safari web push URL arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_args: Option<Vec<String>>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Aps {
    fn is_empty(&self) -> bool {
        self == &Aps::default()
    }

    /// Whether this is a background update: `content-available: 1` with nothing the
    /// user would see.
    pub fn is_silent(&self) -> bool {
        self.content_available == Some(1) && self.alert.is_none() && self.badge.is_none() && self.sound.is_none()
    }
}

/// `aps.alert`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Alert {
    /// A plain string: the body.
    Text(String),
    /// Title, subtitle, body and their localisation keys.
    Dict(Box<AlertDict>),
}

/// The alert dictionary. Live Activity alerts may hold objects in `title` and `body`
/// (with `loc-key`/`loc-args`), so those are JSON values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AlertDict {
    /// The title (a string, or a localisation object in Live Activity alerts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Value>,
    /// The subtitle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle: Option<String>,
    /// The body (a string, or a localisation object in Live Activity alerts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The launch image file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_image: Option<String>,
    /// Localisation key for the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_loc_key: Option<String>,
    /// Arguments for the title key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_loc_args: Option<Vec<String>>,
    /// Localisation key for the subtitle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle_loc_key: Option<String>,
    /// Arguments for the subtitle key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle_loc_args: Option<Vec<String>>,
    /// Localisation key for the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loc_key: Option<String>,
    /// Arguments for the body key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loc_args: Option<Vec<String>>,
    /// Legacy: the action button's localisation key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_loc_key: Option<String>,
    /// Live Activity alerts: the sound to play.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<Sound>,
    /// Keys this model does not know.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `aps.sound`: a name, or the critical-alert dictionary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Sound {
    /// A sound file name, or `"default"`.
    Name(String),
    /// A critical alert sound.
    Critical {
        /// 1 for a critical alert.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        critical: Option<u8>,
        /// The sound file name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Volume from 0 to 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        volume: Option<f64>,
    },
}

/// `aps.interruption-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterruptionLevel {
    /// Added to the list without lighting the screen.
    Passive,
    /// The default: lights the screen, may play a sound.
    Active,
    /// Breaks through Focus.
    TimeSensitive,
    /// Breaks through Focus and the mute switch (entitlement needed).
    Critical,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(wire: Value) -> Payload {
        let p: Payload = serde_json::from_value(wire.clone()).expect("parses");
        assert_eq!(serde_json::to_value(&p).expect("serialises"), wire);
        p
    }

    #[test]
    fn alert_dictionary_sound_and_custom_keys() {
        let p = round_trip(json!({
            "aps": {
                "alert": {"title": "Game Request", "subtitle": "Five Card Draw", "body": "Bob wants to play poker",
                          "loc-key": "GAME_PLAY_REQUEST_FORMAT", "loc-args": ["Jenna", "Frank"]},
                "badge": 9,
                "sound": {"critical": 1, "name": "alarm.aiff", "volume": 0.5},
                "thread-id": "game-1",
                "category": "GAME_INVITATION",
                "mutable-content": 1,
                "interruption-level": "time-sensitive",
                "relevance-score": 0.75
            },
            "gameID": "12345678"
        }));
        assert_eq!(p.aps.badge, Some(9));
        assert_eq!(p.aps.interruption_level, Some(InterruptionLevel::TimeSensitive));
        assert_eq!(p.custom["gameID"], json!("12345678"));
        assert!(!p.aps.is_silent());
    }

    #[test]
    fn string_alert_and_background_push() {
        let p = round_trip(json!({"aps": {"alert": "Hello", "sound": "default"}}));
        assert_eq!(p.aps.alert, Some(Alert::Text("Hello".into())));
        assert_eq!(p.aps.sound, Some(Sound::Name("default".into())));
        let bg = round_trip(json!({"aps": {"content-available": 1}, "acme1": "bar"}));
        assert!(bg.aps.is_silent());
    }

    #[test]
    fn live_activity_keys() {
        let p = round_trip(json!({
            "aps": {
                "timestamp": 1685952000, "event": "start", "content-state": {"currentHealthLevel": 100},
                "attributes-type": "AdventureAttributes", "attributes": {"name": "Power Panda"},
                "alert": {"title": {"loc-key": "%@ is on an adventure!", "loc-args": ["Power Panda"]},
                          "body": {"loc-key": "%@ found a sword!", "loc-args": ["Power Panda"]},
                          "sound": "chime.aiff"},
                "stale-date": 1685955600, "dismissal-date": 1685959200, "relevance-score": 100.0,
                "input-push-token": 1, "input-push-channel": "dHJhaW4tMTQ="
            }
        }));
        assert_eq!(p.aps.event.as_deref(), Some("start"));
        assert_eq!(p.aps.input_push_token, Some(1));
    }

    #[test]
    fn unknown_aps_keys_are_kept() {
        let p = round_trip(json!({"aps": {"future-key": [1, 2]}, "x": null}));
        assert_eq!(p.aps.other["future-key"], json!([1, 2]));
    }

    #[test]
    fn size_limits() {
        assert_eq!(max_payload_size(PushType::Alert), 4096);
        assert_eq!(max_payload_size(PushType::Liveactivity), 4096);
        assert_eq!(max_payload_size(PushType::Voip), 5120);
    }
}
