//! A phone running in the foreground: activate, register every app (steps 1–2), hand
//! each token to the app's provider (step 3), then receive, present and acknowledge
//! notifications (step 5) for as long as it runs. When the gateway drops the stream —
//! the mock does that when an erase, restore or reinstall changed the phone's tokens —
//! the phone reconnects, registers again, and tells the provider about new tokens.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use protocol::{Environment, Lang, t};
use serde::Serialize;

use crate::activity::Change;
use crate::{Device, Endpoint, Error};

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

/// What a web app hands its server in step 3: its `PushSubscription`, and the phone and
/// web app it came from. Sent to the same URL as [`TokenRegistration`]; `subscription`
/// says it is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebRegistration {
    /// The device.
    pub udid: String,
    /// The web app's origin.
    pub origin: String,
    /// `PushSubscription.toJSON()`.
    pub subscription: protocol::gateway::PushSubscription,
}

/// A web app added to the phone's Home Screen, which subscribes to Web Push once the
/// phone is online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAppSetup {
    /// Its origin, `https://host[:port]`.
    pub origin: String,
    /// Its name on the Home Screen (default: the origin's host).
    pub name: Option<String>,
    /// Its server's VAPID public key, base64url.
    pub application_server_key: String,
    /// Its own service worker's `push` handler, if it has one.
    pub handler: Option<crate::Target>,
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

pub use crate::narrate::{describe, describe_in};

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
    /// The app's own logic ([`crate::app`]), if it has any.
    pub handler: Option<crate::Target>,
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
            handler: None,
        }
    }
}

/// Which token an app hands its provider, for the narration.
#[derive(Clone, Copy)]
enum Kind {
    Device,
    PushToStart,
    Activity,
}

impl Kind {
    fn name(self, lang: Lang) -> &'static str {
        match self {
            Kind::Device => lang.pick("token", "设备令牌"),
            Kind::PushToStart => lang.pick("push-to-start token", "推送启动令牌"),
            Kind::Activity => lang.pick("activity token", "实时活动令牌"),
        }
    }
}

/// The token an app hands over in step 3.
struct Handed<'a> {
    app: &'a str,
    environment: Environment,
    token: &'a str,
}

/// Step 3: hands a token to the provider (when there is one) and says so, then tells the
/// gateway how it went — the simulator's report, from which the dashboard draws step 3
/// (a phone that cannot say so still works).
async fn report(
    lang: Lang,
    provider: Option<&str>,
    reg: &impl Serialize,
    kind: Kind,
    handed: Handed<'_>,
    gw: &mut crate::Gateway,
    say: &mut impl FnMut(String),
) {
    let Some(url) = provider else { return };
    let (app, what) = (handed.app, kind.name(lang));
    let outcome = match post_json("provider", url, reg).await {
        Ok(_) => {
            say(t!(
                lang,
                "[3] {app} sent its {what} to the provider at {url}",
                "[3] {app} 把它的{what}发给了提供者服务器 {url}"
            ));
            Ok(())
        }
        Err(e) => {
            say(t!(
                lang,
                "[3] {app} could not give its {what} to the provider: {e}",
                "[3] {app} 无法把{what}交给提供者服务器：{e}"
            ));
            Err(e.to_string())
        }
    };
    let told = protocol::gateway::HandedOver {
        bundle_id: app.to_owned(),
        environment: handed.environment,
        token: handed.token.to_owned(),
        provider: url.to_owned(),
        accepted: outcome.is_ok(),
        error: outcome.err(),
    };
    let _ = gw.handed_over(&told).await;
}

/// A Live Activity token as its app's handler gets it.
fn token_event(name: &str, reg: &ActivityRegistration) -> serde_json::Value {
    let mut event = serde_json::to_value(reg).unwrap_or_default();
    event["event"] = name.into();
    event
}

/// Step 3 in the app's own code: hands a new token to the app's handler, if it has one,
/// so it can post it to its backend; says how that went.
async fn to_app(lang: Lang, device: &mut Device, app: &str, event: serde_json::Value, say: &mut impl FnMut(String)) {
    let name = event["event"].as_str().unwrap_or_default().to_owned();
    match device.hand_token(app, event).await {
        None => {}
        Some(Ok(())) => say(t!(
            lang,
            "[3] {app} handed its token to its own code ({name})",
            "[3] {app} 把令牌交给了它自己的代码（{name}）"
        )),
        Some(Err(e)) => {
            say(t!(lang, "[3] {app}'s own code failed on {name}: {e}", "[3] {app} 自己的代码在 {name} 中失败：{e}"))
        }
    }
}

