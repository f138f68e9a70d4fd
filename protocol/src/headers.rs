//! Request and response header fields of the provider API, and the small typed values
//! they carry (`apns-priority`, `apns-expiration`, `apns-collapse-id`, `apns-id`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// `authorization: bearer <JWT>` (token authentication).
pub const AUTHORIZATION: &str = "authorization";
/// The push type.
pub const APNS_PUSH_TYPE: &str = "apns-push-type";
/// The canonical UUID that identifies a notification; echoed in the response.
pub const APNS_ID: &str = "apns-id";
/// Response only, sandbox only: the id to look a notification up in the delivery log.
pub const APNS_UNIQUE_ID: &str = "apns-unique-id";
/// UNIX seconds until which APNs keeps trying; 0 = once.
pub const APNS_EXPIRATION: &str = "apns-expiration";
/// 10, 5 or 1.
pub const APNS_PRIORITY: &str = "apns-priority";
/// The app (bundle ID + push-type suffix).
pub const APNS_TOPIC: &str = "apns-topic";
/// Notifications with the same id replace each other on the device.
pub const APNS_COLLAPSE_ID: &str = "apns-collapse-id";
/// The request headers APNs reads; a repeat of any of them is `DuplicateHeaders`.
pub const REQUEST_HEADERS: [&str; 7] =
    [AUTHORIZATION, APNS_PUSH_TYPE, APNS_ID, APNS_EXPIRATION, APNS_PRIORITY, APNS_TOPIC, APNS_COLLAPSE_ID];

/// `apns-priority`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Priority {
    /// 10: deliver now (the default when the header is absent).
    #[default]
    Immediate,
    /// 5: deliver when it suits the device's power.
    PowerConsiderate,
    /// 1: prioritise power; never wake the device.
    PowerPrioritized,
}

impl Priority {
    /// The header value.
    pub const fn as_u8(self) -> u8 {
        match self {
            Priority::Immediate => 10,
            Priority::PowerConsiderate => 5,
            Priority::PowerPrioritized => 1,
        }
    }
}

impl From<Priority> for u8 {
    fn from(p: Priority) -> u8 {
        p.as_u8()
    }
}

impl TryFrom<u8> for Priority {
    type Error = Error;
    fn try_from(v: u8) -> Result<Self, Error> {
        match v {
            10 => Ok(Priority::Immediate),
            5 => Ok(Priority::PowerConsiderate),
            1 => Ok(Priority::PowerPrioritized),
            other => Err(Error::BadPriority(other.to_string())),
        }
    }
}

impl FromStr for Priority {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "10" => Ok(Priority::Immediate),
            "5" => Ok(Priority::PowerConsiderate),
            "1" => Ok(Priority::PowerPrioritized),
            other => Err(Error::BadPriority(other.to_owned())),
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u8())
    }
}

/// `apns-expiration`: UNIX seconds (UTC) until which APNs keeps a notification for an
/// offline device. `0` means "try once, don't store".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Expiration(pub u64);

impl Expiration {
    /// Deliver once if the device is reachable, never store.
    pub const IMMEDIATELY: Expiration = Expiration(0);

    /// Whether this is the "try once" value.
    pub const fn is_immediate(self) -> bool {
        self.0 == 0
    }
}

impl FromStr for Expiration {
    type Err = Error;
    /// Decimal digits only (at most 20, so the value fits in 64 bits).
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::BadExpiration(s.to_owned()));
        }
        s.parse().map(Expiration).map_err(|_| Error::BadExpiration(s.to_owned()))
    }
}

/// `apns-collapse-id`: at most 64 bytes of UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CollapseId(String);

impl CollapseId {
    /// The longest collapse id, in bytes.
    pub const MAX_BYTES: usize = 64;

    /// Checks the length.
    pub fn new(id: impl Into<String>) -> Result<Self, Error> {
        let id = id.into();
        if id.len() > Self::MAX_BYTES {
            return Err(Error::CollapseIdTooLong(id.len()));
        }
        Ok(Self(id))
    }

    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CollapseId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl From<CollapseId> for String {
    fn from(c: CollapseId) -> String {
        c.0
    }
}

/// `apns-id`: a canonical UUID (8-4-4-4-12 hex digits). Kept exactly as the client
/// wrote it, because clients match responses to requests by comparing the echoed text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApnsId([u8; 36]);

impl ApnsId {
    /// Checks the canonical form; either case is accepted and kept as written.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let b = text.as_bytes();
        let canonical = b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            });
        match <[u8; 36]>::try_from(b) {
            Ok(bytes) if canonical => Ok(Self(bytes)),
            _ => Err(Error::BadApnsId(text.to_owned())),
        }
    }

    /// A new random (version 4) id, lowercase, as APNs makes when the request has none.
    pub fn random() -> Self {
        let mut bytes = [0u8; 36];
        uuid::Uuid::new_v4().hyphenated().encode_lower(&mut bytes);
        Self(bytes)
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an ApnsId holds ASCII hex digits and dashes by construction")
    }
}

impl TryFrom<String> for ApnsId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::parse(&s)
    }
}

impl From<ApnsId> for String {
    fn from(a: ApnsId) -> String {
        a.as_str().to_owned()
    }
}

impl fmt::Display for ApnsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority() {
        let check = |text: &str, expected: Option<u8>| {
            assert_eq!(text.parse::<Priority>().ok().map(Priority::as_u8), expected, "{text}");
        };
        check("10", Some(10));
        check("5", Some(5));
        check("1", Some(1));
        for bad in ["0", "3", "05", "10 ", "", "high", "-1"] {
            check(bad, None);
        }
        assert_eq!(Priority::default(), Priority::Immediate);
        assert_eq!(serde_json::to_string(&Priority::PowerConsiderate).expect("serialises"), "5");
    }

    #[test]
    fn expiration() {
        let check = |text: &str, expected: Option<u64>| {
            assert_eq!(text.parse::<Expiration>().ok().map(|e| e.0), expected, "{text}");
        };
        check("0", Some(0));
        check("1893456000", Some(1_893_456_000));
        for bad in ["", "-1", "1.5", "soon", " 1", "99999999999999999999999"] {
            check(bad, None);
        }
        assert!(Expiration::IMMEDIATELY.is_immediate());
    }

    #[test]
    fn collapse_id_is_64_bytes_not_characters() {
        assert!(CollapseId::new("x".repeat(64)).is_ok());
        assert_eq!(CollapseId::new("x".repeat(65)), Err(Error::CollapseIdTooLong(65)));
        assert!(CollapseId::new("é".repeat(33)).is_err());
        assert!(CollapseId::new("é".repeat(32)).is_ok());
    }

    #[test]
    fn apns_id_is_echoed_as_written() {
        let upper = "123E4567-E89B-12D3-A456-4266554400A0";
        assert_eq!(ApnsId::parse(upper).expect("canonical").as_str(), upper);
        for bad in [
            "",
            "123e4567e89b12d3a4564266554400a0",
            "123e4567-e89b-12d3-a456-4266554400a",
            "{123e4567-e89b-12d3-a456-4266554400a0}",
            "123e4567-e89b-12d3-a456_4266554400a0",
            "g23e4567-e89b-12d3-a456-4266554400a0",
        ] {
            assert!(ApnsId::parse(bad).is_err(), "{bad}");
        }
        let r = ApnsId::random();
        assert_eq!(ApnsId::parse(r.as_str()).as_ref(), Ok(&r));
        assert_eq!(r.as_str(), r.as_str().to_lowercase());
    }
}
