//! The command line's sharp edges, as a newcomer meets them: pushes that must go to the
//! environment a token belongs to (and never to Apple unasked), one process per data
//! dir, and errors that say which listener, which address, which party answered and what
//! to do.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::serve::{device_with, ready_file, serve, sh};

fn apns_lab(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_apns-lab"));
    c.args(args).env("RUST_LOG", "warn");
    c
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The free-port listener flags, for a `serve` that must not clash with anything.
const FREE_PORTS: [&str; 8] = [
    "--sandbox-addr",
    "127.0.0.1:0",
    "--production-addr",
    "127.0.0.1:0",
    "--admin-addr",
    "127.0.0.1:0",
    "--gateway-addr",
    "127.0.0.1:0",
];

/// `send --endpoint production` with a ready line means the mock's production listener;
/// `sandbox`/`production` without one, or no endpoint at all, is refused before any
/// connection: Apple is reached only when named (`apple-sandbox`, `apple-production`).
#[test]
fn send_goes_to_the_mocks_listener_and_never_to_apple_unasked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(dir.path());
    let ready_file = ready_file(dir.path(), &s);
    let admin = s.ready["admin"].as_str().expect("admin");
    let d = device_with(admin, json!([{"bundle_id": "com.example.news", "environment": "production"}]));
    let token = d["apps"][0]["token"].as_str().expect("token");
    let ready = ready_file.to_str().expect("path");

    let out =
        apns_lab(&["send", "--mock-ready", ready, "--endpoint", "production", "--topic", "com.example.news", token])
            .output()
            .expect("send runs");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!stderr(&out).contains("Apple"), "{}", stderr(&out));
    let log: Value =
        serde_json::from_str(&sh(r#"curl -sf "$ADMIN/api/v1/notifications""#, &[("ADMIN", admin)])).expect("log");
    assert_eq!((log[0]["status"].as_u64(), log[0]["environment"].as_str()), (Some(200), Some("production")), "{log}");

    let key = s.ready["key_file"].as_str().expect("key");
    let (kid, team) = (s.ready["key_id"].as_str().expect("kid"), s.ready["team_id"].as_str().expect("team"));
    let keyed = ["--key", key, "--key-id", kid, "--team-id", team, "--topic", "com.example.news"];
    for (endpoint, says) in [
        (Some("production"), "needs --mock-ready"),
        (Some("sandbox"), "apple-sandbox"),
        (None, "--endpoint apple-sandbox / apple-production"),
    ] {
        let started = Instant::now();
        let mut args = vec!["send"];
        args.extend(keyed);
        if let Some(e) = endpoint {
            args.extend(["--endpoint", e]);
        }
        args.push(token);
        let out = apns_lab(&args).output().expect("send runs");
        assert!(!out.status.success(), "{endpoint:?} must be refused");
        assert!(stderr(&out).contains(says), "{endpoint:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("Apple's real APNs"), "{}", stderr(&out));
        assert!(started.elapsed() < Duration::from_secs(5), "refused without trying the network");
    }
}

/// `provider serve --mock-ready`: a token registered for production is sent to the
/// mock's production listener and accepted (it used to go to the sandbox, be answered
/// BadDeviceToken and be marked invalid); a phone pointed at a path the provider does not
/// serve is told that the provider answered 404, at that URL.
#[test]
fn provider_serve_keeps_each_token_in_its_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(dir.path());
    let ready_file = ready_file(dir.path(), &s);
    let db = dir.path().join("provider.sqlite3");
    let mut provider = apns_lab(&["provider", "serve", "--mock-ready"])
        .arg(&ready_file)
        .arg("--db")
        .arg(&db)
        .args(["--addr", "localhost:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("provider serve starts");
    let mut line = String::new();
    BufReader::new(provider.stdout.take().expect("stdout")).read_line(&mut line).expect("ready line");
    let p: Value = serde_json::from_str(&line).expect("JSON");
    let url = p["provider"].as_str().expect("provider URL").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "localhost:0 is taken: {url}");

    let admin = s.ready["admin"].as_str().expect("admin");
    let d = device_with(
        admin,
        json!([{"bundle_id": "com.example.news", "environment": "production"}, {"bundle_id": "com.example.chat"}]),
    );
    for app in d["apps"].as_array().expect("apps") {
        let body = json!({"token": app["token"], "bundle_id": app["bundle_id"], "environment": app["environment"], "user_id": "ann"});
        sh(
            r#"curl -sf -X POST "$P/v1/registrations" -d "$BODY" >/dev/null"#,
            &[("P", &url), ("BODY", &body.to_string())],
        );
    }
    let results: Value = serde_json::from_str(&sh(
        r#"curl -sf -X POST "$P/v1/notifications" -d '{"to":{"user_id":"ann"},"payload":{"aps":{"alert":"hi"}}}'"#,
        &[("P", &url)],
    ))
    .expect("results");
    for r in results.as_array().expect("results") {
        assert_eq!((r["status"].as_u64(), r["action"].as_str()), (Some(200), Some("kept")), "{results}");
    }
    let list: Value =
        serde_json::from_str(&sh(r#"curl -sf "$P/v1/registrations?user_id=ann""#, &[("P", &url)])).expect("list");
    assert!(list.as_array().expect("list").iter().all(|r| r["state"] == "valid"), "{list}");

    // A phone told a path the provider does not serve: the error names the provider and the URL.
    let wrong = format!("{url}/tokens");
    let mut phone = apns_lab(&["device", "run", "--gateway", s.ready["gateway"].as_str().expect("gw")])
        .args(["--ca", s.ready["ca_file"].as_str().expect("ca"), "--app", "com.example.chat", "--provider", &wrong])
        .stdout(Stdio::piped())
        .spawn()
        .expect("device run starts");
    let mut seen = Vec::new();
    for line in BufReader::new(phone.stdout.take().expect("stdout")).lines().map_while(Result::ok) {
        let done = line.starts_with("[3]");
        seen.push(line);
        if done {
            break;
        }
    }
    let _ = phone.kill();
    let _ = phone.wait();
    let _ = provider.kill();
    let _ = provider.wait();
    let three = seen.last().expect("a step-3 line");
    assert!(three.contains(&format!("the provider at {wrong} answered 404")), "{seen:#?}");
    assert!(!three.contains("gateway"), "{seen:#?}");
}

/// Two `serve`s on one data dir: the second exits non-zero naming the dir and the first
/// one's pid. A holder killed with -9 leaves no stale lock.
#[test]
fn one_data_dir_one_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut first = serve(dir.path());
    let pid = first.ready["pid"].as_u64().expect("pid");
    // On the first one's own ports too: the data dir is what is said, not the port.
    let addr = |key: &str| first.ready[key].as_str().expect("url").rsplit('/').next().expect("addr").to_owned();
    let same_ports = [
        "--sandbox-addr".to_owned(),
        addr("sandbox"),
        "--production-addr".to_owned(),
        addr("production"),
        "--admin-addr".to_owned(),
        addr("admin"),
        "--gateway-addr".to_owned(),
        addr("gateway"),
    ];
    let second = apns_lab(&["serve", "--data-dir"]).arg(dir.path()).args(&same_ports).output().expect("runs");
    assert!(!second.status.success());
    let message = stderr(&second);
    assert!(message.contains(&dir.path().display().to_string()), "{message}");
    assert!(message.contains(&format!("pid {pid}")), "{message}");
    assert!(message.contains("in use by another apns-lab"), "{message}");
    assert!(second.stdout.is_empty(), "no ready line");

    let killed = Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let _ = first.child.wait();
    let third = serve(dir.path());
    assert_eq!(third.ready["data_dir"], dir.path().display().to_string(), "started after the kill -9");
}

/// Listeners, data dirs and keys that cannot be used: one line that names the thing and
/// says what to do. Names such as localhost are taken wherever an address is.
#[test]
fn errors_name_the_listener_the_dir_and_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args: Vec<&str> = FREE_PORTS.to_vec();
    args[1] = &addr;
    let out = apns_lab(&["serve", "--data-dir"]).arg(dir.path()).args(&args).output().expect("runs");
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("sandbox listener {addr}: ")), "{}", stderr(&out));
    assert!(stderr(&out).to_lowercase().contains("address already in use"), "{}", stderr(&out));

    let file = dir.path().join("a-file");
    std::fs::write(&file, "").expect("writes");
    let out = apns_lab(&["serve", "--data-dir"]).arg(&file).args(FREE_PORTS).output().expect("runs");
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(message.contains(&format!("data dir {}: it is a file, not a directory", file.display())), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "one line: {message}");

    let out = apns_lab(&["token", "--key-id", "KEY1234567", "--team-id", "TEAM123456", "--key-file"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(message.contains("PKCS#8 P-256 private key in PEM") && message.contains("AuthKey_<KEYID>.p8"), "{message}");

    // A dead gateway: the phone names it (localhost resolved).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = dead.local_addr().expect("addr").port();
    drop(dead);
    let ca = dir.path().join("ca.pem");
    let s = serve(&dir.path().join("state"));
    std::fs::copy(s.ready["ca_file"].as_str().expect("ca"), &ca).expect("copies");
    let out =
        apns_lab(&["device", "run", "--gateway", &format!("https://localhost:{port}"), "--app", "com.example.chat"])
            .arg("--ca")
            .arg(&ca)
            .output()
            .expect("runs");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("cannot reach the gateway at https://127.0.0.1:{port}")),
        "{}",
        stderr(&out)
    );

    // Nothing listening where APNs should be: the answer names the endpoint.
    let out = apns_lab(&["send", "--endpoint", &format!("https://127.0.0.1:{port}"), "--topic", "com.example.chat"])
        .args(["--key", s.ready["key_file"].as_str().expect("key"), "--key-id", "KEY1234567"])
        .args(["--team-id", "TEAM123456", &"ab".repeat(32)])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("not sent: no answer: APNs at https://127.0.0.1:{port}: ")), "{stdout}");

    // localhost:0 for a listener.
    let out = {
        let mut child = apns_lab(&["serve", "--data-dir"])
            .arg(dir.path().join("named"))
            .args(["--sandbox-addr", "localhost:0", "--production-addr", "localhost:0", "--admin-addr", "localhost:0"])
            .args(["--gateway-addr", "localhost:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("ready line");
        let _ = child.kill();
        let _ = child.wait();
        line
    };
    let ready: Value = serde_json::from_str(&out).expect("ready JSON");
    assert!(ready["sandbox"].as_str().is_some_and(|u| u.starts_with("https://127.0.0.1:")), "{ready}");
}

/// A data dir on a full disk: one line that says so and what to do, nothing half-made
/// that a later start would misread. The disk is a tiny tmpfs; where mounting is not
/// allowed (no root), the same message is checked by data_dir.rs's unit test alone.
#[test]
fn a_full_disk_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = dir.path().join("tiny");
    std::fs::create_dir(&disk).expect("mount point");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
        .arg(&disk)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("cannot mount a tmpfs here; the full-disk message is covered by the unit test");
        return;
    }
    let data = disk.join("apns-lab");
    let out = apns_lab(&["serve", "--data-dir"]).arg(&data).args(FREE_PORTS).output().expect("runs");
    let _ = Command::new("umount").arg(&disk).status();
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(message.contains(&data.display().to_string()), "{message}");
    assert!(message.contains("the disk is full") && message.contains("free some space"), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "one line: {message}");
    assert!(out.stdout.is_empty(), "no ready line");
}

