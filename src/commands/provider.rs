//! `apns-lab provider serve`: the provider server — apps register their tokens, the
//! backend sends through it, and 410s prune them — pointed at the mock or, named in as
//! many words, Apple.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Subcommand;
use protocol::Environment;

use crate::common::{ApnsArgs, Target, apns_client, mock_ready, parse_addr, wait_for_signal};

/// The provider's subcommand.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: ProviderCommand,
}

#[derive(Subcommand)]
pub(crate) enum ProviderCommand {
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
        /// The VAPID private key (PEM) web pushes are signed with [default: a new key
        /// each start, its public half on the ready line: web apps must subscribe again
        /// after a restart].
        #[arg(long, value_name = "PEM")]
        vapid_key: Option<PathBuf>,
        /// The VAPID contact Apple requires: mailto: an address, or an https: URL.
        #[arg(long, default_value = "mailto:provider@example.com")]
        vapid_subject: String,
    },
}

/// Serves the provider API until Ctrl-C.
pub(crate) async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let ProviderCommand::Serve { apns, sandbox_endpoint, production_endpoint, db, addr, vapid_key, vapid_subject } =
        args.command;
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
        return Err("say where APNs is: --mock-ready FILE (the mock's two listeners), or --sandbox-endpoint / \
             --production-endpoint (https://HOST:PORT, or `apple` for Apple's real servers)"
            .into());
    }
    let tokens = provider::server::Tokens::open(Some(&db))?;
    let vapid = match &vapid_key {
        Some(path) => {
            let pem = std::fs::read_to_string(path).map_err(|e| format!("--vapid-key {}: {e}", path.display()))?;
            provider::webpush::Vapid::from_pem(&pem, &vapid_subject)
        }
        None => provider::webpush::Vapid::generate(&vapid_subject),
    }
    .map_err(|e| format!("--vapid-key: {e}"))?;
    let vapid_public_key = vapid.public_key();
    // The mock's Web Push endpoint is trusted through its CA (the ready line's, or --ca).
    let ca_file = apns.ca.clone().or_else(|| ready.as_ref()?["ca_file"].as_str().map(PathBuf::from));
    let ca_pem =
        ca_file.map(|p| std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))).transpose()?;
    let web = provider::server::web::WebPush::new(vapid, ca_pem.as_deref())?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("{addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let line = serde_json::json!({
        "event": "ready", "provider": format!("http://{bound}"), "db": db, "vapid_public_key": vapid_public_key,
    });
    println!("{line}");
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
    let state = std::sync::Arc::new(provider::server::Provider { tokens, clients, channel_clients, web });
    provider::server::run(listener, state, async {
        wait_for_signal().await;
    })
    .await;
    Ok(())
}
