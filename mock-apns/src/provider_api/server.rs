//! The provider API's listeners and connections (and the channel management API's, which
//! are the same but for the requests they take): accept, TLS handshake, read the client
//! certificate, then serve HTTP/2 streams to the push handler.
//!
//! Shape after mini-redis: a semaphore bounds open connections before `accept`, each
//! connection is one task (which also answers the requests that need not wait, without
//! a task each), and a shutdown signal makes every connection send GOAWAY
//! (`{"reason":"Shutdown"}`) and finish its streams within a bounded wait. HTTP/2 settings are APNs's as seen on the
//! wire (HEADER_TABLE_SIZE 4096, MAX_CONCURRENT_STREAMS 1000 — 1 on a token connection
//! until its first valid token —, INITIAL_WINDOW_SIZE 65535, MAX_FRAME_SIZE 16384,
//! MAX_HEADER_LIST_SIZE 8000). PINGs are answered by h2; PRIORITY frames are ignored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::RecvStream;
use h2::server::SendResponse;
use protocol::{Environment, Reason};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use super::Room;
use crate::observe::misbehaviour::Kind;
use crate::provider_api::auth::CertIdentity;
use crate::provider_api::conn::{ConnAuth, ConnControl, ConnState};
use crate::provider_api::tap::{SETTINGS_MAX_CONCURRENT_STREAMS, Tap, TapControl, goaway_frame, settings_frame};
use crate::provider_api::{broadcast, push};

/// HTTP/2 settings APNs advertises (besides MAX_CONCURRENT_STREAMS).
const HEADER_TABLE_SIZE: u32 = 4096;
const INITIAL_WINDOW_SIZE: u32 = 65_535;
const MAX_FRAME_SIZE: u32 = 16_384;
const MAX_HEADER_LIST_SIZE: u32 = 8000;
/// The connection-level receive window, opened with a WINDOW_UPDATE right after the
/// handshake (it is not a SETTINGS value, so clients still see APNs's settings). With
/// the protocol's default of 65 535 bytes, 400 streams of 200-byte pushes in flight
/// would wait on flow control rather than on the mock.
const CONNECTION_WINDOW_SIZE: u32 = 1 << 20;
/// How long a shutting-down connection may take to finish its streams.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one provider-API listener until `shutdown` fires. `tls` is `None` for h2c.
pub(crate) async fn serve(
    listener: TcpListener,
    (env, channels): (Environment, bool),
    tls: Option<TlsAcceptor>,
    shared: Arc<Room>,
    shutdown: watch::Receiver<bool>,
) {
    let (max, stop) = (shared.state.config.max_connections, shutdown.clone());
    crate::accept::accept_loop(listener, "provider API", max, stop, |tcp, peer| {
        let _ = tcp.set_nodelay(true);
        let id = shared.observe.next_connection.fetch_add(1, Ordering::Relaxed);
        let span = tracing::debug_span!("connection", id, %peer, env = env.as_str());
        let (tls, shared, shutdown) = (tls.clone(), shared.clone(), shutdown.clone());
        async move {
            match tls {
                Some(acceptor) => serve_tls(tcp, peer, id, (env, channels), acceptor, shared, shutdown).await,
                None => serve_h2(tcp, id, (env, channels), ConnAuth::Token(Default::default()), shared, shutdown).await,
            }
        }
        .instrument(span)
    })
    .await;
}

/// TLS handshake, then the client certificate decides the connection's auth mode.
async fn serve_tls(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    id: u64,
    (env, channels): (Environment, bool),
    acceptor: TlsAcceptor,
    shared: Arc<Room>,
    shutdown: watch::Receiver<bool>,
) {
    // Boxed: the handshake's state is given back when it ends, instead of staying in the
    // connection's task as long as it lives (ARCHITECTURE.md, "Memory").
    let tls = match Box::pin(tokio::time::timeout(shared.state.config.handshake_timeout, acceptor.accept(tcp))).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            shared.observe.misbehaviour.report(Kind::TlsHandshake, &format_args!("{peer}: {e}"));
            return;
        }
        Err(_) => {
            shared.observe.misbehaviour.report(Kind::HandshakeTimeout, &format_args!("{peer}: TLS"));
            return;
        }
    };
    // By value, not by reference: a local this function borrowed would keep its place in
    // the task after it is moved on, and the TLS stream would be held twice.
    // (And not inside the `match`: its scrutinee would stay in the task too.)
    let (tls, auth) = identify(tls, env);
    let Some(auth) = auth else {
        // Boxed: a rare path, whose buffers would otherwise make every connection's task
        // bigger.
        return Box::pin(reject(tls, Reason::BadCertificateEnvironment)).await;
    };
    serve_h2(tls, id, (env, channels), auth, shared, shutdown).await
}

