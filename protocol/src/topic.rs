//! `apns-topic` and `apns-push-type`: which app a push is for, and what kind of push.
//!
//! Most push types address the app by its bundle ID plus a suffix (`.voip`,
//! `.push-type.liveactivity`, …); the table is Apple's `apns-push-type` table in
//! "Sending notification requests to APNs".

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The value of `apns-topic`: a bundle ID, possibly with a push-type suffix, or an MDM
/// topic. Any non-empty run of visible ASCII up to [`Topic::MAX_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(String);

impl Topic {
    /// The longest topic accepted, in bytes (bundle IDs are at most 155 characters).
    pub const MAX_LEN: usize = 255;

    /// Checks that `text` can be a topic.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let ok = !text.is_empty()
            && text.len() <= Self::MAX_LEN
            && text.bytes().all(|b| b.is_ascii_graphic())
            && !text.starts_with('.')
            && !text.ends_with('.');
        if ok { Ok(Self(text.to_owned())) } else { Err(Error::MalformedTopic) }
    }

    /// The topic as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The app's bundle ID this topic addresses for `push_type`, if the topic carries
    /// the suffix that push type needs (`com.example.app.voip` → `com.example.app` for
    /// VoIP). `None` when the suffix is missing. MDM topics are returned whole.
    pub fn bundle_id_for(&self, push_type: PushType) -> Option<&str> {
        match push_type.topic_suffix() {
            None | Some("") => Some(&self.0),
            Some(suffix) => self.0.strip_suffix(suffix).filter(|b| !b.is_empty()),
        }
    }

    /// The bundle ID with any known push-type suffix removed.
    pub fn bundle_id(&self) -> &str {
        PushType::ALL
            .iter()
            .filter_map(|p| p.topic_suffix().filter(|s| !s.is_empty()))
            .find_map(|s| self.0.strip_suffix(s).filter(|b| !b.is_empty()))
            .unwrap_or(&self.0)
    }
}