/// Steps 1–3 for a web app: it subscribes, Apple's push service issues an endpoint, and
/// the web app hands its subscription to its server (when it is new).
async fn subscribe(
    lang: Lang,
    device: &mut Device,
    web: &WebAppSetup,
    known: &mut Option<String>,
    provider: Option<&str>,
    gw: &mut crate::Gateway,
    say: &mut impl FnMut(String),
) -> Result<(), Error> {
    let origin = &web.origin;
    if known.is_none() {
        say(t!(
            lang,
            "[1] web app {origin} asks to subscribe to push (PushManager.subscribe)",
            "[1] 网页应用 {origin} 请求订阅推送（PushManager.subscribe）"
        ));
    }
    let key = &web.application_server_key;
    let subscription = device.subscribe_web_app(gw, origin, web.name.as_deref(), key).await?;
    if known.as_deref() == Some(subscription.endpoint.as_str()) {
        return Ok(());
    }
    let endpoint = &subscription.endpoint;
    say(t!(
        lang,
        "[2] Apple's Web Push service issued endpoint {endpoint} for {origin}",
        "[2] Apple 的 Web 推送服务为 {origin} 签发了端点 {endpoint}"
    ));
    *known = Some(endpoint.clone());
    let Some(url) = provider else { return Ok(()) };
    let registration = WebRegistration { udid: device.udid.clone(), origin: origin.clone(), subscription };
    say(match post_json("provider", url, &registration).await {
        Ok(_) => t!(
            lang,
            "[3] {origin} sent its subscription to its server at {url}",
            "[3] {origin} 把它的订阅发给了服务器 {url}"
        ),
        Err(e) => t!(
            lang,
            "[3] {origin} could not give its subscription to its server: {e}",
            "[3] {origin} 无法把订阅交给服务器：{e}"
        ),
    });
    Ok(())
}

