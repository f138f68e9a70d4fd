//! Real third-party APNs clients against the mock, changing only host, port and CA, each
//! through the package its language's users install — the pip package's pytest plugin
//! and the npm package, run from source — so the packages are what these tests prove.
//!
//! Python's aioapns (no ALPN, its own HTTP/2 stack, token and certificate auth) and httpx
//! run from a virtual environment the test creates under `target/interop-venv` on first
//! use (pip, from PyPI; pinned versions), then reuses: the pip package's examples
//! (`dist/python/examples`) on its plugin, and its README and sample suite (the venv also
//! carries check-jsonschema and Testcontainers, for book.rs's blocks that cannot run). Node's
//! @parse/node-apn (Node's own HTTP/2 stack) runs under `node --test` with the npm
//! package's `startApnsLab()`, its packages installed from the committed lock file into
//! `target/interop-node` on first use: alerts, a Live Activity on a running phone
//! (`tests/interop/node/live-activity.test.js`), channels and broadcasts
//! (`tests/interop/node/broadcast.test.js`); and the npm package's own suite. PHP's curl
//! extension pushes to Apple's host name resolved to the mock (`tests/interop/php_push.php`);
//! Go's net/http pushes over its own HTTP/2 (`tests/interop/go/`: a program, and a suite
//! run under `apns-lab exec -- go test ./...` as the book prints it), and so does the JDK's
//! java.net.http (`tests/interop/java/Push.java`).

use std::path::PathBuf;
use std::process::Command;

use mock_apns::KeyEnvironment;

use crate::support::*;

/// The clients, and what holds the book's container blocks to their schemas and library
/// (check-jsonschema, Testcontainers; see book.rs).
const PACKAGES: [&str; 7] = [
    "aioapns==4.0",
    "httpx[http2]==0.28.1",
    "pytest==8.3.3",
    "pytest-asyncio==0.24.0",
    "pywebpush==2.5.0",
    "check-jsonschema==0.39.0",
    "testcontainers==4.15.0",
];

/// The venv's python, with the packages installed (once; tests share it).
pub(crate) fn python() -> PathBuf {
    static READY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = READY.lock().unwrap_or_else(|e| e.into_inner());
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/interop-venv");
    let python = venv.join("bin/python");
    let marker = venv.join(PACKAGES.join(","));
    if !marker.exists() {
        let made = Command::new("python3").arg("-m").arg("venv").arg("--clear").arg(&venv).status();
        assert!(made.is_ok_and(|s| s.success()), "python3 -m venv failed: install python3 and python3-venv");
        let pip = Command::new(&python).args(["-m", "pip", "install", "-q"]).args(PACKAGES).status();
        assert!(pip.is_ok_and(|s| s.success()), "pip install {PACKAGES:?} failed: PyPI must be reachable once");
        std::fs::write(&marker, "").expect("marker file");
    }
    python
}

/// Runs one `node --test` file with the interop packages, the npm package from source
/// and this build's `apns-lab`; its one test must pass.
fn node_test(file: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("node")
        .arg("--test")
        .arg(root.join(file))
        .env("NODE_PATH", node_path())
        .env("APNS_LAB_BIN", env!("CARGO_BIN_EXE_apns-lab"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node --test {file} failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("# pass 1") && stdout.contains("# fail 0"), "{stdout}");
}

/// The pip package's ready-made examples, as a user would run them: aioapns and httpx
/// pointed at the plugin's `apns_lab` (from source, loaded with `-p`).
#[test]
fn the_python_package_examples_push_through_aioapns_and_httpx() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python())
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "apns_lab.pytest_plugin"])
        .current_dir(root.join("dist/python/examples"))
        .env("APNS_LAB_BIN", env!("CARGO_BIN_EXE_apns-lab"))
        .env("PYTHONPATH", root.join("dist/python/src"))
        .env_remove("APNS_LAB_URL")
        .env_remove("APNS_LAB_ADMIN")
        .output()
        .expect("pytest runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pytest failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("5 passed"), "{stdout}");
}

