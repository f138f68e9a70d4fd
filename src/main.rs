//! The `apns-lab` binary: wires the mock APNs, the provider and the simulated devices
//! together behind one command line.
//!
//! * `apns-lab demo` — start the whole flow locally and show how to drive it.
//! * `apns-lab serve` — run the mock APNs alone for another project's tests; prints one
//!   JSON "ready" line on stdout with everything a client needs.
//! * `apns-lab token` — print a provider token (JWT) for a `.p8` key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};

mod channels;
mod demo;
mod exec;
use mock_apns::{Config, MockApns, TokenScope};
use protocol::{Environment, Lang};

#[derive(Parser)]
#[command(
    name = "apns-lab",
    version,
    about = "Apple's push-notification flow on one machine: provider, emulated APNs, simulated iPhones"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole flow on this machine, narrated: APNs, a provider and two iPhones.
    Demo {
        /// Run the script once and exit (instead of staying up until Ctrl-C).
        #[arg(long)]
        once: bool,
        /// per-app (today's iOS) or per-device (the seed's rules).
        #[arg(long, default_value = "per-app", value_parser = parse_scope)]
        token_scope: TokenScope,
        /// The narration's and the dashboard's language: en or zh-CN [default: from the
        /// locale, LC_ALL / LC_MESSAGES / LANG].
        #[arg(long, value_parser = parse_lang)]
        lang: Option<Lang>,
    },
    /// Run the mock APNs for other projects' tests; prints a JSON ready line on stdout.
    /// An option given twice takes its last value, so a container's defaults can be
    /// overridden by the arguments given to it.
    #[command(args_override_self = true)]
    Serve(ServeArgs),
    /// Ask a running mock whether it is up: prints its health and exits 0 when it
    /// answers "ok", 1 otherwise (the container image's health check).
    Health {
        /// Its admin API [default: the one the mock serving DATA_DIR wrote into
        /// DATA_DIR/ready.json, else http://127.0.0.1:8089]
        #[arg(long, env = "APNS_LAB_ADMIN")]
        admin: Option<String>,
        /// The data dir of the mock to check: `serve` keeps its ready line there as
        /// ready.json, so whatever addresses it was given, health finds its admin API
        /// [default: serve's default data dir]
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The admin token, if the admin API has one.
        #[arg(long, env = "APNS_LAB_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
    /// Run a command with the mock beside it: on free ports, with a fresh data dir, its
    /// ready line in the command's environment (APNS_LAB_SANDBOX, APNS_LAB_CA_FILE, …,
    /// APNS_LAB_READY); stops when the command ends and exits with its status (127 when
    /// there is no such command, 126 when it cannot be run).
    Exec {
        #[command(flatten)]
        serve: ServeArgs,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Simulated iPhones: run one, inject a payload, or run a fleet.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Send notifications to APNs (or the mock) like Apple's curl recipe, typed.
    Send(Box<SendArgs>),
    /// Broadcast channels: create, read, list, delete (the channel management API).
    Channels {
        #[command(subcommand)]
        command: Box<channels::ChannelCommand>,
    },
    /// The provider server: apps register tokens, the backend sends, 410s prune.
    Provider {
        #[command(subcommand)]
        command: Box<ProviderCommand>,
    },
    /// Print a provider authentication token (ES256 JWT) made from a .p8 key.
    Token {
        /// The .p8 file (PKCS#8 PEM), as downloaded from Apple or written by `serve`.
        #[arg(long)]
        key_file: PathBuf,
        /// The key's id (kid).
        #[arg(long)]
        key_id: String,
        /// The team id (iss).
        #[arg(long)]
        team_id: String,
    },
}

/// How to reach APNs and prove who we are: shared by `send` and `provider serve`.
#[derive(clap::Args)]
struct ApnsArgs {
    /// Trust this CA (PEM) instead of the public roots.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Take the mock's listeners, CA, key, key id and team id from `apns-lab serve`'s
    /// ready line (a file holding it).
    #[arg(long)]
    mock_ready: Option<PathBuf>,
    /// The team's .p8 key (token auth).
    #[arg(long)]
    key: Option<PathBuf>,
    /// The key's id.
    #[arg(long)]
    key_id: Option<String>,
    /// The team id.
    #[arg(long)]
    team_id: Option<String>,
    /// A client certificate: PEM (with --cert-key) or PKCS#12 (.p12, with --password).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// The certificate's private key, PEM.
    #[arg(long)]
    cert_key: Option<PathBuf>,
    /// The PKCS#12 password.
    #[arg(long, default_value = "")]
    password: String,
    /// Connections to use.
    #[arg(long, default_value_t = 1)]
    connections: usize,
}

#[derive(Subcommand)]
enum ProviderCommand {
    /// Serve the provider API (HTTP/1.1 JSON) until Ctrl-C.
    Serve {
        #[command(flatten)]
        apns: ApnsArgs,
        /// Where sandbox tokens go: https://HOST:PORT, or `apple` for Apple's real
        /// sandbox server [default with --mock-ready: the mock's sandbox listener].
        #[arg(long)]
        sandbox_endpoint: Option<String>,
        /// Where production tokens go: https://HOST:PORT, or `apple` for Apple's real
        /// production server [default with --mock-ready: the mock's production listener].
        #[arg(long)]
        production_endpoint: Option<String>,
        /// The token database (SQLite).
        #[arg(long, default_value = "provider.sqlite3")]
        db: PathBuf,
        /// Where to listen (port 0 picks a free port; names such as localhost are resolved).
        #[arg(long, default_value = "127.0.0.1:9000", value_parser = parse_addr)]
        addr: SocketAddr,
    },
}

#[derive(clap::Args)]
struct SendArgs {
    #[command(flatten)]
    apns: ApnsArgs,
    /// Where to send: `sandbox` or `production` (the mock's listeners, with
    /// --mock-ready; the default is sandbox), https://HOST:PORT, or `apple-sandbox` /
    /// `apple-production` for Apple's real servers.
    #[arg(long, alias = "apns")]
    endpoint: Option<String>,
    /// apns-topic (default: the payload's "Simulator Target Bundle", if any).
    #[arg(long)]
    topic: Option<String>,
    /// apns-push-type.
    #[arg(long)]
    push_type: Option<String>,
    /// apns-priority (10, 5 or 1).
    #[arg(long)]
    priority: Option<String>,
    /// apns-expiration (UNIX seconds; 0 = try once).
    #[arg(long)]
    expiration: Option<String>,
    /// apns-collapse-id.
    #[arg(long)]
    collapse_id: Option<String>,
    /// apns-id.
    #[arg(long)]
    apns_id: Option<String>,
    /// The payload: a file (also an .apns file), inline JSON, or - for standard input.
    #[arg(long, default_value = r#"{"aps":{"alert":"test"}}"#)]
    payload: String,
    /// Send this many notifications in all (tokens in turn) and print throughput and
    /// latency instead of each result.
    #[arg(long)]
    count: Option<usize>,
    #[command(flatten)]
    live: LiveActivityArgs,
    /// Broadcast to this channel instead of sending to tokens (`POST
    /// /4/broadcasts/apps/<topic>`; apns-expiration defaults to 0, priority to 10).
    #[arg(long, value_name = "CHANNEL_ID")]
    channel: Option<String>,
    /// Device tokens (hex); for --live-activity, activity tokens.
    #[arg(required_unless_present = "channel")]
    tokens: Vec<String>,
}

/// A Live Activity push, built from options instead of --payload.
#[derive(clap::Args)]
struct LiveActivityArgs {
    /// Send a Live Activity push: start (to a push-to-start token), update or end (to an
    /// activity's update token). --topic is the app's bundle ID; the topic, push type and
    /// priority 10 follow.
    #[arg(long, value_name = "EVENT", value_parser = ["start", "update", "end"])]
    live_activity: Option<String>,
    /// The content state, a JSON object.
    #[arg(long, default_value = "{}", requires = "live_activity")]
    content_state: String,
    /// start: the ActivityAttributes type.
    #[arg(long, requires = "live_activity")]
    attributes_type: Option<String>,
    /// start: the static attributes, a JSON object.
    #[arg(long, default_value = "{}", requires = "live_activity")]
    attributes: String,
    /// The alert: text, or a JSON object (required on start).
    #[arg(long, requires = "live_activity")]
    alert: Option<String>,
    /// The update's timestamp, UNIX seconds (default: now).
    #[arg(long, requires = "live_activity")]
    timestamp: Option<u64>,
    /// When the content goes stale, UNIX seconds.
    #[arg(long, requires = "live_activity")]
    stale_date: Option<u64>,
    /// end: when to remove it from the Lock Screen, UNIX seconds.
    #[arg(long, requires = "live_activity")]
    dismissal_date: Option<u64>,
    /// start: give the new activity its own update token.
    #[arg(long, requires = "live_activity")]
    input_push_token: bool,
}

impl LiveActivityArgs {
    /// The Live Activity's payload and the app's bundle ID, or `None` without --live-activity.
    fn build(&self, topic: Option<&str>) -> Result<Option<(String, String)>, String> {
        let Some(event) = self.live_activity.as_deref() else { return Ok(None) };
        let bundle = topic
            .map(|t| t.trim_end_matches(".push-type.liveactivity").to_owned())
            .ok_or("--live-activity needs --topic (the app's bundle ID)")?;
        let object = |what: &str, text: &str| -> Result<serde_json::Value, String> {
            match serde_json::from_str(text) {
                Ok(v @ serde_json::Value::Object(_)) => Ok(v),
                _ => Err(format!("--{what} must be a JSON object: {text}")),
            }
        };
        let state = object("content-state", &self.content_state)?;
        let alert = self.alert.as_deref().map(|a| serde_json::from_str(a).unwrap_or_else(|_| serde_json::json!(a)));
        let timestamp = self.timestamp.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
        });
        let mut la = match event {
            "start" => {
                let kind = self.attributes_type.as_deref().ok_or("--live-activity start needs --attributes-type")?;
                let alert = alert.clone().ok_or("--live-activity start needs --alert")?;
                provider::LiveActivity::start(kind, &object("attributes", &self.attributes)?, &state, alert, timestamp)
            }
            "update" => provider::LiveActivity::update(&state, timestamp),
            _ => provider::LiveActivity::end(&state, timestamp),
        }
        .map_err(|e| e.to_string())?;
        if event != "start"
            && let Some(alert) = alert
        {
            la = la.alert(alert);
        }
        if let Some(d) = self.stale_date {
            la = la.stale_date(d);
        }
        if let Some(d) = self.dismissal_date {
            la = la.dismissal_date(d);
        }
        if self.input_push_token {
            la = la.input_push_token();
        }
        la.check().map_err(|e| e.to_string())?;
        Ok(Some((la.payload().to_string(), bundle)))
    }
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Run a phone in the foreground: activate, register its apps, print each
    /// notification as the phone shows it.
    Run {
        /// The mock's gateway (the ready line's "gateway").
        #[arg(long)]
        gateway: String,
        /// The mock's CA certificate (the ready line's "ca_file").
        #[arg(long)]
        ca: PathBuf,
        /// The phone's UDID (a new one if absent; the same UDID gets the same tokens).
        #[arg(long)]
        udid: Option<String>,
        /// An installed app: BUNDLE or BUNDLE:sandbox or BUNDLE:production (repeatable).
        #[arg(long = "app", required = true, value_parser = parse_app)]
        apps: Vec<(String, Environment)>,
        /// Where each app sends its token (step 3): an http:// URL that takes
        /// {"udid","bundle_id","environment","token"} as JSON.
        #[arg(long)]
        provider: Option<String>,
        /// The user refused notifications for this app (repeatable).
        #[arg(long = "denied", value_name = "BUNDLE")]
        denied: Vec<String>,
        /// Notifications for this app are provisional: quietly to the notification center.
        #[arg(long = "provisional", value_name = "BUNDLE")]
        provisional: Vec<String>,
        /// This app is on screen.
        #[arg(long = "foreground", value_name = "BUNDLE")]
        foreground: Vec<String>,
        /// This app has a Notification Service Extension (for mutable-content).
        #[arg(long = "service-extension", value_name = "BUNDLE")]
        service_extension: Vec<String>,
        /// A Live Activity type the app declares, BUNDLE:TYPE (repeatable): it gets a
        /// push-to-start token and hands it to the provider.
        #[arg(long = "activity-type", value_name = "BUNDLE:TYPE", value_parser = parse_activity_type)]
        activity_types: Vec<(String, String)>,
        /// Start a Live Activity of this type from the app once online, BUNDLE:TYPE
        /// (repeatable): it gets an update token and hands it to the provider.
        #[arg(long = "start-activity", value_name = "BUNDLE:TYPE", value_parser = parse_activity_type)]
        start_activities: Vec<(String, String)>,
        /// The narration's language: en or zh-CN [default: from the locale].
        #[arg(long, value_parser = parse_lang)]
        lang: Option<Lang>,
    },
    /// Inject a payload into a running phone the way `xcrun simctl push` does.
    Push {
        /// The mock's admin API (the ready line's "admin").
        #[arg(long)]
        admin: String,
        /// The phone.
        #[arg(long)]
        udid: String,
        /// `[BUNDLE] FILE.apns`: the app (optional when the file has "Simulator Target
        /// Bundle") and the payload file (JSON).
        #[arg(num_args = 1..=2, required = true, value_name = "[BUNDLE] FILE")]
        args: Vec<String>,
    },
    /// Run many phones in one process, for load; prints deliveries per second.
    Fleet {
        /// The mock's gateway.
        #[arg(long)]
        gateway: String,
        /// The mock's CA certificate.
        #[arg(long)]
        ca: PathBuf,
        /// How many phones.
        #[arg(long)]
        count: usize,
        /// UDIDs are PREFIX-000000, PREFIX-000001, …
        #[arg(long, default_value = "FLEET")]
        prefix: String,
        /// An installed app on every phone (repeatable).
        #[arg(long = "app", required = true, value_parser = parse_app)]
        apps: Vec<(String, Environment)>,
        /// Write "udid bundle token" lines here once every phone is online (and
        /// "udid bundle token update" for each Live Activity's update token).
        #[arg(long)]
        tokens_out: Option<PathBuf>,
        /// Every phone's app declares this Live Activity type and starts one activity of
        /// it, BUNDLE:TYPE (repeatable).
        #[arg(long = "activity-type", value_name = "BUNDLE:TYPE", value_parser = parse_activity_type)]
        activity_types: Vec<(String, String)>,
        /// The activities listen to this broadcast channel (and, as on iOS, get no update
        /// token: broadcasts update them).
        #[arg(long, value_name = "CHANNEL_ID", requires = "activity_types")]
        activity_channel: Option<String>,
    },
}

