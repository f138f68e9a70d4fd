//! The dashboard's server side: the page itself (plain HTML/CSS/JS compiled into the
//! binary), the live event stream as server-sent events, and the console that sends a
//! push the way Apple's Push Notifications Console does — through the same validation
//! and delivery as a push that arrived over HTTP/2, signed with the mock's default key.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use protocol::{Environment, headers as h};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use super::Shared;
use crate::error::Error;
use crate::provider_api::conn::{ConnAuth, ConnState};
use crate::provider_api::push;

/// The page, served at `/`.
const PAGE: &str = include_str!("dashboard.html");

/// How often an idle event stream sends a comment, so a closed tab is noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// An admin response body: a whole JSON document, or an endless event stream.
pub(crate) enum AdminBody {
    /// The whole body at once.
    Full(Full<Bytes>),
    /// Chunks as they come; ends when the sender goes.
    Stream(mpsc::Receiver<Bytes>),
}

impl From<Bytes> for AdminBody {
    fn from(b: Bytes) -> Self {
        AdminBody::Full(Full::new(b))
    }
}

impl Body for AdminBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            AdminBody::Full(f) => Pin::new(f).poll_frame(cx),
            AdminBody::Stream(rx) => rx.poll_recv(cx).map(|chunk| chunk.map(|c| Ok(Frame::data(c)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            AdminBody::Full(f) => f.is_end_stream(),
            AdminBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            AdminBody::Full(f) => f.size_hint(),
            AdminBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// Where the page takes its first-paint state.
const INITIAL_STATE: &str = "/*INITIAL-STATE*/null";

/// `GET /`: the dashboard, with `state` (what it shows first) in it, so the first paint
/// is whole before the page makes a call.
pub(crate) fn page(state: &serde_json::Value) -> Response<AdminBody> {
    // In a <script> element, "</" could end it: JSON may escape the slash instead.
    let json = state.to_string().replace("</", "<\\/");
    let html = PAGE.replacen(INITIAL_STATE, &json, 1);
    Response::builder()
        .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(Bytes::from(html).into())
        .expect("static headers")
}

/// `GET /api/v1/stream`: what happens from now on, as server-sent events (`request`,
/// `journey`, `lifecycle`; `lagged` if this listener fell too far behind to see all).
pub(crate) fn stream(shared: &Arc<Shared>) -> Response<AdminBody> {
    let shared = shared.clone();
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut listener = shared.observe.live.subscribe();
        let events = &mut listener.rx;
        if tx.send(Bytes::from_static(b"retry: 1000\n: connected\n\n")).await.is_err() {
            return;
        }
        loop {
            let chunk = match tokio::time::timeout(KEEPALIVE, events.recv()).await {
                Ok(Ok(event)) => Bytes::from(event),
                Ok(Err(broadcast::error::RecvError::Lagged(missed))) => {
                    Bytes::from(format!("event: lagged\ndata: {{\"missed\":{missed}}}\n\n"))
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return,
                Err(_) => Bytes::from_static(b": keep-alive\n\n"),
            };
            if tx.send(chunk).await.is_err() {
                return; // The page went away.
            }
        }
    });
    Response::builder()
        .header(http::header::CONTENT_TYPE, "text/event-stream")
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(AdminBody::Stream(rx))
        .expect("static headers")
}

/// `POST /api/v1/console`: one push, as Apple's console sends it. Absent headers are
/// not sent, so APNs's defaults apply; `payload` is the raw text, so a malformed
/// payload gets APNs's answer to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsolePush {
    /// The device token, hex (absent for a broadcast).
    #[serde(default)]
    pub token: String,
    /// A broadcast channel: the push is a broadcast to it (`POST
    /// /4/broadcasts/apps/<topic>`) instead of a device push.
    #[serde(default)]
    pub channel_id: Option<String>,
    /// `sandbox` (default) or `production`.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// `apns-topic`: the app's bundle ID (plus a suffix for some push types).
    #[serde(default)]
    pub topic: Option<String>,
    /// `apns-push-type`.
    #[serde(default)]
    pub push_type: Option<String>,
    /// `apns-priority`.
    #[serde(default)]
    pub priority: Option<String>,
    /// `apns-expiration`.
    #[serde(default)]
    pub expiration: Option<String>,
    /// `apns-collapse-id`.
    #[serde(default)]
    pub collapse_id: Option<String>,
    /// `apns-id`.
    #[serde(default)]
    pub apns_id: Option<String>,
    /// The JSON payload, as typed. Over the admin API it may also be a JSON object (as
    /// `POST /api/v1/devices/{udid}/push` takes it), which is sent as compact JSON.
    #[serde(deserialize_with = "text_or_json")]
    pub payload: String,
}

/// A payload given as text (kept byte for byte, so a malformed one gets APNs's answer) or
/// as any other JSON value (sent as compact JSON).
pub(crate) fn text_or_json<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    })
}

/// What the console shows: APNs's answer and the same request as a curl command.
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleAnswer {
    /// The HTTP status APNs answered.
    pub status: u16,
    /// `apns-id`.
    pub apns_id: String,
    /// `apns-unique-id` (sandbox only).
    pub apns_unique_id: Option<String>,
    /// The error reason, if any.
    pub reason: Option<String>,
    /// For 410: when the token stopped being valid (milliseconds).
    pub timestamp: Option<u64>,
    /// The request as a curl command against the mock (with a fresh provider token).
    pub curl: String,
}

