//! The command line's shape: the subcommands, each one's arguments and work in its file
//! under `commands/` (what they share is `common.rs`).

use clap::{Parser, Subcommand};

use crate::commands;

#[derive(Parser)]
#[command(
    name = "apns-lab",
    version,
    about = "Apple's push-notification flow on one machine: provider, emulated APNs, simulated iPhones"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// The whole flow on this machine, narrated: APNs, a provider and two iPhones.
    Demo(commands::demo::Args),
    /// Run the mock APNs for other projects' tests; prints a JSON ready line on stdout.
    /// An option given twice takes its last value, so a container's defaults can be
    /// overridden by the arguments given to it.
    #[command(args_override_self = true)]
    Serve(commands::serve::Args),
    /// Ask a running mock whether it is up: prints its health and exits 0 when it
    /// answers "ok", 1 otherwise (the container image's health check).
    Health(commands::health::Args),
    /// Run a command with the mock beside it: on free ports, with a fresh data dir, its
    /// ready line in the command's environment (APNS_LAB_SANDBOX, APNS_LAB_CA_FILE, …,
    /// APNS_LAB_READY); stops when the command ends and exits with its status (127 when
    /// there is no such command, 126 when it cannot be run).
    Exec(commands::exec::Args),
    /// Simulated iPhones: run one, inject a payload, or run a fleet.
    Device(commands::device::Args),
    /// Send notifications to APNs (or the mock) like Apple's curl recipe, typed.
    Send(Box<commands::send::Args>),
    /// Broadcast channels: create, read, list, delete (the channel management API).
    Channels(commands::channels::Args),
    /// The provider server: apps register tokens, the backend sends, 410s prune.
    Provider(commands::provider::Args),
    /// Print a provider authentication token (ES256 JWT) made from a .p8 key.
    Token(commands::token::Args),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
