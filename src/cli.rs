//! The command line's shape: the subcommands, each one's arguments and work in its file
//! under `commands/` (what they share is `common.rs`).

use clap::{Parser, Subcommand};

use crate::commands;

#[derive(Parser)]
#[command(
    name = "apns-lab",
    version,
    about = "Apple's push-notification flow on one machine: provider, emulated APNs, simulated iPhones",
    after_help = "The book, in the repository's docs/ (an mdBook): start with docs/src/getting-started.md; \
                  every command and option is in docs/src/reference/cli.md."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// The whole flow on this machine, narrated: APNs, a provider and two iPhones.
    #[command(
        after_help = "Read: \"Teaching with apns-lab\", docs/src/teaching.md (简体中文: docs/src/teaching.zh-CN.md)."
    )]
    Demo(commands::demo::Args),
    /// Run the mock APNs for other projects' tests; prints a JSON ready line on stdout.
    /// An option given twice takes its last value, so a container's defaults can be
    /// overridden by the arguments given to it.
    #[command(
        args_override_self = true,
        after_help = "Read: \"Testing your backend\", docs/src/testing.md, and \"In CI\", docs/src/ci.md."
    )]
    Serve(commands::serve::Args),
    /// Ask a running mock whether it is up: prints its health and exits 0 when it
    /// answers "ok", 1 otherwise (the container image's health check).
    #[command(after_help = "Read: \"In CI\", docs/src/ci.md.")]
    Health(commands::health::Args),
    /// Run a command with the mock beside it: on free ports, with a fresh data dir, its
    /// ready line in the command's environment (APNS_LAB_SANDBOX, APNS_LAB_CA_FILE, …,
    /// APNS_LAB_READY); stops when the command ends and exits with its status (127 when
    /// there is no such command, 126 when it cannot be run).
    #[command(after_help = "Read: \"In CI\", docs/src/ci.md.")]
    Exec(commands::exec::Args),
    /// Simulated iPhones: run one, inject a payload, or run a fleet.
    #[command(
        after_help = "Read: \"Phones and delivery\", docs/src/phones.md, and \"Your app's own code on the phone\", docs/src/app-logic.md."
    )]
    Device(commands::device::Args),
    /// Send notifications to APNs (or the mock) like Apple's curl recipe, typed.
    #[command(after_help = "Read: \"The provider\", docs/src/provider.md.")]
    Send(Box<commands::send::Args>),
    /// Broadcast channels: create, read, list, delete (the channel management API).
    #[command(after_help = "Read: \"Broadcast channels\", docs/src/broadcast.md.")]
    Channels(commands::channels::Args),
    /// The provider server: apps register tokens, the backend sends, 410s prune.
    #[command(after_help = "Read: \"The provider\", docs/src/provider.md.")]
    Provider(commands::provider::Args),
    /// Print a provider authentication token (ES256 JWT) made from a .p8 key.
    #[command(after_help = "Read: \"Testing your backend\", docs/src/testing.md.")]
    Token(commands::token::Args),
}

/// The command line, each nested subcommand ending its help with the book's chapter
/// (`device run`, `channels create`, …; the top-level ones say it in their attributes).
pub(crate) fn command() -> clap::Command {
    use clap::CommandFactory;
    let chapters = [
        (
            "device",
            "Read: \"Phones and delivery\", docs/src/phones.md, and \"Your app's own code on the phone\", docs/src/app-logic.md.",
        ),
        ("channels", "Read: \"Broadcast channels\", docs/src/broadcast.md."),
        ("provider", "Read: \"The provider\", docs/src/provider.md."),
    ];
    let mut cmd = Cli::command();
    for (parent, chapter) in chapters {
        cmd = cmd.mut_subcommand(parent, |p| {
            let names: Vec<String> = p.get_subcommands().map(|c| c.get_name().to_owned()).collect();
            names.iter().fold(p, |p, name| p.mut_subcommand(name, |c| c.after_help(chapter)))
        });
    }
    cmd
}

/// Parses the process's arguments with [`command`].
pub(crate) fn parse() -> Cli {
    use clap::FromArgMatches;
    Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
        super::command().debug_assert();
    }
}
