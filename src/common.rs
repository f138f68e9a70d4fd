//! What the subcommands share: the APNs options of `send`, `provider serve` and
//! `channels`, where a client connects (the mock, a URL, or Apple when named), reading a
//! ready line, parsing addresses, apps and languages, the default data dir, waiting for
//! a signal.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use mock_apns::TokenScope;
use protocol::{Environment, Lang};

/// How to reach APNs and prove who we are: shared by `send` and `provider serve`.
#[derive(clap::Args)]
pub(crate) struct ApnsArgs {
    /// Trust this CA (PEM) instead of the public roots.
    #[arg(long)]
    pub(crate) ca: Option<PathBuf>,
    /// Take the mock's listeners, CA, key, key id and team id from `apns-lab serve`'s
    /// ready line (a file holding it).
    #[arg(long)]
    pub(crate) mock_ready: Option<PathBuf>,
    /// The team's .p8 key (token auth).
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// The key's id.
    #[arg(long)]
    pub(crate) key_id: Option<String>,
    /// The team id.
    #[arg(long)]
    pub(crate) team_id: Option<String>,
    /// A client certificate: PEM (with --cert-key) or PKCS#12 (.p12, with --password).
    #[arg(long)]
    pub(crate) cert: Option<PathBuf>,
    /// The certificate's private key, PEM.
    #[arg(long)]
    pub(crate) cert_key: Option<PathBuf>,
    /// The PKCS#12 password.
    #[arg(long, default_value = "")]
    pub(crate) password: String,
    /// Connections to use.
    #[arg(long, default_value_t = 1)]
    pub(crate) connections: usize,
}

/// Where a client connects.
pub(crate) enum Target {
    /// The mock's listener for an environment (from the ready line).
    Mock(Environment),
    /// Apple's real server for an environment: only when the user says so in as many words.
    Apple(Environment),
    /// `https://host:port`.
    Url(String),
    /// The mock's channel management listener for an environment.
    MockChannels(Environment),
    /// Apple's channel management API for an environment: only when named.
    AppleChannels(Environment),
}

impl Target {
    /// `send --endpoint`'s value.
    pub(crate) fn parse(value: Option<&str>) -> Target {
        match value {
            None | Some("sandbox") => Target::Mock(Environment::Sandbox),
            Some("production") => Target::Mock(Environment::Production),
            Some("apple-sandbox") => Target::Apple(Environment::Sandbox),
            Some("apple-production") => Target::Apple(Environment::Production),
            Some(url) => Target::Url(url.to_owned()),
        }
    }
}

/// The ready line `--mock-ready` names, if any.
pub(crate) fn mock_ready(a: &ApnsArgs) -> Result<Option<serde_json::Value>, Box<dyn std::error::Error>> {
    let Some(p) = &a.mock_ready else { return Ok(None) };
    let text = std::fs::read_to_string(p).map_err(|e| format!("--mock-ready {}: {e}", p.display()))?;
    let line = text.lines().next().unwrap_or("");
    let ready: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| format!("--mock-ready {}: not the ready line of `apns-lab serve` ({e})", p.display()))?;
    Ok(Some(ready))
}

/// A provider client for `target` from the command line's APNs options. Nothing reaches
/// an Apple host unless the user named Apple, and then stderr says so first.
pub(crate) fn apns_client(
    a: &ApnsArgs,
    ready: Option<&serde_json::Value>,
    target: &Target,
) -> Result<provider::Client, Box<dyn std::error::Error>> {
    use provider::{Auth, Client, ClientConfig, Endpoint, TokenSigner};
    let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let from_ready = |field: &str| ready.and_then(|r| r[field].as_str()).map(str::to_owned);
    let ca = match (&a.ca, from_ready("ca_file")) {
        (Some(p), _) => Some(read(p)?),
        (None, Some(p)) => Some(read(&PathBuf::from(p))?),
        (None, None) => None,
    };
    let endpoint = match target {
        Target::MockChannels(env) => {
            let url = from_ready(&format!("channels_{env}")).ok_or_else(|| {
                format!("{env} means the mock's {env} channel listener, which needs --mock-ready FILE")
            })?;
            Endpoint::custom(&url, ca)?
        }
        Target::AppleChannels(env) => {
            let endpoint = apple_endpoint(*env);
            eprintln!("apns-lab: this reaches Apple's real channel API at {}, as asked", endpoint.addr);
            Endpoint { ca_pem: a.ca.as_ref().map(read).transpose()?, ..endpoint }
        }
        Target::Mock(env) => {
            let url = from_ready(env.as_str()).ok_or_else(|| {
                format!(
                    "{env} means the mock's {env} listener, which needs --mock-ready FILE; \
                     for Apple's own server say apple-{env}, or give https://HOST:PORT"
                )
            })?;
            Endpoint::custom(&url, ca)?
        }
        Target::Apple(env) => {
            let endpoint = match env {
                Environment::Sandbox => Endpoint::sandbox(),
                Environment::Production => Endpoint::production(),
            };
            eprintln!("apns-lab: this reaches Apple's real APNs at {}, as asked", endpoint.addr);
            // Apple's servers are trusted through the public roots unless --ca says otherwise.
            Endpoint { ca_pem: a.ca.as_ref().map(read).transpose()?, ..endpoint }
        }
        Target::Url(url) => {
            let endpoint = Endpoint::custom(url, ca)?;
            if endpoint.host.ends_with("push.apple.com") {
                eprintln!("apns-lab: this reaches Apple's real APNs at {}, as asked", endpoint.addr);
            }
            endpoint
        }
    };
    let auth = match (&a.cert, a.key.clone().or_else(|| from_ready("key_file").map(PathBuf::from))) {
        (Some(cert), _) if cert.extension().is_some_and(|e| e == "p12" || e == "pfx") => {
            Auth::pkcs12(&std::fs::read(cert).map_err(|e| format!("{}: {e}", cert.display()))?, &a.password)?
        }
        (Some(cert), _) => {
            let key = a.cert_key.as_ref().ok_or("--cert needs --cert-key (or a .p12 file)")?;
            Auth::Certificate { cert_pem: read(cert)?, key_pem: read(key)? }
        }
        (None, Some(key)) => {
            let key_id = a.key_id.clone().or_else(|| from_ready("key_id")).ok_or("--key needs --key-id")?;
            let team_id = a.team_id.clone().or_else(|| from_ready("team_id")).ok_or("--key needs --team-id")?;
            let signer = TokenSigner::new(read(&key)?.as_bytes(), &key_id, &team_id)
                .map_err(|e| format!("{}: {e}", key.display()))?;
            Auth::token(signer, provider::SharedToken::DEFAULT_REFRESH_SECS)
        }
        (None, None) => return Err("give --key (token auth), --cert (certificate auth) or --mock-ready".into()),
    };
    let mut config = ClientConfig::new(endpoint, auth);
    config.connections = a.connections.max(1);
    Ok(Client::new(config)?)
}