/// The pip package from source (its plugin loaded with `-p`, this build's binary): the
/// README's examples run as written and the README names exactly the plugin's fixtures,
/// options and calls (`dist/python/check_readme.py`); then the sample suite and the
/// README under `apns-lab exec -- pytest`, where the fixtures use exec's mock (reset
/// before each test), and with `APNS_LAB_START=1`, where they start their own.
#[test]
fn the_python_package_readme_runs_and_its_fixtures_follow_exec() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("dist/python");
    let bin = env!("CARGO_BIN_EXE_apns-lab");
    let python = python();
    let run = |exec: bool, start: bool, args: &[&str], cwd: &std::path::Path, passed: &str| {
        let mut cmd = Command::new(if exec { bin.as_ref() } else { python.as_os_str() });
        if exec {
            cmd.args(["exec", "--"]).arg(&python);
        }
        cmd.args(args).current_dir(cwd).env("APNS_LAB_BIN", bin).env("PYTHONPATH", dir.join("src"));
        cmd.env("RUST_LOG", "warn").env_remove("APNS_LAB_URL").env_remove("APNS_LAB_ADMIN");
        if start {
            cmd.env("APNS_LAB_START", "1");
        }
        let out = cmd.output().expect("python runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?} (exec {exec}, start {start}):\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(passed), "{args:?} (exec {exec}): expected {passed:?} in\n{stdout}");
    };
    let readme = ["check_readme.py", "README.md", "-W", "ignore"];
    run(false, false, &readme, &dir, "15 tests passed");
    run(true, false, &readme, &dir, "15 tests passed");
    let suite = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "apns_lab.pytest_plugin", "-W", "ignore"];
    let tests = dir.join("tests");
    run(false, false, &suite, &tests, "2 skipped");
    run(true, false, &suite, &tests, "12 passed");
    run(true, true, &suite, &tests, "12 passed");
}

/// The npm package from source (`require("apns-lab")` resolves to `dist/npm`, this
/// build's binary): its suite — the README's examples among them, and every call the
/// package has named in one (`dist/npm/test/readme.test.js`) — then the same under
/// `apns-lab exec`, where `startApnsLab()` is exec's mock (`dist/npm/test/exec.test.js`).
#[test]
fn the_npm_package_readme_runs_and_start_follows_exec() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let node_path = node_path();
    let bin = env!("CARGO_BIN_EXE_apns-lab");
    for (exec, passed) in [(false, "# pass 6"), (true, "# pass 8")] {
        let mut cmd = Command::new(if exec { bin } else { "node" });
        if exec {
            cmd.args(["exec", "--", "node", "--test-concurrency=1"]);
        }
        let out = cmd
            .args(["--test", "test/"])
            .current_dir(root.join("dist/npm"))
            .env("NODE_PATH", &node_path)
            .env("APNS_LAB_BIN", bin)
            .env("RUST_LOG", "warn")
            .env_remove("APNS_LAB_ADMIN")
            .env_remove("APNS_LAB_START")
            .output()
            .expect("node runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "exec {exec}:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(passed) && stdout.contains("# fail 0"), "exec {exec}: {stdout}");
    }
}

/// `NODE_PATH` for the Node tests: `require("apns-lab")` finds `dist/npm` (through a link
/// in `target/npm-link`), and the interop packages come from [`node_modules`].
fn node_path() -> std::ffi::OsString {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let link = root.join("target/npm-link");
    let package = link.join("apns-lab");
    static LINKED: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = LINKED.lock().unwrap_or_else(|e| e.into_inner());
    if std::fs::read_link(&package).ok().as_deref() != Some(root.join("dist/npm").as_path()) {
        std::fs::create_dir_all(&link).expect("target/npm-link");
        let _ = std::fs::remove_file(&package);
        std::os::unix::fs::symlink(root.join("dist/npm"), &package).expect("links dist/npm");
    }
    std::env::join_paths([link, node_modules()]).expect("NODE_PATH")
}

