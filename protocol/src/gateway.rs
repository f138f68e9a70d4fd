//! The device gateway's messages: how a simulated iPhone and the mock APNs talk once
//! the phone is activated (Apple's own device protocol is private; this one carries the
//! same facts).
//!
//! | call | body | answer |
//! |---|---|---|
//! | `POST /gateway/v1/activate` (no client certificate) | [`Activate`] | [`Activation`]: a device identity certificate with the UDID in it |
//! | `POST /gateway/v1/apps` | [`RegisterApp`] | [`Registered`]: step 2, the app's device token |
//! | `GET /gateway/v1/notifications` | — | a stream of [`Delivery`] lines (NDJSON) that stays open; a Web Push message's payload is a [`WebMessage`] |
//! | `POST /gateway/v1/acks` | [`Ack`] | 204 |
//! | `POST /gateway/v1/push-to-start` | [`DeclareActivityType`] | [`ActivityToken`]: the app's push-to-start token for an `ActivityAttributes` type |
//! | `POST /gateway/v1/activities` | [`StartActivity`] | [`ActivityToken`]: a running activity's update token; `null` for one that listens to a channel (it has no token) |
//! | `POST /gateway/v1/activities/end` | [`EndActivity`] | 204: the activity ended on the phone |
//! | `POST /gateway/v1/handed-over` | [`HandedOver`] | 204: step 3 happened (the simulator's report; a real device never tells APNs) |
//! | `POST /gateway/v1/web-apps` | [`SubscribeWebApp`] | 201 [`PushSubscription`]: a web app added to the Home Screen subscribed |
//! | `POST /gateway/v1/web-apps/remove` | [`RemoveWebApp`] | 200: the web app removed (or its permission revoked): its subscription ended |
//!
//! Every call but activation is authenticated by the device certificate, so a device only
//! ever registers its own apps and reads its own notifications.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::activity::{ActivityTarget, ActivityTokenKind};
use crate::{Environment, Priority, PushType};

/// Activation request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activate {
    /// The UDID to activate as; a new one is made up when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udid: Option<String>,
}

/// Activation answer: the device's identity for every later call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// The device's UDID (bound in the certificate).
    pub udid: String,
    /// The device identity certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
}

/// Step 1 → 2: an app asks to register for remote notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterApp {
    /// The app's bundle ID.
    pub bundle_id: String,
    /// Its `aps-environment` entitlement.
    pub environment: Environment,
}

/// The token APNs derived for the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The device token, lowercase hex.
    pub token: String,
}

/// An app declares an `ActivityAttributes` type and asks for its push-to-start token
/// (ActivityKit's `pushToStartTokenUpdates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclareActivityType {
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The `ActivityAttributes` type's name.
    pub attributes_type: String,
}

/// An activity started on the phone (by the app, or by a push-to-start push) and asks for
/// its update token (ActivityKit's `pushTokenUpdates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartActivity {
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The `ActivityAttributes` type.
    pub attributes_type: String,
    /// The activity's id on the phone (ActivityKit's `Activity.id`).
    pub activity_id: String,
    /// A broadcast channel it listens to (`pushType: .channel(id)`, or a push-to-start's
    /// `input-push-channel`); a channel that is not the app's makes the start fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// An activity ended on the phone (its end was applied, it was dismissed, or the system
/// ended it): its update token is accepted-then-ignored until APNs learns, then 410.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndActivity {
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The activity.
    pub activity_id: String,
}

/// Step 3, as the simulator reports it so the flow can be drawn whole: an app handed
/// its token to its provider. A real device never tells APNs this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandedOver {
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The token it handed over.
    pub token: String,
    /// Where: the provider's URL.
    pub provider: String,
    /// Whether the provider took it (answered 2xx).
    pub accepted: bool,
    /// What went wrong, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A token APNs issued for Live Activities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityToken {
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// Push-to-start or update.
    pub kind: ActivityTokenKind,
    /// The `ActivityAttributes` type.
    pub attributes_type: String,
    /// The activity, for an update token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<String>,
    /// The token, lowercase hex (longer than a device token).
    pub token: String,
}

/// Step 5: one notification on its way to the device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// The notification's apns-id (the device drops a second copy of the same id).
    pub apns_id: String,
    /// `apns-topic`: the app is found from it.
    pub topic: String,
    /// The push type.
    pub push_type: PushType,
    /// The priority.
    pub priority: Priority,
    /// `apns-collapse-id`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collapse_id: Option<String>,
    /// The environment of the token it was sent to.
    pub environment: Environment,
    /// The payload, exactly as the provider sent it (passed through, never re-encoded).
    pub payload: Box<RawValue>,
    /// When APNs accepted it, ms since the epoch.
    pub received_ms: u64,
    /// Whether it was stored while the device was offline.
    #[serde(default)]
    pub from_storage: bool,
    /// Whether this is a redelivery of one not acknowledged before.
    #[serde(default)]
    pub redelivered: bool,
    /// For a `liveactivity` push: the activity (or push-to-start type) its token is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<ActivityTarget>,
    /// Not a notification but the user's response to one the phone shows (`apns_id`
    /// names it): a tap, a dismissal, or an action of its category, sent down the stream
    /// by the admin API. The phone acknowledges it as [`Outcome::Responded`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<UserResponse>,
    /// Not a notification: APNs's clock was moved (a test advanced it), and
    /// `received_ms` is its time now. Phones follow it, so budgets that read APNs's clock
    /// run out when it jumps. Never acknowledged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clock: bool,
}

/// The user's response to a shown notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserResponse {
    /// `com.apple.UNNotificationDefaultActionIdentifier` (a tap),
    /// `com.apple.UNNotificationDismissActionIdentifier`, or an action of the
    /// notification's category.
    pub action: String,
}