pub(crate) fn parse_activity_type(s: &str) -> Result<(String, String), String> {
    let (bundle, kind) = s.split_once(':').ok_or_else(|| format!("{s:?} is not BUNDLE:TYPE"))?;
    protocol::Topic::parse(bundle).map_err(|e| format!("{bundle:?}: {e}"))?;
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{kind:?} is not an ActivityAttributes type name"));
    }
    Ok((bundle.to_owned(), kind.to_owned()))
}

pub(crate) fn parse_app(s: &str) -> Result<(String, Environment), String> {
    let (bundle, env) = match s.rsplit_once(':') {
        Some((b, e)) => (b, e.parse::<Environment>().map_err(|e| e.to_string())?),
        None => (s, Environment::Sandbox),
    };
    protocol::Topic::parse(bundle).map_err(|e| format!("{bundle:?}: {e}"))?;
    Ok((bundle.to_owned(), env))
}

/// `IP:PORT`, or `NAME:PORT` with the name resolved (IPv4 first, as the listeners'
/// defaults are).
pub(crate) fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let all: Vec<SocketAddr> =
        std::net::ToSocketAddrs::to_socket_addrs(s).map_err(|e| format!("{s:?} is not HOST:PORT ({e})"))?.collect();
    all.iter().find(|a| a.is_ipv4()).or(all.first()).copied().ok_or_else(|| format!("{s:?} resolves to no address"))
}

pub(crate) fn parse_lang(s: &str) -> Result<Lang, String> {
    s.parse()
}

pub(crate) fn parse_scope(s: &str) -> Result<TokenScope, String> {
    s.parse().map_err(|e: mock_apns::Error| e.to_string())
}

pub(crate) fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("apns-lab");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/apns-lab"),
        None => PathBuf::from(".apns-lab"),
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Ctrl-C and SIGTERM, listened for from the moment this is made: a signal that comes
/// before [`Signals::next`] is first awaited is kept for it, not left to kill the process.
pub(crate) struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Starts listening.
    pub(crate) fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals { term: signal(SignalKind::terminate()).ok(), int: signal(SignalKind::interrupt()).ok() }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next signal (its number: 2 for Ctrl-C, 15 for SIGTERM).
    pub(crate) async fn next(&mut self) -> u8 {
        #[cfg(unix)]
        {
            async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
                match s.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = one(&mut self.int) => 2,
                _ = one(&mut self.term) => 15,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            2
        }
    }
}

/// Waits for Ctrl-C or SIGTERM; says which (the signal's number).
pub(crate) async fn wait_for_signal() -> u8 {
    Signals::listen().next().await
}

/// The channel API's hosts at Apple (documented ports 2195 and 2196).
pub(crate) fn apple_endpoint(env: Environment) -> provider::Endpoint {
    let (host, port) = match env {
        Environment::Sandbox => ("api-manage-broadcast.sandbox.push.apple.com", 2195),
        Environment::Production => ("api-manage-broadcast.push.apple.com", 2196),
    };
    provider::Endpoint { host: host.into(), addr: format!("{host}:{port}"), ca_pem: None }
}

#[cfg(test)]
mod tests {
    #[test]
    fn apps_parse_with_an_optional_environment() {
        use protocol::Environment::{Production, Sandbox};
        assert_eq!(super::parse_app("com.example.chat"), Ok(("com.example.chat".into(), Sandbox)));
        assert_eq!(super::parse_app("com.example.chat:production"), Ok(("com.example.chat".into(), Production)));
        assert!(super::parse_app("com.example.chat:staging").is_err());
        assert!(super::parse_app("bad bundle").is_err());
    }

    #[test]
    fn addresses_take_names_and_port_zero() {
        assert_eq!(super::parse_addr("localhost:0"), Ok("127.0.0.1:0".parse().expect("addr")));
        assert_eq!(super::parse_addr("127.0.0.1:2197"), Ok("127.0.0.1:2197".parse().expect("addr")));
        assert_eq!(super::parse_addr("[::1]:0"), Ok("[::1]:0".parse().expect("addr")));
        assert!(super::parse_addr("localhost").is_err(), "a port is needed");
        assert!(super::parse_addr("127.0.0.1:99999").is_err());
    }
}
