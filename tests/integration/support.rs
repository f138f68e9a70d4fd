//! Shared test support: a mock started in-process, an HTTP/2 client over real TLS that
//! reports exactly what came back, a raw-frame client for wire-level checks, provider
//! tokens in every encoding clients use, and a small admin API client.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use mock_apns::{Clock, Config, MockApns, NewApp, NewDevice};
use protocol::Environment;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bundle ID most tests push to.
pub const APP: &str = "com.example.chat";

/// A started mock with a manual clock and one device that has [`APP`] in both
/// environments.
pub struct Lab {
    pub mock: MockApns,
    pub sandbox_token: String,
    pub production_token: String,
}

/// A manual clock at a fixed, realistic time.
pub fn manual_clock() -> Clock {
    Clock::manual(UNIX_EPOCH + Duration::from_secs(1_800_000_000))
}

pub async fn lab() -> Lab {
    lab_with(Config { clock: manual_clock(), ..Config::default() }).await
}

pub async fn lab_with(config: Config) -> Lab {
    let mock = MockApns::start(config).await.expect("mock starts");
    let device = mock
        .create_device(NewDevice {
            udid: Some("00008030-001A2D3C3E02802E".into()),
            apps: vec![
                NewApp { bundle_id: APP.into(), environment: Environment::Sandbox, team_id: None },
                NewApp { bundle_id: APP.into(), environment: Environment::Production, team_id: None },
            ],
        })
        .await
        .expect("device is created");
    Lab { sandbox_token: device.apps[0].token.clone(), production_token: device.apps[1].token.clone(), mock }
}

impl Lab {
    /// A provider token from the default key, issued now (by the mock's clock).
    pub fn jwt(&self) -> String {
        self.jwt_at(self.mock.clock().unix_secs())
    }

    pub fn jwt_at(&self, iat: u64) -> String {
        signer(self.mock.key_p8(), self.mock.key_id(), self.mock.team_id()).sign(iat).expect("signs")
    }

    /// A client certificate from the mock's CA for `topics` in `environment`.
    pub fn certificate(&self, topics: &[&str], environment: mock_apns::KeyEnvironment) -> mock_apns::CertificateView {
        self.mock
            .issue_certificate(mock_apns::NewCertificate {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                environment,
                pkcs12_password: None,
            })
            .expect("certificate is issued")
    }

    pub async fn client(&self, env: Environment) -> Client {
        Client::connect(self.mock.addr(env), self.mock.ca_pem(), None, Alpn::H2).await
    }
}

pub fn signer(p8: &str, key_id: &str, team_id: &str) -> provider::TokenSigner {
    provider::TokenSigner::new(p8.as_bytes(), key_id, team_id).expect("key is a P-256 .p8")
}

/// A fresh P-256 key as a `.p8`.
pub fn new_p8() -> String {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .expect("keygen");
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
    )
}

/// How a hand-made provider token is encoded.
#[derive(Clone, Copy, PartialEq)]
pub enum Made {
    /// As Apple's curl recipe makes it: `openssl dgst -sha256 -sign` gives a DER
    /// signature; header and claims are written with spaces; base64url, no padding.
    AppleRecipe,
    /// Every segment in standard base64 with padding, signed over that text (raw r‖s),
    /// as some hand-rolled clients do.
    StandardBase64,
}

