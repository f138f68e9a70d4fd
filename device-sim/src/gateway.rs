//! The phone's side of the device gateway: TLS + HTTP/2 to the mock APNs, authenticated
//! by the device identity certificate it got at activation.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use h2::RecvStream;
use h2::client::SendRequest;
use protocol::gateway::{
    Ack, Activate, Activation, ActivityToken, DeclareActivityType, Delivery, EndActivity, RegisterApp, Registered,
    StartActivity,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

use crate::Error;

/// Where the gateway is and how to trust it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Where to connect (the `gateway` of the mock's ready line, a name resolved).
    pub addr: SocketAddr,
    /// The mock's CA certificate, PEM.
    pub ca_pem: String,
}

impl Endpoint {
    /// Reads `https://host:port` (or `host:port`); a name such as `localhost` is
    /// resolved, IPv4 first.
    pub fn parse(url: &str, ca_pem: String) -> Result<Endpoint, Error> {
        let hostport = url.trim_start_matches("https://").trim_end_matches('/');
        let bad = || Error::Config(format!("gateway {url:?} is not https://HOST:PORT"));
        let addr = match hostport.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                let all: Vec<SocketAddr> =
                    std::net::ToSocketAddrs::to_socket_addrs(hostport).map_err(|_| bad())?.collect();
                all.iter().find(|a| a.is_ipv4()).or(all.first()).copied().ok_or_else(bad)?
            }
        };
        Ok(Endpoint { addr, ca_pem })
    }

    /// `https://addr`, as errors name it.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

/// A device's identity: its certificate and key, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The certificate.
    pub cert_pem: String,
    /// The key.
    pub key_pem: String,
}

/// One HTTP/2 connection to the gateway.
pub struct Gateway {
    send: SendRequest<Bytes>,
    /// `https://addr`, for errors.
    url: String,
}

