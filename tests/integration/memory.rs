//! What an idle connection costs `apns-lab serve`: at most 40 KiB of the process's
//! memory (RSS) per idle provider connection that has carried a push, and per phone
//! connected to the device gateway (ARCHITECTURE.md, "Bounded").

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use crate::serve::{Serve, serve};
use crate::support::{Alpn, Client, Push, admin, signer};

/// The bound, per connection.
const BOUND_KIB: f64 = 40.0;
/// How many connections are measured at once: enough that what does not grow with
/// them (thread caches, a log's first pages) is small beside the bound.
const CONNECTIONS: usize = 1000;

fn rss_kib(s: &Serve) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).expect("reads /proc");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).and_then(|k| k.parse().ok()).expect("a number of kB")
}

fn addr(s: &Serve, listener: &str) -> SocketAddr {
    let url = s.ready[listener].as_str().expect("a listener URL");
    url.rsplit("//").next().and_then(|a| a.parse().ok()).expect("host:port")
}

/// What the server's RSS grew by per connection once `open` has opened `CONNECTIONS`
/// and they have been idle a while (freed pages go back within a second).
async fn per_connection<T>(s: &Serve, open: impl AsyncFnOnce() -> T) -> f64 {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = rss_kib(s);
    let held = open().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = rss_kib(s);
    drop(held);
    (after - before) / CONNECTIONS as f64
}

/// Connections of one push each, `parallel` at a time.
async fn pushed_connections(s: &Serve, n: usize, parallel: usize) -> Vec<Client> {
    let ca = std::fs::read_to_string(s.ready["ca_file"].as_str().expect("ca_file")).expect("reads the CA");
    let p8 = std::fs::read_to_string(s.ready["key_file"].as_str().expect("key_file")).expect("reads the key");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
    let jwt = signer(&p8, s.ready["key_id"].as_str().expect("key_id"), s.ready["team_id"].as_str().expect("team_id"))
        .sign(now)
        .expect("signs");
    let (status, device) = admin(
        addr(s, "admin"),
        "POST",
        "/api/v1/devices",
        Some(json!({ "apps": [{ "bundle_id": "com.example.memory" }] })),
    )
    .await;
    assert_eq!(status, 201, "{device}");
    let token = device["apps"][0]["token"].as_str().expect("a token").to_owned();
    let sandbox = addr(s, "sandbox");
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n.div_ceil(parallel) {
        let round: Vec<_> = (0..parallel.min(n - clients.len()))
            .map(|_| {
                let (ca, jwt, token) = (ca.clone(), jwt.clone(), token.clone());
                tokio::spawn(async move {
                    let mut client = Client::connect(sandbox, &ca, None, Alpn::H2).await;
                    let push = Push::new(&token, &jwt).header("apns-topic", "com.example.memory");
                    client.push(push).await.assert_ok();
                    client
                })
            })
            .collect();
        for task in round {
            clients.push(task.await.expect("the connection's task ends"));
        }
    }
    clients
}

/// An idle provider connection (TLS, HTTP/2, one push answered) and a connected phone
/// each hold at most 40 KiB of the server's memory. Most of it is h2's and rustls's I/O
/// buffers, which they keep for a connection's whole life (BENCHMARKS.md, "Memory"); the
/// rest is the project's own (connection task, TLS session, registry entry), and a
/// regression there shows here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_and_a_phone_hold_at_most_40_kib_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = serve(dir.path());
    // The allocator's and the runtime's first use of every thread is not the
    // connections' cost: a round of them first, closed.
    drop(pushed_connections(&s, 200, 50).await);

    let provider = per_connection(&s, async || pushed_connections(&s, CONNECTIONS, 50).await).await;
    eprintln!("RSS per idle provider connection after one push: {provider:.1} KiB");
    assert!(provider <= BOUND_KIB, "an idle provider connection holds {provider:.1} KiB");

    // Phones: the devices are made first, so what is measured is their connections.
    let devices: Vec<_> = (0..CONNECTIONS)
        .map(|k| json!({ "udid": format!("MEM-{k:06}"), "apps": [{ "bundle_id": "com.example.memory" }] }))
        .collect();
    let (status, made) =
        admin(addr(&s, "admin"), "POST", "/api/v1/devices/batch", Some(json!({ "devices": devices }))).await;
    assert_eq!(status, 201, "{made}");
    let tokens = dir.path().join("tokens");
    let phone = per_connection(&s, async || {
        let fleet = std::process::Command::new(env!("CARGO_BIN_EXE_apns-lab"))
            .args(["device", "fleet", "--prefix", "MEM", "--app", "com.example.memory", "--count"])
            .arg(CONNECTIONS.to_string())
            .arg("--gateway")
            .arg(s.ready["gateway"].as_str().expect("gateway"))
            .arg("--ca")
            .arg(s.ready["ca_file"].as_str().expect("ca_file"))
            .arg("--tokens-out")
            .arg(&tokens)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the fleet starts");
        let fleet = KillOnDrop(fleet);
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while !tokens.exists() {
            assert!(std::time::Instant::now() < deadline, "the fleet did not connect");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        fleet
    })
    .await;
    eprintln!("RSS per connected phone: {phone:.1} KiB");
    assert!(phone <= BOUND_KIB, "a connected phone holds {phone:.1} KiB");
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