/// A provider token made by hand, without a JWT library.
pub fn hand_made_jwt(how: Made, p8: &str, key_id: &str, team_id: &str, iat: u64) -> String {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let b64 = |b: &[u8]| match how {
        Made::AppleRecipe => URL_SAFE_NO_PAD.encode(b),
        Made::StandardBase64 => STANDARD.encode(b),
    };
    let (alg, header, claims) = match how {
        Made::AppleRecipe => (
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            format!(r#"{{ "alg": "ES256", "kid": "{key_id}" }}"#),
            format!(r#"{{ "iss": "{team_id}", "iat": {iat} }}"#),
        ),
        Made::StandardBase64 => (
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            format!(r#"{{"alg":"ES256","kid":"{key_id}"}}"#),
            format!(r#"{{"iss":"{team_id}","iat":{iat}}}"#),
        ),
    };
    let der = PrivateKeyDer::from_pem_slice(p8.as_bytes()).expect("a PEM key");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(alg, der.secret_der()).expect("P-256 key");
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig = pair.sign(&rng, input.as_bytes()).expect("signs");
    match how {
        Made::AppleRecipe => assert_eq!(sig.as_ref()[0], 0x30, "DER signatures start with a SEQUENCE"),
        Made::StandardBase64 => assert!(input.contains('='), "the example must show padding: {input}"),
    }
    format!("{input}.{}", b64(sig.as_ref()))
}

/// Which ALPN protocols the client offers.
#[derive(Clone, Copy)]
pub enum Alpn {
    H2,
    Http11AndH2,
    None,
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub fn tls_config(ca_pem: &str, client_cert: Option<(&str, &str)>, alpn: Alpn) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA is a certificate");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots);
    let mut config = match client_cert {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pem)) => {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(cert_pem.as_bytes()).map(|c| c.expect("cert PEM")).collect();
            let key: PrivateKeyDer<'static> = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("a PEM key");
            builder.with_client_auth_cert(certs, key).expect("client cert")
        }
    };
    config.alpn_protocols = match alpn {
        Alpn::H2 => vec![b"h2".to_vec()],
        Alpn::Http11AndH2 => vec![b"http/1.1".to_vec(), b"h2".to_vec()],
        Alpn::None => vec![],
    };
    Arc::new(config)
}

/// Opens TLS to `addr`, verifying the server as `api.sandbox.push.apple.com`.
pub async fn tls_connect(
    addr: std::net::SocketAddr,
    ca_pem: &str,
    client_cert: Option<(&str, &str)>,
    alpn: Alpn,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connects");
    let connector = tokio_rustls::TlsConnector::from(tls_config(ca_pem, client_cert, alpn));
    let name = ServerName::try_from("api.sandbox.push.apple.com").expect("valid name");
    connector.connect(name, tcp).await.expect("TLS handshake")
}

/// An HTTP/2 client that drives its connection while waiting.
pub struct Client {
    send: h2::client::SendRequest<Bytes>,
    conn: h2::client::Connection<Box<dyn Io>, Bytes>,
    pub alpn: Option<Vec<u8>>,
}

/// What came back for one request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub apns_id: Option<String>,
    pub unique_id: Option<String>,
    pub content_type: Option<String>,
    /// HEADERS carried END_STREAM (no body at all).
    pub end_on_headers: bool,
    /// The DATA chunks, as h2 delivered them (one per DATA frame).
    pub chunks: Vec<Bytes>,
    /// Every response header.
    pub headers: http::HeaderMap,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        let body: Vec<u8> = self.chunks.concat();
        serde_json::from_slice(&body).expect("error body is JSON")
    }

    /// The reason string, if any.
    pub fn reason(&self) -> Option<String> {
        (!self.chunks.is_empty()).then(|| self.json()["reason"].as_str().expect("reason is a string").to_owned())
    }

    /// Asserts an APNs success: 200, one HEADERS frame with END_STREAM, no body.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!((self.status, self.reason()), (200, None), "{self:?}");
        assert!(self.end_on_headers, "success must end on the HEADERS frame");
        assert!(self.apns_id.is_some());
    }

    /// Asserts an APNs error: status, JSON content type, one DATA frame with the reason.
    #[track_caller]
    pub fn assert_err(&self, status: u16, reason: &str) {
        assert_eq!((self.status, self.reason().as_deref()), (status, Some(reason)), "{self:?}");
        assert_eq!(self.content_type.as_deref(), Some("application/json"));
        assert_eq!(self.chunks.len(), 1, "the error body is one DATA frame");
        assert!(self.apns_id.is_some(), "errors carry apns-id too");
    }
}

