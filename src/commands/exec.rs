//! `apns-lab exec [serve options] -- CMD ARGS…`: the mock for the life of one command —
//! started on free ports with a fresh data dir, its ready line handed to CMD in the
//! environment, stopped when CMD ends (or when `exec` is told to stop), exiting with
//! CMD's status. The one-line CI recipe for a test suite in any language.

use std::error::Error;
use std::process::ExitCode;

use mock_apns::{MockApns, Ready};

/// The environment CMD gets: one variable per field of the ready line, and the line.
pub(crate) fn environment(ready: &Ready) -> Result<Vec<(&'static str, String)>, serde_json::Error> {
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    Ok(vec![
        ("APNS_LAB_SANDBOX", ready.sandbox.clone()),
        ("APNS_LAB_PRODUCTION", ready.production.clone()),
        ("APNS_LAB_ADMIN", ready.admin.clone()),
        ("APNS_LAB_GATEWAY", ready.gateway.clone()),
        ("APNS_LAB_CHANNELS_SANDBOX", ready.channels_sandbox.clone()),
        ("APNS_LAB_CHANNELS_PRODUCTION", ready.channels_production.clone()),
        ("APNS_LAB_WEBPUSH", ready.webpush.clone()),
        ("APNS_LAB_CA_FILE", path(&ready.ca_file)),
        ("APNS_LAB_TEAM_ID", ready.team_id.clone()),
        ("APNS_LAB_KEY_ID", ready.key_id.clone()),
        ("APNS_LAB_KEY_FILE", path(&ready.key_file)),
        ("APNS_LAB_DATA_DIR", path(&ready.data_dir)),
        ("APNS_LAB_READY", serde_json::to_string(ready)?),
    ])
}

/// The mock's options, and the command.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) serve: super::serve::Args,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

/// Starts the mock (every listener on a free port unless given), runs the command beside
/// it, stops the mock after, and answers the command's exit status.
pub(crate) async fn run(args: Args) -> Result<ExitCode, Box<dyn Error>> {
    exec(args.serve.config(true), &args.command).await
}

/// Starts the mock, runs `command` beside it, and stops the mock after.
async fn exec(mut config: mock_apns::Config, command: &[String]) -> Result<ExitCode, Box<dyn Error>> {
    let (program, args) = command.split_first().ok_or("exec needs a command after --")?;
    // A fresh data dir unless one was given; removed when the mock has stopped.
    let fresh = match config.data_dir {
        Some(_) => None,
        None => {
            let dir = tempfile::Builder::new().prefix("apns-lab-").tempdir()?;
            config.data_dir = Some(dir.path().to_owned());
            Some(dir)
        }
    };
    let config_token = config.admin_token.clone();
    let mock = MockApns::start(config).await?;
    super::phones::InProcess::attach(&mock)?;
    tracing::info!(sandbox = %mock.ready().sandbox, command = %program, "mock APNs ready; running the command");
    let mut env = environment(mock.ready())?;
    // The admin token, when one was given as an option: the command needs it to call
    // the admin API (one from the environment is inherited anyway).
    if let Some(token) = &config_token {
        env.push(("APNS_LAB_ADMIN_TOKEN", token.clone()));
    }
    // Listening before the command starts: a CI job's SIGTERM that comes at once is the
    // command's to get, and never kills exec with the mock and the command left behind.
    let mut signals = crate::common::Signals::listen();
    let mut child = match tokio::process::Command::new(program).args(args).envs(env).spawn() {
        Ok(child) => child,
        Err(e) => {
            mock.shutdown().await;
            // As `env` and shells answer: 127 when there is no such command, 126 when
            // it is there but cannot be run.
            eprintln!("apns-lab: cannot run {program:?}: {e}");
            let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
            return Ok(ExitCode::from(code));
        }
    };
    let status = tokio::select! {
        status = child.wait() => status?,
        signal = signals.next() => {
            // Told to stop: the command is asked to stop too, then waited for.
            stop(&mut child);
            let _ = child.wait().await;
            mock.shutdown().await;
            drop(fresh);
            return Ok(ExitCode::from(128 + signal));
        }
    };
    mock.shutdown().await;
    drop(fresh);
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        // Killed by a signal: the shell's convention.
        None => ExitCode::from(128 + signal_of(&status)),
    })
}

/// Sends SIGTERM to the command (a hard kill where there are no signals).
fn stop(child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id().and_then(|id| rustix::process::Pid::from_raw(id as i32)) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        return;
    }
    let _ = child.start_kill();
}

#[cfg(unix)]
fn signal_of(status: &std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    status.signal().map_or(1, |s| s as u8)
}

#[cfg(not(unix))]
fn signal_of(_: &std::process::ExitStatus) -> u8 {
    1
}