/// `provider serve` from flags: each environment's endpoint on its own flag; `apple`
/// names Apple's real server and is said on stderr before anything else (the client
/// connects only when something is sent, so nothing is dialled here); with no endpoint at
/// all it refuses to guess.
#[test]
fn provider_serve_takes_an_endpoint_per_environment_and_names_apple() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(&dir.path().join("mock"));
    let key = ["--key", s.ready["key_file"].as_str().expect("key")];
    let ids =
        ["--key-id", s.ready["key_id"].as_str().expect("kid"), "--team-id", s.ready["team_id"].as_str().expect("team")];
    let db = dir.path().join("p.sqlite3");

    let out = apns_lab(&["provider", "serve"]).args(key).args(ids).arg("--db").arg(&db).output().expect("runs");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--sandbox-endpoint") && stderr(&out).contains("--mock-ready"), "{}", stderr(&out));

    let mut child =
        apns_lab(&["provider", "serve", "--addr", "127.0.0.1:0", "--ca", s.ready["ca_file"].as_str().expect("ca")])
            .args(key)
            .args(ids)
            .args([
                "--sandbox-endpoint",
                s.ready["sandbox"].as_str().expect("sandbox"),
                "--production-endpoint",
                "apple",
            ])
            .arg("--db")
            .arg(&db)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("provider serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("ready line");
    let _ = child.kill();
    let out = child.wait_with_output().expect("exits");
    let ready: Value = serde_json::from_str(&line).expect("ready JSON");
    assert!(ready["provider"].is_string(), "{ready}");
    let said = stderr(&out);
    assert!(said.contains("this reaches Apple's real APNs at api.push.apple.com:443, as asked"), "{said}");
    assert!(!said.contains("api.sandbox.push.apple.com"), "only production was named Apple: {said}");
}