/// `node_modules` for the Node interop test, installed with `npm ci` from
/// `tests/interop/node/package-lock.json` (once per lock file; tests share it).
fn node_modules() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/interop-node");
    let lock = std::fs::read(root.join("tests/interop/node/package-lock.json")).expect("package-lock.json");
    let marker = dir.join("installed-from.json");
    if std::fs::read(&marker).ok().as_deref() != Some(&lock[..]) {
        std::fs::create_dir_all(&dir).expect("target/interop-node");
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(root.join("tests/interop/node").join(file), dir.join(file)).expect("copies");
        }
        let npm = Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--silent"]).current_dir(&dir).status();
        assert!(
            npm.is_ok_and(|s| s.success()),
            "npm ci failed: install nodejs and npm; the npm registry must be reachable once"
        );
        std::fs::write(&marker, &lock).expect("marker file");
    }
    dir.join("node_modules")
}

/// @parse/node-apn with the npm package's `providerOptions`: a push accepted, a bad
/// token refused with APNs's reason, the capture log showing what was sent.
#[test]
fn node_apn_pushes_through_the_npm_package() {
    node_test("tests/interop/node/node-apn.test.js");
}

/// @parse/node-apn's Live Activity notifications (start with input-push-token, update,
/// end) against the mock, asserted on a running `apns-lab device run` phone.
#[test]
fn node_apn_drives_a_live_activity_on_a_phone() {
    node_test("tests/interop/node/live-activity.test.js");
}

/// @parse/node-apn's `manageChannels` (create, read, readAll, delete) and `broadcast`
/// against the mock, asserted on a running phone whose activity joined the channel.
#[test]
fn node_apn_manages_channels_and_broadcasts() {
    node_test("tests/interop/node/broadcast.test.js");
}