type TlsStream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// How a connection authenticates: by its client certificate if it showed one, else by
/// provider tokens. `None` when the certificate is for the other environment.
fn identify(tls: TlsStream, env: Environment) -> (TlsStream, Option<ConnAuth>) {
    let cert = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.as_ref().to_vec());
    let auth = match cert {
        None => ConnAuth::Token(Default::default()),
        Some(der) => match CertIdentity::from_der(&der) {
            Some(identity) if !identity.allows(env) => {
                tracing::debug!(uid = %identity.uid, "certificate for the other environment");
                return (tls, None);
            }
            identity => ConnAuth::Certificate(identity),
        },
    };
    (tls, Some(auth))
}

/// Answers a connection APNs refuses outright: its SETTINGS, then GOAWAY (NO_ERROR,
/// last stream 0) with `{"reason":…}` as debug data, then close — what clients saw
/// from Apple for a certificate of the wrong environment.
async fn reject<IO: AsyncRead + AsyncWrite + Unpin>(mut io: IO, reason: Reason) {
    let mut frames = settings_frame(&server_settings(1));
    frames.extend(goaway_frame(0, 0, format!(r#"{{"reason":"{reason}"}}"#).as_bytes()));
    if io.write_all(&frames).await.is_err() || io.flush().await.is_err() {
        return;
    }
    // Read what the client sends (its preface) briefly so it sees the GOAWAY before
    // the close, rather than a reset.
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_millis(500), io.read(&mut sink)).await;
    let _ = io.shutdown().await;
}

fn server_settings(max_streams: u32) -> [(u16, u32); 5] {
    [
        (0x1, HEADER_TABLE_SIZE),
        (SETTINGS_MAX_CONCURRENT_STREAMS, max_streams),
        (0x4, INITIAL_WINDOW_SIZE),
        (0x5, MAX_FRAME_SIZE),
        (0x6, MAX_HEADER_LIST_SIZE),
    ]
}

/// The HTTP/2 handshake on a tapped connection, within the handshake timeout.
type Handshaking<IO> = tokio::time::Timeout<h2::server::Handshake<Tap<IO>, bytes::Bytes>>;

/// Removes a connection from the list of open ones when its task ends.
struct Forget<'a>(&'a dashmap::DashMap<u64, std::sync::Weak<ConnState>>, u64);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.remove(&self.1);
    }
}

/// Serves HTTP/2 on an established connection. Not an `async fn`: one keeps its
/// arguments for its whole life, so the TLS stream would be held twice (once as the
/// argument, once inside the connection); here it is moved into the boxed handshake,
/// and the future returned holds only the connection.
fn serve_h2<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: IO,
    id: u64,
    (env, channels): (Environment, bool),
    auth: ConnAuth,
    shared: Arc<Room>,
    shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send {
    let max_streams = shared.state.config.max_concurrent_streams;
    let token_auth = matches!(auth, ConnAuth::Token(_));
    let (tap, ctl) = Tap::new(io, token_auth.then_some(1));
    let mut builder = h2::server::Builder::new();
    builder
        .header_table_size(HEADER_TABLE_SIZE)
        .max_concurrent_streams(max_streams)
        .initial_window_size(INITIAL_WINDOW_SIZE)
        .initial_connection_window_size(CONNECTION_WINDOW_SIZE)
        .max_frame_size(MAX_FRAME_SIZE)
        .max_header_list_size(MAX_HEADER_LIST_SIZE)
        // Streams refused after the stream limit drops (or before a token connection
        // opens) are reset locally while the client may still send their DATA; h2
        // remembers reset streams so such frames are ignored (10 by default), so let it
        // remember a full window's worth.
        .max_concurrent_reset_streams(2 * max_streams as usize);
    let handshake = Box::pin(tokio::time::timeout(shared.state.config.handshake_timeout, builder.handshake(tap)));
    serve_streams(handshake, ctl, id, (env, channels), auth, shared, shutdown)
}