/// Stops the stream's reader when the connection it belongs to is done with.
struct Reader(tokio::task::JoinHandle<()>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the notification stream in a task: lines saying APNs's clock moved set `clock`;
/// everything else comes out of the receiver, which ends with the stream.
fn read_stream(
    mut stream: crate::Notifications,
    clock: std::sync::Arc<tokio::sync::watch::Sender<i64>>,
) -> (tokio::sync::mpsc::Receiver<Result<protocol::gateway::Delivery, Error>>, Reader) {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(async move {
        while let Some(line) = stream.next().await {
            match line {
                Ok(d) if d.clock => {
                    clock.send_replace(crate::device::offset_at(d.received_ms));
                }
                other => {
                    if tx.send(other).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    (rx, Reader(task))
}

/// Says what the clock did to the phone's activities, and tells APNs of the ends.
async fn tick(
    lang: Lang,
    device: &mut Device,
    gw: &mut crate::Gateway,
    say: &mut impl FnMut(String),
) -> Result<(), Error> {
    let now = device.now_secs();
    for change in device.activities.tick(now) {
        match &change {
            Change::Ended { id, by_system: true } => {
                say(t!(
                    lang,
                    "[5] Live Activity {id} ended by the system after 8 hours; APNs is told",
                    "[5] 实时活动 {id} 在 8 小时后被系统结束；已告知 APNs"
                ));
                device.report_end(gw, id).await?;
            }
            Change::Updated { id, .. } => say(t!(
                lang,
                "[5] Live Activity {id}: the deferred priority-10 update is applied",
                "[5] 实时活动 {id}：推迟的优先级 10 更新现已应用"
            )),
            Change::Dismissed { id } => {
                say(t!(lang, "[5] Live Activity {id} left the Lock Screen", "[5] 实时活动 {id} 已离开锁定屏幕"))
            }
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
    say: impl FnMut(String),
) -> Result<(), Error> {
    run_in(Lang::En, endpoint, udid, apps, provider, say).await
}

/// [`run`], narrating in `lang`.
pub async fn run_in(
    lang: Lang,
    endpoint: Endpoint,
    udid: Option<String>,
    apps: Vec<AppSetup>,
    provider: Option<String>,
    say: impl FnMut(String),
) -> Result<(), Error> {
    run_phone(lang, endpoint, udid, apps, Vec::new(), provider, say).await
}

/// [`run_in`], with web apps on the Home Screen that subscribe to Web Push and hand
/// their subscriptions to the provider.
pub async fn run_phone(
    lang: Lang,
    endpoint: Endpoint,
    udid: Option<String>,
    apps: Vec<AppSetup>,
    web_apps: Vec<WebAppSetup>,
    provider: Option<String>,
    say: impl FnMut(String),
) -> Result<(), Error> {
    let phone = Phone { lang, udid, apps, web_apps, provider, rules: crate::Rules::default(), handler_ca: None };
    run_with(endpoint, phone, say).await
}

/// A phone to run: its apps and web apps, whom they hand tokens to, and the rules and
/// trust for the apps' handlers.
#[derive(Debug, Clone)]
pub struct Phone {
    /// The narration's language.
    pub lang: Lang,
    /// Its UDID (a new one when `None`).
    pub udid: Option<String>,
    /// Its apps.
    pub apps: Vec<AppSetup>,
    /// Web apps on its Home Screen.
    pub web_apps: Vec<WebAppSetup>,
    /// The provider URL apps hand their tokens to.
    pub provider: Option<String>,
    /// The budgets iOS holds handlers to.
    pub rules: crate::Rules,
    /// PEM roots trusted for `https://` handlers.
    pub handler_ca: Option<String>,
}

impl Phone {
    /// A phone with these apps, a new UDID, no web apps, no provider, iOS's default
    /// rules, narrating in English.
    pub fn new(apps: Vec<AppSetup>) -> Phone {
        Phone {
            lang: Lang::En,
            udid: None,
            apps,
            web_apps: Vec::new(),
            provider: None,
            rules: crate::Rules::default(),
            handler_ca: None,
        }
    }
}

/// Runs `phone` until the process stops.
pub async fn run_with(endpoint: Endpoint, phone: Phone, mut say: impl FnMut(String)) -> Result<(), Error> {
    let Phone { lang, udid, apps, web_apps, provider, rules, handler_ca } = phone;
    let mut device = Device::activate(endpoint, udid).await?;
    device.rules = rules;
    for app in &apps {
        if let Some(target) = &app.handler {
            device.set_handler(app.bundle_id.clone(), crate::Handler::new(target.clone(), handler_ca.clone()));
        }
    }
    for web in &web_apps {
        if let Some(target) = &web.handler {
            device.set_handler(web.origin.clone(), crate::Handler::new(target.clone(), handler_ca.clone()));
        }
    }
    say(t!(lang, "iPhone {} activated with the gateway", "iPhone {} 已通过网关激活", device.udid));
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
    let mut known_endpoints: Vec<Option<String>> = vec![None; web_apps.len()];
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = async {
            let mut gw = device.connect().await?;
            for app in &device.apps {
                say(t!(
                    lang,
                    "[1] {} asks to register for remote notifications",
                    "[1] {} 请求注册远程通知",
                    app.bundle_id
                ));
            }
            let registered = device.register_apps(&mut gw).await?;
            for (i, r) in registered.iter().enumerate() {
                let changed = known[i].as_deref() != Some(r.token.as_str());
                let (token, app, env) = (&r.token[..16], &r.bundle_id, r.environment);
                say(if known[i].is_none() {
                    t!(
                        lang,
                        "[2] APNs issued token {token}… for {app} ({env})",
                        "[2] APNs 为 {app}（{env}）签发了设备令牌 {token}…"
                    )
                } else if changed {
                    t!(
                        lang,
                        "[2] APNs issued a NEW token {token}… for {app} ({env})",
                        "[2] APNs 为 {app}（{env}）签发了一个新的设备令牌 {token}…"
                    )
                } else {
                    t!(
                        lang,
                        "[2] APNs confirmed token {token}… for {app} ({env})",
                        "[2] APNs 确认了 {app}（{env}）的设备令牌 {token}…"
                    )
                });
                if changed {
                    let reg = TokenRegistration {
                        udid: device.udid.clone(),
                        bundle_id: r.bundle_id.clone(),
                        environment: r.environment,
                        token: r.token.clone(),
                    };
                    let event = serde_json::json!({
                        "event": "didRegisterForRemoteNotifications", "bundleId": r.bundle_id,
                        "environment": r.environment, "deviceToken": r.token,
                    });
                    to_app(lang, &mut device, &r.bundle_id, event, &mut say).await;
                    let handed = Handed { app: &r.bundle_id, environment: r.environment, token: &r.token };
                    report(lang, provider.as_deref(), &reg, Kind::Device, handed, &mut gw, &mut say).await;
                }
                known[i] = Some(r.token.clone());
            }
            for t in device.declare_activity_types(&mut gw).await? {
                let new = !known_activity_tokens.contains(&t.token);
                let (token, app, kind) = (&t.token[..16], &t.bundle_id, &t.attributes_type);
                say(if new {
                    t!(
                        lang,
                        "[2] APNs issued push-to-start token {token}… for {app} ({kind})",
                        "[2] APNs 为 {app}（{kind}）签发了推送启动令牌 {token}…"
                    )
                } else {
                    t!(
                        lang,
                        "[2] APNs confirmed push-to-start token {token}… for {app} ({kind})",
                        "[2] APNs 确认了 {app}（{kind}）的推送启动令牌 {token}…"
                    )
                });
                if new {
                    let reg = ActivityRegistration::of(&device.udid, &t);
                    to_app(lang, &mut device, &t.bundle_id, token_event("pushToStartTokenUpdates", &reg), &mut say)
                        .await;
                    let handed = Handed { app: &t.bundle_id, environment: t.environment, token: &t.token };
                    report(lang, provider.as_deref(), &reg, Kind::PushToStart, handed, &mut gw, &mut say).await;
                    known_activity_tokens.push(t.token);
                }
            }
            for setup in apps.iter().filter(|_| !started_local) {
                for kind in &setup.start_activities {
                    let t = device
                        .start_activity(&mut gw, &setup.bundle_id, kind, Default::default(), Default::default())
                        .await?;
                    let id = t.activity_id.as_deref().unwrap_or_default();
                    let (app, token) = (&setup.bundle_id, &t.token[..16]);
                    say(t!(
                        lang,
                        "[5] {app} started Live Activity {id} ({kind}) on the Lock Screen",
                        "[5] {app} 在锁定屏幕上启动了实时活动 {id}（{kind}）"
                    ));
                    say(t!(
                        lang,
                        "[2] APNs issued update token {token}… for Live Activity {id}",
                        "[2] APNs 为实时活动 {id} 签发了更新令牌 {token}…"
                    ));
                    let reg = ActivityRegistration::of(&device.udid, &t);
                    to_app(lang, &mut device, &t.bundle_id, token_event("pushTokenUpdates", &reg), &mut say).await;
                    let handed = Handed { app: &t.bundle_id, environment: t.environment, token: &t.token };
                    report(lang, provider.as_deref(), &reg, Kind::Activity, handed, &mut gw, &mut say).await;
                }
            }
            for (web, known) in web_apps.iter().zip(known_endpoints.iter_mut()) {
                subscribe(lang, &mut device, web, known, provider.as_deref(), &mut gw, &mut say).await?;
            }
            started_local = true;
            let stream = gw.notifications().await?;
            let mut acks = gw.ack_sink().await?;
            // The stream is read by a task of its own, so a line saying APNs's clock moved
            // reaches the phone even while an app's handler is busy (its budget reads it).
            let (mut inbox, _reader) = read_stream(stream, device.clock());
            say(lang.pick("online: waiting for notifications", "在线：等待通知").to_owned());
            let mut clock = tokio::time::interval(Duration::from_secs(1));
            loop {
                // Reading the stream is safe to race against the clock; handling is not
                // (an app's handler may take its budget), so it happens outside the race.
                let next = tokio::select! {
                    d = inbox.recv() => d,
                    _ = clock.tick() => {
                        tick(lang, &mut device, &mut gw, &mut say).await?;
                        continue;
                    }
                };
                let Some(delivery) = next else { break };
                let r = device.take(delivery?, &mut acks).await?;
                say(describe_in(lang, &r));
                let settled = match &r.activity {
                    Some(change) => device.settle(&mut gw, change).await,
                    None => Ok(None),
                };
                let settled = settled.unwrap_or_else(|e| {
                    say(format!("[5] {e}"));
                    None
                });
                if let Some(t) = settled {
                    let (id, token) = (t.activity_id.as_deref().unwrap_or_default(), &t.token[..16]);
                    say(t!(
                        lang,
                        "[2] APNs issued update token {token}… for Live Activity {id}",
                        "[2] APNs 为实时活动 {id} 签发了更新令牌 {token}…"
                    ));
                    let reg = ActivityRegistration::of(&device.udid, &t);
                    to_app(lang, &mut device, &t.bundle_id, token_event("pushTokenUpdates", &reg), &mut say).await;
                    let handed = Handed { app: &t.bundle_id, environment: t.environment, token: &t.token };
                    report(lang, provider.as_deref(), &reg, Kind::Activity, handed, &mut gw, &mut say).await;
                }
            }
            Ok::<(), Error>(())
        };
        match attempt.await {
            Ok(()) => {
                say(lang
                    .pick("the gateway closed the stream; reconnecting", "网关关闭了通知流；正在重新连接")
                    .to_owned());
                backoff = Duration::from_millis(100);
            }
            Err(e) => {
                let ms = backoff.as_millis();
                say(t!(lang, "{e}; retrying in {ms} ms", "{e}；{ms} 毫秒后重试"));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
