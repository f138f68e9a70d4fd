//! Every reason string APNs sends, with the HTTP status it comes with.
//!
//! The table is Apple's "Handling notification responses from APNs" (device push) and
//! "Handling error responses from APNs" (broadcast and channel management), in Apple's
//! order. The variant names are Apple's strings, so `Reason::BadDeviceToken` is sent as
//! `"BadDeviceToken"` and read back from it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! reasons {
    ($( $(#[$doc:meta])* $name:ident = $status:literal, device: $device:literal; )*) => {
        /// A reason string from APNs's error responses (the `reason` of `{"reason": …}`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $( $(#[$doc])* $name, )*
        }

        impl Reason {
            /// Every reason, in Apple's table order (device push first, then broadcast).
            pub const ALL: &'static [Reason] = &[$(Reason::$name),*];

            /// The string on the wire, exactly as Apple spells it.
            pub const fn as_str(self) -> &'static str {
                match self { $(Reason::$name => stringify!($name),)* }
            }

            /// The HTTP status APNs sends with this reason.
            pub const fn status(self) -> u16 {
                match self { $(Reason::$name => $status,)* }
            }

            /// Whether the reason belongs to the device-push API (`/3/device/…`) rather
            /// than only to broadcast and channel management.
            pub const fn is_device_push(self) -> bool {
                match self { $(Reason::$name => $device,)* }
            }
        }

        impl FromStr for Reason {
            type Err = crate::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(stringify!($name) => Ok(Reason::$name),)*
                    other => Err(crate::Error::UnknownReason(other.to_owned())),
                }
            }
        }
    };
}

