//! `apns-lab health`: asks a running mock whether it is up (the container image's health
//! check): its admin API's `GET /api/v1/health`, within five seconds, found through the
//! ready line `serve` keeps in its data dir when not given.

use std::path::PathBuf;

use super::serve::READY_FILE;
use crate::common::default_data_dir;

/// Which mock to ask.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Its admin API [default: the one the mock serving DATA_DIR wrote into
    /// DATA_DIR/ready.json, else http://127.0.0.1:8089]
    #[arg(long, env = "APNS_LAB_ADMIN")]
    pub(crate) admin: Option<String>,
    /// The data dir of the mock to check: `serve` keeps its ready line there as
    /// ready.json, so whatever addresses it was given, health finds its admin API
    /// [default: serve's default data dir]
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The admin token, if the admin API has one.
    #[arg(long, env = "APNS_LAB_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) admin_token: Option<String>,
}

/// Prints the mock's health; an error unless it answers "ok".
pub(crate) async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let admin = match args.admin {
        Some(admin) => admin,
        None => admin_of(&args.data_dir.unwrap_or_else(default_data_dir))?,
    };
    health(&admin, args.admin_token.as_deref()).await
}

/// The admin API of the mock serving `data_dir`, from its ready line; the default
/// address when no mock has written one there.
fn admin_of(data_dir: &std::path::Path) -> Result<String, Box<dyn std::error::Error>> {
    let path = data_dir.join(READY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let ready: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: not a ready line: {e}", path.display()))?;
            let admin = ready["admin"].as_str().ok_or_else(|| format!("{}: no admin URL", path.display()))?;
            // A mock listening on every interface is asked on loopback.
            Ok(admin.replacen("//0.0.0.0:", "//127.0.0.1:", 1).replacen("//[::]:", "//[::1]:", 1))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok("http://127.0.0.1:8089".to_owned()),
        Err(e) => Err(format!("{}: {e}", path.display()).into()),
    }
}

async fn health(admin: &str, token: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    let url = format!("{}/api/v1/health", admin.trim_end_matches('/'));
    let ask = device_sim::run::call("admin API", http::Method::GET, &url, token, None);
    let body = tokio::time::timeout(std::time::Duration::from_secs(5), ask)
        .await
        .map_err(|_| format!("{url} did not answer within 5 s"))??;
    let health: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))?;
    if health["status"] != "ok" {
        return Err(format!("{url} says {health}").into());
    }
    println!("{health}");
    Ok(())
}
