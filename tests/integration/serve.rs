//! `apns-lab serve` as another project runs it: a process that prints one JSON ready
//! line, answers Apple's own curl recipe (JWT made with openssl, DER signature), and
//! keeps its CA, key and tokens across a restart.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running `apns-lab serve` that is killed when dropped.
pub(crate) struct Serve {
    pub(crate) child: Child,
    pub(crate) ready: Value,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn serve(data_dir: &std::path::Path) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_apns-lab"))
        .args(["serve", "--data-dir"])
        .arg(data_dir)
        .args(["--sandbox-addr", "127.0.0.1:0", "--production-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--gateway-addr", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("apns-lab starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("a ready line");
    let ready: Value = serde_json::from_str(&line).expect("the ready line is JSON");
    Serve { child, ready }
}

/// Writes the ready line where `--mock-ready` can read it.
pub(crate) fn ready_file(dir: &std::path::Path, s: &Serve) -> std::path::PathBuf {
    let path = dir.join("ready.json");
    std::fs::write(&path, s.ready.to_string()).expect("writes the ready line");
    path
}

/// A virtual device with `apps` (`[{"bundle_id", "environment"?}]`), through the admin API.
pub(crate) fn device_with(admin: &str, apps: Value) -> Value {
    let body = serde_json::json!({ "apps": apps }).to_string();
    let out = sh(r#"curl -sf -X POST "$ADMIN/api/v1/devices" -d "$BODY""#, &[("ADMIN", admin), ("BODY", &body)]);
    serde_json::from_str(&out).expect("device JSON")
}

pub(crate) fn sh(script: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(script)
        .envs(env.iter().copied())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "script failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Apple's "Sending push notifications using command-line tools", token flow, verbatim
/// but for host, port and CA.
const APPLE_RECIPE: &str = r#"
JWT_ISSUE_TIME=$(date +%s)
JWT_HEADER=$(printf '{ "alg": "ES256", "kid": "%s" }' "${AUTH_KEY_ID}" | openssl base64 -e -A | tr -- '+/' '-_' | tr -d =)
JWT_CLAIMS=$(printf '{ "iss": "%s", "iat": %d }' "${TEAM_ID}" "${JWT_ISSUE_TIME}" | openssl base64 -e -A | tr -- '+/' '-_' | tr -d =)
JWT_HEADER_CLAIMS="${JWT_HEADER}.${JWT_CLAIMS}"
JWT_SIGNED_HEADER_CLAIMS=$(printf "${JWT_HEADER_CLAIMS}" | openssl dgst -binary -sha256 -sign "${TOKEN_KEY_FILE_NAME}" | openssl base64 -e -A | tr -- '+/' '-_' | tr -d =)
AUTHENTICATION_TOKEN="${JWT_HEADER}.${JWT_CLAIMS}.${JWT_SIGNED_HEADER_CLAIMS}"
curl -s -o /dev/null -w '%{http_code} %{http_version}' --cacert "${CA_FILE}" --header "apns-topic: $TOPIC" --header "apns-push-type: alert" --header "authorization: bearer $AUTHENTICATION_TOKEN" --data '{"aps":{"alert":"test"}}' --http2 "${APNS_URL}/3/device/${DEVICE_TOKEN}"
"#;

#[test]
fn the_ready_line_and_apples_curl_recipe() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(dir.path());
    let r = &s.ready;
    assert_eq!(r["event"], "ready");
    for field in ["sandbox", "production", "admin", "ca_file", "team_id", "key_id", "key_file"] {
        assert!(r[field].is_string(), "ready line lacks {field}: {r}");
    }
    assert!(r["sandbox"].as_str().expect("url").starts_with("https://127.0.0.1:"));
    assert!(r["admin"].as_str().expect("url").starts_with("http://127.0.0.1:"));
    let key_file = r["key_file"].as_str().expect("path");
    assert!(std::fs::read_to_string(key_file).expect(".p8 exists").starts_with("-----BEGIN PRIVATE KEY-----"));

    let admin = r["admin"].as_str().expect("url");
    let device = sh(
        r#"curl -sf -X POST "$ADMIN/api/v1/devices" -d '{"apps":[{"bundle_id":"com.example.chat","environment":"sandbox"}]}'"#,
        &[("ADMIN", admin)],
    );
    let device: Value = serde_json::from_str(&device).expect("JSON");
    let token = device["apps"][0]["token"].as_str().expect("token").to_owned();
    let env = [
        ("TEAM_ID", r["team_id"].as_str().expect("team")),
        ("AUTH_KEY_ID", r["key_id"].as_str().expect("key id")),
        ("TOKEN_KEY_FILE_NAME", key_file),
        ("TOPIC", "com.example.chat"),
        ("DEVICE_TOKEN", token.as_str()),
        ("CA_FILE", r["ca_file"].as_str().expect("ca")),
        ("APNS_URL", r["sandbox"].as_str().expect("url")),
    ];
    assert_eq!(sh(APPLE_RECIPE, &env), "200 2");
    // The same token on production is refused as APNs would.
    let mut prod = env;
    prod[6] = ("APNS_URL", r["production"].as_str().expect("url"));
    assert_eq!(sh(APPLE_RECIPE, &prod), "400 2");
    let log = sh(r#"curl -sf "$ADMIN/api/v1/notifications?limit=1""#, &[("ADMIN", admin)]);
    let log: Value = serde_json::from_str(&log).expect("JSON");
    assert_eq!(log[0]["reason"], "BadDeviceToken");
}

#[test]
fn a_restart_keeps_the_ca_key_and_tokens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = serve(dir.path());
    let admin = first.ready["admin"].as_str().expect("url").to_owned();
    let device = sh(
        r#"curl -sf -X POST "$ADMIN/api/v1/devices" -d '{"udid":"KEEP-ME","apps":[{"bundle_id":"com.example.chat"}]}'"#,
        &[("ADMIN", &admin)],
    );
    let ca = std::fs::read_to_string(dir.path().join("ca.pem")).expect("ca.pem");
    let before = (first.ready["team_id"].clone(), first.ready["key_id"].clone());
    drop(first);

    let second = serve(dir.path());
    assert_eq!((second.ready["team_id"].clone(), second.ready["key_id"].clone()), before);
    assert_eq!(std::fs::read_to_string(dir.path().join("ca.pem")).expect("ca.pem"), ca);
    let admin = second.ready["admin"].as_str().expect("url");
    let devices = sh(r#"curl -sf "$ADMIN/api/v1/devices""#, &[("ADMIN", admin)]);
    let devices: Value = serde_json::from_str(&devices).expect("JSON");
    let device: Value = serde_json::from_str(&device).expect("JSON");
    assert_eq!(devices[0]["apps"][0]["token"], device["apps"][0]["token"]);
    let token = device["apps"][0]["token"].as_str().expect("token");
    let r = &second.ready;
    let env = [
        ("TEAM_ID", r["team_id"].as_str().expect("team")),
        ("AUTH_KEY_ID", r["key_id"].as_str().expect("key id")),
        ("TOKEN_KEY_FILE_NAME", r["key_file"].as_str().expect("key")),
        ("TOPIC", "com.example.chat"),
        ("DEVICE_TOKEN", token),
        ("CA_FILE", r["ca_file"].as_str().expect("ca")),
        ("APNS_URL", r["sandbox"].as_str().expect("url")),
    ];
    assert_eq!(sh(APPLE_RECIPE, &env), "200 2");
}

/// Notifications stored for offline devices are answered 200 only once durable: after
/// a `kill -9` right after the answers, a restart finds every one of them.
#[tokio::test(flavor = "multi_thread")]
async fn stored_notifications_survive_kill_9() {
    use crate::support::{Alpn, Client, Push, signer};
    const N: usize = 25;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut s = serve(dir.path());
    let r = s.ready.clone();
    let admin: std::net::SocketAddr =
        r["admin"].as_str().expect("url").trim_start_matches("http://").parse().expect("addr");
    let mut tokens = Vec::new();
    for i in 0..N {
        let udid = format!("OFFLINE-{i:02}");
        let (status, d) = crate::support::admin(
            admin,
            "POST",
            "/api/v1/devices",
            Some(serde_json::json!({"udid": udid, "apps": [{"bundle_id": "com.example.chat"}]})),
        )
        .await;
        assert_eq!(status, 201, "{d}");
        let (status, _) = crate::support::admin(admin, "POST", &format!("/api/v1/devices/{udid}/offline"), None).await;
        assert_eq!(status, 200);
        tokens.push(d["apps"][0]["token"].as_str().expect("token").to_owned());
    }
    let ca = std::fs::read_to_string(r["ca_file"].as_str().expect("ca")).expect("ca.pem");
    let p8 = std::fs::read_to_string(r["key_file"].as_str().expect("key")).expect(".p8");
    let jwt = signer(&p8, r["key_id"].as_str().expect("kid"), r["team_id"].as_str().expect("team"))
        .sign(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs())
        .expect("signs");
    let sandbox: std::net::SocketAddr =
        r["sandbox"].as_str().expect("url").trim_start_matches("https://").parse().expect("addr");
    let mut c = Client::connect(sandbox, &ca, None, Alpn::H2).await;
    for (i, token) in tokens.iter().enumerate() {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        c.push(Push::new(token, &jwt).header("apns-id", &id)).await.assert_ok();
    }
    // No goodbye: SIGKILL.
    s.child.kill().expect("kill -9");
    let _ = s.child.wait();
    drop(s);

    let again = serve(dir.path());
    let admin: std::net::SocketAddr =
        again.ready["admin"].as_str().expect("url").trim_start_matches("http://").parse().expect("addr");
    let (_, devices) = crate::support::admin(admin, "GET", "/api/v1/devices", None).await;
    let stored: Vec<String> = devices
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["apps"][0]["stored"]["apns_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(stored.len(), N, "{devices}");
    for i in 0..N {
        assert!(stored.contains(&format!("00000000-0000-4000-8000-{i:012}")));
    }
}

/// A data dir the mock cannot use stops `serve` with a message and a non-zero exit, and
/// the files are left as they were.
#[test]
fn unusable_data_dirs_stop_serve_with_a_message() {
    let run = |dir: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_apns-lab"))
            .args(["serve", "--data-dir"])
            .arg(dir)
            .args(["--sandbox-addr", "127.0.0.1:0", "--production-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
            .args(["--gateway-addr", "127.0.0.1:0"])
            .output()
            .expect("runs")
    };
    // An admin API beyond loopback without a token.
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_apns-lab"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--sandbox-addr", "127.0.0.1:0", "--production-addr", "127.0.0.1:0", "--admin-addr", "0.0.0.0:0"])
        .args(["--gateway-addr", "127.0.0.1:0"])
        .env_remove("APNS_LAB_ADMIN_TOKEN")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("beyond loopback") && stderr.contains("--admin-token"), "{stderr}");
    assert!(out.stdout.is_empty(), "no ready line");

    // Not a database.
    let dir = tempfile::tempdir().expect("temp dir");
    let garbage = b"definitely not an SQLite file, but long enough to have a header".to_vec();
    std::fs::write(dir.path().join("state.sqlite3"), &garbage).expect("writes");
    let out = run(dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("apns-lab: state database") && stderr.contains("not an apns-lab state database"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no ready line");
    assert_eq!(std::fs::read(dir.path().join("state.sqlite3")).expect("still there"), garbage);

    // Read-only: an existing, good data dir made immutable (chattr +i, as root can
    // still write to mode-000 files). Where the filesystem has no immutable flag, a data
    // dir that cannot be created at all stands in.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut first = serve(dir.path());
    let _ = first.child.kill();
    let _ = first.child.wait();
    drop(first);
    let state = dir.path().join("state.sqlite3");
    let before = std::fs::read(&state).expect("state");
    let immutable = Command::new("chattr").arg("+i").arg(&state).arg(dir.path()).status().is_ok_and(|s| s.success());
    let target =
        if immutable { dir.path().to_path_buf() } else { std::path::PathBuf::from("/proc/apns-lab-test/state") };
    let out = run(&target);
    if immutable {
        let _ = Command::new("chattr").arg("-i").arg(&state).arg(dir.path()).status();
    }
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("apns-lab: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    if immutable {
        assert!(stderr.contains("cannot be opened for writing"), "{stderr}");
        assert_eq!(std::fs::read(&state).expect("state"), before, "no data lost");
    }
}

/// `apns-lab device run` shows what the phone shows, takes `device push` payloads, and
/// registers again with new tokens when the phone is erased.
#[test]
fn device_run_push_and_erase_from_the_command_line() {
    use std::sync::mpsc;
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(dir.path());
    let r = &s.ready;
    let mut phone = Command::new(env!("CARGO_BIN_EXE_apns-lab"))
        .args([
            "device",
            "run",
            "--gateway",
            r["gateway"].as_str().expect("gateway"),
            "--ca",
            r["ca_file"].as_str().expect("ca"),
        ])
        .args([
            "--udid",
            "CLI-PHONE",
            "--app",
            "com.example.chat",
            "--app",
            "com.example.news",
            "--denied",
            "com.example.news",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("device run starts");
    let (tx, lines) = mpsc::channel();
    let out = phone.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |needle: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if let Ok(line) = lines.recv_timeout(std::time::Duration::from_millis(100)) {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return;
                }
            }
        }
        panic!("no line with {needle:?} in {seen:#?}");
    };
    wait_for("[2] APNs issued token");
    wait_for("online: waiting for notifications");
    let payload = dir.path().join("hello.apns");
    std::fs::write(&payload, r#"{"Simulator Target Bundle":"com.example.chat","aps":{"alert":{"title":"Hi","body":"From the CLI"},"badge":4}}"#)
        .expect("writes");
    let push = Command::new(env!("CARGO_BIN_EXE_apns-lab"))
        .args(["device", "push", "--admin", r["admin"].as_str().expect("admin"), "--udid", "CLI-PHONE"])
        .arg(&payload)
        .output()
        .expect("device push runs");
    assert!(push.status.success(), "{}", String::from_utf8_lossy(&push.stderr));
    wait_for(r#"[5] com.example.chat: banner "Hi — From the CLI", badge 4"#);
    std::fs::write(&payload, r#"{"aps":{"alert":"muted"}}"#).expect("writes");
    let push = Command::new(env!("CARGO_BIN_EXE_apns-lab"))
        .args([
            "device",
            "push",
            "--admin",
            r["admin"].as_str().expect("admin"),
            "--udid",
            "CLI-PHONE",
            "com.example.news",
        ])
        .arg(&payload)
        .output()
        .expect("device push runs");
    assert!(push.status.success(), "{}", String::from_utf8_lossy(&push.stderr));
    wait_for("[5] com.example.news: not shown (notifications-disabled)");
    sh(
        r#"curl -sf -X POST "$ADMIN/api/v1/devices/CLI-PHONE/erase" >/dev/null"#,
        &[("ADMIN", r["admin"].as_str().expect("admin"))],
    );
    wait_for("[2] APNs issued a NEW token");
    let _ = phone.kill();
    let _ = phone.wait();
}

/// `apns-lab send` against a running mock, straight from its ready line: one line per
/// token, and an exit status that says whether all were accepted.
#[test]
fn send_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(dir.path());
    let ready_file = ready_file(dir.path(), &s);
    let admin = s.ready["admin"].as_str().expect("admin");
    let device = device_with(admin, serde_json::json!([{"bundle_id": "com.example.chat"}]));
    let token = device["apps"][0]["token"].as_str().expect("token");
    let send = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_apns-lab"))
            .args(["send", "--mock-ready"])
            .arg(&ready_file)
            .args(["--topic", "com.example.chat"])
            .args(extra)
            .output()
            .expect("send runs")
    };
    let out = send(&[token]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("200 accepted  apns-id "), "{stdout}");
    let bad = "ab".repeat(32);
    let out = send(&[token, &bad]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("400 BadDeviceToken"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 2 were not accepted"));
    let out = send(&["--count", "200", "--connections", "2", token]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("200 sent in") && stdout.contains("0 not accepted"), "{stdout}");
}

/// `apns-lab demo --once`: the whole flow and the cases people get wrong, narrated, for
/// both token scopes, and once more on a single core (`taskset`), where the binary runs
/// everything on the single-threaded runtime; exits 0.
#[test]
fn the_demo_runs_the_whole_script() {
    // The demo writes its log lines to a file in the temporary directory: this test's own.
    let tmp = tempfile::tempdir().expect("a temporary directory");
    for (scope, one_core) in [("per-app", false), ("per-device", false), ("per-app", true)] {
        let bin = env!("CARGO_BIN_EXE_apns-lab");
        let mut command = if one_core {
            let mut c = Command::new("taskset");
            c.args(["-c", "0", bin]);
            c
        } else {
            Command::new(bin)
        };
        let out = command
            .args(["demo", "--once", "--token-scope", scope])
            .env("TMPDIR", tmp.path())
            .env("RUST_LOG", "warn")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", "C.UTF-8")
            .output()
            .expect("demo runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{scope}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        for line in [
            "[1] com.example.chat asks to register for remote notifications",
            "[3] com.example.chat sent its token to the provider",
            "[5] com.example.chat: banner \"Bob — Lunch at noon?\"",
            "banner \"News — Evening edition\", sound default (stored while offline)",
            "replacing the earlier one with collapse id match-42",
            "woken in the background, nothing shown",
            "(discarded: try once)",
            "APNs issued a NEW token",
            "410 Unregistered",
            "token deleted",
            "[2] APNs issued push-to-start token",
            "sent its activity token to the provider",
            "[5] com.example.food: Live Activity ",
            "started by push, on the Lock Screen: {\"eta_minutes\":30",
            "updated: {\"eta_minutes\":8,\"status\":\"Nearby\"}",
            "ended: {\"eta_minutes\":0,\"status\":\"Delivered\"}",
            "creates a channel for the final on the channel API",
            "[4] one broadcast to the channel: 2-1",
            "updated: {\"minute\":87,\"score\":\"2-1\"}",
            "[1] web app https://news.example asks to subscribe to push",
            "[3] https://news.example sent its subscription to its server",
            "[5] https://news.example: banner \"News — Evening edition online\"",
            "410 ExpiredToken; subscription deleted",
            "web subscriptions left: 0",
            "Done.",
            // Terms are explained where they first appear, and step 2 says what a token is made of.
            "the device gateway is where the",
            "apns-id: the id APNs gives each notification",
            "[2] derives each token from the phone's UDID",
            "the phone's generation goes up by one",
            // Only tokens that still work are counted (Ann's pre-erase news token does not).
            "news tokens that still work: 1",
        ] {
            assert!(stdout.contains(line), "{scope}: no {line:?} in\n{stdout}");
        }
        assert!(stdout.contains("holds for Bob's news app: apns-id "), "{scope}: {stdout}");
        assert_eq!(
            stdout.matches(r#"updated: {"minute":87,"score":"2-1"}"#).count(),
            2,
            "one broadcast, two phones: {stdout}"
        );
        // --once stops everything when it is done: no dashboard address that is dead a
        // moment later, but where to get one.
        assert!(
            !stdout.lines().any(|l| l.contains("dashboard") && l.contains("http://")),
            "{scope}: --once prints no dashboard URL that dies with it\n{stdout}"
        );
        assert!(stdout.contains("without --once"), "{scope}: {stdout}");
        // The narration keeps the textbook order: the provider's step 4 before the phone's 5.
        let four = stdout.find("[4] sends to every token of com.example.chat").expect("step 4 narrated");
        let five = stdout.find("[5] com.example.chat: banner \"Bob — Lunch at noon?\"").expect("step 5 narrated");
        assert!(four < five, "{scope}: step 4 is told before step 5\n{stdout}");
        assert!(!stdout.contains("Some(") && !stdout.contains("None"), "{scope}: no Rust debug output in\n{stdout}");
        assert!(!stdout.contains("Morning edition\", sound default (stored"), "only the latest is stored");
        assert!(!stdout.contains("banner \"News — Breaking\""), "an uninstalled app shows nothing");
        assert!(!stdout.contains("Flash sale"), "try-once is never delivered to a phone that was away");
    }
}

/// Even at the most verbose log level, `serve` never writes a provider token, a private
/// key or a whole device token to its log.
#[test]
fn logs_never_hold_secrets_or_whole_tokens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_apns-lab"))
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("state"))
        .args(["--sandbox-addr", "127.0.0.1:0", "--production-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--gateway-addr", "127.0.0.1:0"])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("apns-lab starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("a ready line");
    let r: Value = serde_json::from_str(&line).expect("ready line");
    let admin = r["admin"].as_str().expect("url");
    let device = sh(
        r#"curl -sf -X POST "$ADMIN/api/v1/devices" -d '{"apps":[{"bundle_id":"com.example.chat"}]}'"#,
        &[("ADMIN", admin)],
    );
    let device: Value = serde_json::from_str(&device).expect("JSON");
    let token = device["apps"][0]["token"].as_str().expect("token").to_owned();
    let jwt = Command::new(env!("CARGO_BIN_EXE_apns-lab"))
        .args(["token", "--key-file", r["key_file"].as_str().expect("key")])
        .args(["--key-id", r["key_id"].as_str().expect("kid"), "--team-id", r["team_id"].as_str().expect("team")])
        .output()
        .expect("token");
    let jwt = String::from_utf8(jwt.stdout).expect("UTF-8").trim().to_owned();
    let status = sh(
        r#"curl -s -o /dev/null -w '%{http_code}' --http2 --cacert "$CA" -H "authorization: bearer $JWT" \
           -H 'apns-topic: com.example.chat' -d '{"aps":{"alert":"hi"}}' "$URL/3/device/$TOKEN""#,
        &[
            ("CA", r["ca_file"].as_str().expect("ca")),
            ("JWT", &jwt),
            ("URL", r["sandbox"].as_str().expect("url")),
            ("TOKEN", &token),
        ],
    );
    assert_eq!(status, "200");
    let _ = child.kill();
    let _ = child.wait();
    let logged = std::fs::read_to_string(&log_path).expect("log");
    assert!(logged.len() > 1000, "trace logging is on: {} bytes", logged.len());
    let p8 = std::fs::read_to_string(r["key_file"].as_str().expect("key")).expect("p8");
    let key_body: String = p8.lines().filter(|l| !l.starts_with("-----")).collect();
    let signature = jwt.rsplit('.').next().expect("signature");
    assert!(!logged.contains(signature), "the provider token's signature is in the log");
    assert!(!logged.contains(&key_body[..40]), "the private key is in the log");
    assert!(!logged.contains(&token), "a whole device token is in the log");
}

/// `apns-lab demo --once` in Simplified Chinese, chosen by the locale (`LANG=zh_CN.UTF-8`)
/// as `--lang zh-CN` would: every narration line in Chinese, with Apple's Chinese terms;
/// what goes over the wire (reasons, ids, JSON keys) stays as APNs sends it.
#[test]
fn the_demo_speaks_simplified_chinese() {
    let out = Command::new(env!("CARGO_BIN_EXE_apns-lab"))
        .args(["demo", "--once"])
        .env_remove("RUST_LOG")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "zh_CN.UTF-8")
        .output()
        .expect("demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "── 第 1–3 步：两台 iPhone 为它们的 App 注册，并把设备令牌交给提供者服务器",
        "[2] 用手机的 UDID、App 的 Bundle ID 和环境",
        "[1] com.example.chat 请求注册远程通知",
        "[3] com.example.chat 把它的设备令牌发给了提供者服务器",
        "[1] 网页应用 https://news.example 请求订阅推送",
        "横幅“新闻 — 晚间版已上线”",
        "410 ExpiredToken；订阅：已删除",
        "[5] com.example.chat：横幅“Bob — 中午一起吃饭？”",
        "（离线期间存储，现在送达）",
        "替换了折叠 ID 为 match-42 的上一条",
        "在后台被唤醒，不显示任何内容",
        "（已丢弃：只尝试一次）",
        "签发了一个新的设备令牌",
        "410 Unregistered",
        "设备令牌：已删除",
        "签发了推送启动令牌",
        "由推送启动，显示在锁定屏幕上",
        "向频道发出一次广播：2-1",
        "仍然有效的新闻设备令牌：1 个",
        "完成。",
    ] {
        assert!(stdout.contains(line), "no {line:?} in\n{stdout}");
    }
    // Log lines (English, by design) go to the log file the narration names, not to the
    // terminal: at the default level the mock logs every connection.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains(" INFO ") && !stderr.contains(" INFO ") && stderr.trim().is_empty(), "{stdout}\n{stderr}");
    let log = stdout.lines().find_map(|l| l.trim().strip_prefix("日志")).expect("the narration names the log");
    let path = log.trim().split('（').next().expect("a path");
    let logged = std::fs::read_to_string(path).expect("the log file is there");
    assert!(logged.contains("INFO"), "{logged}");
    let _ = std::fs::remove_file(path);
    // No English narration left: each of these is said in every English run.
    for english in ["provider │", "asks to register", "sent its token", "banner \"", "switched off", "Done."] {
        assert!(!stdout.contains(english), "{english:?} in\n{stdout}");
    }
    // An explicit --lang wins over the locale.
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let out = Command::new(env!("CARGO_BIN_EXE_apns-lab"))
        .args(["demo", "--once", "--lang", "en"])
        .env("TMPDIR", tmp.path())
        .env("RUST_LOG", "warn")
        .env("LANG", "zh_CN.UTF-8")
        .output()
        .expect("demo runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("asks to register for remote notifications"));
    let bad = Command::new(env!("CARGO_BIN_EXE_apns-lab")).args(["demo", "--lang", "fr"]).output().expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a language apns-lab speaks"));
}