reasons! {
    /// `apns-collapse-id` is longer than 64 bytes.
    BadCollapseId = 400, device: true;
    /// The token is malformed, or belongs to the other environment.
    BadDeviceToken = 400, device: true;
    /// `apns-expiration` is not valid UNIX seconds.
    BadExpirationDate = 400, device: true;
    /// `apns-id` is not a canonical UUID.
    BadMessageId = 400, device: true;
    /// `apns-priority` is not 10, 5 or 1.
    BadPriority = 400, device: true;
    /// `apns-topic` is not a usable topic.
    BadTopic = 400, device: true;
    /// The token was issued to a different app than `apns-topic`.
    DeviceTokenNotForTopic = 400, device: true;
    /// A header field appears more than once.
    DuplicateHeaders = 400, device: true;
    /// The connection was closed for idling.
    IdleTimeout = 400, device: true;
    /// `apns-push-type` is not a known value.
    InvalidPushType = 400, device: true;
    /// No device token after `/3/device/`.
    MissingDeviceToken = 400, device: true;
    /// `apns-topic` is absent where it is needed.
    MissingTopic = 400, device: true;
    /// The request body is empty.
    PayloadEmpty = 400, device: true;
    /// The credential may not push to this topic.
    TopicDisallowed = 400, device: true;
    /// The client certificate is invalid.
    BadCertificate = 403, device: true;
    /// The client certificate is for the other environment.
    BadCertificateEnvironment = 403, device: true;
    /// The provider token's `iat` is more than an hour old.
    ExpiredProviderToken = 403, device: true;
    /// The action is not permitted for this credential.
    Forbidden = 403, device: true;
    /// The provider token cannot be parsed or verified.
    InvalidProviderToken = 403, device: true;
    /// No client certificate and no bearer token.
    MissingProviderToken = 403, device: true;
    /// The token's key is unrelated to the key of the connection's first push.
    UnrelatedKeyIdInToken = 403, device: true;
    /// The token's key is restricted to the other environment.
    BadEnvironmentKeyIdInToken = 403, device: true;
    /// The `:path` is not a known route.
    BadPath = 404, device: true;
    /// The `:method` is not POST.
    MethodNotAllowed = 405, device: true;
    /// The device or activity token has expired.
    ExpiredToken = 410, device: true;
    /// The token is no longer active for the topic (comes with a `timestamp`).
    Unregistered = 410, device: true;
    /// The body is larger than the push type allows.
    PayloadTooLarge = 413, device: true;
    /// A new provider token was used less than 20 minutes after the previous one.
    TooManyProviderTokenUpdates = 429, device: true;
    /// Too many pushes in a row to the same device token.
    TooManyRequests = 429, device: true;
    /// An unexpected server-side error.
    InternalServerError = 500, device: true;
    /// The service is temporarily unavailable.
    ServiceUnavailable = 503, device: true;
    /// The server is shutting down.
    Shutdown = 503, device: true;
    /// Broadcast: the capability is not enabled for the bundle id.
    FeatureNotEnabled = 400, device: false;
    /// Broadcast: the string a live sandbox returned instead of `FeatureNotEnabled`.
    BroadcastFeatureNotEnabled = 400, device: false;
    /// Broadcast: `apns-channel-id` is missing.
    MissingChannelId = 400, device: false;
    /// Broadcast: `apns-channel-id` is badly encoded or unknown.
    BadChannelId = 400, device: false;
    /// Broadcast: the channel does not exist (any more).
    ChannelNotRegistered = 400, device: false;
    /// Channel API: the JSON body has an unrecognised attribute.
    BadRequestParams = 400, device: false;
    /// Channel API: the JSON body cannot be parsed.
    BadRequestPayload = 400, device: false;
    /// Broadcast: the push type is missing.
    MissingPushType = 400, device: false;
    /// Channel API: the app already has the maximum number of channels.
    CannotCreateChannelConfig = 400, device: false;
    /// Channel API: `message-storage-policy` is missing or invalid.
    MissingChannelQueueSize = 400, device: false;
    /// Broadcast: the path's bundle id is not covered by the credential.
    TopicMismatch = 403, device: false;
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The body of an APNs error response: `{"reason":"…"}`, plus `"timestamp"` (integer
/// milliseconds since the UNIX epoch) on every 410.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Why the request was refused.
    pub reason: Reason,
    /// For 410: when APNs last confirmed the token was no longer valid, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
}

impl ErrorBody {
    /// The exact bytes APNs sends for this error (compact JSON, `reason` first).
    pub fn to_json(&self) -> String {
        match self.timestamp {
            Some(ts) => format!(r#"{{"reason":"{}","timestamp":{ts}}}"#, self.reason),
            None => format!(r#"{{"reason":"{}"}}"#, self.reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Apple's table (apns-errors.tsv), literally: status, reason string.
    const TABLE: &str = "\
400 BadCollapseId
400 BadDeviceToken
400 BadExpirationDate
400 BadMessageId
400 BadPriority
400 BadTopic
400 DeviceTokenNotForTopic
400 DuplicateHeaders
400 IdleTimeout
400 InvalidPushType
400 MissingDeviceToken
400 MissingTopic
400 PayloadEmpty
400 TopicDisallowed
403 BadCertificate
403 BadCertificateEnvironment
403 ExpiredProviderToken
403 Forbidden
403 InvalidProviderToken
403 MissingProviderToken
403 UnrelatedKeyIdInToken
403 BadEnvironmentKeyIdInToken
404 BadPath
405 MethodNotAllowed
410 ExpiredToken
410 Unregistered
413 PayloadTooLarge
429 TooManyProviderTokenUpdates
429 TooManyRequests
500 InternalServerError
503 ServiceUnavailable
503 Shutdown
400 FeatureNotEnabled
400 BroadcastFeatureNotEnabled
400 MissingChannelId
400 BadChannelId
400 ChannelNotRegistered
400 BadRequestParams
400 BadRequestPayload
400 MissingPushType
400 CannotCreateChannelConfig
400 MissingChannelQueueSize
403 TopicMismatch";

    #[test]
    fn every_reason_matches_apples_table() {
        let rows: Vec<(u16, &str)> = TABLE
            .lines()
            .map(|l| {
                let (s, r) = l.split_once(' ').expect("row has a status and a reason");
                (s.parse().expect("status is a number"), r)
            })
            .collect();
        assert_eq!(rows.len(), Reason::ALL.len());
        for (reason, (status, name)) in Reason::ALL.iter().zip(&rows) {
            assert_eq!(reason.as_str(), *name);
            assert_eq!(reason.status(), *status, "{name}");
            assert_eq!(name.parse::<Reason>(), Ok(*reason));
            assert_eq!(serde_json::to_string(reason).expect("serialises"), format!("\"{name}\""));
            let back: Reason = serde_json::from_str(&format!("\"{name}\"")).expect("parses");
            assert_eq!(back, *reason);
        }
        let device = Reason::ALL.iter().filter(|r| r.is_device_push()).count();
        assert_eq!(device, 32);
    }

    #[test]
    fn unknown_reason_is_an_error_not_a_guess() {
        assert!("badDeviceToken".parse::<Reason>().is_err());
        assert!(serde_json::from_str::<Reason>("\"Nope\"").is_err());
    }

    #[test]
    fn error_bodies_are_apples_bytes() {
        let check = |body: ErrorBody, wire: &str| {
            assert_eq!(body.to_json(), wire);
            assert_eq!(serde_json::to_string(&body).expect("serialises"), wire);
            assert_eq!(serde_json::from_str::<ErrorBody>(wire).expect("parses"), body);
        };
        check(ErrorBody { reason: Reason::BadDeviceToken, timestamp: None }, r#"{"reason":"BadDeviceToken"}"#);
        check(
            ErrorBody { reason: Reason::Unregistered, timestamp: Some(1508249865488) },
            r#"{"reason":"Unregistered","timestamp":1508249865488}"#,
        );
    }
}
