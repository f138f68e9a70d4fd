//! A phone running in the foreground: activate, register every app (steps 1–2), hand
//! each token to the app's provider (step 3), then receive, present and acknowledge
//! notifications (step 5) for as long as it runs. When the gateway drops the stream —
//! the mock does that when an erase, restore or reinstall changed the phone's tokens —
//! the phone reconnects, registers again, and tells the provider about new tokens.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use protocol::Environment;
use protocol::gateway::Outcome;
use serde::Serialize;

use crate::activity::Change;
use crate::present::Shown;
use crate::{Device, Endpoint, Error, Received};

/// What an app hands its provider in step 3 (`POST` to the provider URL, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRegistration {
    /// The device.
    pub udid: String,
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The token APNs gave it.
    pub token: String,
}

/// What an app hands its provider for a Live Activity (step 3 again, for activities): a
/// push-to-start token, or a running activity's update token. Sent to the same URL as
/// [`TokenRegistration`], with `kind` saying which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityRegistration {
    /// The device.
    pub udid: String,
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The token APNs gave it.
    pub token: String,
    /// `push-to-start` or `update`.
    pub kind: protocol::ActivityTokenKind,
    /// The `ActivityAttributes` type.
    pub attributes_type: String,
    /// For an update token: the activity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<String>,
}

impl ActivityRegistration {
    /// The registration of a token APNs issued.
    pub fn of(udid: &str, token: &protocol::gateway::ActivityToken) -> ActivityRegistration {
        ActivityRegistration {
            udid: udid.to_owned(),
            bundle_id: token.bundle_id.clone(),
            environment: token.environment,
            token: token.token.clone(),
            kind: token.kind,
            attributes_type: token.attributes_type.clone(),
            activity_id: token.activity_id.clone(),
        }
    }
}

/// Sends one token to a provider (plain HTTP: `http://host:port/path`).
pub async fn send_token(provider: &str, registration: &TokenRegistration) -> Result<(), Error> {
    post_json("provider", provider, registration).await.map(|_| ())
}

/// `POST`s `body` as JSON to a plain-HTTP URL and returns the answer's body; an error
/// for a non-2xx status or no answer names `who` was asked (`provider`, `admin API`)
/// and the URL.
pub async fn post_json(who: &'static str, url: &str, body: &impl Serialize) -> Result<Bytes, Error> {
    let body = serde_json::to_vec(body).map_err(|e| Error::Protocol(e.to_string()))?;
    call(who, http::Method::POST, url, None, Some(body)).await
}

/// A plain-HTTP/1.1 request, with `Authorization: Bearer` when `bearer` is given and
/// a JSON body when `body` is; the answer's body, or an error naming `who` and the URL
/// for a non-2xx status or no answer.
pub async fn call(
    who: &'static str,
    method: http::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<Vec<u8>>,
) -> Result<Bytes, Error> {
    let uri: http::Uri = url.parse().map_err(|_| Error::Config(format!("{url:?} is not a URL")))?;
    if uri.scheme_str() != Some("http") {
        return Err(Error::Config(format!("{url:?} must be http://")));
    }
    let authority = uri.authority().ok_or_else(|| Error::Config(format!("{url:?} has no host")))?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let unreachable = |source| Error::Unreachable { who, url: url.to_owned(), source };
    let tcp = tokio::net::TcpStream::connect((authority.host(), port)).await.map_err(unreachable)?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .map_err(|e| Error::Protocol(e.to_string()))?;
    tokio::spawn(conn);
    let mut request =
        http::Request::builder().method(method).uri(uri.clone()).header(http::header::HOST, authority.as_str());
    if let Some(token) = bearer {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(http::header::CONTENT_TYPE, "application/json");
    }
    let request =
        request.body(Full::new(Bytes::from(body.unwrap_or_default()))).map_err(|e| Error::Config(e.to_string()))?;
    let response = send.send_request(request).await.map_err(|e| Error::Protocol(e.to_string()))?;
    let status = response.status().as_u16();
    let text = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(Error::Refused {
            who,
            url: url.to_owned(),
            status,
            message: String::from_utf8_lossy(&text).into_owned(),
        });
    }
    Ok(text)
}