fn parse_activity_type(s: &str) -> Result<(String, String), String> {
    let (bundle, kind) = s.split_once(':').ok_or_else(|| format!("{s:?} is not BUNDLE:TYPE"))?;
    protocol::Topic::parse(bundle).map_err(|e| format!("{bundle:?}: {e}"))?;
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{kind:?} is not an ActivityAttributes type name"));
    }
    Ok((bundle.to_owned(), kind.to_owned()))
}

fn parse_app(s: &str) -> Result<(String, Environment), String> {
    let (bundle, env) = match s.rsplit_once(':') {
        Some((b, e)) => (b, e.parse::<Environment>().map_err(|e| e.to_string())?),
        None => (s, Environment::Sandbox),
    };
    protocol::Topic::parse(bundle).map_err(|e| format!("{bundle:?}: {e}"))?;
    Ok((bundle.to_owned(), env))
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Where the CA, the default key and the state database are kept
    /// [default: $XDG_DATA_HOME/apns-lab, or ~/.local/share/apns-lab; with `exec`, a
    /// fresh directory removed afterwards].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The sandbox provider API (TLS + HTTP/2) [default: 127.0.0.1:2197; with `exec`,
    /// every listener is on a free port]. Port 0 picks a free port; a name such as
    /// localhost is resolved (IPv4 first).
    #[arg(long, value_parser = parse_addr)]
    sandbox_addr: Option<SocketAddr>,
    /// The production provider API (TLS + HTTP/2) [default: 127.0.0.1:2198].
    #[arg(long, value_parser = parse_addr)]
    production_addr: Option<SocketAddr>,
    /// The admin API (HTTP/1.1, JSON) [default: 127.0.0.1:8089].
    #[arg(long, value_parser = parse_addr)]
    admin_addr: Option<SocketAddr>,
    /// The device gateway (TLS + HTTP/2), where simulated phones connect [default:
    /// 127.0.0.1:2199].
    #[arg(long, value_parser = parse_addr)]
    gateway_addr: Option<SocketAddr>,
    /// The sandbox channel management API for broadcasts (TLS + HTTP/2) [default:
    /// 127.0.0.1:2195, Apple's port; a free port when --sandbox-addr has port 0].
    #[arg(long, value_parser = parse_addr)]
    channels_sandbox_addr: Option<SocketAddr>,
    /// The production channel management API [default: 127.0.0.1:2196; a free port when
    /// --production-addr has port 0].
    #[arg(long, value_parser = parse_addr)]
    channels_production_addr: Option<SocketAddr>,
    /// Also serve the sandbox environment as plaintext HTTP/2 (h2c, prior knowledge).
    #[arg(long, value_parser = parse_addr)]
    h2c_addr: Option<SocketAddr>,
    /// Token rules: per-app (today's iOS) or per-device (one token per device, the
    /// seed's rules). Fixed for a data dir when it is created.
    #[arg(long, default_value = "per-app", value_parser = parse_scope)]
    token_scope: TokenScope,
    /// How many answered requests the capture log keeps (0 turns capture off).
    #[arg(long, default_value_t = Config::default().capture_limit)]
    capture_limit: usize,
    /// A secret every admin call and the dashboard must present (`Authorization: Bearer
    /// <token>`, or `?admin_token=` in the dashboard's URL). Required when --admin-addr
    /// is not a loopback address.
    #[arg(long, env = "APNS_LAB_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Another name (or address) the server certificate covers, beside loopback and
    /// Apple's hosts: what clients call this machine, e.g. a CI service named `apns`
    /// (repeatable).
    #[arg(long = "tls-name", value_name = "NAME")]
    tls_names: Vec<String>,
    /// The dashboard's language until someone picks one in the page: en or zh-CN
    /// [default: from the locale, LC_ALL / LC_MESSAGES / LANG].
    #[arg(long, value_parser = parse_lang)]
    lang: Option<Lang>,
}

