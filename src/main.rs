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
use mock_apns::{Config, MockApns, NewApp, NewDevice, TokenScope};
use protocol::Environment;

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
    /// Start the mock APNs with a demo device and print how to push to it.
    Demo,
    /// Run the mock APNs for other projects' tests; prints a JSON ready line on stdout.
    Serve(ServeArgs),
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

#[derive(clap::Args)]
struct ServeArgs {
    /// Where the CA, the default key and the state database are kept
    /// [default: $XDG_DATA_HOME/apns-lab, or ~/.local/share/apns-lab].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The sandbox provider API (TLS + HTTP/2). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:2197")]
    sandbox_addr: SocketAddr,
    /// The production provider API (TLS + HTTP/2).
    #[arg(long, default_value = "127.0.0.1:2198")]
    production_addr: SocketAddr,
    /// The admin API (HTTP/1.1, JSON).
    #[arg(long, default_value = "127.0.0.1:8089")]
    admin_addr: SocketAddr,
    /// Also serve the sandbox environment as plaintext HTTP/2 (h2c, prior knowledge).
    #[arg(long)]
    h2c_addr: Option<SocketAddr>,
    /// Token rules: per-app (today's iOS) or per-device (one token per device, the
    /// seed's rules). Fixed for a data dir when it is created.
    #[arg(long, default_value = "per-app", value_parser = parse_scope)]
    token_scope: TokenScope,
    /// How many answered requests the capture log keeps (0 turns capture off).
    #[arg(long, default_value_t = Config::default().capture_limit)]
    capture_limit: usize,
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

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("apns-lab: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apns-lab: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Demo => demo().await,
        Command::Token { key_file, key_id, team_id } => {
            let p8 = std::fs::read(&key_file).map_err(|e| format!("{}: {e}", key_file.display()))?;
            let signer = provider::TokenSigner::new(&p8, &key_id, &team_id)?;
            println!("{}", signer.sign(unix_now())?);
            Ok(())
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config {
        data_dir: Some(args.data_dir.unwrap_or_else(default_data_dir)),
        sandbox_addr: args.sandbox_addr,
        production_addr: args.production_addr,
        admin_addr: args.admin_addr,
        h2c_addr: args.h2c_addr,
        capture_limit: args.capture_limit,
        token_scope: args.token_scope,
        ..Config::default()
    };
    let mock = MockApns::start(config).await?;
    println!("{}", serde_json::to_string(mock.ready())?);
    tracing::info!(sandbox = %mock.ready().sandbox, production = %mock.ready().production, admin = %mock.ready().admin, "mock APNs ready");
    wait_for_signal().await;
    tracing::info!("shutting down");
    mock.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("apns-lab-demo-{}", std::process::id()));
    let config = Config {
        data_dir: Some(dir.clone()),
        admin_addr: "127.0.0.1:0".parse()?,
        sandbox_addr: "127.0.0.1:0".parse()?,
        production_addr: "127.0.0.1:0".parse()?,
        ..Config::default()
    };
    let mock = MockApns::start(config).await?;
    let ready = mock.ready().clone();
    let device = mock
        .create_device(NewDevice {
            udid: None,
            apps: vec![NewApp {
                bundle_id: "com.example.chat".into(),
                environment: Environment::Sandbox,
                team_id: None,
            }],
        })
        .await?;
    let token = &device.apps[0].token;
    let key_file = ready.key_file.clone().unwrap_or_default();
    let ca_file = ready.ca_file.clone().unwrap_or_default();
    println!("apns-lab: a mock APNs is running (state in {})\n", dir.display());
    println!("  1. an app on iPhone {} asked to register for remote notifications", device.udid);
    println!("  2. APNs derived its device token from UDID + bundle ID: {token}");
    println!("  3. the provider would store that token; here you are the provider");
    println!("  4. send a notification to APNs, as Apple's curl recipe does:\n");
    println!(
        "     JWT=$(cargo run -q --release -- token --key-file {} --key-id {} --team-id {})",
        key_file.display(),
        ready.key_id,
        ready.team_id
    );
    println!(
        "     curl --http2 --cacert {} -H \"authorization: bearer $JWT\" -H 'apns-topic: com.example.chat' \\\n          -H 'apns-push-type: alert' -d '{{\"aps\":{{\"alert\":\"hello\"}}}}' {}/3/device/{token}\n",
        ca_file.display(),
        ready.sandbox
    );
    println!("  5. see what APNs accepted:  curl -s {}/api/v1/notifications\n", ready.admin);
    println!("{}", serde_json::to_string(&ready)?);
    println!("\nPress Ctrl-C to stop.");
    wait_for_signal().await;
    mock.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