/// The connection's life once TLS is done: the HTTP/2 handshake, then every stream
/// until the peer, a fault rule, the idle timeout or shutdown ends it.
async fn serve_streams<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    handshake: std::pin::Pin<Box<Handshaking<IO>>>,
    ctl: Arc<TapControl>,
    id: u64,
    (env, channels): (Environment, bool),
    auth: ConnAuth,
    shared: Arc<Room>,
    mut shutdown: watch::Receiver<bool>,
) {
    let max_streams = shared.state.config.max_concurrent_streams;
    let token_auth = matches!(auth, ConnAuth::Token(_));
    let mut conn = match handshake.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "HTTP/2 handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("HTTP/2 handshake timed out");
            return;
        }
    };
    let (control, mut controls) = tokio::sync::mpsc::unbounded_channel();
    let state = Arc::new(ConnState {
        id,
        env,
        auth,
        open: AtomicBool::new(!token_auth),
        limit: AtomicU32::new(if token_auth { 1 } else { max_streams }),
        in_flight: AtomicUsize::new(0),
        tap: ctl,
        max_streams,
        control,
        channels,
    });
    shared.provider_conns.insert(id, Arc::downgrade(&state));
    let _forget = Forget(&shared.provider_conns, id);
    // The shutdown signal and the control channel are waited on by futures that live as
    // long as the connection: made afresh for every request, each would register and
    // unregister a waiter (a lock) per request.
    let shutting_down = shutdown.changed();
    let control = async {
        match controls.recv().await {
            Some(control) => control,
            None => std::future::pending().await,
        }
    };
    let idle_changed = shared.idle_changed.notified();
    tokio::pin!(shutting_down, control, idle_changed);
    let mut last_active = tokio::time::Instant::now();
    let mut idle_was = 0;
    let mut batch = Vec::new();
    loop {
        // APNs closes connections that carry nothing for a while (GOAWAY IdleTimeout);
        // a test sets how long (off by default). In-flight streams count as activity.
        let idle_ms = shared.idle_timeout_ms.load(Ordering::Relaxed);
        if idle_ms != idle_was {
            // Just set: the connection has been idle since now, not since it opened (a
            // connection idle when the setting changes is woken by `idle_changed`).
            last_active = tokio::time::Instant::now();
            idle_was = idle_ms;
        }
        let idle = async {
            if idle_ms == 0 {
                return std::future::pending().await;
            }
            loop {
                tokio::time::sleep_until(last_active + Duration::from_millis(idle_ms)).await;
                if state.in_flight.load(Ordering::Acquire) == 0 {
                    return;
                }
                last_active = tokio::time::Instant::now();
            }
        };
        // Fault controls and shutdown first, so a busy connection cannot starve them.
        let reason = tokio::select! {
            biased;
            control = &mut control => match control {
                // A fault rule: drop the connection as a crashed server would.
                ConnControl::Close => return,
                ConnControl::Goaway(reason) => reason,
            },
            _ = &mut shutting_down => Reason::Shutdown,
            () = &mut idle_changed => {
                idle_changed.set(shared.idle_changed.notified());
                continue;
            }
            next = conn.accept() => {
                if idle_ms != 0 {
                    last_active = tokio::time::Instant::now();
                }
                // Take every request h2 has already decoded, so that their bodies (which
                // follow their headers) have been read too, then answer them here; only
                // one that has to wait gets a task of its own (a body still arriving, a
                // push stored for an offline device, a full delivery queue, a fault
                // rule's delay). Most requests are answered without a task.
                let mut next = next;
                let closed = loop {
                    match next {
                        Some(Ok(stream)) => batch.push(stream),
                        Some(Err(e)) => {
                            if e.is_go_away() || e.is_reset() || e.get_io().is_none() {
                                shared.observe.misbehaviour.report(Kind::Http2, &e);
                            }
                            return;
                        }
                        None => break true,
                    }
                    match std::future::poll_fn(|cx| Poll::Ready(conn.poll_accept(cx))).await {
                        Poll::Ready(more) => next = more,
                        Poll::Pending => break false,
                    }
                };
                // Taken, not drained: the batch's memory goes with it (an idle
                // connection keeps none).
                for (request, respond) in std::mem::take(&mut batch) {
                    let mut handling = Box::pin(stream(shared.clone(), state.clone(), request, respond));
                    if crate::provider_api::poll_once(handling.as_mut()).await.is_pending() {
                        tokio::spawn(handling);
                    }
                }
                if closed {
                    return;
                }
                continue;
            },
            () = idle => Reason::IdleTimeout,
        };
        // APNs says why it closes a connection (its own shutdown, an idle connection, a
        // fault rule) as GOAWAY {"reason":…}; h2's graceful GOAWAY (no debug data)
        // follows, then in-flight streams finish.
        state.tap.send_goaway(u32::MAX >> 1, format!(r#"{{"reason":"{reason}"}}"#).as_bytes());
        conn.graceful_shutdown();
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, std::future::poll_fn(|cx| conn.poll_closed(cx))).await;
        return;
    }
}