/// `send --live-activity` builds the push from options: the topic's suffix, the push
/// type and priority follow; what the phone would drop is refused before sending.
#[test]
fn send_builds_live_activity_pushes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(dir.path());
    let ready_file = ready_file(dir.path(), &s);
    let admin = s.ready["admin"].as_str().expect("admin");
    let d = device_with(admin, json!([{"bundle_id": "com.example.food"}]));
    let udid = d["udid"].as_str().expect("udid");
    let activity: Value = serde_json::from_str(&sh(
        r#"curl -sf -X POST "$ADMIN/api/v1/devices/$UDID/activities" -d '{"bundle_id":"com.example.food","attributes_type":"Delivery"}'"#,
        &[("ADMIN", admin), ("UDID", udid)],
    ))
    .expect("an activity");
    let token = activity["token"].as_str().expect("token");
    let ready = ready_file.to_str().expect("path");
    let base = ["send", "--mock-ready", ready, "--topic", "com.example.food"];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend(extra);
        args.push(token);
        apns_lab(&args).output().expect("send runs")
    };
    let out = run(&["--live-activity", "update", "--content-state", r#"{"eta":3}"#, "--stale-date", "1900000000"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    let log: Value =
        serde_json::from_str(&sh(r#"curl -sf "$ADMIN/api/v1/notifications?limit=1""#, &[("ADMIN", admin)]))
            .expect("log");
    let r = &log[0];
    assert_eq!(r["status"], 200, "{r}");
    let h = |name: &str| {
        r["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|kv| kv[0] == name)
            .and_then(|kv| kv[1].as_str())
            .map(str::to_owned)
    };
    assert_eq!(h("apns-topic").as_deref(), Some("com.example.food.push-type.liveactivity"), "{r}");
    assert_eq!((h("apns-push-type").as_deref(), h("apns-priority").as_deref()), (Some("liveactivity"), Some("10")));
    assert_eq!(r["payload"]["aps"]["event"], "update", "{r}");
    assert_eq!(r["payload"]["aps"]["content-state"]["eta"], 3);
    // A start without its attributes type, a content state that is not an object: refused here.
    for (extra, says) in [
        (&["--live-activity", "start", "--alert", "hi"][..], "--attributes-type"),
        (&["--live-activity", "end", "--content-state", "[1]"][..], "must be a JSON object"),
    ] {
        let out = run(extra);
        assert!(!out.status.success(), "{extra:?} must be refused");
        assert!(stderr(&out).contains(says), "{extra:?}: {}", stderr(&out));
    }
}

/// `channels create|read|list|delete` and `send --channel`: the channel API and one
/// broadcast from the command line, against the mock's own listeners.
#[test]
fn channels_and_broadcasts_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = serve(dir.path());
    let ready_file = ready_file(dir.path(), &s);
    let ready = ready_file.to_str().expect("path");
    let admin = s.ready["admin"].as_str().expect("admin");
    let run = |args: &[&str]| {
        let out = apns_lab(args).output().expect("runs");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr(&out))
    };
    let on = ["--mock-ready", ready, "--bundle-id", "com.example.score"];
    let (ok, id, err) = run(&[&["channels", "create"][..], &on, &["--storage-policy", "1"]].concat());
    assert!(ok, "{err}");
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 24, "{id}");
    let (ok, list, err) = run(&[&["channels", "list"][..], &on].concat());
    assert!(ok && list.trim() == id, "{list}{err}");
    let (ok, read, err) = run(&[&["channels", "read"][..], &on, &[id.as_str()]].concat());
    assert!(ok && read.contains("message-storage-policy 1"), "{read}{err}");

    let d = device_with(admin, json!([{"bundle_id": "com.example.score"}]));
    let udid = d["udid"].as_str().expect("udid");
    sh(
        r#"curl -sf -X POST "$ADMIN/api/v1/devices/$UDID/activities" -d "{\"bundle_id\":\"com.example.score\",\"attributes_type\":\"Match\",\"channel\":\"$CHANNEL\"}""#,
        &[("ADMIN", admin), ("UDID", udid), ("CHANNEL", &id)],
    );
    let send = ["send", "--mock-ready", ready, "--topic", "com.example.score", "--channel", id.as_str()];
    let (ok, out, err) =
        run(&[&send[..], &["--live-activity", "update", "--content-state", r#"{"score":"1-0"}"#]].concat());
    assert!(ok && out.contains("accepted, apns-request-id"), "{out}{err}");
    let request_id = out.trim().rsplit(' ').next().expect("an id").to_owned();
    let fan: Value = serde_json::from_str(&sh(
        r#"curl -sf "$ADMIN/api/v1/broadcasts/$ID""#,
        &[("ADMIN", admin), ("ID", &request_id)],
    ))
    .expect("the fan-out");
    assert_eq!(fan["deliveries"].as_array().map(Vec::len), Some(1), "{fan}");

    let (ok, _, err) = run(&[&["channels", "delete"][..], &on, &[id.as_str()]].concat());
    assert!(ok, "{err}");
    let (ok, _, err) = run(&[&["channels", "read"][..], &on, &[id.as_str()]].concat());
    assert!(!ok && err.contains("ChannelNotRegistered"), "{err}");
    let (ok, out, _) = run(&[&send[..], &["--live-activity", "update"]].concat());
    assert!(!ok && out.contains("ChannelNotRegistered"), "{out}");
    // Without --mock-ready or --endpoint, nothing is guessed.
    let (ok, _, err) = run(&["channels", "list", "--bundle-id", "com.example.score"]);
    assert!(!ok && err.contains("--endpoint apple-sandbox"), "{err}");
}

/// `health` is the container's health check: 0 and the counts while the mock answers
/// (with its admin token from the environment, found by its data dir's ready line when
/// no address is given), 1 and why when it does not. `serve`
/// takes an option's last value, so arguments given to the image override its defaults.
#[test]
fn health_says_whether_a_mock_is_up_and_serve_options_override_earlier_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = apns_lab(&["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--admin-addr", "127.0.0.1:1"])
        .args(FREE_PORTS)
        .env("APNS_LAB_ADMIN_TOKEN", "s3cret")
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("a ready line");
    let ready: Value = serde_json::from_str(&line).expect("ready JSON");
    let admin = ready["admin"].as_str().expect("admin").to_owned();
    assert!(!admin.ends_with(":1"), "the later --admin-addr won: {admin}");

    let up = apns_lab(&["health", "--admin", &admin]).env("APNS_LAB_ADMIN_TOKEN", "s3cret").output().expect("runs");
    assert!(up.status.success(), "{}", stderr(&up));
    let health: Value = serde_json::from_slice(&up.stdout).expect("health JSON");
    assert_eq!(health["status"], "ok");
    // The admin URL from exec's variable, as a command run by `exec` would have it.
    let from_env = apns_lab(&["health"])
        .env("APNS_LAB_ADMIN", &admin)
        .env("APNS_LAB_ADMIN_TOKEN", "s3cret")
        .output()
        .expect("runs");
    assert!(from_env.status.success(), "{}", stderr(&from_env));
    // Without --admin, the mock serving the data dir is found through the ready line it
    // keeps there: the image's health check stays true whatever --admin-addr it was given.
    assert!(dir.path().join("ready.json").exists(), "serve keeps its ready line in the data dir");
    let by_data_dir = apns_lab(&["health", "--data-dir"])
        .arg(dir.path())
        .env_remove("APNS_LAB_ADMIN")
        .env("APNS_LAB_ADMIN_TOKEN", "s3cret")
        .output()
        .expect("runs");
    assert!(by_data_dir.status.success(), "{}", stderr(&by_data_dir));

    let no_token = apns_lab(&["health", "--admin", &admin]).env_remove("APNS_LAB_ADMIN_TOKEN").output().expect("runs");
    assert_eq!(no_token.status.code(), Some(1));
    assert!(stderr(&no_token).contains("401"), "{}", stderr(&no_token));

    let _ = child.kill();
    let _ = child.wait();
    let down = apns_lab(&["health", "--admin", &admin]).output().expect("runs");
    assert_eq!(down.status.code(), Some(1));
    assert!(stderr(&down).contains("cannot reach the admin API"), "{}", stderr(&down));
    // A ready line left by a mock that was killed names an admin API nobody answers.
    let stale =
        apns_lab(&["health", "--data-dir"]).arg(dir.path()).env_remove("APNS_LAB_ADMIN").output().expect("runs");
    assert_eq!(stale.status.code(), Some(1));
    assert!(stderr(&stale).contains("cannot reach the admin API"), "{}", stderr(&stale));
}
