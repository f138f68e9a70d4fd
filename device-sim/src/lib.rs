//! Simulated iPhones: steps 1, 2 and 5 of the flow on the device side. A [`Device`]
//! activates with the mock APNs's device gateway (getting a device identity certificate
//! with its UDID in it), registers its apps (UDID + bundle ID → token), keeps a
//! notification stream open, routes each notification to the app by topic, presents it
//! the way iOS would ([`present`]), and acknowledges what the app did.

pub mod activity;
pub mod app;
mod device;
pub mod fleet;
mod gateway;
pub mod handler;
mod narrate;
pub mod present;
pub mod run;
pub mod sample;
pub mod web;

pub use activity::{Activities, Activity, ActivityState};
pub use app::Rules;
pub use device::{BACKGROUND_BUDGET, Device, InstalledApp, Received};
pub use gateway::{AckSink, Endpoint, Gateway, Identity, Notifications};
pub use handler::{Handler, Target};
pub use present::{AppState, Authorization, Decision, NotificationCenter, Shown, present};

/// Why a simulated device could not do something.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad settings (an address, a certificate).
    #[error("{0}")]
    Config(String),
    /// The connection failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// Nothing answered at an address: who was meant to be there, and where.
    #[error("cannot reach the {who} at {url}: {source}")]
    Unreachable {
        /// `gateway`, `provider` or `admin API`.
        who: &'static str,
        /// Where.
        url: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// HTTP/2 failed.
    #[error("HTTP/2: {0}")]
    H2(#[from] h2::Error),
    /// A server answered with an error: which one, at which URL.
    #[error("the {who} at {url} answered {status}: {message}")]
    Refused {
        /// `gateway`, `provider` or `admin API`.
        who: &'static str,
        /// The URL that was asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// The gateway sent something unreadable.
    #[error("unexpected gateway message: {0}")]
    Protocol(String),
}
