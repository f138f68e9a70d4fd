//! How a mock is set up: where it keeps state, where it listens, and its limits.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::Error;

/// Settings for [`crate::MockApns`]. Every field has a default suited to tests:
/// in-memory state and loopback listeners on ephemeral ports.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the CA, the default signing key and the state database live. `None` (the
    /// default) keeps everything in memory and writes no files.
    pub data_dir: Option<PathBuf>,
    /// The sandbox provider API (TLS). Default `127.0.0.1:0`.
    pub sandbox_addr: SocketAddr,
    /// The production provider API (TLS). Default `127.0.0.1:0`.
    pub production_addr: SocketAddr,
    /// The admin API (plain HTTP/1.1, JSON). Default `127.0.0.1:0`.
    pub admin_addr: SocketAddr,
    /// The device gateway (TLS + HTTP/2), where simulated devices connect. Default
    /// `127.0.0.1:0`.
    pub gateway_addr: SocketAddr,
    /// The sandbox channel management API (TLS + HTTP/2; Apple's port 2195). Default
    /// `127.0.0.1:0`.
    pub channels_sandbox_addr: SocketAddr,
    /// The production channel management API (Apple's port 2196). Default `127.0.0.1:0`.
    pub channels_production_addr: SocketAddr,
    /// The Web Push endpoint (TLS; HTTP/2 or HTTP/1.1 by ALPN), Apple's
    /// `web.push.apple.com`.
    pub webpush_addr: SocketAddr,
    /// How long priority 5 and 1 notifications to a connected device may wait to be sent
    /// together (APNs batches them for power). Zero sends at once. Default 10 ms.
    pub low_priority_batch: Duration,
    /// A plaintext HTTP/2 (h2c, prior knowledge) listener serving the sandbox
    /// environment, for clients that cannot trust a custom CA. Default: none.
    pub h2c_addr: Option<SocketAddr>,
    /// The clock for JWT age and refresh rules and for timestamps. Default: system.
    pub clock: Clock,
    /// How many answered requests the capture log keeps (oldest dropped first).
    /// Default 10 000.
    pub capture_limit: usize,
    /// How many verified provider tokens are remembered so a steady stream is not
    /// re-verified; past this the cache is cleared. Default 10 000.
    pub token_cache_limit: usize,
    /// Open provider connections per listener; further clients wait in the accept
    /// queue. Default 4096.
    pub max_connections: usize,
    /// Open connections the device gateway accepts (a fleet is one per phone). Default
    /// 65 536.
    pub max_device_connections: usize,
    /// Bytes of request bodies the admin API may hold at once, all requests together
    /// (past it, 503 at once). Default 256 MiB.
    pub admin_body_budget: usize,
    /// MAX_CONCURRENT_STREAMS once a connection is authenticated (APNs sent 1000 in
    /// 2021). Token connections get 1 until their first valid token. Default 1000.
    pub max_concurrent_streams: u32,
    /// How long a client has to finish the TLS handshake. Default 10 s.
    pub handshake_timeout: Duration,
    /// How long a request may take to send its body before the stream is reset.
    /// Default 10 s.
    pub body_timeout: Duration,
    /// Which token rules apply: per-app (today's iOS, the default) or per-device (one
    /// token for all apps of a device). Fixed for a data dir when it is created.
    pub token_scope: TokenScope,
    /// A secret every admin call (and the dashboard) must present, as
    /// `Authorization: Bearer <token>` or `?admin_token=<token>`. Required when the admin
    /// API listens beyond loopback. Default: none.
    pub admin_token: Option<String>,
    /// More names (or IP addresses) the server certificate covers, beside
    /// [`crate::SERVER_NAMES`]: the host name a container is reached by, for instance.
    pub tls_names: Vec<String>,
    /// The dashboard's language until a person picks one in the page (which the browser
    /// remembers). Default: English.
    pub lang: protocol::Lang,
}

impl Default for Config {
    fn default() -> Self {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Config {
            data_dir: None,
            sandbox_addr: loopback,
            production_addr: loopback,
            admin_addr: loopback,
            gateway_addr: loopback,
            channels_sandbox_addr: loopback,
            channels_production_addr: loopback,
            webpush_addr: loopback,
            low_priority_batch: Duration::from_millis(10),
            h2c_addr: None,
            clock: Clock::system(),
            capture_limit: 10_000,
            token_cache_limit: 10_000,
            max_connections: 4096,
            max_device_connections: 65_536,
            admin_body_budget: 256 << 20,
            max_concurrent_streams: 1000,
            handshake_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            token_scope: TokenScope::PerApp,
            admin_token: None,
            tls_names: Vec::new(),
            lang: protocol::Lang::En,
        }
    }
}

/// Which token rules the registry follows (chosen when a data dir is first used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenScope {
    /// One token per app per device; reinstall gives a new token (today's iOS).
    #[default]
    PerApp,
    /// One token per device shared by its apps; reinstall keeps it (the rule of early iOS).
    PerDevice,
}

impl TokenScope {
    /// `per-app` or `per-device`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::PerApp => "per-app",
            TokenScope::PerDevice => "per-device",
        }
    }
}

impl std::str::FromStr for TokenScope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "per-app" => Ok(TokenScope::PerApp),
            "per-device" => Ok(TokenScope::PerDevice),
            other => Err(Error::Invalid(format!("token scope {other:?} is not per-app or per-device"))),
        }
    }
}
