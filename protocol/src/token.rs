//! Device tokens: opaque bytes that providers write as hexadecimal text.
//!
//! Apple: "APNs device tokens are of variable length. Do not hard-code their size."
//! Tokens have been 32 bytes for years, Live Activity tokens are 80 bytes, so the type
//! takes any length from 1 to [`DeviceToken::MAX_BYTES`], and reads hex in either case.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A device token (or any other per-device push token: VoIP, Live Activity, push to talk).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceToken(Box<[u8]>);

impl DeviceToken {
    /// The longest token accepted, in bytes (200 hex characters): room for every token
    /// kind Apple issues today (32-byte device tokens, 80-byte Live Activity tokens)
    /// and for growth, while bounding what a request path can make the server hold.
    pub const MAX_BYTES: usize = 100;

    /// Parses hexadecimal text, upper or lower case.
    pub fn parse_hex(text: &str) -> Result<Self, Error> {
        if text.is_empty() || !text.len().is_multiple_of(2) || text.len() > 2 * Self::MAX_BYTES {
            return Err(Error::MalformedDeviceToken);
        }
        // Every push path carries one, so this is a plain loop into a stack buffer (the
        // hex crate's decoder goes through an iterator and a growing Vec).
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let mut bytes = [0u8; Self::MAX_BYTES];
        for (out, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
                return Err(Error::MalformedDeviceToken);
            };
            *out = hi << 4 | lo;
        }
        Ok(Self(bytes[..text.len() / 2].into()))
    }

    /// Wraps raw token bytes (for example an HMAC output).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.is_empty() || bytes.len() > Self::MAX_BYTES {
            return Err(Error::MalformedDeviceToken);
        }
        Ok(Self(bytes.into()))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hexadecimal, the form providers put in `:path`.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// The first 8 hex characters: enough to tell tokens apart in logs without
    /// printing a whole token.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..self.0.len().min(4)])
    }
}

impl FromStr for DeviceToken {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse_hex(s)
    }
}

impl fmt::Display for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceToken({}…)", self.short())
    }
}

impl Serialize for DeviceToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for DeviceToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<&str>) {
        assert_eq!(DeviceToken::parse_hex(input).ok().map(|t| t.to_hex()).as_deref(), expected, "{input}");
    }

    #[test]
    fn parses_variable_length_hex_in_either_case() {
        let t32 = "a".repeat(64);
        check(&t32, Some(&t32));
        check(&"AB".repeat(32), Some(&"ab".repeat(32)));
        let live_activity = "0f".repeat(80);
        check(&live_activity, Some(&live_activity));
        check("00", Some("00"));
        check("0123456789abcdefABCDEF", Some("0123456789abcdefabcdef"));
        check(&"ff".repeat(DeviceToken::MAX_BYTES), Some(&"ff".repeat(DeviceToken::MAX_BYTES)));
    }

    #[test]
    fn refuses_what_is_not_a_token() {
        check("", None);
        check("abc", None);
        check(&"g".repeat(64), None);
        check(&"ff".repeat(DeviceToken::MAX_BYTES + 1), None);
        check("a b ", None);
        for edge in ["0/", ":0", "@0", "0G", "`0", "0g"] {
            check(edge, None);
        }
        check("ÿÿ", None);
    }

    #[test]
    fn serde_is_lowercase_hex_and_logs_are_short() {
        let t: DeviceToken = serde_json::from_str("\"ABCDEF0123\"").expect("parses");
        assert_eq!(serde_json::to_string(&t).expect("serialises"), "\"abcdef0123\"");
        assert_eq!(format!("{t:?}"), "DeviceToken(abcdef01…)");
    }
}
