//! `apns-lab channels create|read|list|delete`: the channel management API for broadcast
//! push, from the command line — against the mock's channel listeners (with
//! `--mock-ready`) or, named in as many words, Apple's.

use clap::Subcommand;
use provider::broadcast::{Channels, StoragePolicy};

use crate::common::{ApnsArgs, Target, apns_client, mock_ready};

/// The channels subcommand.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Box<ChannelCommand>,
}

/// One channel call.
#[derive(Subcommand)]
pub(crate) enum ChannelCommand {
    /// Create a channel; prints its id.
    Create {
        #[command(flatten)]
        on: On,
        /// 0: no messages stored (frequent updates); 1: the most recent one, 8 hours at most.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
        storage_policy: u8,
    },
    /// Read a channel's storage policy.
    Read {
        #[command(flatten)]
        on: On,
        /// The channel id.
        channel_id: String,
    },
    /// List the app's channels, one id per line.
    List {
        #[command(flatten)]
        on: On,
    },
    /// Delete a channel (its id is never issued again).
    Delete {
        #[command(flatten)]
        on: On,
        /// The channel id.
        channel_id: String,
    },
}

/// Which app, and where its channels are.
#[derive(clap::Args)]
pub(crate) struct On {
    #[command(flatten)]
    apns: ApnsArgs,
    /// The app's bundle ID.
    #[arg(long)]
    bundle_id: String,
    /// `sandbox` or `production` (the mock's channel listeners, with --mock-ready; the
    /// default is sandbox), https://HOST:PORT, or `apple-sandbox` / `apple-production`
    /// for Apple's channel API.
    #[arg(long)]
    endpoint: Option<String>,
}

impl On {
    fn client(&self) -> Result<provider::Client, Box<dyn std::error::Error>> {
        let ready = mock_ready(&self.apns)?;
        if ready.is_none() && self.endpoint.is_none() {
            return Err(
                "say where the channel API is: --mock-ready FILE (the mock), --endpoint https://HOST:PORT, or \
                        --endpoint apple-sandbox / apple-production for Apple's"
                    .into(),
            );
        }
        let target = match Target::parse(self.endpoint.as_deref()) {
            Target::Mock(env) => Target::MockChannels(env),
            Target::Apple(env) => Target::AppleChannels(env),
            other => other,
        };
        apns_client(&self.apns, ready.as_ref(), &target)
    }
}

/// Runs one channel call and prints its answer.
pub(crate) async fn run(Args { command }: Args) -> Result<(), Box<dyn std::error::Error>> {
    let command = *command;
    let on = match &command {
        ChannelCommand::Create { on, .. }
        | ChannelCommand::Read { on, .. }
        | ChannelCommand::List { on }
        | ChannelCommand::Delete { on, .. } => on,
    };
    let client = on.client()?;
    let channels = Channels::new(&client, on.bundle_id.clone());
    match &command {
        ChannelCommand::Create { storage_policy, .. } => {
            let policy = if *storage_policy == 1 { StoragePolicy::MostRecent } else { StoragePolicy::NoMessages };
            println!("{}", channels.create(policy).await?);
        }
        ChannelCommand::Read { channel_id, .. } => {
            let info = channels.read(channel_id).await?;
            println!("{} message-storage-policy {}", info.id, info.storage_policy);
        }
        ChannelCommand::List { .. } => {
            for id in channels.list().await? {
                println!("{id}");
            }
        }
        ChannelCommand::Delete { channel_id, .. } => {
            channels.delete(channel_id).await?;
            println!("deleted {channel_id}");
        }
    }
    Ok(())
}