/// How a notification looks on the phone, as one line for a terminal.
pub fn describe(r: &Received) -> String {
    let Some(decision) = &r.decision else {
        return format!("[5] {}: duplicate of {} dropped", r.delivery.topic, r.delivery.apns_id);
    };
    let app = decision.bundle_id.as_deref().unwrap_or(&r.delivery.topic);
    let mut how = if r.delivery.from_storage {
        " (stored while offline)".to_owned()
    } else if r.delivery.redelivered {
        " (redelivered)".to_owned()
    } else {
        String::new()
    };
    if r.replaced {
        how.push_str(&format!(
            ", replacing the earlier one with collapse id {}",
            r.delivery.collapse_id.as_deref().unwrap_or("")
        ));
    }
    let state = || {
        serde_json::from_str::<serde_json::Value>(r.delivery.payload.get())
            .ok()
            .and_then(|p| p["aps"].get("content-state").map(|s| s.to_string()))
            .unwrap_or_default()
    };
    let id = match &r.activity {
        Some(
            Change::Started { id, .. }
            | Change::Updated { id, .. }
            | Change::Ended { id, .. }
            | Change::Deferred { id, .. }
            | Change::Dismissed { id },
        ) => id.as_str(),
        None => "",
    };
    let lit = match &r.activity {
        Some(Change::Updated { alert: true, .. }) => " — the screen lights with its alert",
        _ => "",
    };
    match (decision.outcome, &decision.shown) {
        (Outcome::ActivityStarted, _) => {
            format!("[5] {app}: Live Activity {id} started by push, on the Lock Screen: {}{how}", state())
        }
        (Outcome::ActivityUpdated, _) if decision.reason.is_some() => {
            format!("[5] {app}: Live Activity {id} update {}{how}", decision.reason.as_deref().unwrap_or_default())
        }
        (Outcome::ActivityUpdated, _) => format!("[5] {app}: Live Activity {id} updated: {}{lit}{how}", state()),
        (Outcome::ActivityEnded, _) => format!("[5] {app}: Live Activity {id} ended: {}{how}", state()),
        (Outcome::Presented, Some(s)) => format!("[5] {app}: {}{how}", shown(s)),
        (Outcome::HandledSilently, _) => format!("[5] {app}: woken in the background, nothing shown{how}"),
        (Outcome::AppNotInstalled, _) => format!("[5] {}: no such app on this phone{how}", r.delivery.topic),
        (_, _) => format!("[5] {app}: not shown ({}){how}", decision.reason.as_deref().unwrap_or("discarded")),
    }
}

fn shown(s: &Shown) -> String {
    let mut parts = Vec::new();
    let text = [s.title.as_deref(), s.subtitle.as_deref(), s.body.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" — ");
    parts.push(if s.in_foreground {
        format!("to the app in the foreground: \"{text}\"")
    } else if s.banner {
        format!("banner \"{text}\"")
    } else {
        format!("in the notification center \"{text}\"")
    });
    if let Some(sound) = &s.sound {
        parts.push(format!("sound {sound}"));
    }
    if let Some(badge) = s.badge {
        parts.push(if badge == 0 { "badge cleared".into() } else { format!("badge {badge}") });
    }
    if let Some(t) = &s.thread_id {
        parts.push(format!("thread {t}"));
    }
    if s.interruption_level != "active" {
        parts.push(s.interruption_level.clone());
    }
    if s.via_service_extension {
        parts.push("via service extension".into());
    }
    parts.join(", ")
}

/// How one app is set up on a running phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSetup {
    /// The bundle ID.
    pub bundle_id: String,
    /// Its `aps-environment`.
    pub environment: Environment,
    /// Notification permission.
    pub authorization: crate::Authorization,
    /// Whether it is on screen.
    pub foreground: bool,
    /// Whether it has a Notification Service Extension.
    pub service_extension: bool,
    /// The `ActivityAttributes` types it declares (Live Activities it can run).
    pub activity_types: Vec<String>,
    /// Live Activities it starts itself once online, by type.
    pub start_activities: Vec<String>,
}

impl AppSetup {
    /// An app in the background with notifications allowed.
    pub fn new(bundle_id: impl Into<String>, environment: Environment) -> AppSetup {
        AppSetup {
            bundle_id: bundle_id.into(),
            environment,
            authorization: crate::Authorization::Granted,
            foreground: false,
            service_extension: false,
            activity_types: Vec::new(),
            start_activities: Vec::new(),
        }
    }
}

/// Hands a token to the provider (when there is one) and says so; answers how it went
/// (`None` when there is no provider).
async fn report(
    provider: Option<&str>,
    app: &str,
    reg: &impl Serialize,
    what: &str,
    say: &mut impl FnMut(String),
) -> Option<Result<(), String>> {
    let url = provider?;
    Some(match post_json("provider", url, reg).await {
        Ok(_) => {
            say(format!("[3] {app} sent its {what} to the provider at {url}"));
            Ok(())
        }
        Err(e) => {
            say(format!("[3] {app} could not give its {what} to the provider: {e}"));
            Err(e.to_string())
        }
    })
}

/// Says what the clock did to the phone's activities, and tells APNs of the ends.
async fn tick(device: &mut Device, gw: &mut crate::Gateway, say: &mut impl FnMut(String)) -> Result<(), Error> {
    let now = device.now_secs();
    for change in device.activities.tick(now) {
        match &change {
            Change::Ended { id, by_system: true } => {
                say(format!("[5] Live Activity {id} ended by the system after 8 hours; APNs is told"));
                device.report_end(gw, id).await?;
            }
            Change::Updated { id, .. } => {
                say(format!("[5] Live Activity {id}: the deferred priority-10 update is applied"))
            }
            Change::Dismissed { id } => say(format!("[5] Live Activity {id} left the Lock Screen")),
            _ => {}
        }
    }
    Ok(())
}

