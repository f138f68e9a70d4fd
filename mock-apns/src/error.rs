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
    /// A file in the data directory could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A listener could not be bound or used.
    #[error("socket: {0}")]
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
}

impl Error {
    /// Wraps an I/O error with the file it concerns.
    pub(crate) fn file(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::File { path, source }
    }
}
