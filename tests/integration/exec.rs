//! `apns-lab exec -- CMD`: the mock for one command's lifetime, its ready line in the
//! command's environment, the command's exit status as its own, and a clean stop when
//! it is told to stop.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn exec(script: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_apns-lab"));
    c.args(["exec", "--", "sh", "-c", script]).env("RUST_LOG", "warn");
    c
}

/// The command sees every field of the ready line; `exec` exits with its status; the
/// fresh data dir is gone and the listeners closed once it has.
#[test]
fn the_command_runs_beside_a_fresh_mock_and_its_status_is_exec_s() {
    let dir = tempfile::tempdir().expect("a dir");
    let out = dir.path().join("env");
    let script = format!(
        r#"env | grep ^APNS_LAB_ | sort > {out}
           curl -sf "$APNS_LAB_ADMIN/api/v1/health" >> {out} || exit 90
           test -s "$APNS_LAB_CA_FILE" && test -s "$APNS_LAB_KEY_FILE" || exit 91
           exit 7"#,
        out = out.display()
    );
    let status = exec(&script).status().expect("runs");
    assert_eq!(status.code(), Some(7), "the command's own status");
    let text = std::fs::read_to_string(&out).expect("the command wrote its environment");
    let var = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} is set: {text}"))
            .to_owned()
    };
    let ready: Value = serde_json::from_str(&var("APNS_LAB_READY")).expect("the ready line");
    for (name, field) in [
        ("APNS_LAB_SANDBOX", "sandbox"),
        ("APNS_LAB_PRODUCTION", "production"),
        ("APNS_LAB_ADMIN", "admin"),
        ("APNS_LAB_GATEWAY", "gateway"),
        ("APNS_LAB_CA_FILE", "ca_file"),
        ("APNS_LAB_TEAM_ID", "team_id"),
        ("APNS_LAB_KEY_ID", "key_id"),
        ("APNS_LAB_KEY_FILE", "key_file"),
        ("APNS_LAB_DATA_DIR", "data_dir"),
    ] {
        assert_eq!(ready[field].as_str(), Some(var(name).as_str()), "{name}");
    }
    assert!(text.contains(r#""status":"ok""#), "the admin API answered: {text}");
    // Free ports, not the defaults; afterwards nothing is left.
    assert!(!var("APNS_LAB_SANDBOX").ends_with(":2197"));
    assert!(!std::path::Path::new(&var("APNS_LAB_DATA_DIR")).exists(), "the fresh data dir is removed");
    let admin = var("APNS_LAB_ADMIN").trim_start_matches("http://").to_owned();
    assert!(std::net::TcpStream::connect(admin).is_err(), "the mock has stopped");
    // A command that cannot start gets the exit status `env` and shells give it, and a
    // message naming it: 127 when there is no such command, 126 when it cannot be run.
    let run = |command: &str| {
        Command::new(env!("CARGO_BIN_EXE_apns-lab")).args(["exec", "--", command]).output().expect("runs")
    };
    for missing in ["/nonexistent/command", "no-such-command-anywhere"] {
        let out = run(missing);
        assert_eq!(out.status.code(), Some(127), "{missing}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("cannot run {missing:?}")), "{missing}");
    }
    let not_executable = dir.path().join("not-executable");
    std::fs::write(&not_executable, "#!/bin/sh\n").expect("writes");
    let out = run(not_executable.to_str().expect("a UTF-8 path"));
    assert_eq!(out.status.code(), Some(126));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot run"), "names the command");
}

/// SIGTERM to `exec` (a CI job's timeout) reaches the command, which stops; then the
/// mock stops and `exec` exits 143 — promptly, without leaving the command behind.
#[cfg(unix)]
#[test]
fn a_sigterm_stops_the_command_and_the_mock() {
    let dir = tempfile::tempdir().expect("a dir");
    let mark = dir.path().join("termed");
    let script =
        format!("trap 'echo yes > {}; exit 0' TERM; echo started; while true; do sleep 0.1; done", mark.display());
    let mut child = exec(&script).stdout(Stdio::piped()).spawn().expect("runs");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("stdout")), &mut line)
        .expect("the command started");
    assert_eq!(line.trim(), "started");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "exec did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(143));
    assert_eq!(std::fs::read_to_string(&mark).expect("the command got the TERM").trim(), "yes");
}

/// The README's `exec` line runs as printed.
#[test]
fn the_readme_exec_recipe_runs_as_printed() {
    let stdout = crate::book::run_readme_block("<!-- exec recipe -->", None, &[]);
    assert!(stdout.contains(r#""status":"ok""#) && stdout.contains("APNs at https://127.0.0.1:"), "{stdout}");
}