/// A request to send.
#[derive(Clone)]
pub struct Push {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Push {
    /// `POST /3/device/<token>` with the given topic and a small alert payload.
    pub fn new(token: &str, jwt: &str) -> Push {
        Push {
            method: "POST",
            path: format!("/3/device/{token}"),
            headers: vec![
                ("authorization".into(), format!("bearer {jwt}")),
                ("apns-topic".into(), APP.into()),
                ("apns-push-type".into(), "alert".into()),
            ],
            body: br#"{"aps":{"alert":"hello"}}"#.to_vec(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Push {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a header even if it is already there (for DuplicateHeaders).
    pub fn also(mut self, name: &str, value: &str) -> Push {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn without(mut self, name: &str) -> Push {
        self.headers.retain(|(n, _)| n != name);
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Push {
        self.body = body.into();
        self
    }

    pub fn method(mut self, method: &'static str) -> Push {
        self.method = method;
        self
    }

    pub fn path(mut self, path: impl Into<String>) -> Push {
        self.path = path.into();
        self
    }
}

impl Client {
    pub async fn connect(
        addr: std::net::SocketAddr,
        ca_pem: &str,
        client_cert: Option<(&str, &str)>,
        alpn: Alpn,
    ) -> Client {
        let tls = tls_connect(addr, ca_pem, client_cert, alpn).await;
        let negotiated = tls.get_ref().1.alpn_protocol().map(|p| p.to_vec());
        let mut client = Client::handshake(Box::new(tls)).await;
        client.alpn = negotiated;
        client
    }

    pub async fn h2c(addr: std::net::SocketAddr) -> Client {
        Client::handshake(Box::new(TcpStream::connect(addr).await.expect("connects"))).await
    }

    async fn handshake(io: Box<dyn Io>) -> Client {
        let (send, conn) = h2::client::handshake(io).await.expect("HTTP/2 handshake");
        let mut client = Client { send, conn, alpn: None };
        // Let the server's SETTINGS arrive.
        let _ = client.drive(tokio::time::sleep(Duration::from_millis(30))).await;
        client
    }

    /// Runs `f` while driving the connection; `Err` if the connection ends first.
    pub async fn drive<F: Future>(&mut self, f: F) -> Result<F::Output, String> {
        tokio::pin!(f);
        tokio::select! {
            out = &mut f => Ok(out),
            end = &mut self.conn => Err(format!("connection ended: {end:?}")),
        }
    }

    /// The server's current MAX_CONCURRENT_STREAMS.
    pub fn max_streams(&self) -> usize {
        self.conn.max_concurrent_send_streams()
    }

    pub fn ping_pong(&mut self) -> Option<h2::PingPong> {
        self.conn.ping_pong()
    }

    /// Starts a request without waiting for its answer.
    pub async fn drive_send(
        &mut self,
        request: http::Request<()>,
    ) -> (h2::client::ResponseFuture, h2::SendStream<Bytes>) {
        let ready = self.send.clone().ready();
        self.send = self.drive(ready).await.expect("connection up").expect("ready");
        self.send.send_request(request, false).expect("stream opens")
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&mut self, push: Push) -> Result<Reply, String> {
        let mut request = http::Request::builder()
            .method(push.method)
            .uri(format!("https://api.sandbox.push.apple.com{}", push.path));
        for (name, value) in &push.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request.body(()).map_err(|e| e.to_string())?;
        let ready = self.send.clone().ready();
        self.send = self.drive(ready).await?.map_err(|e| e.to_string())?;
        let (response, mut stream) =
            self.send.send_request(request, push.body.is_empty()).map_err(|e| e.to_string())?;
        if !push.body.is_empty() {
            stream.send_data(Bytes::from(push.body), true).map_err(|e| e.to_string())?;
        }
        let response = self.drive(response).await?.map_err(|e| e.to_string())?;
        let (parts, mut body) = response.into_parts();
        let end_on_headers = body.is_end_stream();
        let mut chunks = Vec::new();
        while let Some(chunk) = self.drive(body.data()).await? {
            let chunk = chunk.map_err(|e| e.to_string())?;
            if !chunk.is_empty() {
                chunks.push(chunk);
            }
        }
        let header = |n: &str| parts.headers.get(n).map(|v| v.to_str().expect("ASCII header").to_owned());
        Ok(Reply {
            status: parts.status.as_u16(),
            apns_id: header("apns-id"),
            unique_id: header("apns-unique-id"),
            content_type: header("content-type"),
            end_on_headers,
            chunks,
            headers: parts.headers.clone(),
        })
    }

    /// [`Client::send`], panicking if the connection fails.
    pub async fn push(&mut self, push: Push) -> Reply {
        self.send(push).await.expect("request is answered")
    }
}

/// One HTTP/2 frame as read off the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK "literal header field without indexing, new name", no Huffman: enough to send
/// any header block by hand.
pub fn hpack(headers: &[(&str, &str)]) -> Vec<u8> {
    fn int(out: &mut Vec<u8>, prefix_bits: u8, first: u8, mut n: usize) {
        let max = (1usize << prefix_bits) - 1;
        if n < max {
            out.push(first | n as u8);
            return;
        }
        out.push(first | max as u8);
        n -= max;
        while n >= 128 {
            out.push((n % 128) as u8 | 0x80);
            n /= 128;
        }
        out.push(n as u8);
    }
    let mut out = Vec::new();
    for (name, value) in headers {
        out.push(0x00);
        int(&mut out, 7, 0, name.len());
        out.extend_from_slice(name.as_bytes());
        int(&mut out, 7, 0, value.len());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

pub async fn read_frame<R: AsyncRead + Unpin>(io: &mut R) -> Option<Frame> {
    let mut h = [0u8; 9];
    io.read_exact(&mut h).await.ok()?;
    let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
    let mut payload = vec![0; len];
    io.read_exact(&mut payload).await.ok()?;
    Some(Frame { kind: h[3], flags: h[4], stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff, payload })
}

/// Reads frames until `done` says stop, the connection closes, or 5 s pass.
pub async fn read_frames<R: AsyncRead + Unpin>(io: &mut R, done: impl Fn(&Frame) -> bool) -> Vec<Frame> {
    let mut frames = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(f) = read_frame(io).await {
            let stop = done(&f);
            frames.push(f);
            if stop {
                break;
            }
        }
    })
    .await;
    frames
}

/// Opens a raw connection: preface and an empty SETTINGS frame are sent.
pub async fn raw_start<W: AsyncWrite + Unpin>(io: &mut W) {
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(0x4, 0, 0, &[]));
    io.write_all(&hello).await.expect("writes");
}

/// SETTINGS pairs from a SETTINGS frame's payload.
pub fn settings(f: &Frame) -> Vec<(u16, u32)> {
    f.payload
        .chunks_exact(6)
        .map(|c| (u16::from_be_bytes([c[0], c[1]]), u32::from_be_bytes([c[2], c[3], c[4], c[5]])))
        .collect()
}

/// A tiny client for the admin API (HTTP/1.1).
pub async fn admin(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    let tcp = TcpStream::connect(addr).await.expect("admin connects");
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.expect("handshake");
    tokio::spawn(conn);
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(http_body_util::Full::new(Bytes::from(body)))
        .expect("request");
    let resp = send.send_request(req).await.expect("admin answers");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

/// A mock on the real clock with one simulated iPhone running (gateway connected,
/// [`APP`] registered), as `apns-lab demo` has them.
pub async fn running_phone(udid: &str) -> (MockApns, String) {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let endpoint =
        device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned()).expect("gateway endpoint");
    let apps = vec![device_sim::run::AppSetup::new(APP, Environment::Sandbox)];
    tokio::spawn(device_sim::run::run(endpoint, Some(udid.to_owned()), apps, None, |_| {}));
    let token = wait_for(Duration::from_secs(10), || {
        mock.device(udid).ok().and_then(|d| d.apps.first().map(|a| a.token.clone()))
    })
    .await
    .expect("the phone registers");
    // Registered is not yet listening: wait for its notification stream ("online").
    wait_for(Duration::from_secs(10), || mock.events(Some(udid), 10).iter().any(|e| e.kind == "online").then_some(()))
        .await
        .expect("the phone opens its notification stream");
    (mock, token)
}

pub async fn wait_for<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
