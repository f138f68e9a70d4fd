//! `apns-lab device run|push|fleet`: simulated iPhones — one in the foreground, a payload
//! injected into a running one (an `.apns` file), or a fleet for load.

use std::path::PathBuf;

use clap::Subcommand;
use protocol::{Environment, Lang};

use crate::common::{parse_activity_type, parse_app, parse_lang, wait_for_signal};

/// The device subcommand.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: DeviceCommand,
}

#[derive(Subcommand)]
pub(crate) enum DeviceCommand {
    /// Run a phone in the foreground: activate, register its apps, print each
    /// notification as the phone shows it.
    Run {
        /// The mock's gateway (the ready line's "gateway").
        #[arg(long)]
        gateway: String,
        /// The mock's CA certificate (the ready line's "ca_file").
        #[arg(long)]
        ca: PathBuf,
        /// The phone's UDID (a new one if absent; the same UDID gets the same tokens).
        #[arg(long)]
        udid: Option<String>,
        /// An installed app: BUNDLE or BUNDLE:sandbox or BUNDLE:production (repeatable).
        #[arg(long = "app", required_unless_present = "web_apps", value_parser = parse_app)]
        apps: Vec<(String, Environment)>,
        /// A web app added to the Home Screen, https://host[:port] (repeatable): it
        /// subscribes to Web Push with --vapid-key and hands its subscription to the
        /// provider.
        #[arg(long = "web-app", value_name = "ORIGIN", requires = "vapid_key")]
        web_apps: Vec<String>,
        /// The web apps' application server key: the VAPID public key in base64url, or
        /// the server's VAPID private key (a PEM file) to take it from.
        #[arg(long, value_name = "KEY")]
        vapid_key: Option<String>,
        /// Where each app sends its token (step 3): an http:// URL that takes
        /// {"udid","bundle_id","environment","token"} as JSON (and a web app
        /// {"udid","origin","subscription"}).
        #[arg(long)]
        provider: Option<String>,
        /// The user refused notifications for this app (repeatable).
        #[arg(long = "denied", value_name = "BUNDLE")]
        denied: Vec<String>,
        /// Notifications for this app are provisional: quietly to the notification center.
        #[arg(long = "provisional", value_name = "BUNDLE")]
        provisional: Vec<String>,
        /// This app is on screen.
        #[arg(long = "foreground", value_name = "BUNDLE")]
        foreground: Vec<String>,
        /// This app has a Notification Service Extension (for mutable-content).
        #[arg(long = "service-extension", value_name = "BUNDLE")]
        service_extension: Vec<String>,
        /// A Live Activity type the app declares, BUNDLE:TYPE (repeatable): it gets a
        /// push-to-start token and hands it to the provider.
        #[arg(long = "activity-type", value_name = "BUNDLE:TYPE", value_parser = parse_activity_type)]
        activity_types: Vec<(String, String)>,
        /// Start a Live Activity of this type from the app once online, BUNDLE:TYPE
        /// (repeatable): it gets an update token and hands it to the provider.
        #[arg(long = "start-activity", value_name = "BUNDLE:TYPE", value_parser = parse_activity_type)]
        start_activities: Vec<(String, String)>,
        /// The narration's language: en or zh-CN [default: from the locale].
        #[arg(long, value_parser = parse_lang)]
        lang: Option<Lang>,
        #[command(flatten)]
        logic: super::app_logic::AppLogic,
    },
    /// Inject a payload into a running phone the way `xcrun simctl push` does.
    Push {
        /// The mock's admin API (the ready line's "admin").
        #[arg(long)]
        admin: String,
        /// The phone.
        #[arg(long)]
        udid: String,
        /// `[BUNDLE] FILE.apns`: the app (optional when the file has "Simulator Target
        /// Bundle") and the payload file (JSON).
        #[arg(num_args = 1..=2, required = true, value_name = "[BUNDLE] FILE")]
        args: Vec<String>,
    },
    /// The user responds to a notification a running phone shows: a tap, a dismissal, or
    /// an action of its category (the app's handler gets didReceiveResponse).
    Respond {
        /// The mock's admin API (the ready line's "admin").
        #[arg(long)]
        admin: String,
        /// The phone.
        #[arg(long)]
        udid: String,
        /// The notification's apns-id.
        #[arg(long)]
        apns_id: String,
        /// tap, dismiss, or an action identifier of the notification's category.
        #[arg(long, default_value = "tap")]
        action: String,
    },
    /// Run many phones in one process, for load; prints deliveries per second.
    Fleet {
        /// The mock's gateway.
        #[arg(long)]
        gateway: String,
        /// The mock's CA certificate.
        #[arg(long)]
        ca: PathBuf,
        /// How many phones.
        #[arg(long)]
        count: usize,
        /// UDIDs are PREFIX-000000, PREFIX-000001, …
        #[arg(long, default_value = "FLEET")]
        prefix: String,
        /// An installed app on every phone (repeatable).
        #[arg(long = "app", required_unless_present = "web_apps", value_parser = parse_app)]
        apps: Vec<(String, Environment)>,
        /// Write "udid bundle token" lines here once every phone is online (and
        /// "udid bundle token update" for each Live Activity's update token).
        #[arg(long)]
        tokens_out: Option<PathBuf>,
        /// Every phone's app declares this Live Activity type and starts one activity of
        /// it, BUNDLE:TYPE (repeatable).
        #[arg(long = "activity-type", value_name = "BUNDLE:TYPE", value_parser = parse_activity_type)]
        activity_types: Vec<(String, String)>,
        /// The activities listen to this broadcast channel (and, as on iOS, get no update
        /// token: broadcasts update them).
        #[arg(long, value_name = "CHANNEL_ID", requires = "activity_types")]
        activity_channel: Option<String>,
        /// A web app on every phone's Home Screen, https://host[:port] (repeatable),
        /// subscribed with --vapid-key.
        #[arg(long = "web-app", value_name = "ORIGIN", requires = "vapid_key")]
        web_apps: Vec<String>,
        /// The web apps' application server key (base64url, or a PEM private key file).
        #[arg(long, value_name = "KEY")]
        vapid_key: Option<String>,
        /// Write one line per web subscription here once every phone is online:
        /// {"udid", "subscription"} (PushSubscription.toJSON()).
        #[arg(long, value_name = "FILE", requires = "web_apps")]
        subscriptions_out: Option<PathBuf>,
        #[command(flatten)]
        logic: super::app_logic::AppLogic,
    },
}