/// `IP:PORT`, or `NAME:PORT` with the name resolved (IPv4 first, as the listeners'
/// defaults are).
fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let all: Vec<SocketAddr> =
        std::net::ToSocketAddrs::to_socket_addrs(s).map_err(|e| format!("{s:?} is not HOST:PORT ({e})"))?.collect();
    all.iter().find(|a| a.is_ipv4()).or(all.first()).copied().ok_or_else(|| format!("{s:?} resolves to no address"))
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    s.parse()
}

fn parse_scope(s: &str) -> Result<TokenScope, String> {
    s.parse().map_err(|e: mock_apns::Error| e.to_string())
}

fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("apns-lab");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/apns-lab"),
        None => PathBuf::from(".apns-lab"),
    }
}

/// jemalloc, chosen over glibc's malloc and mimalloc by `bench/abuse.py`'s memory rows
/// (BENCHMARKS.md): after ten rounds of 3 000 connections opened and closed, glibc kept
/// +186 MiB and mimalloc +73 MiB that the process no longer used; jemalloc, with a
/// background thread purging freed pages after a second, +15 MiB. Its options are built
/// in (`.cargo/config.toml`): freed pages are purged after 1 s (instead of 10 s), from a
/// background thread rather than on allocation paths.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let runtime = match mock_apns::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("apns-lab: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("apns-lab: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<std::process::ExitCode, Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,h2=error".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Exec { serve, command } => exec::run(serve.config(true), &command).await,
        command => dispatch(command).await.map(|()| std::process::ExitCode::SUCCESS),
    }
}

