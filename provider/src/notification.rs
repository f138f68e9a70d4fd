//! A notification to send, and what APNs answered.

use std::fmt;

use bytes::Bytes;
use protocol::{
    ApnsId, CollapseId, DeviceToken, Expiration, Payload, Priority, PushType, Reason, Topic, max_payload_size,
};

use crate::Error;

/// One notification for one device token. Every header of the provider API is here;
/// `None` leaves a header out (APNs's default applies).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The device token, hex.
    pub token: String,
    /// `apns-topic` (needed with token auth).
    pub topic: Option<String>,
    /// `apns-push-type`.
    pub push_type: Option<PushType>,
    /// `apns-priority`.
    pub priority: Option<Priority>,
    /// `apns-expiration`.
    pub expiration: Option<Expiration>,
    /// `apns-collapse-id`.
    pub collapse_id: Option<String>,
    /// `apns-id` (APNs makes one up when absent).
    pub apns_id: Option<String>,
    /// The JSON payload, as sent.
    pub payload: Bytes,
}

impl Notification {
    /// A notification with a typed payload.
    pub fn new(token: impl Into<String>, payload: &Payload) -> Self {
        Self::raw(token, serde_json::to_vec(payload).unwrap_or_else(|_| b"{}".to_vec()))
    }

    /// A notification with a payload already in JSON.
    pub fn raw(token: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Notification {
            token: token.into(),
            topic: None,
            push_type: None,
            priority: None,
            expiration: None,
            collapse_id: None,
            apns_id: None,
            payload: payload.into(),
        }
    }

    /// Sets `apns-topic`.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Sets `apns-push-type`.
    pub fn push_type(mut self, push_type: PushType) -> Self {
        self.push_type = Some(push_type);
        self
    }

    /// Sets `apns-priority`.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Sets `apns-expiration`.
    pub fn expiration(mut self, expiration: Expiration) -> Self {
        self.expiration = Some(expiration);
        self
    }

    /// Sets `apns-collapse-id`.
    pub fn collapse_id(mut self, id: impl Into<String>) -> Self {
        self.collapse_id = Some(id.into());
        self
    }

    /// Replaces the payload with this text, sent as is (for tests of what APNs does with
    /// payloads that are not JSON objects).
    pub fn payload_text(mut self, text: &str) -> Self {
        self.payload = Bytes::from(text.to_owned());
        self
    }

    /// Sets `apns-id`.
    pub fn apns_id(mut self, id: impl Into<String>) -> Self {
        self.apns_id = Some(id.into());
        self
    }

    /// Checks what can be checked before sending: token, topic, collapse id, apns-id,
    /// and the payload's size for its push type.
    pub fn check(&self) -> Result<(), Error> {
        DeviceToken::parse_hex(&self.token).map_err(|e| Error::Invalid(format!("token: {e}")))?;
        let topic =
            self.topic.as_deref().map(Topic::parse).transpose().map_err(|e| Error::Invalid(format!("topic: {e}")))?;
        if let Some(c) = &self.collapse_id {
            CollapseId::new(c.clone()).map_err(|e| Error::Invalid(e.to_string()))?;
        }
        if let Some(id) = &self.apns_id {
            ApnsId::parse(id).map_err(|e| Error::Invalid(e.to_string()))?;
        }
        let push_type = self.push_type.or_else(|| topic.as_ref().map(PushType::implied_by)).unwrap_or(PushType::Alert);
        let limit = max_payload_size(push_type);
        if self.payload.len() > limit {
            return Err(Error::Invalid(format!("payload is {} bytes; {push_type} allows {limit}", self.payload.len())));
        }
        if self.payload.is_empty() {
            return Err(Error::Invalid("payload is empty".into()));
        }
        Ok(())
    }
}

/// APNs accepted the notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The `apns-id` APNs answered with.
    pub apns_id: String,
    /// `apns-unique-id` (sandbox): the key for the delivery log.
    pub apns_unique_id: Option<String>,
}

