//! Why a wire value could not be parsed, and which APNs reason that maps to.

use crate::Reason;

/// A wire value that does not follow APNs's rules.
///
/// Each variant names what was wrong; [`Error::reason`] gives the reason string APNs
/// answers with for it, so the mock can turn any parse failure into a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The device token is not even-length hex, is empty, or is longer than
    /// [`crate::DeviceToken::MAX_BYTES`].
    #[error("device token is not 1..={max} bytes of hexadecimal text", max = crate::DeviceToken::MAX_BYTES)]
    MalformedDeviceToken,
    /// `apns-topic` is empty, too long, or contains whitespace or control characters.
    #[error("apns-topic is not a usable topic")]
    MalformedTopic,
    /// `apns-push-type` is not one of the values Apple documents.
    #[error("apns-push-type {0:?} is not a known push type")]
    UnknownPushType(String),
    /// `apns-priority` is not 10, 5 or 1.
    #[error("apns-priority {0:?} is not 10, 5 or 1")]
    BadPriority(String),
    /// `apns-expiration` is not a non-negative integer of UNIX seconds.
    #[error("apns-expiration {0:?} is not UNIX seconds")]
    BadExpiration(String),
    /// `apns-collapse-id` is longer than 64 bytes.
    #[error("apns-collapse-id is {0} bytes, more than 64")]
    CollapseIdTooLong(usize),
    /// `apns-id` is not a canonical 8-4-4-4-12 UUID.
    #[error("apns-id {0:?} is not a canonical UUID")]
    BadApnsId(String),
    /// An environment name other than `sandbox`, `development` or `production`.
    #[error("{0:?} is not an APNs environment (sandbox or production)")]
    UnknownEnvironment(String),
    /// A reason string that is not one of Apple's.
    #[error("{0:?} is not an APNs reason string")]
    UnknownReason(String),
}

impl Error {
    /// The reason APNs gives for this kind of bad value.
    pub fn reason(&self) -> Reason {
        match self {
            Error::MalformedDeviceToken => Reason::BadDeviceToken,
            Error::MalformedTopic => Reason::BadTopic,
            Error::UnknownPushType(_) => Reason::InvalidPushType,
            Error::BadPriority(_) => Reason::BadPriority,
            Error::BadExpiration(_) => Reason::BadExpirationDate,
            Error::CollapseIdTooLong(_) => Reason::BadCollapseId,
            Error::BadApnsId(_) => Reason::BadMessageId,
            Error::UnknownEnvironment(_) | Error::UnknownReason(_) => Reason::InternalServerError,
        }
    }
}
