//! Step 4 of the flow, the provider's side: HTTP/2 connections to APNs and one request
//! per notification.
//!
//! A pool of connections, each TLS (rustls, ALPN `h2`) + HTTP/2 (h2). h2 keeps each
//! connection within the server's MAX_CONCURRENT_STREAMS — including the single stream
//! APNs allows a token connection until its first valid token, and any later SETTINGS
//! change. A connection that fails or receives GOAWAY is dropped and replaced; a
//! notification the server did not process (GOAWAY past it, REFUSED_STREAM) is sent
//! again. Retries with backoff only for what Apple says to retry (429 TooManyRequests,
//! 500, 503); on ExpiredProviderToken the token is re-signed once and the notification
//! sent again. Nothing is retried after a timeout: APNs may have processed it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use protocol::Reason;
use protocol::headers::{
    APNS_COLLAPSE_ID, APNS_EXPIRATION, APNS_ID, APNS_PRIORITY, APNS_PUSH_TYPE, APNS_TOPIC, AUTHORIZATION,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::notification::{Accepted, Notification, Rejection};
use crate::{Error, SharedToken};

/// Where APNs is: an open value, so the same client talks to Apple or to a mock.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The name the server's certificate must have (and `:authority`).
    pub host: String,
    /// Where to connect, `host:port`.
    pub addr: String,
    /// Trust roots, PEM; `None` uses the public web roots (Apple's servers).
    pub ca_pem: Option<String>,
}

impl Endpoint {
    /// `api.push.apple.com:443`.
    pub fn production() -> Endpoint {
        Endpoint { host: "api.push.apple.com".into(), addr: "api.push.apple.com:443".into(), ca_pem: None }
    }

    /// `api.sandbox.push.apple.com:443`.
    pub fn sandbox() -> Endpoint {
        Endpoint {
            host: "api.sandbox.push.apple.com".into(),
            addr: "api.sandbox.push.apple.com:443".into(),
            ca_pem: None,
        }
    }

    /// Any `https://host:port` (a mock's `sandbox` or `production`) trusting `ca_pem`.
    pub fn custom(url: &str, ca_pem: Option<String>) -> Result<Endpoint, Error> {
        let hostport = url.trim_start_matches("https://").trim_end_matches('/');
        let host = match hostport.rsplit_once(':') {
            Some((h, port)) if port.parse::<u16>().is_ok() => h.trim_start_matches('[').trim_end_matches(']'),
            _ => return Err(Error::Config(format!("endpoint {url:?} is not https://host:port"))),
        };
        Ok(Endpoint { host: host.to_owned(), addr: hostport.to_owned(), ca_pem })
    }
}

/// How the provider proves who it is.
pub enum Auth {
    /// A provider token from the team's `.p8`, shared by every connection.
    Token(Box<SharedToken>),
    /// A client certificate and its key (PEM).
    Certificate {
        /// The certificate chain, PEM.
        cert_pem: String,
        /// The private key, PEM.
        key_pem: String,
    },
}

impl Auth {
    /// Token auth with a refresh period in seconds (clamped into 20–60 minutes).
    pub fn token(signer: crate::TokenSigner, refresh_secs: u64) -> Auth {
        Auth::Token(Box::new(SharedToken::new(signer, refresh_secs)))
    }

