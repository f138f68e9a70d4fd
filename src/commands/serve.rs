//! `apns-lab serve`: the mock APNs alone, for another project's tests, until Ctrl-C or
//! SIGTERM; prints one JSON ready line on stdout (and keeps it in the data dir for
//! `health`).

use std::net::SocketAddr;
use std::path::PathBuf;

use mock_apns::{Config, MockApns, TokenScope};
use protocol::Lang;

use crate::common::{default_data_dir, parse_addr, parse_lang, parse_scope, wait_for_signal};

/// The ready line's file in a data dir: written by `serve` once it is ready, so `health`
/// (the image's health check) finds the admin API whatever address it was given.
pub(crate) const READY_FILE: &str = "ready.json";

#[derive(clap::Args)]
#[group(id = "serve")]
pub(crate) struct Args {
    /// Where the CA, the default key and the state database are kept
    /// [default: $XDG_DATA_HOME/apns-lab, or ~/.local/share/apns-lab; with `exec`, a
    /// fresh directory removed afterwards].
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// The sandbox provider API (TLS + HTTP/2) [default: 127.0.0.1:2197; with `exec`,
    /// every listener is on a free port]. Port 0 picks a free port; a name such as
    /// localhost is resolved (IPv4 first).
    #[arg(long, value_parser = parse_addr)]
    pub(crate) sandbox_addr: Option<SocketAddr>,
    /// The production provider API (TLS + HTTP/2) [default: 127.0.0.1:2198].
    #[arg(long, value_parser = parse_addr)]
    pub(crate) production_addr: Option<SocketAddr>,
    /// The admin API (HTTP/1.1, JSON) [default: 127.0.0.1:8089].
    #[arg(long, value_parser = parse_addr)]
    pub(crate) admin_addr: Option<SocketAddr>,
    /// The device gateway (TLS + HTTP/2), where simulated phones connect [default:
    /// 127.0.0.1:2199].
    #[arg(long, value_parser = parse_addr)]
    pub(crate) gateway_addr: Option<SocketAddr>,
    /// The sandbox channel management API for broadcasts (TLS + HTTP/2) [default:
    /// 127.0.0.1:2195, Apple's port; a free port when --sandbox-addr has port 0].
    #[arg(long, value_parser = parse_addr)]
    pub(crate) channels_sandbox_addr: Option<SocketAddr>,
    /// The production channel management API [default: 127.0.0.1:2196; a free port when
    /// --production-addr has port 0].
    #[arg(long, value_parser = parse_addr)]
    pub(crate) channels_production_addr: Option<SocketAddr>,
    /// The Web Push endpoint, Apple's web.push.apple.com (TLS; HTTP/2 or HTTP/1.1 by ALPN)
    /// [default: 127.0.0.1:2200; a free port when --sandbox-addr has port 0].
    #[arg(long, value_parser = parse_addr)]
    pub(crate) webpush_addr: Option<SocketAddr>,
    /// Also serve the sandbox environment as plaintext HTTP/2 (h2c, prior knowledge).
    #[arg(long, value_parser = parse_addr)]
    h2c_addr: Option<SocketAddr>,
    /// Token rules: per-app (today's iOS) or per-device (one token per device, shared by
    /// its apps: the rule of early iOS). Fixed for a data dir when it is created.
    #[arg(long, default_value = "per-app", value_parser = parse_scope)]
    pub(crate) token_scope: TokenScope,
    /// How many answered requests the capture log keeps (0 turns capture off).
    #[arg(long, default_value_t = Config::default().capture_limit)]
    pub(crate) capture_limit: usize,
    /// A secret every admin call and the dashboard must present (`Authorization: Bearer
    /// <token>`, or `?admin_token=` in the dashboard's URL). Required when --admin-addr
    /// is not a loopback address.
    #[arg(long, env = "APNS_LAB_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) admin_token: Option<String>,
    /// Another name (or address) the server certificate covers, beside loopback and
    /// Apple's hosts: what clients call this machine, e.g. a CI service named `apns`
    /// (repeatable).
    #[arg(long = "tls-name", value_name = "NAME")]
    pub(crate) tls_names: Vec<String>,
    /// The dashboard's language until someone picks one in the page: en or zh-CN
    /// [default: from the locale, LC_ALL / LC_MESSAGES / LANG].
    #[arg(long, value_parser = parse_lang)]
    pub(crate) lang: Option<Lang>,
}

impl Args {
    /// The mock's configuration; `free_ports` puts every listener not given on a free
    /// loopback port, and leaves the data dir unset unless given (`exec`).
    pub(crate) fn config(self, free_ports: bool) -> Config {
        let addr = |given: Option<SocketAddr>, port: u16| {
            given.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], if free_ports { 0 } else { port })))
        };
        let sandbox_addr = addr(self.sandbox_addr, 2197);
        let production_addr = addr(self.production_addr, 2198);
        Config {
            data_dir: self.data_dir.or_else(|| (!free_ports).then(default_data_dir)),
            sandbox_addr,
            production_addr,
            admin_addr: addr(self.admin_addr, 8089),
            h2c_addr: self.h2c_addr,
            gateway_addr: addr(self.gateway_addr, 2199),
            // Beside the provider API's listeners: on free ports when those are.
            channels_sandbox_addr: self.channels_sandbox_addr.unwrap_or_else(|| {
                let port = if sandbox_addr.port() == 0 { 0 } else { 2195 };
                SocketAddr::new(sandbox_addr.ip(), port)
            }),
            channels_production_addr: self.channels_production_addr.unwrap_or_else(|| {
                let port = if production_addr.port() == 0 { 0 } else { 2196 };
                SocketAddr::new(production_addr.ip(), port)
            }),
            webpush_addr: self.webpush_addr.unwrap_or_else(|| {
                let port = if sandbox_addr.port() == 0 { 0 } else { 2200 };
                SocketAddr::new(sandbox_addr.ip(), port)
            }),
            capture_limit: self.capture_limit,
            token_scope: self.token_scope,
            admin_token: self.admin_token,
            tls_names: self.tls_names,
            lang: self.lang.unwrap_or_else(Lang::from_env),
            ..Config::default()
        }
    }
}

pub(crate) async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = args.config(false);
    let mock = MockApns::start(config).await?;
    super::phones::InProcess::attach(&mock)?;
    let line = serde_json::to_string(mock.ready())?;
    // The ready line in the data dir too, for `health`: written whole (a temporary file
    // renamed), and removed when serve stops.
    let ready_file = mock.ready().data_dir.as_ref().map(|dir| dir.join(READY_FILE));
    if let Some(path) = &ready_file {
        let temporary = path.with_extension("json.new");
        std::fs::write(&temporary, format!("{line}\n"))
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("{line}");
    tracing::info!(sandbox = %mock.ready().sandbox, production = %mock.ready().production, admin = %mock.ready().admin, "mock APNs ready");
    wait_for_signal().await;
    tracing::info!("shutting down");
    mock.shutdown().await;
    if let Some(path) = &ready_file {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
