//! Many phones in one process, for load: each activates, registers its apps, keeps its
//! own TLS + HTTP/2 connection and stream to the gateway, presents what arrives and
//! acknowledges it. Counts deliveries and measures the time from APNs accepting a
//! notification to the phone presenting it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use protocol::Environment;
use tokio::sync::Mutex;

use crate::{Device, Endpoint, Error};

/// What the fleet saw.
#[derive(Default)]
pub struct FleetStats {
    /// Notifications presented or handled (not duplicates).
    pub delivered: AtomicU64,
    /// Milliseconds from APNs accepting to the phone presenting, one per notification
    /// since the last [`FleetStats::take_latencies`] (for a broadcast, whose deliveries
    /// share one acceptance, the largest is when the last subscriber got it).
    latencies: std::sync::Mutex<Vec<u32>>,
}

impl FleetStats {
    /// The latencies recorded since the last call, sorted.
    pub fn take_latencies(&self) -> Vec<u32> {
        let mut v = std::mem::take(&mut *self.latencies.lock().unwrap_or_else(|e| e.into_inner()));
        v.sort_unstable();
        v
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Brings up `count` phones named `{prefix}-{n}` with `apps`, and returns their tokens
/// (udid, bundle, token) once all are online. They keep running in background tasks.
pub async fn start(
    endpoint: Endpoint,
    count: usize,
    prefix: &str,
    apps: &[(String, Environment)],
    stats: Arc<FleetStats>,
) -> Result<Vec<(String, String, String)>, Error> {
    let tokens = start_with_activities(endpoint, count, prefix, apps, &[], None, stats).await?;
    Ok(tokens.into_iter().filter(|t| t.kind.is_none()).map(|t| (t.udid, t.bundle_id, t.token)).collect())
}

/// A token a fleet phone holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetToken {
    /// The phone.
    pub udid: String,
    /// The app.
    pub bundle_id: String,
    /// The token.
    pub token: String,
    /// `None` for the app's device token; else the Live Activity token's kind.
    pub kind: Option<protocol::ActivityTokenKind>,
}

/// [`start`], and every phone's app in `activity_types` (bundle, attributes type)
/// declares the type and starts one Live Activity of it — listening to `channel`, if
/// given: answers the device tokens and the activities' update tokens.
pub async fn start_with_activities(
    endpoint: Endpoint,
    count: usize,
    prefix: &str,
    apps: &[(String, Environment)],
    activity_types: &[(String, String)],
    channel: Option<&str>,
    stats: Arc<FleetStats>,
) -> Result<Vec<FleetToken>, Error> {
    let plan = Plan {
        count,
        prefix,
        apps,
        activity_types,
        channel,
        web_apps: &[],
        handlers: &[],
        rules: crate::Rules::default(),
        handler_ca: None,
    };
    Ok(start_plan(endpoint, plan, stats).await?.tokens)
}

/// What every phone of a fleet has.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// How many phones.
    pub count: usize,
    /// Their UDIDs are `{prefix}-{n:06}`.
    pub prefix: &'a str,
    /// Installed apps.
    pub apps: &'a [(String, Environment)],
    /// Live Activity types (bundle, attributes type), one activity of each started.
    pub activity_types: &'a [(String, String)],
    /// The broadcast channel those activities listen to, if any.
    pub channel: Option<&'a str>,
    /// Web apps on the Home Screen (origin, application server key), each subscribed.
    pub web_apps: &'a [(String, String)],
    /// Apps' own logic (bundle ID or web origin, handler): a URL is shared by every
    /// phone; a command is started once per phone.
    pub handlers: &'a [(String, crate::Target)],
    /// The budgets iOS holds those handlers to.
    pub rules: crate::Rules,
    /// PEM roots trusted for `https://` handlers.
    pub handler_ca: Option<&'a str>,
}

/// What a fleet's phones hold once online.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    /// Device tokens and activity tokens.
    pub tokens: Vec<FleetToken>,
    /// Web Push subscriptions: the phone, and the subscription its web app made.
    pub subscriptions: Vec<(String, protocol::gateway::PushSubscription)>,
}

