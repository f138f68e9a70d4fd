//! `apns-lab send`: notifications to APNs (or the mock) like Apple's curl recipe, typed —
//! alerts, background and other push types, Live Activities, broadcasts to a channel.

use std::path::PathBuf;

use crate::common::{ApnsArgs, Target, apns_client, mock_ready};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    apns: ApnsArgs,
    /// Where to send: `sandbox` or `production` (the mock's listeners, with
    /// --mock-ready; the default is sandbox), https://HOST:PORT, or `apple-sandbox` /
    /// `apple-production` for Apple's real servers.
    #[arg(long, alias = "apns")]
    endpoint: Option<String>,
    /// apns-topic (default: the payload's "Simulator Target Bundle", if any).
    #[arg(long)]
    topic: Option<String>,
    /// apns-push-type.
    #[arg(long)]
    push_type: Option<String>,
    /// apns-priority (10, 5 or 1).
    #[arg(long)]
    priority: Option<String>,
    /// apns-expiration (UNIX seconds; 0 = try once).
    #[arg(long)]
    expiration: Option<String>,
    /// apns-collapse-id.
    #[arg(long)]
    collapse_id: Option<String>,
    /// apns-id.
    #[arg(long)]
    apns_id: Option<String>,
    /// The payload: a file (also an .apns file), inline JSON, or - for standard input.
    #[arg(long, default_value = r#"{"aps":{"alert":"test"}}"#)]
    payload: String,
    /// Send this many notifications in all (tokens in turn) and print throughput and
    /// latency instead of each result.
    #[arg(long)]
    count: Option<usize>,
    #[command(flatten)]
    live: LiveActivityArgs,
    /// Broadcast to this channel instead of sending to tokens (`POST
    /// /4/broadcasts/apps/<topic>`; apns-expiration defaults to 0, priority to 10).
    #[arg(long, value_name = "CHANNEL_ID")]
    channel: Option<String>,
    #[command(flatten)]
    web: WebPushArgs,
    /// Device tokens (hex); for --live-activity, activity tokens.
    #[arg(required_unless_present_any = ["channel", "web_push"])]
    tokens: Vec<String>,
}

/// A Web Push message instead of an APNs push.
#[derive(clap::Args)]
pub(crate) struct WebPushArgs {
    /// Send a Web Push message to this subscription (a file holding the web app's
    /// `PushSubscription.toJSON()`): --payload is the message, encrypted for it; the CA is
    /// --ca, or the mock's with --mock-ready; --topic is the `Topic` header.
    #[arg(long, value_name = "SUBSCRIPTION.json", requires_all = ["vapid_key", "vapid_subject"])]
    web_push: Option<PathBuf>,
    /// The application server's VAPID key, PKCS#8 PEM (its public half is the web app's
    /// applicationServerKey).
    #[arg(long, value_name = "PEM", requires = "web_push")]
    vapid_key: Option<PathBuf>,
    /// The VAPID contact Apple requires: mailto:ADDRESS or an https: URL it can reach.
    #[arg(long, value_name = "SUBJECT", requires = "web_push")]
    vapid_subject: Option<String>,
    /// `TTL`: seconds the push service may keep it for an offline device.
    #[arg(long, default_value_t = 0, requires = "web_push")]
    ttl: u64,
    /// `Urgency`: very-low, low, normal or high.
    #[arg(long, requires = "web_push")]
    urgency: Option<String>,
}

/// A Live Activity push, built from options instead of --payload.
#[derive(clap::Args)]
pub(crate) struct LiveActivityArgs {
    /// Send a Live Activity push: start (to a push-to-start token), update or end (to an
    /// activity's update token). --topic is the app's bundle ID; the topic, push type and
    /// priority 10 follow.
    #[arg(long, value_name = "EVENT", value_parser = ["start", "update", "end"])]
    live_activity: Option<String>,
    /// The content state, a JSON object.
    #[arg(long, default_value = "{}", requires = "live_activity")]
    content_state: String,
    /// start: the ActivityAttributes type.
    #[arg(long, requires = "live_activity")]
    attributes_type: Option<String>,
    /// start: the static attributes, a JSON object.
    #[arg(long, default_value = "{}", requires = "live_activity")]
    attributes: String,
    /// The alert: text, or a JSON object (required on start).
    #[arg(long, requires = "live_activity")]
    alert: Option<String>,
    /// The update's timestamp, UNIX seconds (default: now).
    #[arg(long, requires = "live_activity")]
    timestamp: Option<u64>,
    /// When the content goes stale, UNIX seconds.
    #[arg(long, requires = "live_activity")]
    stale_date: Option<u64>,
    /// end: when to remove it from the Lock Screen, UNIX seconds.
    #[arg(long, requires = "live_activity")]
    dismissal_date: Option<u64>,
    /// start: give the new activity its own update token.
    #[arg(long, requires = "live_activity")]
    input_push_token: bool,
}