/// Every command but `exec`, which exits with its command's status.
async fn dispatch(command: Command) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Exec { .. } => Err("exec is run on its own, for its exit status".into()),
        Command::Serve(args) => serve(args).await,
        Command::Demo { once, token_scope, lang } => {
            demo::run(once, token_scope, lang.unwrap_or_else(Lang::from_env), async {
                wait_for_signal().await;
            })
            .await
        }
        Command::Device { command } => device(command).await,
        Command::Send(args) => send(*args).await,
        Command::Channels { command } => channels::run(*command).await,
        Command::Health { admin, data_dir, admin_token } => {
            let admin = match admin {
                Some(admin) => admin,
                None => admin_of(&data_dir.unwrap_or_else(default_data_dir))?,
            };
            health(&admin, admin_token.as_deref()).await
        }
        Command::Provider { command } => {
            let ProviderCommand::Serve { apns, sandbox_endpoint, production_endpoint, db, addr } = *command;
            let ready = mock_ready(&apns)?;
            let mut clients = provider::server::Clients::default();
            for (env, flag, value) in [
                (Environment::Sandbox, "--sandbox-endpoint", sandbox_endpoint),
                (Environment::Production, "--production-endpoint", production_endpoint),
            ] {
                let endpoint = match value.as_deref() {
                    Some("apple") => Some(Target::Apple(env)),
                    Some(url) => Some(Target::Url(url.to_owned())),
                    None if ready.is_some() => Some(Target::Mock(env)),
                    None => None,
                };
                if let Some(target) = endpoint {
                    let client = apns_client(&apns, ready.as_ref(), &target).map_err(|e| format!("{flag}: {e}"))?;
                    match env {
                        Environment::Sandbox => clients.sandbox = Some(client),
                        Environment::Production => clients.production = Some(client),
                    }
                }
            }
            if clients.sandbox.is_none() && clients.production.is_none() {
                return Err(
                    "say where APNs is: --mock-ready FILE (the mock's two listeners), or --sandbox-endpoint / \
                     --production-endpoint (https://HOST:PORT, or `apple` for Apple's real servers)"
                        .into(),
                );
            }
            let tokens = provider::server::Tokens::open(Some(&db))?;
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("{addr}: {e}"))?;
            let bound = listener.local_addr()?;
            println!("{}", serde_json::json!({"event": "ready", "provider": format!("http://{bound}"), "db": db}));
            // With the mock, its channel listeners too (broadcasts: `/v1/channels`).
            let mut channel_clients = provider::server::Clients::default();
            if ready.is_some() {
                for env in [Environment::Sandbox, Environment::Production] {
                    let client = apns_client(&apns, ready.as_ref(), &Target::MockChannels(env))?;
                    match env {
                        Environment::Sandbox => channel_clients.sandbox = Some(client),
                        Environment::Production => channel_clients.production = Some(client),
                    }
                }
            }
            let state = std::sync::Arc::new(provider::server::Provider { tokens, clients, channel_clients });
            provider::server::run(listener, state, async {
                wait_for_signal().await;
            })
            .await;
            Ok(())
        }
        Command::Token { key_file, key_id, team_id } => {
            let p8 = std::fs::read(&key_file).map_err(|e| format!("{}: {e}", key_file.display()))?;
            let signer = provider::TokenSigner::new(&p8, &key_id, &team_id)
                .map_err(|e| format!("{}: {e}", key_file.display()))?;
            println!("{}", signer.sign(unix_now())?);
            Ok(())
        }
    }
}

