//! What the dashboard's tests share: a headless Chromium through chromedriver, waiting for
//! text on the page, screenshots, the page as served, phones and a provider for them,
//! console pushes and their journeys.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use mock_apns::MockApns;
use protocol::Environment::Sandbox;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// Whether the notification's journey reaches "presented" within 5 s.
pub(crate) async fn presented(addr: std::net::SocketAddr, id: &str) -> bool {
    for _ in 0..250 {
        let (_, n) = admin(addr, "GET", &format!("/api/v1/notifications/{id}"), None).await;
        if n["journey"].as_array().is_some_and(|j| j.iter().any(|s| s["state"] == "presented")) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Reads the event stream into `seen` until `done` says so; fails with what came if the
/// stream closes or stays quiet for 5 s.
pub(crate) async fn read_until(sse: &mut tokio::net::TcpStream, seen: &mut String, done: impl Fn(&str) -> bool) {
    let mut buf = [0u8; 4096];
    while !done(seen) {
        let Ok(read) = tokio::time::timeout(Duration::from_secs(5), sse.read(&mut buf)).await else {
            panic!("nothing more within 5 s; so far:\n{seen}");
        };
        let n = read.expect("read");
        assert!(n > 0, "stream closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

/// chromedriver on a free port, in a process group of its own with its own temporary
/// directory (where Chromium makes its profile): when dropped, the group is killed, the
/// browser with it, and the directory removed, so no run leaves a profile behind.
pub(crate) struct Driver(Child, u16, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(group) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) async fn browser() -> (Driver, Client) {
    browser_at(1400).await
}

/// A browser whose page is `width` CSS pixels wide: a desktop window, or below 500 px (the
/// narrowest a headless window gets) a phone's screen, emulated.
pub(crate) async fn browser_at(width: u32) -> (Driver, Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let tmp = tempfile::Builder::new().prefix("apns-lab-chromium-").tempdir().expect("a temporary directory");
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .env("TMPDIR", tmp.path())
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (Debian: chromium-driver; .ci/run installs it)");
    let driver = Driver(child, port, tmp);
    let mut caps = serde_json::Map::new();
    let mut options = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        format!("--window-size={},1200", width.max(500)), "--proxy-server=direct://", "--no-first-run"]});
    if width < 500 {
        options["mobileEmulation"] = json!({"deviceMetrics": {"width": width, "height": 844, "pixelRatio": 1.0}});
    }
    caps.insert("goog:chromeOptions".into(), options);
    let url = format!("http://127.0.0.1:{}", driver.1);
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        if let Ok(client) = ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
            return (driver, client);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start a headless Chromium");
}

/// The text of the first element matching `css`, once `check` accepts it (bounded).
pub(crate) async fn text_when(c: &Client, css: &str, check: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..300 {
        if let Ok(el) = c.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
        {
            if check(&text) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css}: never as expected (last: {last:?})");
}

/// Saves a screenshot under `target/screenshots/`, and under `docs/src/images/` when
/// `APNS_LAB_SCREENSHOTS` is set (how the README's pictures are made).
pub(crate) async fn save_screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(name), &png).expect("screenshot written");
    if std::env::var_os("APNS_LAB_SCREENSHOTS").is_some() {
        std::fs::write(root.join("docs/src/images").join(name), &png).expect("docs screenshot written");
    }
}

/// A provider for the phones: answers every token registration 201, and counts them.
pub(crate) async fn accepting_provider() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}/v1/registrations", listener.local_addr().expect("addr"));
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = taken.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = tcp.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
                    let Some(end) = text.find("\r\n\r\n") else { continue };
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                        .unwrap_or(0);
                    if seen.len() >= end + 4 + length {
                        break;
                    }
                }
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = tcp.write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            });
        }
    });
    (url, taken)
}

/// The page as served, over plain HTTP/1.1.
pub(crate) async fn page_html(addr: std::net::SocketAddr) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connects");
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: dashboard\r\nconnection: close\r\n\r\n").await.expect("asks");
    let mut text = String::new();
    tcp.read_to_string(&mut text).await.expect("reads");
    text
}

/// A phone running with `apps`, handing its tokens to `provider`.
pub(crate) fn spawn_phone(mock: &MockApns, udid: &str, apps: &[&str], provider: Option<String>) {
    let endpoint =
        device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned()).expect("gateway endpoint");
    let apps = apps.iter().map(|a| device_sim::run::AppSetup::new(*a, Sandbox)).collect();
    tokio::spawn(device_sim::run::run(endpoint, Some(udid.to_owned()), apps, provider, |_| {}));
}

/// A console push; its apns-id once presented.
pub(crate) async fn console_push(mock: &MockApns, token: &str, topic: &str, title: &str) -> String {
    let payload = format!(r#"{{"aps":{{"alert":{{"title":"{title}"}}}}}}"#);
    let (_, answer) = admin(
        mock.admin_addr(),
        "POST",
        "/api/v1/console",
        Some(json!({"token": token, "topic": topic, "payload": payload})),
    )
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    answer["apns_id"].as_str().expect("apns-id").to_owned()
}

/// A broadcast channel for [`APP`], made on the channel management API.
pub(crate) async fn create_channel(lab: &Lab) -> String {
    let addr = lab.mock.ready().channels_sandbox.trim_start_matches("https://").parse().expect("addr");
    let mut m = crate::support::Client::connect(addr, lab.mock.ca_pem(), None, Alpn::H2).await;
    let made = m
        .push(
            Push::new("x", &lab.jwt())
                .path(format!("/1/apps/{APP}/channels"))
                .without("apns-topic")
                .without("apns-push-type")
                .body(r#"{"message-storage-policy":0,"push-type":"LiveActivity"}"#),
        )
        .await;
    made.headers.get("apns-channel-id").and_then(|v| v.to_str().ok()).expect("a channel").to_owned()
}

/// Clicks a lesson's button.
pub(crate) async fn click_lesson(c: &Client, id: &str) {
    let button = format!(r#"#lesson-list button[data-lesson="{id}"]"#);
    c.find(Locator::Css(&button)).await.expect("lesson button").click().await.expect("clicks");
}

/// Runs a lesson and waits for its end; it must have ended "done". Its text.
pub(crate) async fn run_lesson(c: &Client, id: &str) -> String {
    click_lesson(c, id).await;
    let out = format!(r#"#lesson-out[data-lesson="{id}"]"#);
    let text = text_when(c, &out, |t| t.contains("The rule:") || t.contains("waited")).await;
    let state = c.find(Locator::Css(&out)).await.expect("out").attr("data-state").await.expect("attr");
    assert_eq!(state.as_deref(), Some("done"), "{id}: {text}");
    text
}