    /// Certificate auth from a PKCS#12 file.
    pub fn pkcs12(der: &[u8], password: &str) -> Result<Auth, Error> {
        let store = p12_keystore::KeyStore::from_pkcs12(der, password, p12_keystore::Pkcs12ImportPolicy::Strict)
            .map_err(|e| Error::Config(format!("PKCS#12: {e}")))?;
        let (_, chain) = store.private_key_chain().ok_or_else(|| Error::Config("PKCS#12 holds no key".into()))?;
        let pem = |label: &str, der: &[u8]| {
            use std::fmt::Write as _;
            let b64 = base64_encode(der);
            let mut out = format!("-----BEGIN {label}-----\n");
            for line in b64.as_bytes().chunks(64) {
                let _ = writeln!(out, "{}", String::from_utf8_lossy(line));
            }
            let _ = writeln!(out, "-----END {label}-----");
            out
        };
        let cert_pem: String = chain.certs().iter().map(|c| pem("CERTIFICATE", c.as_der())).collect();
        Ok(Auth::Certificate { cert_pem, key_pem: pem("PRIVATE KEY", chain.key().as_der()) })
    }
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Client settings. Every field has a default.
pub struct ClientConfig {
    /// Where APNs is.
    pub endpoint: Endpoint,
    /// How to authenticate.
    pub auth: Auth,
    /// Connections in the pool. Default 1.
    pub connections: usize,
    /// How long one request may wait for its answer. Default 10 s.
    pub request_timeout: Duration,
    /// Retries for 429/500/503 and for notifications the server did not process.
    /// Default 3.
    pub retries: u32,
    /// The first backoff; doubled each retry. Default 200 ms.
    pub backoff: Duration,
    /// Idle connections send a PING this often. Default 60 s.
    pub ping_interval: Duration,
    /// "Now" in UNIX seconds, for signing tokens. Default: the system clock. A test can
    /// hand the client the mock's clock (`move || mock_clock.unix_secs()`), so moving
    /// APNs's time moves the client's token schedule with it.
    pub clock: Arc<dyn Fn() -> u64 + Send + Sync>,
}

fn system_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl ClientConfig {
    /// Defaults for `endpoint` and `auth`.
    pub fn new(endpoint: Endpoint, auth: Auth) -> ClientConfig {
        ClientConfig {
            endpoint,
            auth,
            connections: 1,
            request_timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(200),
            ping_interval: Duration::from_secs(60),
            clock: Arc::new(system_now),
        }
    }
}

/// One pooled connection.
struct Conn {
    send: SendRequest<Bytes>,
    alive: Arc<AtomicBool>,
}

/// One place in the pool: the current connection (read on every send, under a plain
/// lock held for a clone), and a lock held only while a replacement is being opened.
#[derive(Default)]
struct Slot {
    current: std::sync::Mutex<Option<Conn>>,
    connecting: Mutex<()>,
}

impl Slot {
    fn live(&self) -> Option<(SendRequest<Bytes>, Arc<AtomicBool>)> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.as_ref().filter(|c| c.alive.load(Ordering::Acquire)).map(|c| (c.send.clone(), c.alive.clone()))
    }
}

struct Inner {
    config: ClientConfig,
    tls: tokio_rustls::TlsConnector,
    pool: Vec<Slot>,
    next: AtomicUsize,
}

/// An APNs client. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// An answer as it came, for [`Client::call`].
#[derive(Debug, Clone)]
pub struct RawAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl RawAnswer {
    /// A header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error this answer is, if it is not a success: the reason from its body.
    pub fn rejection(&self) -> Option<Rejection> {
        (!(200..300).contains(&self.status))
            .then(|| Rejection::from_body(self.status, self.header("apns-request-id").map(str::to_owned), &self.body))
    }
}

/// How many times a notification the server did not process is sent again.
const UNPROCESSED_RETRIES: u32 = 10;

/// What one attempt came to.
enum Attempt {
    Done(Result<Accepted, Error>),
    /// The server did not process it (GOAWAY, REFUSED_STREAM, a dead connection): send
    /// again — on a fresh connection if `retire` (the old one is going away).
    Again {
        why: String,
        retire: bool,
    },
}

