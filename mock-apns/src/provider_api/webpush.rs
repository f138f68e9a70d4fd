//! Apple's third push path, the Web Push endpoint (`web.push.apple.com`): a web app's
//! server `POST`s an encrypted message (RFC 8291, aes128gcm) signed with VAPID (RFC 8292)
//! to a subscription's endpoint, `https://<this listener>/<opaque id>`. Over TLS from the
//! mock's CA, HTTP/2 or HTTP/1.1 by ALPN (HTTP/1.1 without it, pipelined requests
//! answered in order), because common senders (pywebpush over `requests`) speak HTTP/1.1.
//!
//! It reads best whole, as the one place the order of checks lives. Apple does not
//! document an order; this one follows the request from its line to its body, and each
//! rule's source — documented, observed, or chosen where Apple is silent — is beside its
//! check in `protocol::webpush` and `vapid.rs`:
//!
//! | # | check | reason (status) |
//! |---|---|---|
//! | 1 | the method is POST | MethodNotAllowed (405) |
//! | 2 | the path is one issued subscription id | BadPath (404) |
//! | 3 | the subscription still stands | ExpiredToken (410) |
//! | — | a fault rule a test set fires (matched as push type `webpush`, token the subscription id, topic the web app's origin, environment production) | the rule's reason and status, e.g. TooManyRequests (429); a delay answers late |
//! | 4 | `Authorization: vapid t=…, k=…` (missing: BadJwtToken) | BadJwtToken (403), BadAuthorizationHeader (400) |
//! | 5 | `k` is a 65-byte uncompressed P-256 point | BadVapidPublicKey (400) |
//! | 6 | `k` is the subscription's application server key | VapidPkHashMismatch (400) |
//! | 7 | the JWT: ES256, raw signature by `k`, `aud` this endpoint's origin, `exp` within 24 h, a reachable `sub` | BadJwtToken (403) |
//! | 8 | `TTL` is seconds (cut to 30 days) | BadTtl (400) |
//! | 9 | `Urgency`, if sent, is very-low, low, normal or high | BadUrgency (400) |
//! | 10 | `Topic`, if sent, is ≤ 32 base64url characters, not of a length ≡ 1 mod 4 | BadWebPushTopic (400) |
//! | 11 | a body comes with `Content-Encoding: aes128gcm` | BadWebPushRequest (400) |
//! | 12 | the body is at most 4096 bytes | PayloadTooLarge (413) |
//! | 13 | the body's aes128gcm header is well formed | BadWebPushRequest (400) |
//!
//! Accepted: 201 with `apns-id` (a UUID) and `Location` (the message's URI, RFC 8030 §5),
//! and `TTL` as kept. Refused: the reason's status, `{"reason":…}` and `apns-id`. An
//! unknown well-formed id is 404 BadPath (chosen: Apple's answer is unknown). The body
//! (at most 4097 bytes of it) is read before any answer.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use protocol::ApnsId;
use protocol::webpush::{self, Urgency, WebPushReason};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::Room;
use super::faults::{FaultAction, Probe};
use crate::devices::web_delivery::WebMessage;
use crate::observe::misbehaviour::Kind;
use crate::observe::web_log::Entry;
use crate::registry::web::WebSubscription;

/// Concurrent HTTP/2 streams per connection (Apple's is not published); HTTP/1.1 clients
/// may pipeline as many requests, answered in order.
const MAX_STREAMS: u32 = 100;
/// The largest HTTP/2 header list, as the provider API's (Apple's published SETTINGS).
const MAX_HEADER_LIST_SIZE: u32 = 8000;
/// HTTP/1.1's read buffer: a request head, and what is pipelined behind it.
const MAX_HTTP1_BUFFER: usize = 64 << 10;
/// The most body bytes kept from a request: the limit, plus one to tell "too large" apart.
const MAX_READ: usize = webpush::MAX_BODY + 1;
/// The most body bytes read (and dropped) from a request that is too large, so that its
/// 413 reaches the client before the stream is reset.
const MAX_DRAINED: usize = 1 << 20;

/// A push that passed every check.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub subscription: Arc<WebSubscription>,
    /// How long it may wait for the phone, seconds (cut to 30 days).
    pub ttl: u64,
    pub urgency: Urgency,
    pub topic: Option<String>,
    /// The encrypted message, as sent.
    pub body: Bytes,
}