/// Runs a phone until the process stops.
pub async fn run(
    endpoint: Endpoint,
    udid: Option<String>,
    apps: Vec<AppSetup>,
    provider: Option<String>,
    mut say: impl FnMut(String),
) -> Result<(), Error> {
    let mut device = Device::activate(endpoint, udid).await?;
    say(format!("iPhone {} activated with the gateway", device.udid));
    for setup in &apps {
        let app = device.install(setup.bundle_id.clone(), setup.environment);
        app.state.authorization = setup.authorization;
        app.state.foreground = setup.foreground;
        app.state.service_extension = setup.service_extension;
        app.activity_types = setup.activity_types.iter().map(|t| (t.clone(), None)).collect();
    }
    let mut known_activity_tokens: Vec<String> = Vec::new();
    let mut started_local = false;
    let mut known: Vec<Option<String>> = vec![None; apps.len()];
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = async {
            let mut gw = device.connect().await?;
            for app in &device.apps {
                say(format!("[1] {} asks to register for remote notifications", app.bundle_id));
            }
            let registered = device.register_apps(&mut gw).await?;
            for (i, r) in registered.iter().enumerate() {
                let changed = known[i].as_deref() != Some(r.token.as_str());
                let what = if known[i].is_none() {
                    "issued"
                } else if changed {
                    "issued a NEW"
                } else {
                    "confirmed"
                };
                say(format!("[2] APNs {what} token {}… for {} ({})", &r.token[..16], r.bundle_id, r.environment));
                if changed {
                    let reg = TokenRegistration {
                        udid: device.udid.clone(),
                        bundle_id: r.bundle_id.clone(),
                        environment: r.environment,
                        token: r.token.clone(),
                    };
                    if let Some(outcome) = report(provider.as_deref(), &reg.bundle_id, &reg, "token", &mut say).await {
                        // The dashboard draws step 3 from this; a phone that cannot say so still works.
                        let told = protocol::gateway::HandedOver {
                            bundle_id: r.bundle_id.clone(),
                            environment: r.environment,
                            token: r.token.clone(),
                            provider: provider.clone().unwrap_or_default(),
                            accepted: outcome.is_ok(),
                            error: outcome.err(),
                        };
                        let _ = gw.handed_over(&told).await;
                    }
                }
                known[i] = Some(r.token.clone());
            }
            for t in device.declare_activity_types(&mut gw).await? {
                let new = !known_activity_tokens.contains(&t.token);
                let what = if new { "issued" } else { "confirmed" };
                say(format!(
                    "[2] APNs {what} push-to-start token {}… for {} ({})",
                    &t.token[..16],
                    t.bundle_id,
                    t.attributes_type
                ));
                if new {
                    let reg = ActivityRegistration::of(&device.udid, &t);
                    report(provider.as_deref(), &t.bundle_id, &reg, "push-to-start token", &mut say).await;
                    known_activity_tokens.push(t.token);
                }
            }
            for setup in apps.iter().filter(|_| !started_local) {
                for kind in &setup.start_activities {
                    let t = device
                        .start_activity(&mut gw, &setup.bundle_id, kind, Default::default(), Default::default())
                        .await?;
                    let id = t.activity_id.as_deref().unwrap_or_default();
                    say(format!("[5] {} started Live Activity {id} ({kind}) on the Lock Screen", setup.bundle_id));
                    say(format!("[2] APNs issued update token {}… for Live Activity {id}", &t.token[..16]));
                    let reg = ActivityRegistration::of(&device.udid, &t);
                    report(provider.as_deref(), &t.bundle_id, &reg, "activity token", &mut say).await;
                }
            }
            started_local = true;
            let mut stream = gw.notifications().await?;
            let mut acks = gw.ack_sink().await?;
            say("online: waiting for notifications".to_owned());
            let mut clock = tokio::time::interval(Duration::from_secs(1));
            loop {
                let received = tokio::select! {
                    r = device.receive(&mut stream, &mut acks) => r,
                    _ = clock.tick() => {
                        tick(&mut device, &mut gw, &mut say).await?;
                        continue;
                    }
                };
                let Some(r) = received else { break };
                let r = r?;
                say(describe(&r));
                let settled = match &r.activity {
                    Some(change) => device.settle(&mut gw, change).await,
                    None => Ok(None),
                };
                let settled = settled.unwrap_or_else(|e| {
                    say(format!("[5] {e}"));
                    None
                });
                if let Some(t) = settled {
                    let id = t.activity_id.as_deref().unwrap_or_default();
                    say(format!("[2] APNs issued update token {}… for Live Activity {id}", &t.token[..16]));
                    let reg = ActivityRegistration::of(&device.udid, &t);
                    report(provider.as_deref(), &t.bundle_id, &reg, "activity token", &mut say).await;
                }
            }
            Ok::<(), Error>(())
        };
        match attempt.await {
            Ok(()) => {
                say("the gateway closed the stream; reconnecting".to_owned());
                backoff = Duration::from_millis(100);
            }
            Err(e) => {
                say(format!("{e}; retrying in {} ms", backoff.as_millis()));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
