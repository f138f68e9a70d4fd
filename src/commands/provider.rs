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
    },
}

/// Serves the provider API until Ctrl-C.
pub(crate) async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let ProviderCommand::Serve { apns, sandbox_endpoint, production_endpoint, db, addr } = args.command;
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