/// Runs a client script (`what`, for messages) to its end and reads the one JSON object it
/// prints; fails with what it said if it fails.
async fn json_from(what: &str, command: &mut tokio::process::Command) -> serde_json::Value {
    let out = command.output().await.unwrap_or_else(|e| panic!("{what} runs: {e}"));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{what} failed:\n{said}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(said.trim()).unwrap_or_else(|e| panic!("{what}: one JSON object, not {said:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn aioapns_pushes_with_a_token_and_a_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lab = lab_with(mock_apns::Config { data_dir: Some(dir.path().to_path_buf()), ..Default::default() }).await;
    let cert = lab.certificate(&[APP], KeyEnvironment::Sandbox);
    let pem = dir.path().join("client.pem");
    std::fs::write(&pem, format!("{}{}", cert.cert_pem, cert.key_pem)).expect("writes");
    let ready = serde_json::to_string(lab.mock.ready()).expect("JSON");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/aioapns_push.py");
    let python = tokio::task::spawn_blocking(python).await.expect("venv");
    let got = json_from(
        "the aioapns script",
        tokio::process::Command::new(python).arg(script).arg(&ready).arg(&lab.sandbox_token).arg(&pem),
    )
    .await;
    assert_eq!(got["token_auth"]["ok"], true, "{got}");
    assert_eq!(got["token_auth"]["status"], "200");
    assert_eq!(got["token_auth"]["apns_id"], "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "apns-id echoed");
    assert_eq!(got["burst_ok"], 50, "concurrent streams after the first valid token");
    assert_eq!(got["unknown_token"]["status"], "400");
    assert_eq!(got["unknown_token"]["reason"], "BadDeviceToken");
    assert_eq!(got["cert_auth"]["ok"], true, "{got}");
    let seen = lab.mock.notifications(&mock_apns::CaptureFilter { limit: Some(1000), ..Default::default() });
    assert_eq!(seen.iter().filter(|n| n.status == 200).count(), 52);
}

/// PHP's curl extension, as PHP's curl-based clients use it: HTTP/2, Apple's host name
/// resolved to the mock and its CA trusted (nothing else changed), a provider token signed
/// by openssl_sign. 200 with an apns-id and the alert on the phone's record; Apple's
/// answers for an unknown device token and an expired provider token.
#[tokio::test(flavor = "multi_thread")]
async fn php_curl_pushes_to_apple_s_host_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lab = lab_with(mock_apns::Config { data_dir: Some(dir.path().to_path_buf()), ..Default::default() }).await;
    let ready = serde_json::to_string(lab.mock.ready()).expect("JSON");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/php_push.php");
    // (Debian: php-cli and php-curl; .ci/run installs them.)
    let got =
        json_from("php", tokio::process::Command::new("php").arg(script).arg(&ready).arg(&lab.sandbox_token).arg(APP))
            .await;
    // (CURL_HTTP_VERSION_2_0 is 3.)
    assert_eq!(got["ok"]["http_version"], 3, "{got}");
    assert_eq!(got["ok"]["status"], 200, "{got}");
    let id = got["ok"]["apns_id"].as_str().expect("an apns-id");
    assert_eq!(got["unknown_token"]["status"], 400);
    assert_eq!(got["unknown_token"]["reason"], "BadDeviceToken");
    assert_eq!(got["expired"]["status"], 403);
    assert_eq!(got["expired"]["reason"], "ExpiredProviderToken");
    let seen = lab.mock.notifications(&mock_apns::CaptureFilter { limit: Some(10), ..Default::default() });
    let pushed = seen.iter().find(|n| n.apns_id == id).expect("the push is in the log");
    assert_eq!(pushed.status, 200);
    assert!(pushed.payload.to_string().contains("From curl"), "{:?}", pushed.payload);
}

/// Go's own HTTP/2 (net/http, the code sideshow/apns2 runs) with an ES256 token from
/// crypto/ecdsa, changing only host, port and CA: 200 over HTTP/2, BadDeviceToken for an
/// unknown token, and 100 concurrent pushes multiplexed on the one connection.
#[tokio::test(flavor = "multi_thread")]
async fn go_net_http_pushes_over_one_http2_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lab = lab_with(mock_apns::Config { data_dir: Some(dir.path().to_path_buf()), ..Default::default() }).await;
    let ready = serde_json::to_string(lab.mock.ready()).expect("JSON");
    // (Debian: golang-go; .ci/run installs it.)
    let got =
        json_from("go run", go().arg("run").arg(".").args([ready.as_str(), lab.sandbox_token.as_str(), APP])).await;
    assert_eq!(got["ok"]["proto"], "HTTP/2.0", "{got}");
    assert_eq!(got["ok"]["status"], 200, "{got}");
    assert_eq!(got["unknown_token"]["status"], 400);
    assert_eq!(got["unknown_token"]["reason"], "BadDeviceToken");
    assert_eq!(got["concurrent_ok"], 100, "{got}");
    assert_eq!(got["connections"], 1, "HTTP/2 multiplexes them: {got}");
    let id = got["ok"]["apns_id"].as_str().expect("an apns-id");
    let seen = lab.mock.notifications(&mock_apns::CaptureFilter { limit: Some(200), ..Default::default() });
    assert!(seen.iter().any(|n| n.apns_id == id && n.payload.to_string().contains("From net/http")), "{id}");
    assert_eq!(seen.iter().filter(|n| n.status == 200).count(), 101);
}

/// The JDK's own HTTP/2 client (java.net.http, ALPN over TLS) with an ES256 token from
/// java.security, changing only host, port and the trusted CA: 200 over HTTP/2,
/// BadDeviceToken for an unknown token, 100 concurrent pushes answered 200.
#[tokio::test(flavor = "multi_thread")]
async fn java_http_client_pushes_over_http2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lab = lab_with(mock_apns::Config { data_dir: Some(dir.path().to_path_buf()), ..Default::default() }).await;
    let ready = lab.mock.ready();
    let (ca, key) = (ready.ca_file.clone().expect("a CA file"), ready.key_file.clone().expect("a key file"));
    let program = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/java/Push.java");
    // (Debian: default-jdk-headless; .ci/run installs it. A single-file program: no build tool.)
    let got = json_from(
        "java",
        tokio::process::Command::new("java").arg(program).arg(&ready.sandbox).arg(ca).arg(key).args([
            ready.key_id.as_str(),
            ready.team_id.as_str(),
            lab.sandbox_token.as_str(),
            APP,
        ]),
    )
    .await;
    assert_eq!(got["ok"]["version"], "HTTP_2", "{got}");
    assert_eq!(got["ok"]["status"], 200, "{got}");
    assert_eq!(got["unknown_token"]["status"], 400);
    assert_eq!(got["unknown_token"]["reason"], "BadDeviceToken");
    assert_eq!(got["concurrent_ok"], 100, "{got}");
    let id = got["ok"]["apns_id"].as_str().expect("an apns-id");
    let seen = lab.mock.notifications(&mock_apns::CaptureFilter { limit: Some(200), ..Default::default() });
    assert!(seen.iter().any(|n| n.apns_id == id && n.payload.to_string().contains("From java.net.http")), "{id}");
}