/// Brings up the phones of `plan`; answers what they hold once all are online.
pub async fn start_plan(endpoint: Endpoint, plan: Plan<'_>, stats: Arc<FleetStats>) -> Result<Fleet, Error> {
    let Plan { count, prefix, apps, activity_types, channel, web_apps, handlers, rules, handler_ca } = plan;
    let handler_ca = handler_ca.map(str::to_owned);
    let web_apps = web_apps.to_vec();
    let handlers = handlers.to_vec();
    let tokens = Arc::new(Mutex::new(Fleet::default()));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<Result<(), Error>>(count.max(1));
    // Bring phones up a few hundred at a time: each is a TLS handshake and a few calls.
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    for n in 0..count {
        let (endpoint, apps, stats, tokens, ready_tx, gate) =
            (endpoint.clone(), apps.to_vec(), stats.clone(), tokens.clone(), ready_tx.clone(), gate.clone());
        let (activity_types, web_apps, handlers) = (activity_types.to_vec(), web_apps.clone(), handlers.clone());
        let handler_ca = handler_ca.clone();
        let channel = channel.map(str::to_owned);
        let udid = format!("{prefix}-{n:06}");
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let setup = async {
                let mut device = Device::activate(endpoint, Some(udid)).await?;
                device.rules = rules;
                for (bundle, env) in &apps {
                    device.install(bundle.clone(), *env);
                }
                for (app, target) in handlers {
                    device.set_handler(app, crate::Handler::new(target, handler_ca.clone()));
                }
                let mut gw = device.connect().await?;
                let registered = device.register_apps(&mut gw).await?;
                let mut mine: Vec<FleetToken> = registered
                    .into_iter()
                    .map(|r| FleetToken {
                        udid: device.udid.clone(),
                        bundle_id: r.bundle_id,
                        token: r.token,
                        kind: None,
                    })
                    .collect();
                for (bundle, kind) in &activity_types {
                    device.declare_activity_type(&mut gw, bundle, kind).await?;
                    // A channel activity has no token of its own: broadcasts reach it.
                    if let Some(c) = &channel {
                        device.start_channel_activity(&mut gw, bundle, kind, c).await?;
                        continue;
                    }
                    let t =
                        device.start_activity(&mut gw, bundle, kind, Default::default(), Default::default()).await?;
                    mine.push(FleetToken {
                        udid: device.udid.clone(),
                        bundle_id: t.bundle_id,
                        token: t.token,
                        kind: Some(t.kind),
                    });
                }
                let mut subscriptions = Vec::with_capacity(web_apps.len());
                for (origin, key) in &web_apps {
                    let subscription = device.subscribe_web_app(&mut gw, origin, None, key).await?;
                    subscriptions.push((device.udid.clone(), subscription));
                }
                let stream = gw.notifications().await?;
                let acks = gw.ack_sink().await?;
                let mut t = tokens.lock().await;
                t.tokens.extend(mine);
                t.subscriptions.extend(subscriptions);
                Ok::<_, Error>((device, gw, stream, acks))
            };
            let result = setup.await;
            drop(permit);
            let (mut device, _gw, mut stream, mut acks) = match result {
                Ok(x) => {
                    let _ = ready_tx.send(Ok(())).await;
                    x
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e)).await;
                    return;
                }
            };
            drop(ready_tx);
            let with_handlers = device.has_handlers();
            while let Some(Ok(delivery)) = stream.next().await {
                if delivery.clock {
                    device.observe_clock(delivery.received_ms);
                    continue;
                }
                let received_ms = delivery.received_ms;
                let r = match (delivery.response.is_some(), with_handlers) {
                    (true, _) => device.respond(delivery).await,
                    (false, false) => device.handle(delivery),
                    (false, true) => device.handle_with_apps(delivery).await,
                };
                if r.decision.is_some() {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    let latency = now_ms().saturating_sub(received_ms).min(u32::MAX as u64) as u32;
                    stats.latencies.lock().unwrap_or_else(|e| e.into_inner()).push(latency);
                }
                let ack = r.ack();
                // The phone keeps only the last few notifications in memory.
                device.center.items.truncate(8);
                if r.activity.is_some() {
                    device.activities.tick(device.now_secs());
                }
                if acks.send(&ack).is_err() {
                    break;
                }
            }
        });
    }
    drop(ready_tx);
    for _ in 0..count {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    let out = std::mem::take(&mut *tokens.lock().await);
    Ok(out)
}