impl UserResponse {
    /// A tap on the notification.
    pub const TAP: &'static str = "com.apple.UNNotificationDefaultActionIdentifier";
    /// The notification dismissed.
    pub const DISMISS: &'static str = "com.apple.UNNotificationDismissActionIdentifier";
}

/// A web app on the Home Screen subscribes (`PushManager.subscribe({userVisibleOnly:
/// true, applicationServerKey})`); the phone makes the subscription's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeWebApp {
    /// The web app's origin, `https://host[:port]`.
    pub origin: String,
    /// Its name on the Home Screen (default: the origin's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The application server's VAPID public key, base64url (65-byte P-256 point).
    pub application_server_key: String,
    /// The phone's keys for the subscription, when the phone made them (it keeps the
    /// private half and decrypts what arrives); absent, the mock's device side makes
    /// them for the phone. The same keys again answer the same subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<SubscriptionKeys>,
}

/// A web app leaves the Home Screen (or its notification permission is revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveWebApp {
    /// The web app's origin.
    pub origin: String,
}

/// `PushSubscription.toJSON()`: what a web app hands its server (step 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscription {
    /// `https://<push service>/<opaque id>`.
    pub endpoint: String,
    /// Always `null` from Apple.
    #[serde(rename = "expirationTime", default)]
    pub expiration_time: Option<u64>,
    /// The phone's keys for the subscription, base64url.
    pub keys: SubscriptionKeys,
}

/// `keys` of a [`PushSubscription`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionKeys {
    /// The phone's P-256 public key (65 bytes).
    pub p256dh: String,
    /// The 16-byte auth secret.
    pub auth: String,
}

/// The payload of a [`Delivery`] of push type `webpush` (its topic is the web app's
/// origin, its collapse id the message's `Topic`): a Web Push message for the web app,
/// encrypted for the phone to decrypt, or already decrypted by the mock's device side
/// when that holds the keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebMessage {
    /// The web app's origin.
    pub origin: String,
    /// Its name on the Home Screen.
    pub name: String,
    /// The subscription the message was sent to (the endpoint's id).
    pub subscription: String,
    /// The message as text (`PushMessageData.text()`; bytes that are not UTF-8 become
    /// U+FFFD), when the mock's device side holds the subscription's keys and decrypted
    /// it for the phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The message as sent (the aes128gcm body, base64url), when the phone holds the
    /// keys: it decrypts it itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<String>,
}

/// A payload as a [`Delivery`] carries it, from bytes already known to be a JSON object
/// (the provider API checked them); anything else becomes `{}`.
pub fn raw_payload(bytes: &[u8]) -> Box<RawValue> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| RawValue::from_string(s.trim().to_owned()).ok())
        .unwrap_or_else(|| RawValue::from_string("{}".to_owned()).expect("{} is JSON"))
}

/// What the device did with a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Shown to the user (banner, sound, badge, notification center) or to the app in
    /// the foreground.
    Presented,
    /// A background (`content-available`) update handled without showing anything.
    HandledSilently,
    /// Not shown; the ack's `reason` says why.
    Discarded,
    /// No app on the device has the topic (it was uninstalled).
    AppNotInstalled,
    /// A push-to-start push created a Live Activity.
    ActivityStarted,
    /// A Live Activity took the new content state.
    ActivityUpdated,
    /// A Live Activity ended.
    ActivityEnded,
    /// The app's Notification Service Extension changed the content in time; `reason`
    /// is what was shown.
    ModifiedByExtension,
    /// The extension did not call its content handler in time: after
    /// `serviceExtensionTimeWillExpire`, the original content (or the extension's best
    /// attempt, as `reason` says) was shown.
    ExtensionTimedOut,
    /// The extension failed (crashed, answered garbage): the original content was shown.
    ExtensionFailed,
    /// A background push woke the app; `reason` is its fetch result (`newData`,
    /// `noData`, `failed…`).
    BackgroundFetch,
    /// A VoIP push was reported to CallKit as an incoming call.
    CallReported,
    /// A VoIP push was not reported to CallKit: iOS terminated the app.
    VoipNoCall,
    /// VoIP pushes to the app are no longer delivered (it failed to report calls too
    /// often) until it is reinstalled.
    VoipBlocked,
    /// The user responded to the notification (`reason`: the action, and what the app
    /// did); acknowledges a [`Delivery::response`], not a notification.
    Responded,
}

/// The device's acknowledgement of one notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The notification.
    pub apns_id: String,
    /// What happened to it.
    pub outcome: Outcome,
    /// For discards: why (`notifications-disabled`, `background-budget`, `duplicate`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a web push the phone presented: what it showed (`title — body`). APNs never
    /// sees a web push's text (it is encrypted for the phone); this is the simulator's
    /// report, so the journey and the dashboard can show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_form() {
        let ack = Ack { apns_id: "x".into(), outcome: Outcome::HandledSilently, reason: None, shown: None };
        assert_eq!(serde_json::to_value(&ack).expect("json"), json!({"apns_id": "x", "outcome": "handled-silently"}));
        let d: Delivery = serde_json::from_value(json!({
            "apns_id": "a", "topic": "com.example.chat", "push_type": "alert", "priority": 10,
            "environment": "sandbox", "payload": {"aps": {"alert": "hi"}}, "received_ms": 1
        }))
        .expect("parses");
        assert!(!d.from_storage && !d.redelivered);
        assert_eq!(d.payload.get(), r#"{"aps":{"alert":"hi"}}"#);
        assert_eq!(d.priority, Priority::Immediate);
    }
}