/// Where a client connects.
enum Target {
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
    fn parse(value: Option<&str>) -> Target {
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
fn mock_ready(a: &ApnsArgs) -> Result<Option<serde_json::Value>, Box<dyn std::error::Error>> {
    let Some(p) = &a.mock_ready else { return Ok(None) };
    let text = std::fs::read_to_string(p).map_err(|e| format!("--mock-ready {}: {e}", p.display()))?;
    let line = text.lines().next().unwrap_or("");
    let ready: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| format!("--mock-ready {}: not the ready line of `apns-lab serve` ({e})", p.display()))?;
    Ok(Some(ready))
}

/// A provider client for `target` from the command line's APNs options. Nothing reaches
/// an Apple host unless the user named Apple, and then stderr says so first.
fn apns_client(
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
            let endpoint = channels::apple_endpoint(*env);
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

async fn send(a: SendArgs) -> Result<(), Box<dyn std::error::Error>> {
    use provider::Notification;
    let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let ready = mock_ready(&a.apns)?;
    if ready.is_none() && a.endpoint.is_none() {
        return Err("say where APNs is: --mock-ready FILE (the mock), --endpoint https://HOST:PORT, or \
                    --endpoint apple-sandbox / apple-production for Apple's real servers"
            .into());
    }
    let client = apns_client(&a.apns, ready.as_ref(), &Target::parse(a.endpoint.as_deref()))?;
    let payload = match a.payload.as_str() {
        "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            s
        }
        p if p.trim_start().starts_with('{') => p.to_owned(),
        p => read(&PathBuf::from(p))?,
    };
    let json: serde_json::Value =
        serde_json::from_str(&payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
    let topic = a.topic.clone().or_else(|| json["Simulator Target Bundle"].as_str().map(str::to_owned));
    let live = a.live.build(topic.as_deref())?;
    let mut template = match &live {
        Some((payload, bundle)) => Notification::raw(String::new(), payload.clone())
            .topic(format!("{bundle}.push-type.liveactivity"))
            .push_type(protocol::PushType::Liveactivity)
            .priority(protocol::Priority::Immediate),
        None => Notification::raw(String::new(), payload.trim().to_owned()),
    };
    if live.is_none() {
        template.topic = topic;
    }
    if let Some(push_type) = a.push_type.as_deref() {
        template.push_type = Some(push_type.parse()?);
    }
    if let Some(priority) = a.priority.as_deref() {
        template.priority = Some(priority.parse()?);
    }
    template.expiration = a.expiration.as_deref().map(str::parse).transpose()?;
    template.collapse_id = a.collapse_id.clone();
    template.apns_id = a.apns_id.clone();
    if let Some(channel) = &a.channel {
        return broadcast(&client, &template, channel).await;
    }
    let for_token = |t: &str| Notification { token: t.to_owned(), ..template.clone() };

    if let Some(count) = a.count {
        // A fixed set of senders, each taking the next notification: 100 streams per
        // connection, no task per notification.
        let started = std::time::Instant::now();
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tokens = std::sync::Arc::new(a.tokens.clone());
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..a.apns.connections.max(1) * 100 {
            let (client, next, tokens, template) = (client.clone(), next.clone(), tokens.clone(), template.clone());
            workers.spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        return done;
                    }
                    let n = Notification { token: tokens[i % tokens.len()].clone(), ..template.clone() };
                    let t = std::time::Instant::now();
                    let ok = client.send(&n).await.is_ok();
                    done.push((ok, t.elapsed()));
                }
            });
        }
        let mut latencies = Vec::with_capacity(count);
        let mut failed = 0;
        while let Some(Ok(done)) = workers.join_next().await {
            for (ok, d) in done {
                failed += usize::from(!ok);
                latencies.push(d);
            }
        }
        let secs = started.elapsed().as_secs_f64();
        latencies.sort();
        let pct =
            |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)));
        let ms = |d: Option<&std::time::Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        println!(
            "{count} sent in {secs:.2} s: {:.0}/s, {failed} not accepted, latency p50 {:.2} ms, p99 {:.2} ms",
            count as f64 / secs,
            ms(pct(0.5)),
            ms(pct(0.99))
        );
        return if failed == 0 { Ok(()) } else { Err(format!("{failed} of {count} were not accepted").into()) };
    }

    let mut refused = 0;
    for token in &a.tokens {
        let short = &token[..token.len().min(16)];
        match client.send(&for_token(token)).await {
            Ok(ok) => {
                let unique = ok.apns_unique_id.map(|u| format!(" apns-unique-id {u}")).unwrap_or_default();
                println!("[4] {short}… 200 accepted  apns-id {}{unique}", ok.apns_id);
            }
            Err(provider::Error::Rejected(r)) => {
                refused += 1;
                println!("[4] {short}… {r}  apns-id {}", r.apns_id.as_deref().unwrap_or("-"));
            }
            Err(e @ provider::Error::Connection(_)) => {
                refused += 1;
                println!("[4] {short}… not sent: {e}");
            }
            Err(e) => {
                refused += 1;
                println!("[4] {short}… not sent to https://{}: {e}", client.endpoint().addr);
            }
        }
    }
    if refused == 0 { Ok(()) } else { Err(format!("{refused} of {} were not accepted", a.tokens.len()).into()) }
}

