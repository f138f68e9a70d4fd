//! The device gateway: the persistent connection APNs keeps to every device, over TLS +
//! HTTP/2. A device activates once and gets a device identity certificate from the
//! mock's CA with its UDID in it; every later call is authenticated by that certificate,
//! so a device can only register its own apps and read its own notifications.
//!
//! Calls (messages in `protocol::gateway`): `POST /gateway/v1/activate`,
//! `POST /gateway/v1/apps` (step 2: UDID + bundle ID → token), `GET
//! /gateway/v1/notifications` (a stream of notifications that stays open: step 5), and
//! `POST /gateway/v1/acks` (what the app did with each: a JSON array, or NDJSON on a
//! request body the phone keeps open), and for Live Activities `POST
//! /gateway/v1/push-to-start`, `POST /gateway/v1/activities` and `POST
//! /gateway/v1/activities/end`. Opening the stream is the device
//! coming online; losing it is the device going offline, so pushes meanwhile are stored.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use h2::RecvStream;
use h2::server::SendResponse;
use http::{Method, Request, Response, StatusCode};
use protocol::gateway::{
    Ack, Activate, Activation, ActivityToken, DeclareActivityType, EndActivity, HandedOver, RegisterApp, Registered,
    StartActivity,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::Room;
use super::activities::{NewActivity, NewActivityType};
use super::operations::{Lifecycle, NewApp, NewDevice};
use super::web_apps;
use crate::devices::delivery::{DeviceStream, Event};
use crate::error::Error;
use crate::observe::misbehaviour::Kind;
use crate::observe::registrations::HandOver;

/// The largest request body the gateway reads.
const MAX_BODY: usize = 1 << 20;

/// Which devices have their notification stream open, by device slot: the push path
/// asks this to decide between delivering and storing.
#[derive(Default)]
pub(crate) struct Connections {
    by_device: DashMap<u32, u64>,
}

impl Connections {
    /// Whether the device (slot) has its stream open.
    pub(crate) fn is_connected(&self, device: u32) -> bool {
        self.by_device.contains_key(&device)
    }

    /// How many devices have their stream open.
    pub(crate) fn count(&self) -> usize {
        self.by_device.len()
    }
}

/// Streams a peer without a device certificate may have open at once: activation takes one.
pub(crate) const ANONYMOUS_STREAMS: u32 = 4;
/// Streams an activated device may have open at once (its notification stream, its ack
/// stream, and calls).
pub(crate) const DEVICE_STREAMS: u32 = 64;
/// The largest header list the gateway takes (its calls need a few hundred bytes).
pub(crate) const MAX_HEADER_LIST: u32 = 8 << 10;

/// Serves the gateway until `shutdown` fires. Bounded: connections
/// (`max_device_connections`), the TLS and HTTP/2 handshakes (`handshake_timeout`),
/// concurrent streams ([`ANONYMOUS_STREAMS`] before activation, [`DEVICE_STREAMS`] after),
/// header lists ([`MAX_HEADER_LIST`]), bodies ([`MAX_BODY`], read within `body_timeout`).
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Room>,
    shutdown: watch::Receiver<bool>,
) {
    let (max, stop) = (shared.state.config.max_device_connections, shutdown.clone());
    crate::accept::accept_loop(listener, "gateway", max, stop, |tcp, _| {
        let _ = tcp.set_nodelay(true);
        serve_phone(tcp, acceptor.clone(), shared.clone(), shutdown.clone())
    })
    .await;
}

/// One phone's connection: TLS (its certificate, if any, says which device), HTTP/2,
/// then each request in a task of its own until the phone or shutdown ends it.
async fn serve_phone(tcp: TcpStream, acceptor: TlsAcceptor, shared: Arc<Room>, mut shutdown: watch::Receiver<bool>) {
    // The handshakes are boxed: their state is given back when they end instead of
    // staying in the task as long as the phone is connected.
    let tls = match Box::pin(tokio::time::timeout(shared.state.config.handshake_timeout, acceptor.accept(tcp))).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return shared.observe.misbehaviour.report(Kind::TlsHandshake, &format_args!("gateway: {e}")),
        Err(_) => return shared.observe.misbehaviour.report(Kind::HandshakeTimeout, &"gateway: TLS"),
    };
    // By value: a local borrowed here would keep its place in the task after it moved
    // into the HTTP/2 connection, and the TLS stream would be held twice.
    let (tls, udid) = identify(tls);
    let streams = if udid.is_some() { DEVICE_STREAMS } else { ANONYMOUS_STREAMS };
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(streams)
        .max_header_list_size(MAX_HEADER_LIST)
        .handshake::<_, Bytes>(tls);
    let mut conn = match Box::pin(tokio::time::timeout(shared.state.config.handshake_timeout, handshake)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return shared.observe.misbehaviour.report(Kind::Http2, &format_args!("gateway: {e}")),
        Err(_) => return shared.observe.misbehaviour.report(Kind::HandshakeTimeout, &"gateway: HTTP/2"),
    };
    loop {
        tokio::select! {
            next = conn.accept() => match next {
                Some(Ok((req, respond))) => spawn_request(&shared, &udid, req, respond, &shutdown),
                _ => return,
            },
            _ = shutdown.changed() => {
                conn.graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(2), std::future::poll_fn(|cx| conn.poll_closed(cx))).await;
                return;
            }
        }
    }
}

