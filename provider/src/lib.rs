//! The provider: the app's server, which sends notifications to APNs when something
//! happens (step 4 of the flow), and the client library it does that with.
//!
//! The client works against Apple or the mock unchanged: the endpoint is an open value
//! (production, sandbox, or any `host:port` with its own CA), authentication is a team's
//! `.p8` key (one JWT for all connections, refreshed inside APNs's 20–60 minute window)
//! or a client certificate, and every answer is typed — accepted with its `apns-id`, or
//! rejected with status, [`protocol::Reason`] (unknown future strings kept), apns-id and
//! the 410 timestamp.

mod activity;
pub mod broadcast;
mod client;
mod notification;
pub mod server;
mod token;
pub mod webpush;

pub use activity::LiveActivity;
pub use client::{Auth, Client, ClientConfig, Endpoint, RawAnswer};
/// The HTTP method of a [`Client::call`].
pub use http::Method;
pub use notification::{Accepted, Notification, Rejection, ResponseReason};
pub use token::{SharedToken, TokenSigner};

/// Why a notification was not accepted, or a client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// APNs answered with an error.
    #[error("APNs said no: {0}")]
    Rejected(Rejection),
    /// The notification was refused before sending (bad token text, payload too large…).
    #[error("not sent: {0}")]
    Invalid(String),
    /// A key, certificate or endpoint could not be used.
    #[error("{0}")]
    Config(String),
    /// The notification may not have reached APNs (connection lost before an answer).
    #[error("no answer: {0}")]
    Connection(String),
    /// No answer within the request timeout (it may have been processed: not retried).
    #[error("no answer from APNs within the request timeout (it may have been processed)")]
    Timeout,
    /// The `.p8` key cannot sign.
    #[error("the .p8 key cannot be used: {0}")]
    BadKey(String),
}