/// A reason string: one of Apple's, or one this build does not know yet (kept as sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseReason {
    /// A known reason.
    Known(Reason),
    /// A string newer than this build.
    Unknown(String),
}

impl ResponseReason {
    /// Reads a reason string.
    pub fn parse(s: &str) -> ResponseReason {
        s.parse().map_or_else(|_| ResponseReason::Unknown(s.to_owned()), ResponseReason::Known)
    }

    /// The known reason, if it is one.
    pub fn known(&self) -> Option<Reason> {
        match self {
            ResponseReason::Known(r) => Some(*r),
            ResponseReason::Unknown(_) => None,
        }
    }
}

impl fmt::Display for ResponseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseReason::Known(r) => f.write_str(r.as_str()),
            ResponseReason::Unknown(s) => f.write_str(s),
        }
    }
}

/// APNs refused the notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The HTTP status.
    pub status: u16,
    /// Why.
    pub reason: ResponseReason,
    /// The `apns-id` of the answer.
    pub apns_id: Option<String>,
    /// For 410: when APNs learned the token was no longer valid (ms since the epoch).
    pub timestamp: Option<u64>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)?;
        if let Some(ts) = self.timestamp {
            write!(f, " (timestamp {ts})")?;
        }
        Ok(())
    }
}

impl Rejection {
    /// Reads an error answer's body (`{"reason":…,"timestamp":…}`).
    pub(crate) fn from_body(status: u16, apns_id: Option<String>, body: &[u8]) -> Rejection {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        let reason = v["reason"].as_str().map_or_else(|| ResponseReason::Unknown(String::new()), ResponseReason::parse);
        Rejection { status, reason, apns_id, timestamp: v["timestamp"].as_u64() }
    }

    /// Whether Apple says to retry this one later (429 TooManyRequests, 500, 503); never
    /// for BadDeviceToken, DeviceTokenNotForTopic, Forbidden, ExpiredToken, Unregistered,
    /// PayloadTooLarge and the other client errors.
    pub fn retryable(&self) -> bool {
        match self.reason.known() {
            Some(
                Reason::TooManyRequests | Reason::InternalServerError | Reason::ServiceUnavailable | Reason::Shutdown,
            ) => true,
            Some(_) => false,
            None => matches!(self.status, 500 | 503),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_parse_and_unknown_reasons_are_kept() {
        let r = Rejection::from_body(410, None, br#"{"reason":"Unregistered","timestamp":1508249865488}"#);
        assert_eq!((r.reason.known(), r.timestamp), (Some(Reason::Unregistered), Some(1508249865488)));
        assert!(!r.retryable());
        let future = Rejection::from_body(400, None, br#"{"reason":"SomethingNew"}"#);
        assert_eq!(future.reason, ResponseReason::Unknown("SomethingNew".into()));
        assert_eq!(future.to_string(), "400 SomethingNew");
        assert!(Rejection::from_body(429, None, br#"{"reason":"TooManyRequests"}"#).retryable());
        assert!(Rejection::from_body(503, None, br#"{"reason":"Shutdown"}"#).retryable());
        assert!(!Rejection::from_body(400, None, br#"{"reason":"BadDeviceToken"}"#).retryable());
    }

    #[test]
    fn checks_before_sending() {
        let ok = Notification::raw("ab".repeat(32), r#"{"aps":{}}"#).topic("com.example.app");
        assert!(ok.check().is_ok());
        assert!(Notification::raw("xyz", "{}").check().is_err());
        let big = format!(r#"{{"aps":{{"alert":"{}"}}}}"#, "x".repeat(4100));
        assert!(Notification::raw("ab".repeat(32), big.clone()).check().is_err());
        assert!(Notification::raw("ab".repeat(32), big).push_type(PushType::Voip).check().is_ok());
        assert!(Notification::raw("ab".repeat(32), "{}").collapse_id("c".repeat(65)).check().is_err());
        assert!(Notification::raw("ab".repeat(32), "{}").apns_id("nope").check().is_err());
    }
}