/// The device a phone's certificate names, if it showed one.
fn identify(tls: TlsStream<TcpStream>) -> (TlsStream<TcpStream>, Option<String>) {
    let udid =
        tls.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(|c| crate::tls::device_udid(c.as_ref()));
    (tls, udid)
}

/// Gives a request its task. The notification stream and the ack stream stay open as
/// long as the phone is connected, so each gets a task only as big as it needs rather
/// than one as big as the largest route's.
fn spawn_request(
    shared: &Arc<Room>,
    udid: &Option<String>,
    req: Request<RecvStream>,
    respond: SendResponse<Bytes>,
    shutdown: &watch::Receiver<bool>,
) {
    match (udid, req.method(), req.uri().path()) {
        (Some(udid), &Method::GET, "/gateway/v1/notifications") => {
            tokio::spawn(stream(shared.clone(), udid.clone(), respond, shutdown.clone()));
        }
        (Some(udid), &Method::POST, "/gateway/v1/acks") => {
            tokio::spawn(acks(shared.clone(), udid.clone(), req.into_body(), respond));
        }
        _ => {
            tokio::spawn(handle(shared.clone(), udid.clone(), req, respond));
        }
    }
}

fn reply(respond: &mut SendResponse<Bytes>, status: StatusCode, body: Option<Vec<u8>>) {
    let builder = Response::builder().status(status);
    match body {
        None => {
            let _ = respond.send_response(builder.body(()).expect("valid status"), true);
        }
        Some(body) => {
            let response =
                builder.header(http::header::CONTENT_TYPE, "application/json").body(()).expect("valid header");
            if let Ok(mut stream) = respond.send_response(response, false) {
                let _ = stream.send_data(Bytes::from(body), true);
            }
        }
    }
}

fn error_body(message: impl std::fmt::Display) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(&serde_json::json!({ "error": message.to_string() })).unwrap_or_default())
}

fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Invalid(_) | Error::BadKey(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn read_body(mut body: RecvStream) -> Option<Bytes> {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.ok()?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if out.len() + chunk.len() > MAX_BODY {
            return None;
        }
        out.extend_from_slice(&chunk);
    }
    Some(out.freeze())
}