pub(crate) async fn run(Args { command }: Args) -> Result<(), Box<dyn std::error::Error>> {
    let ca_of = |path: &PathBuf| std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()));
    match command {
        DeviceCommand::Run {
            gateway,
            ca,
            udid,
            apps,
            web_apps,
            vapid_key,
            provider,
            denied,
            provisional,
            foreground,
            service_extension,
            activity_types,
            start_activities,
            lang,
            logic,
        } => {
            let endpoint = device_sim::Endpoint::parse(&gateway, ca_of(&ca)?)?;
            let named: Vec<&str> =
                apps.iter().map(|(b, _)| b.as_str()).chain(web_apps.iter().map(String::as_str)).collect();
            let handler_ca = logic.check(&named)?;
            let by_type = activity_types.iter().chain(&start_activities).map(|(b, _)| b);
            for named in denied.iter().chain(&provisional).chain(&foreground).chain(&service_extension).chain(by_type) {
                if !apps.iter().any(|(b, _)| b == named) {
                    return Err(format!("{named} is not one of the --app apps").into());
                }
            }
            let apps = apps
                .into_iter()
                .map(|(bundle, env)| {
                    let mut setup = device_sim::run::AppSetup::new(bundle.clone(), env);
                    if denied.contains(&bundle) {
                        setup.authorization = device_sim::Authorization::Denied;
                    } else if provisional.contains(&bundle) {
                        setup.authorization = device_sim::Authorization::Provisional;
                    }
                    setup.foreground = foreground.contains(&bundle);
                    setup.service_extension = service_extension.contains(&bundle);
                    let mine = |list: &[(String, String)]| -> Vec<String> {
                        list.iter().filter(|(b, _)| *b == bundle).map(|(_, t)| t.clone()).collect()
                    };
                    setup.activity_types = mine(&activity_types);
                    setup.start_activities = mine(&start_activities);
                    setup.handler = logic.target(&bundle)?;
                    Ok(setup)
                })
                .collect::<Result<_, String>>()?;
            let key = match vapid_key {
                Some(key) => application_server_key(&key)?,
                None => String::new(),
            };
            let web_apps = web_apps
                .into_iter()
                .map(|origin| {
                    let handler = logic.target(&origin)?;
                    Ok(device_sim::run::WebAppSetup {
                        origin,
                        name: None,
                        application_server_key: key.clone(),
                        handler,
                    })
                })
                .collect::<Result<_, String>>()?;
            let lang = lang.unwrap_or_else(Lang::from_env);
            let say = |line: String| println!("{line}");
            let rules = logic.rules();
            let phone = device_sim::run::Phone { lang, udid, apps, web_apps, provider, rules, handler_ca };
            let run = device_sim::run::run_with(endpoint, phone, say);
            tokio::select! {
                r = run => r?,
                _ = wait_for_signal() => {}
            }
            Ok(())
        }
        DeviceCommand::Push { admin, udid, mut args } => {
            let file = PathBuf::from(args.pop().ok_or("give the .apns file")?);
            let bundle = args.pop();
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let payload: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
            let url = format!("{}/api/v1/devices/{udid}/push", admin.trim_end_matches('/'));
            let body = serde_json::json!({ "bundle_id": bundle, "payload": payload });
            let answer = device_sim::run::post_json("admin API", &url, &body).await?;
            println!("{}", String::from_utf8_lossy(&answer));
            Ok(())
        }
        DeviceCommand::Respond { admin, udid, apns_id, action } => {
            let q = |s: &str| s.replace('%', "%25").replace('/', "%2F").replace('?', "%3F").replace('#', "%23");
            let url = format!(
                "{}/api/v1/devices/{}/notifications/{}/respond",
                admin.trim_end_matches('/'),
                q(&udid),
                q(&apns_id)
            );
            let answer =
                device_sim::run::post_json("admin API", &url, &serde_json::json!({ "action": action })).await?;
            println!("{}", String::from_utf8_lossy(&answer));
            Ok(())
        }
        DeviceCommand::Fleet {
            gateway,
            ca,
            count,
            prefix,
            apps,
            tokens_out,
            activity_types,
            activity_channel,
            web_apps,
            vapid_key,
            subscriptions_out,
            logic,
        } => {
            let endpoint = device_sim::Endpoint::parse(&gateway, ca_of(&ca)?)?;
            let named: Vec<&str> =
                apps.iter().map(|(b, _)| b.as_str()).chain(web_apps.iter().map(String::as_str)).collect();
            let handler_ca = logic.check(&named)?;
            let handlers = named
                .iter()
                .filter_map(|app| logic.target(app).transpose().map(|t| t.map(|t| (app.to_string(), t))))
                .collect::<Result<Vec<_>, String>>()?;
            if let Some((b, _)) = activity_types.iter().find(|(b, _)| !apps.iter().any(|(a, _)| a == b)) {
                return Err(format!("{b} is not one of the --app apps").into());
            }
            let key = vapid_key.as_deref().map(application_server_key).transpose()?.unwrap_or_default();
            let web_apps: Vec<(String, String)> = web_apps.into_iter().map(|o| (o, key.clone())).collect();
            let stats = std::sync::Arc::new(device_sim::fleet::FleetStats::default());
            let started = std::time::Instant::now();
            let plan = device_sim::fleet::Plan {
                count,
                prefix: &prefix,
                apps: &apps,
                activity_types: &activity_types,
                channel: activity_channel.as_deref(),
                web_apps: &web_apps,
                handlers: &handlers,
                rules: logic.rules(),
                handler_ca: handler_ca.as_deref(),
            };
            let fleet = device_sim::fleet::start_plan(endpoint, plan, stats.clone()).await?;
            let tokens = fleet.tokens;
            eprintln!("{count} phones online in {:.1} s", started.elapsed().as_secs_f64());
            if let Some(path) = subscriptions_out {
                let lines: String = fleet
                    .subscriptions
                    .iter()
                    .map(|(udid, s)| serde_json::json!({"udid": udid, "subscription": s}).to_string() + "\n")
                    .collect();
                std::fs::write(&path, lines).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            if let Some(path) = tokens_out {
                let lines: String = tokens
                    .iter()
                    .map(|t| match t.kind {
                        None => format!("{} {} {}\n", t.udid, t.bundle_id, t.token),
                        Some(_) => format!("{} {} {} update\n", t.udid, t.bundle_id, t.token),
                    })
                    .collect();
                std::fs::write(&path, lines).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            let mut last = 0;
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = wait_for_signal() => return Ok(()),
                }
                let now = stats.delivered.load(std::sync::atomic::Ordering::Relaxed);
                let lat = stats.take_latencies();
                let pct = |p: f64| {
                    lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0)
                };
                println!(
                    "{{\"delivered_per_s\":{},\"total\":{now},\"p50_ms\":{},\"p99_ms\":{},\"max_ms\":{}}}",
                    now - last,
                    pct(0.50),
                    pct(0.99),
                    lat.last().copied().unwrap_or(0)
                );
                last = now;
            }
        }
    }
}

/// `--vapid-key`: a base64url public key as it is, or the public half of a PEM
/// private key file.
fn application_server_key(key: &str) -> Result<String, Box<dyn std::error::Error>> {
    let path = std::path::Path::new(key);
    if path.is_file() {
        let pem = std::fs::read_to_string(path).map_err(|e| format!("{key}: {e}"))?;
        let vapid =
            provider::webpush::Vapid::from_pem(&pem, "mailto:nobody@example.com").map_err(|e| format!("{key}: {e}"))?;
        return Ok(vapid.public_key());
    }
    protocol::webpush::public_key(key)
        .map_err(|_| format!("--vapid-key {key:?} is neither a PEM file nor a base64url 65-byte P-256 public key"))?;
    Ok(key.to_owned())
}
