//! The shared vocabulary of apns-lab: every value that crosses the APNs wire, typed.
//!
//! The mock answers with these types and the provider parses into them, so the two can
//! never disagree about a reason string, a header name or a token format. Nothing here
//! does I/O; everything is tested against literal wire strings and JSON.
//!
//! Sources for every rule are Apple's "Sending notification requests to APNs",
//! "Handling notification responses from APNs" and "Generating a remote notification":
//! <https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns>.

pub mod activity;
pub mod ece;
mod environment;
mod error;
pub mod gateway;
pub mod headers;
pub mod jwt;
mod lang;
pub mod payload;
mod reason;
mod token;
mod topic;
pub mod webpush;

pub use activity::{ActivityEvent, ActivityPush, ActivityTarget, ActivityTokenKind};
pub use environment::Environment;
pub use error::Error;
pub use headers::{ApnsId, CollapseId, Expiration, Priority};
pub use lang::Lang;
pub use payload::{Alert, AlertDict, Aps, InterruptionLevel, Payload, Sound, max_payload_size};
pub use reason::{ErrorBody, Reason};
pub use token::DeviceToken;
pub use topic::{PushType, Topic};