/// Serves the Web Push listener until `shutdown` fires.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Room>,
    shutdown: watch::Receiver<bool>,
) {
    let (max, stop) = (shared.state.config.max_connections, shutdown.clone());
    crate::accept::accept_loop(listener, "web push", max, stop, |tcp, _| {
        let _ = tcp.set_nodelay(true);
        let (acceptor, shared, mut shutdown) = (acceptor.clone(), shared.clone(), shutdown.clone());
        async move {
            let handshake = tokio::time::timeout(shared.state.config.handshake_timeout, acceptor.accept(tcp));
            let tls = match Box::pin(handshake).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    return shared.observe.misbehaviour.report(Kind::TlsHandshake, &format_args!("web push: {e}"));
                }
                Err(_) => return shared.observe.misbehaviour.report(Kind::HandshakeTimeout, &"web push: TLS"),
            };
            let head_timeout = shared.state.config.handshake_timeout;
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(answer(&shared, req).await) }
            });
            // The provider API's bounds: a header list of 8000 bytes over HTTP/2, 100
            // headers and a 64 KiB read buffer over HTTP/1.1, whose request heads must
            // arrive within the handshake timeout. Each HTTP/1.1 answer is flushed before
            // the next request is read, so a peer that pipelines and never reads holds
            // one answer, not all of them.
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(head_timeout)
                .max_headers(100)
                .max_buf_size(MAX_HTTP1_BUFFER);
            builder.http2().max_concurrent_streams(MAX_STREAMS).max_header_list_size(MAX_HEADER_LIST_SIZE);
            let connection = builder.serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                _ = connection => {}
                _ = shutdown.changed() => {}
            }
        }
    })
    .await;
}

/// One request: checked in the module's order, answered as Apple answers.
async fn answer(shared: &Room, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    // The body is read first, whatever the answer: an HTTP/2 stream answered before its
    // body is in is reset, and clients (curl, Node's http2) then report a broken stream
    // instead of the answer.
    let body = read_body(body, shared.state.config.body_timeout).await;
    respond(shared, &parts, body).await
}

