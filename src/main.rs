//! The `apns-lab` binary: wires the mock APNs, the provider and the simulated devices
//! together behind one command line.
//!
//! * `apns-lab demo` — start the whole flow locally and show how to drive it.
//! * `apns-lab serve` — run the mock APNs alone for another project's tests; prints one
//!   JSON "ready" line on stdout with everything a client needs.
//! * `apns-lab token` — print a provider token (JWT) for a `.p8` key.

mod cli;
mod commands;
mod common;

use std::process::ExitCode;

use cli::Command;

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

async fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    // (Hidden: the command line's reference page, docs/src/reference/cli.md, is this.)
    if std::env::args().nth(1).as_deref() == Some("--markdown-help") {
        print!("{}", clap_markdown::help_markdown_command(&cli::command()));
        return Ok(ExitCode::SUCCESS);
    }
    let command = cli::parse().command;
    let filter = || tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,h2=error".into());
    match &command {
        // The demo's terminal is its narration: log lines go to the log file it names.
        Command::Demo(_) => {
            let log = std::fs::File::create(commands::demo::log_path())
                .map_err(|e| format!("cannot create {}: {e}", commands::demo::log_path().display()))?;
            tracing_subscriber::fmt()
                .with_writer(std::sync::Mutex::new(log))
                .with_ansi(false)
                .with_env_filter(filter())
                .init();
        }
        _ => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_env_filter(filter())
            .init(),
    }
    let done = match command {
        // exec exits with its command's status.
        Command::Exec(args) => return commands::exec::run(args).await,
        Command::Serve(args) => commands::serve::run(args).await,
        Command::Demo(args) => commands::demo::run(args).await,
        Command::Device(args) => commands::device::run(args).await,
        Command::Send(args) => commands::send::run(*args).await,
        Command::Channels(args) => commands::channels::run(args).await,
        Command::Health(args) => commands::health::run(args).await,
        Command::Provider(args) => commands::provider::run(args).await,
        Command::Token(args) => commands::token::run(args),
    };
    done.map(|()| ExitCode::SUCCESS)
}