/// `send --channel`: one broadcast, its answer printed like a push's.
async fn broadcast(
    client: &provider::Client,
    template: &provider::Notification,
    channel: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let topic = template.topic.as_deref().ok_or("--channel needs --topic (the app's bundle ID)")?;
    let bundle = topic.trim_end_matches(".push-type.liveactivity");
    let headers = [
        ("apns-channel-id", channel.to_owned()),
        ("apns-push-type", "liveactivity".to_owned()),
        ("apns-expiration", template.expiration.map_or(0, |e| e.0).to_string()),
        ("apns-priority", template.priority.unwrap_or_default().to_string()),
    ];
    let path = format!("/4/broadcasts/apps/{bundle}");
    let answer = client.call(provider::Method::POST, &path, &headers, template.payload.clone()).await?;
    let request_id = answer.header("apns-request-id").unwrap_or("-").to_owned();
    match answer.rejection() {
        None => {
            println!("[4] broadcast to channel {channel}: {} accepted, apns-request-id {request_id}", answer.status);
            Ok(())
        }
        Some(r) => {
            println!("[4] broadcast to channel {channel}: {r}  apns-request-id {request_id}");
            Err(format!("the broadcast was refused: {}", r.reason).into())
        }
    }
}

/// `apns-lab health`: the admin API's `GET /api/v1/health`, within five seconds.
/// The ready line's file in a data dir: written by `serve` once it is ready, so `health`
/// (the image's health check) finds the admin API whatever address it was given.
const READY_FILE: &str = "ready.json";