/// Answers a request whose body is read (or could not be): the listener's requests and
/// the dashboard console's alike.
pub(crate) async fn respond(
    shared: &Room,
    parts: &http::request::Parts,
    body: Result<Bytes, WebPushReason>,
) -> Response<Full<Bytes>> {
    let apns_id = ApnsId::random();
    let response = Response::builder().header("apns-id", apns_id.as_str());
    let received_ms = shared.state.clock.unix_millis();
    let mut seen = Seen::default();
    let checked = match check(shared, parts, body, &mut seen).await {
        Ok((accepted, origin)) => {
            tracing::debug!(
                apns_id = %apns_id,
                subscription = %accepted.subscription.id,
                ttl = accepted.ttl,
                urgency = accepted.urgency.as_str(),
                topic = accepted.topic.as_deref().unwrap_or(""),
                bytes = accepted.body.len(),
                "web push accepted"
            );
            let ttl = accepted.ttl;
            // Step 5 begins: the phone gets it now, or it is held (answered once durable).
            let message = WebMessage {
                apns_id: apns_id.clone(),
                subscription: accepted.subscription,
                ttl,
                urgency: accepted.urgency,
                topic: accepted.topic,
                body: accepted.body,
                received_ms,
            };
            match Box::pin(shared.devices.hand_over_web(message)).await {
                Ok(_) => Ok((ttl, origin)),
                Err(_) => Err(WebPushReason::InternalServerError.into()),
            }
        }
        Err(refusal) => Err(refusal),
    };
    let (status, reason) = match &checked {
        Ok(_) => (201, None),
        Err(r) => (r.status, Some(r.reason)),
    };
    let entry = Entry {
        time_ms: received_ms,
        apns_id: &apns_id,
        subscription: seen.subscription.as_ref().map(|s| s.id.as_str()),
        origin: seen.subscription.as_ref().map(|s| s.origin.as_str()),
        method: &parts.method,
        path: parts.uri.path(),
        headers: &parts.headers,
        body_bytes: seen.body_bytes,
        status,
        reason,
    };
    shared.observe.live.web_push(&entry, seen.subscription.as_ref().map(|s| s.udid.as_str()));
    shared.observe.web_log.record(&entry);
    match checked {
        Ok((ttl, origin)) => response
            .status(StatusCode::CREATED)
            .header(http::header::LOCATION, format!("{origin}/m/{}", apns_id.as_str()))
            .header("ttl", ttl.to_string())
            .body(Full::new(Bytes::new()))
            .expect("static status and headers"),
        Err(Refusal { status, reason }) => response
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(format!(r#"{{"reason":"{reason}"}}"#))))
            .expect("static status and headers"),
    }
}

/// A refused push: a Web Push reason, or the reason of a fault rule a test set (any of
/// APNs's, with its status).
struct Refusal {
    status: u16,
    reason: &'static str,
}

impl From<WebPushReason> for Refusal {
    fn from(r: WebPushReason) -> Refusal {
        Refusal { status: r.status(), reason: r.as_str() }
    }
}

/// What the log shows of a request, learnt while checking it.
#[derive(Default)]
struct Seen {
    subscription: Option<Arc<WebSubscription>>,
    body_bytes: usize,
}

/// The checks of the module's table, in order; answers the push and the endpoint's origin.
async fn check(
    shared: &Room,
    parts: &http::request::Parts,
    body: Result<Bytes, WebPushReason>,
    seen: &mut Seen,
) -> Result<(Accepted, String), Refusal> {
    let body = body?;
    seen.body_bytes = body.len();
    // 1–3: method, path, subscription.
    if parts.method != Method::POST {
        return Err(WebPushReason::MethodNotAllowed.into());
    }
    let id = parts.uri.path().strip_prefix('/').filter(|id| {
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    let subscription = id.and_then(|id| shared.registry.web.get(id)).ok_or(WebPushReason::BadPath)?;
    seen.subscription = Some(subscription.clone());
    if subscription.ended_at.is_some() {
        return Err(WebPushReason::ExpiredToken.into());
    }
    // A fault rule may take over: those that answer or delay apply (no HTTP/2 stream
    // here to reset: this listener speaks HTTP/1.1 too).
    let probe = Probe {
        env: protocol::Environment::Production,
        token: &subscription.id,
        topic: Some(&subscription.origin),
        push_type: Some("webpush"),
        connection: false,
    };
    if let Some(fired) = shared.faults.check(probe) {
        match fired.action {
            FaultAction::Delay { ms } => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
            action => {
                let reason = action.reason().unwrap_or(protocol::Reason::InternalServerError);
                return Err(Refusal { status: reason.status(), reason: reason.as_str() });
            }
        }
    }
    // 4–7: VAPID. The audience is this endpoint's origin as the sender reached it: the
    // host it connected to (HTTP/2 `:authority`, HTTP/1.1 `Host`), which is the endpoint
    // URL's, since the sender derives both from it.
    let headers = &parts.headers;
    let authority = parts.uri.authority().map(|a| a.as_str()).or_else(|| header(headers, "host"));
    let origin = format!("https://{}", authority.unwrap_or_default());
    let vapid = webpush::parse_authorization(header(headers, "authorization"))?;
    let key = webpush::public_key(vapid.k)?;
    if key != subscription.application_server_key {
        return Err(WebPushReason::VapidPkHashMismatch.into());
    }
    shared.vapid.check(vapid.t, &key, &origin, shared.state.clock.unix_secs())?;
    // 8–11: the headers.
    let ttl = webpush::ttl(header(headers, "ttl"))?;
    let urgency = Urgency::parse(header(headers, "urgency"))?;
    let topic = header(headers, "topic").map(str::to_owned);
    if let Some(topic) = &topic {
        webpush::check_topic(topic)?;
    }
    let encoding = header(headers, "content-encoding");
    // 11–13: the body.
    if !webpush::content_encoding_ok(encoding, body.len()) {
        return Err(WebPushReason::BadWebPushRequest.into());
    }
    if body.len() > webpush::MAX_BODY {
        return Err(WebPushReason::PayloadTooLarge.into());
    }
    if !body.is_empty() {
        webpush::aes128gcm_header(&body)?;
    }
    Ok((Accepted { subscription, ttl, urgency, topic, body }, origin))
}

/// A header's value as text (one that is not text reads as empty, and fails its check).
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).map(|v| v.to_str().unwrap_or(""))
}

/// Reads the body within `timeout`, keeping at most [`MAX_READ`] bytes of it; the rest
/// is read and dropped, up to [`MAX_DRAINED`] (past that the stream is left unread and
/// reset, or the HTTP/1.1 connection closed). A body that does not arrive in time, or
/// breaks off, is refused as a bad request.
async fn read_body(mut body: Incoming, timeout: std::time::Duration) -> Result<Bytes, WebPushReason> {
    let read = async {
        let (mut kept, mut seen) = (BytesMut::new(), 0usize);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| WebPushReason::BadWebPushRequest)?;
            if let Ok(data) = frame.into_data() {
                let room = MAX_READ.saturating_sub(kept.len());
                kept.extend_from_slice(&data[..data.len().min(room)]);
                seen += data.len();
                if seen > MAX_DRAINED {
                    break;
                }
            }
        }
        Ok(kept.freeze())
    };
    tokio::time::timeout(timeout, read).await.unwrap_or(Err(WebPushReason::BadWebPushRequest))
}
