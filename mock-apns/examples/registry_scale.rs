//! Benchmark of the registry at fleet scale: registers N devices × 2 apps in a data dir,
//! and reports memory per token (growth of the process's resident set), token lookups
//! per second on one core (as a push does them), and the time from start to ready when
//! the N devices are on disk. Run by `bench/registry-scale.sh`, which also compares
//! provider-API throughput with 1M and 1k devices registered.
//!
//! Usage: `registry_scale DATA_DIR DEVICES` (DATA_DIR must not exist yet).

use std::hint::black_box;
use std::time::Instant;

use mock_apns::{Config, MockApns, NewApp, NewDevice};
use protocol::{DeviceToken, Environment};

/// Resident set size in bytes, from /proc/self/statm.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: registry_scale DATA_DIR DEVICES")?);
    let n: usize = args.next().ok_or("usage: registry_scale DATA_DIR DEVICES")?.parse()?;
    if dir.exists() {
        return Err(format!("{} exists; give a new directory", dir.display()).into());
    }
    let config = || Config { data_dir: Some(dir.clone()), capture_limit: 0, ..Config::default() };
    let mock = MockApns::start(config()).await?;
    let before = rss();
    let started = Instant::now();
    let mut sample: Vec<(DeviceToken, &'static str)> = Vec::new();
    let chunk = 50_000;
    for start in (0..n).step_by(chunk) {
        let reqs = (start..(start + chunk).min(n))
            .map(|i| NewDevice {
                udid: Some(format!("{i:08X}-{:016X}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))),
                apps: ["com.example.chat", "com.example.news"]
                    .iter()
                    .map(|b| NewApp { bundle_id: (*b).into(), environment: Environment::Sandbox, team_id: None })
                    .collect(),
            })
            .collect();
        let views = mock.create_devices(reqs).await?;
        for (k, v) in views.iter().enumerate() {
            if k % 10 == 0 {
                let app = &v.apps[k % 2];
                let bundle = if k % 2 == 0 { "com.example.chat" } else { "com.example.news" };
                sample.push((app.token.parse()?, bundle));
            }
        }
    }
    let registered = started.elapsed();
    let grown = rss().saturating_sub(before);
    let tokens = 2 * n;

    let lookups = 10_000_000usize.max(sample.len());
    let started = Instant::now();
    for i in 0..lookups {
        let (token, bundle) = &sample[i % sample.len()];
        black_box(mock.route(Environment::Sandbox, black_box(token), bundle).is_ok());
    }
    let per_sec = lookups as f64 / started.elapsed().as_secs_f64();
    assert!(sample.iter().all(|(t, b)| mock.route(Environment::Sandbox, t, b).is_ok()));
    mock.shutdown().await;

    let started = Instant::now();
    let again = MockApns::start(config()).await?;
    let ready = started.elapsed();
    let (t, b) = &sample[sample.len() / 2];
    assert!(again.route(Environment::Sandbox, t, b).is_ok(), "tokens survive the restart");
    again.shutdown().await;

    println!("| {n} devices × 2 apps | |");
    println!("|---|---|");
    println!("| registration (batch API, durable) | {:.1} s |", registered.as_secs_f64());
    println!("| memory per token (RSS growth / {tokens} tokens) | {} bytes |", grown / tokens as u64);
    println!("| token lookups, one core | {:.2} M/s |", per_sec / 1e6);
    println!("| start to ready with them on disk | {:.2} s |", ready.as_secs_f64());
    Ok(())
}