/// One stream of a provider-API connection: within the stream limit, its body read, then
/// to whoever answers its path — the channel API and broadcasts (`broadcast.rs`, which
/// answer with `apns-request-id`), or a device push (`push.rs`).
async fn stream(
    shared: Arc<Room>,
    conn: Arc<ConnState>,
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let started = std::time::Instant::now();
    let in_flight = conn.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
    let _guard = InFlight(&conn.in_flight);
    // A token connection advertises one stream until it is authenticated (and any
    // connection may be lowered later); a client that opens more than advertised gets
    // them refused, which HTTP/2 clients retry.
    if in_flight > conn.limit.load(Ordering::Acquire) as usize {
        respond.send_reset(h2::Reason::REFUSED_STREAM);
        return;
    }

    // Read the body, keeping at most MAX_BODY + 1 bytes. It has usually arrived with the
    // headers; only a body still on its way gets a timer (registering one for every
    // request costs a lock on the timer wheel). (The request's parts are boxed: a task's
    // future is copied into the task when it is spawned, and a small one is allocated
    // from the allocator's fast per-thread cache.)
    let (parts, body) = request.into_parts();
    let parts = Box::new(parts);
    let mut reading = std::pin::pin!(read_body(body));
    let body = match crate::provider_api::poll_once(reading.as_mut()).await {
        Poll::Ready(body) => body,
        Poll::Pending => match Box::pin(tokio::time::timeout(shared.state.config.body_timeout, reading)).await {
            Ok(body) => body,
            Err(_) => {
                respond.send_reset(h2::Reason::CANCEL);
                return;
            }
        },
    };
    let Ok(body) = body else { return };

    if conn.channels || parts.uri.path().starts_with(broadcast::BROADCAST_PATH) {
        let reply = Box::pin(broadcast::answer(&shared, &conn, &parts, body)).await;
        reply.send(respond);
        shared.observe.metrics.latency(conn.env, started.elapsed());
        return;
    }
    push::handle(&shared, &conn, parts, body, respond, started).await;
}

/// The most body bytes read from a request: the largest payload APNs accepts, plus one
/// to tell "too large" apart.
const MAX_BODY: usize = 5120;

/// Counts a stream in flight for as long as it is handled.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Reads the request body, keeping at most `MAX_BODY + 1` bytes; the rest is read and
/// released (flow control) but not kept. `Err` if the client reset the stream. A body
/// that came in one DATA frame (the usual case) is kept as h2 handed it, uncopied.
async fn read_body(mut body: RecvStream) -> Result<Bytes, h2::Error> {
    fn append(kept: &mut BytesMut, chunk: &[u8]) {
        let room = (MAX_BODY + 1).saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    let mut first = Bytes::new();
    let mut more: Option<BytesMut> = None;
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        match &mut more {
            None if first.is_empty() => first = chunk,
            None => {
                let mut kept = BytesMut::new();
                append(&mut kept, &first);
                append(&mut kept, &chunk);
                more = Some(kept);
            }
            Some(kept) => append(kept, &chunk),
        }
    }
    Ok(match more {
        Some(kept) => kept.freeze(),
        None => first.slice(..first.len().min(MAX_BODY + 1)),
    })
}