impl LiveActivityArgs {
    /// The Live Activity's payload and the app's bundle ID, or `None` without --live-activity.
    fn build(&self, topic: Option<&str>) -> Result<Option<(String, String)>, String> {
        let Some(event) = self.live_activity.as_deref() else { return Ok(None) };
        let bundle = topic
            .map(|t| t.trim_end_matches(".push-type.liveactivity").to_owned())
            .ok_or("--live-activity needs --topic (the app's bundle ID)")?;
        let object = |what: &str, text: &str| -> Result<serde_json::Value, String> {
            match serde_json::from_str(text) {
                Ok(v @ serde_json::Value::Object(_)) => Ok(v),
                _ => Err(format!("--{what} must be a JSON object: {text}")),
            }
        };
        let state = object("content-state", &self.content_state)?;
        let alert = self.alert.as_deref().map(|a| serde_json::from_str(a).unwrap_or_else(|_| serde_json::json!(a)));
        let timestamp = self.timestamp.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
        });
        let mut la = match event {
            "start" => {
                let kind = self.attributes_type.as_deref().ok_or("--live-activity start needs --attributes-type")?;
                let alert = alert.clone().ok_or("--live-activity start needs --alert")?;
                provider::LiveActivity::start(kind, &object("attributes", &self.attributes)?, &state, alert, timestamp)
            }
            "update" => provider::LiveActivity::update(&state, timestamp),
            _ => provider::LiveActivity::end(&state, timestamp),
        }
        .map_err(|e| e.to_string())?;
        if event != "start"
            && let Some(alert) = alert
        {
            la = la.alert(alert);
        }
        if let Some(d) = self.stale_date {
            la = la.stale_date(d);
        }
        if let Some(d) = self.dismissal_date {
            la = la.dismissal_date(d);
        }
        if self.input_push_token {
            la = la.input_push_token();
        }
        la.check().map_err(|e| e.to_string())?;
        Ok(Some((la.payload().to_string(), bundle)))
    }
}

pub(crate) async fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    use provider::Notification;
    if a.web.web_push.is_some() {
        return web_push(a).await;
    }
    let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let ready = mock_ready(&a.apns)?;
    if ready.is_none() && a.endpoint.is_none() {
        return Err("say where APNs is: --mock-ready FILE (the mock), --endpoint https://HOST:PORT, or \
                    --endpoint apple-sandbox / apple-production for Apple's real servers"
            .into());
    }
    let client = apns_client(&a.apns, ready.as_ref(), &Target::parse(a.endpoint.as_deref()))?;
    let payload = match a.payload.as_str() {
        "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            s
        }
        p if p.trim_start().starts_with('{') => p.to_owned(),
        p => read(&PathBuf::from(p))?,
    };
    let json: serde_json::Value =
        serde_json::from_str(&payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
    let topic = a.topic.clone().or_else(|| json["Simulator Target Bundle"].as_str().map(str::to_owned));
    let live = a.live.build(topic.as_deref())?;
    let mut template = match &live {
        Some((payload, bundle)) => Notification::raw(String::new(), payload.clone())
            .topic(format!("{bundle}.push-type.liveactivity"))
            .push_type(protocol::PushType::Liveactivity)
            .priority(protocol::Priority::Immediate),
        None => Notification::raw(String::new(), payload.trim().to_owned()),
    };
    if live.is_none() {
        template.topic = topic;
    }
    if let Some(push_type) = a.push_type.as_deref() {
        template.push_type = Some(push_type.parse()?);
    }
    if let Some(priority) = a.priority.as_deref() {
        template.priority = Some(priority.parse()?);
    }
    template.expiration = a.expiration.as_deref().map(str::parse).transpose()?;
    template.collapse_id = a.collapse_id.clone();
    template.apns_id = a.apns_id.clone();
    if let Some(channel) = &a.channel {
        return broadcast(&client, &template, channel).await;
    }
    let for_token = |t: &str| Notification { token: t.to_owned(), ..template.clone() };

    if let Some(count) = a.count {
        // A fixed set of senders, each taking the next notification: 100 streams per
        // connection, no task per notification.
        let started = std::time::Instant::now();
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tokens = std::sync::Arc::new(a.tokens.clone());
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..a.apns.connections.max(1) * 100 {
            let (client, next, tokens, template) = (client.clone(), next.clone(), tokens.clone(), template.clone());
            workers.spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        return done;
                    }
                    let n = Notification { token: tokens[i % tokens.len()].clone(), ..template.clone() };
                    let t = std::time::Instant::now();
                    let ok = client.send(&n).await.is_ok();
                    done.push((ok, t.elapsed()));
                }
            });
        }
        let mut latencies = Vec::with_capacity(count);
        let mut failed = 0;
        while let Some(Ok(done)) = workers.join_next().await {
            for (ok, d) in done {
                failed += usize::from(!ok);
                latencies.push(d);
            }
        }
        let secs = started.elapsed().as_secs_f64();
        latencies.sort();
        let pct =
            |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)));
        let ms = |d: Option<&std::time::Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        println!(
            "{count} sent in {secs:.2} s: {:.0}/s, {failed} not accepted, latency p50 {:.2} ms, p99 {:.2} ms",
            count as f64 / secs,
            ms(pct(0.5)),
            ms(pct(0.99))
        );
        return if failed == 0 { Ok(()) } else { Err(format!("{failed} of {count} were not accepted").into()) };
    }

    let mut refused = 0;
    for token in &a.tokens {
        let short = &token[..token.len().min(16)];
        match client.send(&for_token(token)).await {
            Ok(ok) => {
                let unique = ok.apns_unique_id.map(|u| format!(" apns-unique-id {u}")).unwrap_or_default();
                println!("[4] {short}… 200 accepted  apns-id {}{unique}", ok.apns_id);
            }
            Err(provider::Error::Rejected(r)) => {
                refused += 1;
                println!("[4] {short}… {r}  apns-id {}", r.apns_id.as_deref().unwrap_or("-"));
            }
            Err(e @ provider::Error::Connection(_)) => {
                refused += 1;
                println!("[4] {short}… not sent: {e}");
            }
            Err(e) => {
                refused += 1;
                println!("[4] {short}… not sent to https://{}: {e}", client.endpoint().addr);
            }
        }
    }
    if refused == 0 { Ok(()) } else { Err(format!("{refused} of {} were not accepted", a.tokens.len()).into()) }
}