/// Where Go runs and with what: tests/interop/go, the standard library only (nothing
/// fetched, GOPROXY=off), its build cache and GOPATH under target/.
fn go_env() -> (PathBuf, [(&'static str, String); 3]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let under = |p: &str| root.join(p).display().to_string();
    (
        root.join("tests/interop/go"),
        [("GOPROXY", "off".into()), ("GOCACHE", under("target/go-cache")), ("GOPATH", under("target/go-path"))],
    )
}

/// `go`, run as go_env says.
fn go() -> tokio::process::Command {
    let (dir, env) = go_env();
    let mut go = tokio::process::Command::new("go");
    go.current_dir(dir).envs(env);
    go
}

/// The book's line for a Go suite under exec (docs/src/ci.md), as printed, in
/// tests/interop/go: exec's mock, found through its variables; a phone made through the
/// admin API; a push to it answered 200 over HTTP/2.
#[test]
fn a_go_suite_runs_under_exec_as_the_book_prints_it() {
    let (dir, env) = go_env();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_apns-lab"));
    let path =
        format!("{}:{}", bin.parent().expect("a directory").display(), std::env::var("PATH").unwrap_or_default());
    let script = format!("cd {}\n{}", dir.display(), crate::book::doc_block("<!-- go exec recipe -->"));
    // (-count=1: a cached result never passes for a run.)
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vars.extend([("PATH", path.as_str()), ("GOFLAGS", "-count=1")]);
    let said = crate::book::run_script("the go exec recipe", &script, &vars);
    assert!(said.contains("ok  \tapnslab.example/interop"), "{said}");
}

/// npm's web-push (Node's https, HTTP/1.1) to a subscription the mock issued: 201, and
/// Apple's answers for a localhost subject (403 BadJwtToken) and a removed web app (410).
#[test]
fn web_push_sends_to_the_web_push_endpoint() {
    node_test("tests/interop/node/web-push.test.js");
}

/// PyPI's pywebpush (over requests, HTTP/1.1, its "," VAPID spelling and `ttl: 0`) to a
/// running phone's web app: 201, the phone decrypts and shows it, and Apple's answers for
/// a localhost subject and a topic of a length Apple refuses.
#[tokio::test(flavor = "multi_thread")]
async fn pywebpush_sends_to_the_web_push_endpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mock = mock_apns::MockApns::start(mock_apns::Config {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .await
    .expect("mock starts");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/pywebpush_send.py");
    let python = tokio::task::spawn_blocking(python).await.expect("venv");
    let ca = mock.ready().ca_file.clone().expect("a CA file");
    let got = json_from(
        "the pywebpush script",
        tokio::process::Command::new(python)
            .arg(script)
            .arg(&mock.ready().admin)
            .arg(&ca)
            // requests prefers REQUESTS_CA_BUNDLE, where it is set, to a session's own CA.
            .env("REQUESTS_CA_BUNDLE", &ca)
            .env("PYTHONPATH", PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dist/python/src"))
            .env("APNS_LAB_BIN", env!("CARGO_BIN_EXE_apns-lab"))
            .env("RUST_LOG", "warn"),
    )
    .await;
    assert_eq!(got["ok"]["status"], 201, "{got}");
    assert!(got["ok"]["apns_id"].as_str().is_some_and(|id| id.len() == 36), "{got}");
    let shown = got["shown"].as_str().unwrap_or_default();
    assert!(shown.contains(r#"banner "Sale — From pywebpush""#), "the phone decrypted and showed it: {got}");
    assert_eq!(
        (got["localhost"]["status"].as_u64(), got["localhost"]["reason"].as_str()),
        (Some(403), Some("BadJwtToken"))
    );
    assert_eq!(
        (got["topic"]["status"].as_u64(), got["topic"]["reason"].as_str()),
        (Some(400), Some("BadWebPushTopic"))
    );
    mock.shutdown().await;
}