impl FromStr for Topic {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Topic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Topic {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The value of `apns-push-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushType {
    /// Shows an alert, plays a sound or sets a badge. Topic: the bundle ID.
    Alert,
    /// Wakes the app with `content-available` only; priority 5. Topic: the bundle ID.
    Background,
    /// A PushKit VoIP call. Topic: `<bundle>.voip`. Payload up to 5120 bytes.
    Voip,
    /// A watchOS complication update. Topic: `<bundle>.complication`.
    Complication,
    /// A File Provider extension update. Topic: `<bundle>.pushkit.fileprovider`.
    Fileprovider,
    /// A device-management check-in. Topic: the MDM certificate's UID.
    Mdm,
    /// A Live Activity start, update or end. Topic: `<bundle>.push-type.liveactivity`.
    Liveactivity,
    /// A location query for the Location Push Service extension. Topic:
    /// `<bundle>.location-query`; token authentication only.
    Location,
    /// A Push to Talk update. Topic: `<bundle>.voip-ptt`.
    Pushtotalk,
    /// A WidgetKit reload. Topic: `<bundle>.push-type.widgets`.
    Widgets,
    /// A control reload (iOS 18). Topic: `<bundle>.push-type.controls`.
    Controls,
    /// A Web Push message, on its way from the Web Push endpoint to a web app on the
    /// phone. Not an `apns-push-type` (not in [`PushType::ALL`], and not parsed from a
    /// header); its topic on the device's stream is the web app's origin.
    Webpush,
}

impl PushType {
    /// Every push type, in Apple's table order.
    pub const ALL: [PushType; 11] = [
        PushType::Alert,
        PushType::Background,
        PushType::Voip,
        PushType::Complication,
        PushType::Fileprovider,
        PushType::Mdm,
        PushType::Liveactivity,
        PushType::Location,
        PushType::Pushtotalk,
        PushType::Widgets,
        PushType::Controls,
    ];

    /// The header value.
    pub const fn as_str(self) -> &'static str {
        match self {
            PushType::Alert => "alert",
            PushType::Background => "background",
            PushType::Voip => "voip",
            PushType::Complication => "complication",
            PushType::Fileprovider => "fileprovider",
            PushType::Mdm => "mdm",
            PushType::Liveactivity => "liveactivity",
            PushType::Location => "location",
            PushType::Pushtotalk => "pushtotalk",
            PushType::Widgets => "widgets",
            PushType::Controls => "controls",
            PushType::Webpush => "webpush",
        }
    }

    /// The suffix `apns-topic` must end with: `Some("")` for the plain bundle ID,
    /// `None` for MDM, whose topic is the MDM certificate's UID.
    pub const fn topic_suffix(self) -> Option<&'static str> {
        match self {
            PushType::Alert | PushType::Background => Some(""),
            PushType::Voip => Some(".voip"),
            PushType::Complication => Some(".complication"),
            PushType::Fileprovider => Some(".pushkit.fileprovider"),
            PushType::Mdm | PushType::Webpush => None,
            PushType::Liveactivity => Some(".push-type.liveactivity"),
            PushType::Location => Some(".location-query"),
            PushType::Pushtotalk => Some(".voip-ptt"),
            PushType::Widgets => Some(".push-type.widgets"),
            PushType::Controls => Some(".push-type.controls"),
        }
    }

    /// The push type a suffixed topic implies, for requests that leave
    /// `apns-push-type` out: `.voip` means VoIP, and so on; a plain bundle ID means alert.
    pub fn implied_by(topic: &Topic) -> PushType {
        PushType::ALL
            .into_iter()
            .find(|p| p.topic_suffix().is_some_and(|s| !s.is_empty() && topic.as_str().ends_with(s)))
            .unwrap_or(PushType::Alert)
    }
}

impl fmt::Display for PushType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PushType {
    /// A push type by name, `webpush` included (for what the mock stores; an
    /// `apns-push-type` header is parsed with [`str::parse`], which knows APNs's only).
    pub fn from_name(s: &str) -> Result<PushType, Error> {
        match s {
            "webpush" => Ok(PushType::Webpush),
            s => s.parse(),
        }
    }
}

impl FromStr for PushType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        PushType::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| Error::UnknownPushType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_types_and_their_topics() {
        let table = [
            ("alert", "com.example.app"),
            ("background", "com.example.app"),
            ("voip", "com.example.app.voip"),
            ("complication", "com.example.app.complication"),
            ("fileprovider", "com.example.app.pushkit.fileprovider"),
            ("liveactivity", "com.example.app.push-type.liveactivity"),
            ("location", "com.example.app.location-query"),
            ("pushtotalk", "com.example.app.voip-ptt"),
            ("widgets", "com.example.app.push-type.widgets"),
            ("controls", "com.example.app.push-type.controls"),
        ];
        for (name, topic) in table {
            let p: PushType = name.parse().expect("known push type");
            assert_eq!(p.as_str(), name);
            assert_eq!(serde_json::to_string(&p).expect("serialises"), format!("\"{name}\""));
            let topic = Topic::parse(topic).expect("valid topic");
            assert_eq!(topic.bundle_id_for(p), Some("com.example.app"), "{name}");
            assert_eq!(topic.bundle_id(), "com.example.app");
            assert_eq!(PushType::implied_by(&topic), if name == "background" { PushType::Alert } else { p });
        }
        let mdm = Topic::parse("com.apple.mgmt.External.5f2c").expect("valid topic");
        assert_eq!(mdm.bundle_id_for(PushType::Mdm), Some("com.apple.mgmt.External.5f2c"));
    }

    #[test]
    fn missing_suffix_and_unknown_types() {
        let plain = Topic::parse("com.example.app").expect("valid topic");
        assert_eq!(plain.bundle_id_for(PushType::Voip), None);
        assert_eq!(plain.bundle_id_for(PushType::Liveactivity), None);
        assert!("Alert".parse::<PushType>().is_err());
        assert!("push".parse::<PushType>().is_err());
        assert!("webpush".parse::<PushType>().is_err(), "not an apns-push-type");
        assert_eq!(PushType::from_name("webpush").expect("a name"), PushType::Webpush);
        assert_eq!(PushType::from_name("voip").expect("a name"), PushType::Voip);
    }

    #[test]
    fn topic_syntax() {
        assert!(Topic::parse("").is_err());
        assert!(Topic::parse("com example").is_err());
        assert!(Topic::parse("com.example.").is_err());
        assert!(Topic::parse(&"a".repeat(256)).is_err());
        assert!(Topic::parse("com.example-app_2").is_ok());
    }
}