/// `send --channel`: one broadcast, its answer printed like a push's.
async fn broadcast(
    client: &provider::Client,
    template: &provider::Notification,
    channel: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let topic = template.topic.as_deref().ok_or("--channel needs --topic (the app's bundle ID)")?;
    let bundle = topic.trim_end_matches(".push-type.liveactivity");
    let headers = [
        ("apns-channel-id", channel.to_owned()),
        ("apns-push-type", "liveactivity".to_owned()),
        ("apns-expiration", template.expiration.map_or(0, |e| e.0).to_string()),
        ("apns-priority", template.priority.unwrap_or_default().to_string()),
    ];
    let path = format!("/4/broadcasts/apps/{bundle}");
    let answer = client.call(provider::Method::POST, &path, &headers, template.payload.clone()).await?;
    let request_id = answer.header("apns-request-id").unwrap_or("-").to_owned();
    match answer.rejection() {
        None => {
            println!("[4] broadcast to channel {channel}: {} accepted, apns-request-id {request_id}", answer.status);
            Ok(())
        }
        Some(r) => {
            println!("[4] broadcast to channel {channel}: {r}  apns-request-id {request_id}");
            Err(format!("the broadcast was refused: {}", r.reason).into())
        }
    }
}

/// `send --web-push`: one Web Push message, encrypted and VAPID-signed; prints the answer.
async fn web_push(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let (Some(file), Some(key), Some(subject)) = (&a.web.web_push, &a.web.vapid_key, &a.web.vapid_subject) else {
        return Err("--web-push needs --vapid-key and --vapid-subject".into());
    };
    let subscription: provider::webpush::Subscription = serde_json::from_str(&read(file)?).map_err(|e| {
        format!("{}: not a PushSubscription ({{endpoint, keys: {{p256dh, auth}}}}): {e}", file.display())
    })?;
    let vapid = provider::webpush::Vapid::from_pem(&read(key)?, subject)?;
    let ca = match (&a.apns.ca, mock_ready(&a.apns)?) {
        (Some(p), _) => Some(read(p)?),
        (None, Some(ready)) => ready["ca_file"].as_str().map(|p| read(&PathBuf::from(p))).transpose()?,
        (None, None) => None,
    };
    let urgency = a.web.urgency.as_deref().map(|u| protocol::webpush::Urgency::parse(Some(u))).transpose();
    let urgency = urgency.map_err(|_| "--urgency is very-low, low, normal or high")?;
    let message = match a.payload.as_str() {
        "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            s
        }
        p if p.trim_start().starts_with('{') || !std::path::Path::new(p).exists() => p.to_owned(),
        p => read(&PathBuf::from(p))?,
    };
    let options = provider::webpush::Options { ttl: a.web.ttl, urgency, topic: a.topic.clone() };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let answer =
        provider::webpush::send(&subscription, message.as_bytes(), &vapid, &options, ca.as_deref(), now).await?;
    let id = answer.apns_id.as_deref().unwrap_or("-");
    match &answer.reason {
        None => {
            println!("[4] web push to {}: {} apns-id {id}", subscription.endpoint, answer.status);
            Ok(())
        }
        Some(reason) => {
            println!("[4] web push to {}: {} {reason} apns-id {id}", subscription.endpoint, answer.status);
            Err(format!("the web push was refused: {reason}").into())
        }
    }
}
