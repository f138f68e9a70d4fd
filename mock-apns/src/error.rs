//! What can go wrong in the mock outside of a push request (those answer with a
//! [`protocol::Reason`] instead).

use std::path::PathBuf;

/// An error from starting, configuring or administering the mock.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate or key could not be generated or read back.
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The TLS configuration was refused by rustls.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The state database failed.
    #[error("state database: {0}")]
    Store(#[from] rusqlite::Error),
    /// The data directory cannot be used; the message says what to do.
    #[error("data dir {}: {problem}", dir.display())]
    DataDir {
        /// The directory.
        dir: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
    /// Another process holds the data directory.
    #[error("data dir {} is in use by another apns-lab process{}: stop it, or give this one another --data-dir", dir.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Busy {
        /// The directory.
        dir: PathBuf,
        /// The holder's process id, as it wrote it in the lock file.
        pid: Option<u32>,
    },
    /// A listener could not be bound.
    #[error("{listener} listener {addr}: {source}")]
    Bind {
        /// Which listener (sandbox, production, admin, gateway, h2c).
        listener: &'static str,
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A listener could not be bound or used.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A signing key (`.p8` or public key PEM) could not be used.
    #[error("signing key: {0}")]
    BadKey(String),
    /// An admin request was refused; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// An admin request named something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// An admin request conflicts with existing state.
    #[error("{0}")]
    Conflict(String),
    /// A push that did not come through the provider API (a phone's local push) was
    /// refused the way APNs refuses one: by a fault rule or a rate limit.
    #[error("{reason} ({by})")]
    Refused {
        /// APNs's reason; the admin API answers with its status.
        reason: protocol::Reason,
        /// For `Unregistered`: when the token stopped being valid (ms).
        timestamp: Option<u64>,
        /// What refused it: `fault rule #id …` or `rate limit`.
        by: String,
    },
}