/// A request body, whole within `body_timeout` and at most [`MAX_BODY`] bytes.
async fn read_body_within(shared: &Room, body: RecvStream) -> Result<Bytes, (StatusCode, &'static str)> {
    match tokio::time::timeout(shared.state.config.body_timeout, read_body(body)).await {
        Ok(Some(body)) => Ok(body),
        Ok(None) => Err((StatusCode::PAYLOAD_TOO_LARGE, "body too large")),
        Err(_) => Err((StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time")),
    }
}

/// One gateway call: parse → authenticate → apply → respond. The notification and ack
/// streams of a device are not here: `spawn_request` gives them tasks of their own.
async fn handle(shared: Arc<Room>, udid: Option<String>, req: Request<RecvStream>, mut respond: SendResponse<Bytes>) {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if parts.method == Method::POST && path == "/gateway/v1/activate" {
        let body = match read_body_within(&shared, body).await {
            Ok(body) => body,
            Err((status, why)) => return reply(&mut respond, status, error_body(why)),
        };
        let activate: Activate = if body.is_empty() {
            Activate::default()
        } else {
            match serde_json::from_slice(&body) {
                Ok(a) => a,
                Err(e) => return reply(&mut respond, StatusCode::BAD_REQUEST, error_body(format!("bad JSON: {e}"))),
            }
        };
        return match activate_device(&shared, activate).await {
            Ok(a) => reply(&mut respond, StatusCode::OK, serde_json::to_vec(&a).ok()),
            Err(e) => reply(&mut respond, status_of(&e), error_body(e)),
        };
    }
    // Everything else is the device's own business: its certificate says which device.
    let Some(udid) = udid else {
        return reply(
            &mut respond,
            StatusCode::UNAUTHORIZED,
            error_body("a device identity certificate is required (POST /gateway/v1/activate first)"),
        );
    };
    match (&parts.method, path.as_str()) {
        (&Method::POST, "/gateway/v1/apps") => {
            let body = match read_body_within(&shared, body).await {
                Ok(body) => body,
                Err((status, why)) => return reply(&mut respond, status, error_body(why)),
            };
            let app: RegisterApp = match serde_json::from_slice(&body) {
                Ok(a) => a,
                Err(e) => return reply(&mut respond, StatusCode::BAD_REQUEST, error_body(format!("bad JSON: {e}"))),
            };
            match register(&shared, &udid, app).await {
                Ok(r) => reply(&mut respond, StatusCode::OK, serde_json::to_vec(&r).ok()),
                Err(e) => reply(&mut respond, status_of(&e), error_body(e)),
            }
        }
        (&Method::POST, "/gateway/v1/push-to-start" | "/gateway/v1/activities" | "/gateway/v1/activities/end") => {
            let body = match read_body_within(&shared, body).await {
                Ok(body) => body,
                Err((status, why)) => return reply(&mut respond, status, error_body(why)),
            };
            match activity_call(&shared, &udid, &path, &body).await {
                Ok(Some(token)) => reply(&mut respond, StatusCode::OK, serde_json::to_vec(&token).ok()),
                Ok(None) => reply(&mut respond, StatusCode::NO_CONTENT, None),
                Err(e) => reply(&mut respond, status_of(&e), error_body(e)),
            }
        }
        (&Method::POST, "/gateway/v1/handed-over") => {
            let body = match read_body_within(&shared, body).await {
                Ok(body) => body,
                Err((status, why)) => return reply(&mut respond, status, error_body(why)),
            };
            let told: HandedOver = match serde_json::from_slice(&body) {
                Ok(t) => t,
                Err(e) => return reply(&mut respond, StatusCode::BAD_REQUEST, error_body(format!("bad JSON: {e}"))),
            };
            let step = HandOver {
                time_ms: shared.state.clock.unix_millis(),
                provider: told.provider,
                accepted: told.accepted,
                error: told.error,
            };
            match shared.observe.registrations.handed_over(&udid, &told.bundle_id, &told.token, step) {
                Some(noted) => {
                    shared.observe.live.registration(&noted);
                    reply(&mut respond, StatusCode::NO_CONTENT, None)
                }
                None => reply(
                    &mut respond,
                    StatusCode::NOT_FOUND,
                    error_body(format!("{} was not given that token here", told.bundle_id)),
                ),
            }
        }
        (&Method::POST, "/gateway/v1/web-apps" | "/gateway/v1/web-apps/remove") => {
            let body = match read_body_within(&shared, body).await {
                Ok(body) => body,
                Err((status, why)) => return reply(&mut respond, status, error_body(why)),
            };
            match web_app_call(&shared, &udid, &path, &body).await {
                Ok((status, view)) => reply(&mut respond, status, serde_json::to_vec(&view).ok()),
                Err(e) => reply(&mut respond, status_of(&e), error_body(e)),
            }
        }
        _ => {
            reply(&mut respond, StatusCode::NOT_FOUND, error_body(format!("no gateway route {} {path}", parts.method)))
        }
    }
}

/// A web app on the phone subscribes, or leaves the Home Screen: the admin API's calls,
/// made by the phone itself.
async fn web_app_call(
    shared: &Room,
    udid: &str,
    path: &str,
    body: &[u8],
) -> Result<(StatusCode, serde_json::Value), Error> {
    let listener = shared.webpush_url.get().cloned().unwrap_or_default();
    let bad = |e: serde_json::Error| Error::Invalid(format!("bad JSON: {e}"));
    if path == "/gateway/v1/web-apps" {
        let new: protocol::gateway::SubscribeWebApp = serde_json::from_slice(body).map_err(bad)?;
        let phone_keys = match new.keys {
            Some(k) => {
                let decode = |v: &str| protocol::webpush::base64url(v).unwrap_or_default();
                Some((decode(&k.p256dh), decode(&k.auth)))
            }
            None => None,
        };
        let new = web_apps::NewWebApp {
            origin: new.origin,
            name: new.name,
            application_server_key: new.application_server_key,
            phone_keys,
        };
        let subscription = shared.add_web_app(udid, new).await?;
        let view = web_apps::view(&subscription, &listener);
        return Ok((StatusCode::CREATED, serde_json::to_value(view).unwrap_or_default()));
    }
    let gone: protocol::gateway::RemoveWebApp = serde_json::from_slice(body).map_err(bad)?;
    let ended = shared.remove_web_app(udid, &gone.origin, crate::registry::web::Ended::Removed).await?;
    let views: Vec<_> = ended.iter().map(|s| web_apps::view(s, &listener)).collect();
    Ok((StatusCode::OK, serde_json::to_value(views).unwrap_or_default()))
}

/// `POST /gateway/v1/acks`: 204 once every ack is taken, 400 and why otherwise.
async fn acks(shared: Arc<Room>, udid: String, body: RecvStream, mut respond: SendResponse<Bytes>) {
    match read_acks(&shared, &udid, body).await {
        Ok(()) => reply(&mut respond, StatusCode::NO_CONTENT, None),
        Err(message) => reply(&mut respond, StatusCode::BAD_REQUEST, error_body(message)),
    }
}

/// Acks come as a JSON array, or as one JSON object per line on a request body the
/// phone keeps open (one DATA frame per ack instead of one request). Each is handed to
/// the engine as soon as its line is complete.
async fn read_acks(shared: &Room, udid: &str, mut body: RecvStream) -> Result<(), String> {
    let device = shared.registry.table.device_slot(udid).ok_or_else(|| format!("no device {udid}"))?;
    let mut buf = BytesMut::new();
    let mut array = None;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        let _ = body.flow_control().release_capacity(chunk.len());
        buf.extend_from_slice(&chunk);
        if array.is_none()
            && let Some(first) = buf.iter().find(|b| !b.is_ascii_whitespace())
        {
            array = Some(*first == b'[');
        }
        if array == Some(true) {
            if buf.len() > MAX_BODY {
                return Err("body too large".into());
            }
            continue;
        }
        while let Some(at) = buf.iter().position(|b| *b == b'\n') {
            let line = buf.split_to(at + 1);
            let line = line[..at].trim_ascii();
            if line.is_empty() {
                continue;
            }
            let ack: Ack = serde_json::from_slice(line).map_err(|e| format!("bad ack line: {e}"))?;
            let _ = shared.engine.send(Event::Acked { device, ack }).await;
        }
        if buf.len() > MAX_BODY {
            return Err("ack line too long".into());
        }
    }
    let acks: Vec<Ack> = match array {
        Some(true) => serde_json::from_slice(&buf).map_err(|e| format!("bad JSON: {e}"))?,
        _ if buf.trim_ascii().is_empty() => Vec::new(),
        _ => vec![serde_json::from_slice(buf.trim_ascii()).map_err(|e| format!("bad ack line: {e}"))?],
    };
    for ack in acks {
        let _ = shared.engine.send(Event::Acked { device, ack }).await;
    }
    Ok(())
}

async fn activate_device(shared: &Room, activate: Activate) -> Result<Activation, Error> {
    let device = shared.create_device(NewDevice { udid: activate.udid, apps: Vec::new() }).await?;
    let (cert_pem, key_pem) = shared.state.authority.issue_device_certificate(&device.udid)?;
    Ok(Activation { udid: device.udid, cert_pem, key_pem })
}

async fn register(shared: &Room, udid: &str, app: RegisterApp) -> Result<Registered, Error> {
    let request = NewDevice {
        udid: Some(udid.to_owned()),
        apps: vec![NewApp { bundle_id: app.bundle_id.clone(), environment: app.environment, team_id: None }],
    };
    let device = shared.create_device(request).await?;
    let view = device
        .apps
        .iter()
        .find(|a| a.bundle_id == app.bundle_id && a.environment == app.environment)
        .ok_or_else(|| Error::NotFound(format!("{} did not register", app.bundle_id)))?;
    let noted = shared.observe.registrations.registered(crate::observe::registrations::Registered {
        time_ms: shared.state.clock.unix_millis(),
        udid,
        bundle_id: &view.bundle_id,
        environment: view.environment,
        kind: "device",
        activity: None,
        token: &view.token,
        scope: shared.registry.table.scope(),
        device_generation: device.generation,
        install_generation: view.install_generation,
    });
    shared.observe.live.registration(&noted);
    Ok(Registered { bundle_id: view.bundle_id.clone(), environment: view.environment, token: view.token.clone() })
}

/// The Live Activity calls: declare an attributes type (its push-to-start token), start
/// an activity (its update token), end one.
async fn activity_call(shared: &Room, udid: &str, path: &str, body: &[u8]) -> Result<Option<ActivityToken>, Error> {
    let bad = |e: serde_json::Error| Error::Invalid(format!("bad JSON: {e}"));
    let view = match path {
        "/gateway/v1/push-to-start" => {
            let d: DeclareActivityType = serde_json::from_slice(body).map_err(bad)?;
            let req = NewActivityType {
                bundle_id: d.bundle_id,
                environment: d.environment,
                attributes_type: d.attributes_type,
            };
            shared.declare_activity_type(udid, req).await?
        }
        "/gateway/v1/activities" => {
            let s: StartActivity = serde_json::from_slice(body).map_err(bad)?;
            let req = NewActivity {
                bundle_id: s.bundle_id,
                environment: s.environment,
                attributes_type: s.attributes_type,
                activity_id: Some(s.activity_id),
                channel: s.channel,
            };
            shared.start_activity(udid, req).await?
        }
        _ => {
            let e: EndActivity = serde_json::from_slice(body).map_err(bad)?;
            shared.end_activity(udid, &e.activity_id).await?;
            return Ok(None);
        }
    };
    // An activity that listens to a channel gets no token (the phone's pushTokenUpdates
    // never yields): nothing to draw, nothing to hand over.
    let Some(token) = view.token else { return Ok(None) };
    // Steps 1–2 for the flow: the inputs of a Live Activity token are its kind, the UDID,
    // the bundle ID, the attributes type or activity, and the two generations.
    let (kind, activity) = match view.kind {
        protocol::ActivityTokenKind::PushToStart => ("push-to-start", view.attributes_type.as_str()),
        protocol::ActivityTokenKind::Update => ("update", view.activity_id.as_deref().unwrap_or_default()),
    };
    let device = shared.device_view(udid)?;
    let install_generation =
        device.apps.iter().find(|a| a.bundle_id == view.bundle_id).map_or(0, |a| a.install_generation);
    let noted = shared.observe.registrations.registered(crate::observe::registrations::Registered {
        time_ms: shared.state.clock.unix_millis(),
        udid,
        bundle_id: &view.bundle_id,
        environment: view.environment,
        kind,
        activity: Some(activity),
        token: &token,
        scope: shared.registry.table.scope(),
        device_generation: device.generation,
        install_generation,
    });
    shared.observe.live.registration(&noted);
    Ok(Some(ActivityToken {
        bundle_id: view.bundle_id,
        environment: view.environment,
        kind: view.kind,
        attributes_type: view.attributes_type,
        activity_id: view.activity_id,
        token,
    }))
}

/// The notification stream: the device is online while it is open.
///
/// The delivery engine writes each notification straight into the stream (see
/// [`DeviceStream`]); this task only waits for the stream to end — the device resets it
/// or goes away, the engine drops it (the device's tokens changed, or it opened another),
/// or the mock shuts down — so a notification costs no wake-up of a task per device.
async fn stream(
    shared: Arc<Room>,
    udid: String,
    mut respond: SendResponse<Bytes>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(slot) = shared.registry.table.device_slot(&udid) else {
        return reply(&mut respond, StatusCode::NOT_FOUND, error_body(format!("no device {udid}")));
    };
    let response = Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/x-ndjson")
        .body(())
        .expect("valid header");
    let Ok(out) = respond.send_response(response, false) else { return };
    let conn = shared.observe.next_connection.fetch_add(1, Ordering::Relaxed);
    let (closer, mut closed) = tokio::sync::oneshot::channel();
    let out = Arc::new(std::sync::Mutex::new(out));
    shared.connections.by_device.insert(slot, conn);
    // Online first (APNs learns of uninstalls the device reports), then the engine sends
    // what waits for it.
    if let Err(e) = shared.lifecycle(&udid, Lifecycle::Online).await {
        tracing::warn!(%udid, error = %e, "device could not come online");
    }
    let stream = DeviceStream::new(conn, out.clone(), closer);
    let _ = shared.engine.send(Event::Connected { device: slot, udid: udid.clone(), stream }).await;
    let lock = || out.lock().unwrap_or_else(|e| e.into_inner());
    tokio::select! {
        _ = &mut closed => {},
        _ = std::future::poll_fn(|cx| lock().poll_reset(cx)) => {},
        _ = shutdown.changed() => {},
    }
    // End the stream cleanly, so the phone reads a close rather than a reset.
    let _ = lock().send_data(Bytes::new(), true);
    let _ = shared.engine.send(Event::Disconnected { device: slot, conn }).await;
    let still_ours = shared.connections.by_device.remove_if(&slot, |_, c| *c == conn).is_some();
    if still_ours && let Err(e) = shared.lifecycle(&udid, Lifecycle::Offline).await {
        tracing::warn!(%udid, error = %e, "device could not go offline");
    }
}