fn tls_config(ca_pem: &str, identity: Option<&Identity>) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| Error::Config(format!("CA PEM: {e}")))?;
        roots.add(cert).map_err(|e| Error::Config(format!("CA: {e}")))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(id.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| Error::Config(format!("device certificate: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).map_err(|e| match e {
                rustls::pki_types::pem::Error::NoItemsFound => Error::Config("device key PEM holds no key".into()),
                e => Error::Config(format!("device key: {e}")),
            })?;
            builder.with_client_auth_cert(certs, key).map_err(|e| Error::Config(e.to_string()))?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

impl Gateway {
    /// Connects (with the device identity, once the device has one).
    pub async fn connect(endpoint: &Endpoint, identity: Option<&Identity>) -> Result<Gateway, Error> {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(&endpoint.ca_pem, identity)?));
        let url = endpoint.url();
        let unreachable = |source| Error::Unreachable { who: "gateway", url: url.clone(), source };
        let tcp = TcpStream::connect(endpoint.addr).await.map_err(unreachable)?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::from(endpoint.addr.ip());
        let tls = connector.connect(name, tcp).await.map_err(unreachable)?;
        let (send, conn) = h2::client::handshake(tls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Gateway { send, url })
    }

    async fn open(
        &mut self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<http::Response<RecvStream>, Error> {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("https://gateway{path}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(())
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut send = self.send.clone().ready().await?;
        let (response, mut stream) = send.send_request(request, body.is_none())?;
        if let Some(body) = body {
            stream.send_data(Bytes::from(body), true)?;
        }
        Ok(response.await?)
    }

    async fn call<T: Serialize, R: DeserializeOwned>(&mut self, path: &str, body: &T) -> Result<R, Error> {
        let body = serde_json::to_vec(body).map_err(|e| Error::Config(e.to_string()))?;
        let response = self.open(http::Method::POST, path, Some(body)).await?;
        let status = response.status();
        let bytes = read_all(response.into_body()).await?;
        if !status.is_success() {
            return Err(Error::Refused {
                who: "gateway",
                url: format!("{}{path}", self.url),
                status: status.as_u16(),
                message: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        if bytes.is_empty() {
            return serde_json::from_slice(b"null").map_err(|e| Error::Protocol(e.to_string()));
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::Protocol(e.to_string()))
    }

    /// Activates the device (on a connection without an identity).
    pub async fn activate(&mut self, udid: Option<String>) -> Result<Activation, Error> {
        self.call("/gateway/v1/activate", &Activate { udid }).await
    }

    /// Step 1 → 2: registers an app and returns the token APNs derived for it.
    pub async fn register(&mut self, app: &RegisterApp) -> Result<Registered, Error> {
        self.call("/gateway/v1/apps", app).await
    }

    /// An app declares an `ActivityAttributes` type: its push-to-start token.
    pub async fn declare_activity_type(&mut self, d: &DeclareActivityType) -> Result<ActivityToken, Error> {
        self.call("/gateway/v1/push-to-start", d).await
    }

    /// An activity started on the phone: its update token (`None` for one that listens
    /// to a channel: it has no token).
    pub async fn start_activity(&mut self, s: &StartActivity) -> Result<Option<ActivityToken>, Error> {
        self.call("/gateway/v1/activities", s).await
    }

    /// An activity ended on the phone.
    pub async fn end_activity(&mut self, e: &EndActivity) -> Result<(), Error> {
        self.call::<_, ()>("/gateway/v1/activities/end", e).await
    }

    /// Tells the mock that an app handed its token to its provider (step 3): the
    /// simulator's report, so the flow can be drawn whole; a real device never does this.
    pub async fn handed_over(&mut self, h: &protocol::gateway::HandedOver) -> Result<(), Error> {
        self.call::<_, ()>("/gateway/v1/handed-over", h).await
    }

    /// A web app on the phone subscribes to Web Push: its `PushSubscription`.
    pub async fn subscribe_web_app(
        &mut self,
        s: &protocol::gateway::SubscribeWebApp,
    ) -> Result<protocol::gateway::PushSubscription, Error> {
        self.call("/gateway/v1/web-apps", s).await
    }

    /// A web app leaves the Home Screen: its subscription ends.
    pub async fn remove_web_app(&mut self, r: &protocol::gateway::RemoveWebApp) -> Result<(), Error> {
        self.call::<_, serde_json::Value>("/gateway/v1/web-apps/remove", r).await.map(|_| ())
    }

    /// Acknowledges notifications.
    pub async fn ack(&mut self, acks: &[Ack]) -> Result<(), Error> {
        self.call::<_, ()>("/gateway/v1/acks", &acks).await
    }

    /// Opens a long-lived acknowledgement stream: each [`AckSink::send`] is one line on
    /// one request body, not a request of its own.
    pub async fn ack_sink(&mut self) -> Result<AckSink, Error> {
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri("https://gateway/gateway/v1/acks")
            .header(http::header::CONTENT_TYPE, "application/x-ndjson")
            .body(())
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut send = self.send.clone().ready().await?;
        let (_response, stream) = send.send_request(request, false)?;
        Ok(AckSink { stream })
    }

    /// Opens the notification stream (the device is online while it is open).
    pub async fn notifications(&mut self) -> Result<Notifications, Error> {
        let response = self.open(http::Method::GET, "/gateway/v1/notifications", None).await?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let bytes = read_all(response.into_body()).await?;
            return Err(Error::Refused {
                who: "gateway",
                url: format!("{}/gateway/v1/notifications", self.url),
                status,
                message: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(Notifications { body: response.into_body(), buf: BytesMut::new() })
    }
}

async fn read_all(mut body: RecvStream) -> Result<Bytes, Error> {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// An open acknowledgement stream.
pub struct AckSink {
    stream: h2::SendStream<Bytes>,
}

impl AckSink {
    /// Sends one acknowledgement.
    pub fn send(&mut self, ack: &Ack) -> Result<(), Error> {
        let mut line = serde_json::to_vec(ack).map_err(|e| Error::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.stream.send_data(Bytes::from(line), false)?;
        Ok(())
    }
}

impl Drop for AckSink {
    fn drop(&mut self) {
        let _ = self.stream.send_data(Bytes::new(), true);
    }
}

/// The open notification stream: one [`Delivery`] per line.
pub struct Notifications {
    body: RecvStream,
    buf: BytesMut,
}

impl Notifications {
    /// The next notification; `None` when the gateway closed the stream.
    pub async fn next(&mut self) -> Option<Result<Delivery, Error>> {
        loop {
            if let Some(at) = self.buf.iter().position(|b| *b == b'\n') {
                let line = self.buf.split_to(at + 1);
                return Some(serde_json::from_slice(&line[..at]).map_err(|e| Error::Protocol(e.to_string())));
            }
            match self.body.data().await? {
                Ok(chunk) => {
                    let _ = self.body.flow_control().release_capacity(chunk.len());
                    self.buf.extend_from_slice(&chunk);
                }
                Err(e) => return Some(Err(e.into())),
            }
        }
    }
}