/// The admin API of the mock serving `data_dir`, from its ready line; the default
/// address when no mock has written one there.
fn admin_of(data_dir: &std::path::Path) -> Result<String, Box<dyn std::error::Error>> {
    let path = data_dir.join(READY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let ready: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: not a ready line: {e}", path.display()))?;
            let admin = ready["admin"].as_str().ok_or_else(|| format!("{}: no admin URL", path.display()))?;
            // A mock listening on every interface is asked on loopback.
            Ok(admin.replacen("//0.0.0.0:", "//127.0.0.1:", 1).replacen("//[::]:", "//[::1]:", 1))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok("http://127.0.0.1:8089".to_owned()),
        Err(e) => Err(format!("{}: {e}", path.display()).into()),
    }
}

async fn health(admin: &str, token: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    let url = format!("{}/api/v1/health", admin.trim_end_matches('/'));
    let ask = device_sim::run::call("admin API", http::Method::GET, &url, token, None);
    let body = tokio::time::timeout(std::time::Duration::from_secs(5), ask)
        .await
        .map_err(|_| format!("{url} did not answer within 5 s"))??;
    let health: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))?;
    if health["status"] != "ok" {
        return Err(format!("{url} says {health}").into());
    }
    println!("{health}");
    Ok(())
}

async fn device(command: DeviceCommand) -> Result<(), Box<dyn std::error::Error>> {
    let ca_of = |path: &PathBuf| std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()));
    match command {
        DeviceCommand::Run {
            gateway,
            ca,
            udid,
            apps,
            provider,
            denied,
            provisional,
            foreground,
            service_extension,
            activity_types,
            start_activities,
            lang,
        } => {
            let endpoint = device_sim::Endpoint::parse(&gateway, ca_of(&ca)?)?;
            let by_type = activity_types.iter().chain(&start_activities).map(|(b, _)| b);
            for named in denied.iter().chain(&provisional).chain(&foreground).chain(&service_extension).chain(by_type) {
                if !apps.iter().any(|(b, _)| b == named) {
                    return Err(format!("{named} is not one of the --app apps").into());
                }
            }
            let apps = apps
                .into_iter()
                .map(|(bundle, env)| {
                    let mut setup = device_sim::run::AppSetup::new(bundle.clone(), env);
                    if denied.contains(&bundle) {
                        setup.authorization = device_sim::Authorization::Denied;
                    } else if provisional.contains(&bundle) {
                        setup.authorization = device_sim::Authorization::Provisional;
                    }
                    setup.foreground = foreground.contains(&bundle);
                    setup.service_extension = service_extension.contains(&bundle);
                    let mine = |list: &[(String, String)]| -> Vec<String> {
                        list.iter().filter(|(b, _)| *b == bundle).map(|(_, t)| t.clone()).collect()
                    };
                    setup.activity_types = mine(&activity_types);
                    setup.start_activities = mine(&start_activities);
                    setup
                })
                .collect();
            let lang = lang.unwrap_or_else(Lang::from_env);
            let run = device_sim::run::run_in(lang, endpoint, udid, apps, provider, |line| println!("{line}"));
            tokio::select! {
                r = run => r?,
                _ = wait_for_signal() => {}
            }
            Ok(())
        }
        DeviceCommand::Push { admin, udid, mut args } => {
            let file = PathBuf::from(args.pop().ok_or("give the .apns file")?);
            let bundle = args.pop();
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let payload: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
            let url = format!("{}/api/v1/devices/{udid}/push", admin.trim_end_matches('/'));
            let body = serde_json::json!({ "bundle_id": bundle, "payload": payload });
            let answer = device_sim::run::post_json("admin API", &url, &body).await?;
            println!("{}", String::from_utf8_lossy(&answer));
            Ok(())
        }
        DeviceCommand::Fleet { gateway, ca, count, prefix, apps, tokens_out, activity_types, activity_channel } => {
            let endpoint = device_sim::Endpoint::parse(&gateway, ca_of(&ca)?)?;
            if let Some((b, _)) = activity_types.iter().find(|(b, _)| !apps.iter().any(|(a, _)| a == b)) {
                return Err(format!("{b} is not one of the --app apps").into());
            }
            let stats = std::sync::Arc::new(device_sim::fleet::FleetStats::default());
            let started = std::time::Instant::now();
            let tokens = device_sim::fleet::start_with_activities(
                endpoint,
                count,
                &prefix,
                &apps,
                &activity_types,
                activity_channel.as_deref(),
                stats.clone(),
            )
            .await?;
            eprintln!("{count} phones online in {:.1} s", started.elapsed().as_secs_f64());
            if let Some(path) = tokens_out {
                let lines: String = tokens
                    .iter()
                    .map(|t| match t.kind {
                        None => format!("{} {} {}\n", t.udid, t.bundle_id, t.token),
                        Some(_) => format!("{} {} {} update\n", t.udid, t.bundle_id, t.token),
                    })
                    .collect();
                std::fs::write(&path, lines).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            let mut last = 0;
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = wait_for_signal() => return Ok(()),
                }
                let now = stats.delivered.load(std::sync::atomic::Ordering::Relaxed);
                let lat = stats.take_latencies();
                let pct = |p: f64| {
                    lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0)
                };
                println!(
                    "{{\"delivered_per_s\":{},\"total\":{now},\"p50_ms\":{},\"p99_ms\":{},\"max_ms\":{}}}",
                    now - last,
                    pct(0.50),
                    pct(0.99),
                    lat.last().copied().unwrap_or(0)
                );
                last = now;
            }
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl ServeArgs {
    /// The mock's configuration; `free_ports` puts every listener not given on a free
    /// loopback port, and leaves the data dir unset unless given (`exec`).
    fn config(self, free_ports: bool) -> Config {
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
            capture_limit: self.capture_limit,
            token_scope: self.token_scope,
            admin_token: self.admin_token,
            tls_names: self.tls_names,
            lang: self.lang.unwrap_or_else(Lang::from_env),
            ..Config::default()
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = args.config(false);
    let mock = MockApns::start(config).await?;
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

/// Waits for Ctrl-C or SIGTERM; says which (the signal's number).
async fn wait_for_signal() -> u8 {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => 2,
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => 15,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        2
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

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