/// rustls on aws-lc-rs, trusting `ca_pem` (a mock's CA) or, without it, the public roots
/// (Apple's servers): the start of every TLS client this crate makes.
pub(crate) fn tls_builder(
    ca_pem: Option<&str>,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| Error::Config(format!("CA PEM: {e}")))?;
                roots.add(cert).map_err(|e| Error::Config(format!("CA: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?
        .with_root_certificates(roots))
}

impl Client {
    /// A client; connections open on first use.
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let builder = tls_builder(config.endpoint.ca_pem.as_deref())?;
        let mut tls = match &config.auth {
            Auth::Token(_) => builder.with_no_client_auth(),
            Auth::Certificate { cert_pem, key_pem } => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|e| Error::Config(format!("certificate PEM: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| match e {
                    rustls::pki_types::pem::Error::NoItemsFound => Error::Config("key PEM holds no key".into()),
                    e => Error::Config(format!("key PEM: {e}")),
                })?;
                builder.with_client_auth_cert(certs, key).map_err(|e| Error::Config(e.to_string()))?
            }
        };
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let pool = (0..config.connections.max(1)).map(|_| Slot::default()).collect();
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
                pool,
                next: AtomicUsize::new(0),
            }),
        })
    }

    /// A live connection of the pool (round robin), opening it if needed, with the flag
    /// that retires it.
    async fn connection(&self) -> Result<(SendRequest<Bytes>, Arc<AtomicBool>), Error> {
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.pool.len();
        let slot = &self.inner.pool[i];
        if let Some(live) = slot.live() {
            return Ok(live);
        }
        // One task opens the replacement; the others wait for it.
        let _connecting = slot.connecting.lock().await;
        if let Some(live) = slot.live() {
            return Ok(live);
        }
        let conn = self.connect().await?;
        let out = (conn.send.clone(), conn.alive.clone());
        *slot.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
        Ok(out)
    }

    async fn connect(&self) -> Result<Conn, Error> {
        let e = &self.inner.config.endpoint;
        let tcp = TcpStream::connect(&e.addr).await.map_err(|err| Error::Connection(err.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(e.host.clone()).map_err(|_| Error::Config(format!("bad host {:?}", e.host)))?;
        let tls = self.inner.tls.connect(name, tcp).await.map_err(|err| Error::Connection(format!("TLS: {err}")))?;
        let (send, mut conn) =
            h2::client::handshake(tls).await.map_err(|err| Error::Connection(format!("HTTP/2: {err}")))?;
        let alive = Arc::new(AtomicBool::new(true));
        let mut pings = conn.ping_pong();
        let interval = self.inner.config.ping_interval;
        let flag = alive.clone();
        tokio::spawn(async move {
            let _ = conn.await;
            flag.store(false, Ordering::Release);
        });
        if let Some(mut pings) = pings.take() {
            let flag = alive.clone();
            tokio::spawn(async move {
                while flag.load(Ordering::Acquire) {
                    tokio::time::sleep(interval).await;
                    if pings.ping(h2::Ping::opaque()).await.is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Conn { send, alive })
    }

    /// Where this client sends.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.config.endpoint
    }

    /// One request to another of APNs's APIs on this client's endpoint (the channel
    /// management API, broadcasts), with the client's credential: answers the status,
    /// headers and body as they came. Not retried: a channel create is not idempotent.
    pub async fn call(
        &self,
        method: http::Method,
        path: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<RawAnswer, Error> {
        let config = &self.inner.config;
        let token = match &config.auth {
            Auth::Token(t) => Some(t.signed((config.clock)())?),
            Auth::Certificate { .. } => None,
        };
        let at = |e: String| Error::Connection(format!("APNs at https://{}: {e}", config.endpoint.addr));
        let (send, _) = self.connection().await.map_err(|e| match e {
            Error::Connection(why) => at(why),
            other => other,
        })?;
        let mut request =
            http::Request::builder().method(method).uri(format!("https://{}{path}", config.endpoint.host));
        if let Some(t) = &token {
            request = request.header(AUTHORIZATION, t.header.clone());
        }
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request.body(()).map_err(|_| Error::Invalid("a header value is not valid HTTP".into()))?;
        let exchange = async {
            let mut send = send.ready().await.map_err(|e| at(e.to_string()))?;
            let (response, mut stream) = send.send_request(request, body.is_empty()).map_err(|e| at(e.to_string()))?;
            if !body.is_empty() {
                stream.send_data(body, true).map_err(|e| at(e.to_string()))?;
            }
            let (parts, mut data) = response.await.map_err(|e| at(e.to_string()))?.into_parts();
            let mut bytes = BytesMut::new();
            while let Some(chunk) = data.data().await {
                let chunk = chunk.map_err(|e| at(e.to_string()))?;
                let _ = data.flow_control().release_capacity(chunk.len());
                bytes.extend_from_slice(&chunk);
            }
            Ok(RawAnswer { status: parts.status.as_u16(), headers: parts.headers, body: bytes.freeze() })
        };
        tokio::time::timeout(config.request_timeout, exchange).await.map_err(|_| Error::Timeout)?
    }

    /// Sends one notification and returns APNs's answer. A connection failure names the
    /// endpoint (`https://host:port: …`).
    pub async fn send(&self, n: &Notification) -> Result<Accepted, Error> {
        self.send_with_retries(n).await.map_err(|e| match e {
            Error::Connection(why) => {
                Error::Connection(format!("APNs at https://{}: {why}", self.inner.config.endpoint.addr))
            }
            other => other,
        })
    }

    async fn send_with_retries(&self, n: &Notification) -> Result<Accepted, Error> {
        n.check()?;
        let config = &self.inner.config;
        let mut refreshed = false;
        let mut attempt = 0;
        let mut unprocessed = 0;
        loop {
            let token = match &config.auth {
                Auth::Token(t) => Some(t.signed((config.clock)())?),
                Auth::Certificate { .. } => None,
            };
            let header = token.as_ref().map(|t| &t.header);
            let outcome = match tokio::time::timeout(config.request_timeout, self.attempt(n, header)).await {
                Ok(outcome) => outcome,
                Err(_) => return Err(Error::Timeout),
            };
            match outcome {
                Attempt::Done(Err(Error::Rejected(r)))
                    if r.reason.known() == Some(Reason::ExpiredProviderToken) && !refreshed =>
                {
                    refreshed = true;
                    if let (Auth::Token(t), Some(stale)) = (&config.auth, token) {
                        t.refresh(&stale.token, (config.clock)())?;
                    }
                }
                Attempt::Done(Err(Error::Rejected(r))) if r.retryable() && attempt < config.retries => {
                    tokio::time::sleep(config.backoff * 2u32.pow(attempt)).await;
                    attempt += 1;
                }
                Attempt::Done(result) => return result,
                // Not processed: always safe to send again, so it has its own, larger budget.
                Attempt::Again { why, .. } if unprocessed < UNPROCESSED_RETRIES => {
                    tracing::debug!(%why, "not processed by the server; sending again");
                    unprocessed += 1;
                    if unprocessed > 1 {
                        tokio::time::sleep(config.backoff).await;
                    }
                }
                Attempt::Again { why, .. } => return Err(Error::Connection(why)),
            }
        }
    }

    async fn attempt(&self, n: &Notification, token: Option<&http::HeaderValue>) -> Attempt {
        let (send, alive) = match self.connection().await {
            Ok(s) => s,
            Err(Error::Connection(e)) => return Attempt::Again { why: e, retire: true },
            Err(e) => return Attempt::Done(Err(e)),
        };
        let outcome = self.attempt_on(send, n, token).await;
        if let Attempt::Again { retire: true, .. } = &outcome {
            // A GOAWAY or a dying connection retires the connection; the next attempt
            // opens a fresh one. A refused stream alone does not.
            alive.store(false, Ordering::Release);
        }
        outcome
    }

    async fn attempt_on(
        &self,
        send: SendRequest<Bytes>,
        n: &Notification,
        token: Option<&http::HeaderValue>,
    ) -> Attempt {
        let mut request =
            http::Request::post(format!("https://{}/3/device/{}", self.inner.config.endpoint.host, n.token));
        if let Some(t) = token {
            request = request.header(AUTHORIZATION, t.clone());
        }
        let headers = [
            (APNS_TOPIC, n.topic.clone()),
            (APNS_PUSH_TYPE, n.push_type.map(|p| p.as_str().to_owned())),
            (APNS_PRIORITY, n.priority.map(|p| p.to_string())),
            (APNS_EXPIRATION, n.expiration.map(|e| e.0.to_string())),
            (APNS_COLLAPSE_ID, n.collapse_id.clone()),
            (APNS_ID, n.apns_id.clone()),
        ];
        for (name, value) in headers {
            if let Some(v) = value {
                request = request.header(name, v);
            }
        }
        let Ok(request) = request.body(()) else {
            return Attempt::Done(Err(Error::Invalid("a header value is not valid HTTP".into())));
        };
        let mut send = match send.ready().await {
            Ok(s) => s,
            Err(e) => return Attempt::Again { why: e.to_string(), retire: true },
        };
        let (response, mut body) = match send.send_request(request, false) {
            Ok(x) => x,
            Err(e) => return Attempt::Again { why: e.to_string(), retire: true },
        };
        // The body may be refused when the stream has just closed (a GOAWAY that came
        // between the headers and the body): then the request never ended, so the server
        // cannot have processed it, whatever the stream's end says — unless it answered.
        let body_sent = body.send_data(n.payload.clone(), true).is_ok();
        let response = match response.await {
            Ok(r) => r,
            Err(e) if !body_sent => return Attempt::Again { why: e.to_string(), retire: true },
            Err(e) => return unprocessed_or_lost(e),
        };
        let (parts, mut stream) = response.into_parts();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let apns_id = header(APNS_ID);
        if parts.status == http::StatusCode::OK {
            return Attempt::Done(Ok(Accepted {
                apns_id: apns_id.unwrap_or_default(),
                apns_unique_id: header(protocol::headers::APNS_UNIQUE_ID),
            }));
        }
        let mut bytes = BytesMut::new();
        while let Some(chunk) = stream.data().await {
            match chunk {
                Ok(c) => {
                    let _ = stream.flow_control().release_capacity(c.len());
                    bytes.extend_from_slice(&c);
                }
                Err(e) => return Attempt::Done(Err(Error::Connection(e.to_string()))),
            }
        }
        Attempt::Done(Err(Error::Rejected(Rejection::from_body(parts.status.as_u16(), apns_id, &bytes))))
    }

    /// Sends every notification, at most `concurrency` at a time, and returns one result
    /// per notification, in order.
    pub async fn send_all(&self, notifications: Vec<Notification>, concurrency: usize) -> Vec<Result<Accepted, Error>> {
        let gate = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let total = notifications.len();
        for (i, n) in notifications.into_iter().enumerate() {
            let (client, gate) = (self.clone(), gate.clone());
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await;
                (i, client.send(&n).await)
            });
        }
        let mut results: Vec<Option<Result<Accepted, Error>>> = (0..total).map(|_| None).collect();
        while let Some(done) = tasks.join_next().await {
            if let Ok((i, r)) = done {
                results[i] = Some(r);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Connection("the send task failed".into()))))
            .collect()
    }
}

/// A stream error: sent again if the server says it did not process it (GOAWAY past
/// it, REFUSED_STREAM); otherwise it may have been processed, and is not.
fn unprocessed_or_lost(e: h2::Error) -> Attempt {
    if e.reason() == Some(h2::Reason::REFUSED_STREAM) && e.is_reset() {
        Attempt::Again { why: e.to_string(), retire: false }
    } else if e.is_go_away() && e.is_remote() {
        Attempt::Again { why: e.to_string(), retire: true }
    } else {
        Attempt::Done(Err(Error::Connection(e.to_string())))
    }
}