/// Sends a console push through the provider-API handler.
pub(crate) async fn console(shared: &Arc<Shared>, push: ConsolePush) -> Result<ConsoleAnswer, Error> {
    let env = push.environment.unwrap_or(Environment::Sandbox);
    let jwt = provider_token(shared)?;
    let broadcast_bundle = push
        .channel_id
        .as_ref()
        .map(|_| push.topic.as_deref().unwrap_or("").trim().trim_end_matches(".push-type.liveactivity").to_owned());
    if broadcast_bundle.is_none() && push.token.is_empty() {
        return Err(Error::Invalid("give a token (or a channel_id, for a broadcast)".into()));
    }
    let path = match &broadcast_bundle {
        Some(bundle) => format!("/4/broadcasts/apps/{bundle}"),
        None => format!("/3/device/{}", push.token),
    };
    let mut headers: Vec<(&str, String)> = vec![(h::AUTHORIZATION, format!("bearer {jwt}"))];
    if let Some(channel) = &push.channel_id {
        headers.push(("apns-channel-id", channel.clone()));
    }
    let topic = if broadcast_bundle.is_some() { &None } else { &push.topic };
    let optional = [
        (h::APNS_TOPIC, topic),
        (h::APNS_PUSH_TYPE, &push.push_type),
        (h::APNS_PRIORITY, &push.priority),
        (h::APNS_EXPIRATION, &push.expiration),
        (h::APNS_COLLAPSE_ID, &push.collapse_id),
        (h::APNS_ID, &push.apns_id),
    ];
    for (name, value) in optional {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            headers.push((name, v.to_owned()));
        }
    }
    let mut request = http::Request::builder().method(http::Method::POST).uri(&path);
    for (name, value) in &headers {
        request = request.header(*name, value);
    }
    let (parts, ()) =
        request.body(()).map_err(|e| Error::Invalid(format!("cannot send that request: {e}")))?.into_parts();

    let conn = ConnState {
        id: shared.observe.next_connection.fetch_add(1, Ordering::Relaxed),
        env,
        auth: ConnAuth::Token(std::sync::Mutex::new(None)),
        open: AtomicBool::new(false),
        limit: AtomicU32::new(1),
        in_flight: AtomicUsize::new(1),
        tap: Arc::default(),
        max_streams: 1,
        control: tokio::sync::mpsc::unbounded_channel().0,
        channels: false,
    };
    if broadcast_bundle.is_some() {
        let reply =
            crate::provider_api::broadcast::answer(shared, &conn, &parts, Bytes::from(push.payload.clone())).await;
        let reason = reply.body.as_ref().and_then(|b| b["reason"].as_str()).map(str::to_owned);
        return Ok(ConsoleAnswer {
            status: reply.status,
            apns_id: reply.request_id.hyphenated().to_string(),
            apns_unique_id: reply.unique_id.map(|u| u.to_string()),
            reason,
            timestamp: None,
            curl: curl_for(shared, env, &headers, &push.payload, &path),
        });
    }
    let answer = push::accept(shared, &conn, &parts, Bytes::from(push.payload.clone())).await;

    Ok(ConsoleAnswer {
        status: answer.status,
        apns_id: answer.apns_id.as_str().to_owned(),
        apns_unique_id: answer.unique_id.map(|u| u.to_string()),
        reason: answer.error.as_ref().map(|e| e.reason.to_string()),
        timestamp: answer.error.and_then(|e| e.timestamp),
        curl: curl_for(shared, env, &headers, &push.payload, &path),
    })
}

/// The request as a curl command: the mock's address stands in for Apple's host, so the
/// URL is the real one.
fn curl_for(shared: &Shared, env: Environment, headers: &[(&str, String)], payload: &str, path: &str) -> String {
    let host = shared.endpoint(env).map_or_else(|| "127.0.0.1:2197".to_owned(), |a| a.to_string());
    let apple_host = match env {
        Environment::Sandbox => "api.sandbox.push.apple.com",
        Environment::Production => "api.push.apple.com",
    };
    let mut curl = vec!["curl -v --http2 --cacert ca.pem".to_owned(), format!("--connect-to {apple_host}:443:{host}")];
    for (name, value) in headers {
        curl.push(format!("-H {}", shell_quote(&format!("{name}: {value}"))));
    }
    curl.push(format!("--data-binary {}", shell_quote(payload)));
    curl.push(shell_quote(&format!("https://{apple_host}{path}")));
    curl.join(" \\\n  ")
}

/// A provider token for the default key, as a team's server would sign it.
fn provider_token(shared: &Shared) -> Result<String, Error> {
    let b64 = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let der = PrivateKeyDer::from_pem_slice(shared.default_key_p8.as_bytes())
        .map_err(|_| Error::BadKey("the default key is not PEM".into()))?;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        der.secret_der(),
    )
    .map_err(|e| Error::BadKey(format!("the default key: {e}")))?;
    let header = serde_json::json!({"alg": "ES256", "kid": shared.default_key_id});
    let claims = serde_json::json!({"iss": shared.registry.default_team, "iat": shared.state.clock.unix_secs()});
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig = pair.sign(&rng, input.as_bytes()).map_err(|_| Error::BadKey("could not sign".into()))?;
    Ok(format!("{input}.{}", b64(sig.as_ref())))
}

/// `'…'` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(r#"{"a":1}"#), r#"'{"a":1}'"#);
    }
}
