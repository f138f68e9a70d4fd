//! Sending Web Push, as a web app's server does: the message encrypted for the
//! subscription (RFC 8291, aes128gcm; `protocol::ece`), signed with the server's VAPID
//! key (RFC 8292: an ES256 JWT for the endpoint's origin and `vapid t=…, k=…`), and
//! `POST`ed to the subscription's endpoint over HTTP/2 — at Apple's
//! `web.push.apple.com`, or the mock's Web Push listener with its CA.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use bytes::Bytes;
use protocol::webpush::{Urgency, base64url};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, ServerName};

use crate::Error;

/// A subscription as the web app hands it over: `PushSubscription.toJSON()`.
pub use protocol::gateway::{PushSubscription as Subscription, SubscriptionKeys};

/// The application server's VAPID identity: its P-256 key and the contact (`sub`) Apple
/// requires — `mailto:` an address or an `https:` URL Apple can reach.
pub struct Vapid {
    key: EcdsaKeyPair,
    subject: String,
}

impl Vapid {
    /// From a PKCS#8 PEM private key (`openssl ecparam -genkey -name prime256v1`, then
    /// `openssl pkcs8 -topk8 -nocrypt`).
    pub fn from_pem(pem: &str, subject: &str) -> Result<Vapid, Error> {
        let der =
            PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| Error::BadKey(format!("VAPID key: {e}")))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_der())
            .map_err(|e| Error::BadKey(format!("VAPID key: {e}")))?;
        Ok(Vapid { key, subject: subject.to_owned() })
    }

    /// A new key.
    pub fn generate(subject: &str) -> Result<Vapid, Error> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| Error::BadKey("no P-256 key".into()))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|e| Error::BadKey(e.to_string()))?;
        Ok(Vapid { key, subject: subject.to_owned() })
    }

    /// The public key, base64url: the web app's `applicationServerKey`.
    pub fn public_key(&self) -> String {
        b64(self.key.public_key().as_ref())
    }

    /// `Authorization: vapid t=<JWT>, k=<key>` for pushes to `origin` until `exp`.
    pub fn authorization(&self, origin: &str, exp: u64) -> Result<String, Error> {
        protocol::webpush::vapid_authorization(&self.key, origin, exp, &self.subject)
            .ok_or_else(|| Error::BadKey("the VAPID key cannot sign".into()))
    }
}

/// How long and how urgently the push service should try, and what a newer message
/// replaces.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Seconds the push service may keep it for an offline device (0: now or never).
    pub ttl: u64,
    /// `Urgency`.
    pub urgency: Option<Urgency>,
    /// `Topic`: a pending message with the same topic is replaced.
    pub topic: Option<String>,
}

/// What the push service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// 201 when accepted.
    pub status: u16,
    /// Apple's `apns-id`.
    pub apns_id: Option<String>,
    /// `Location`, the message's URI.
    pub location: Option<String>,
    /// The reason, when refused.
    pub reason: Option<String>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Encrypts `plaintext` for `subscription` with a fresh key and salt.
pub fn encrypt(subscription: &Subscription, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let bad = |what: &str| Error::Invalid(format!("the subscription's {what} is not base64url"));
    let p256dh = base64url(&subscription.keys.p256dh).ok_or_else(|| bad("p256dh"))?;
    let auth = base64url(&subscription.keys.auth).ok_or_else(|| bad("auth"))?;
    protocol::ece::seal(plaintext, &p256dh, &auth).map_err(|e| Error::Invalid(e.to_string()))
}

/// Sends one message: encrypted, signed, over HTTP/2 to the subscription's endpoint,
/// trusting `ca_pem` (the mock's CA) or the public roots. One connection for this message;
/// a [`Sender`] keeps them.
pub async fn send(
    subscription: &Subscription,
    plaintext: &[u8],
    vapid: &Vapid,
    options: &Options,
    ca_pem: Option<&str>,
    now: u64,
) -> Result<Answer, Error> {
    Sender::new(ca_pem)?.send(subscription, plaintext, vapid, options, now).await
}

/// A Web Push sender that keeps one HTTP/2 connection per push service origin (every
/// subscription at Apple shares `web.push.apple.com`'s) and reuses each VAPID JWT for an
/// origin until an hour before it expires, as a server sending many messages should:
/// the push service then verifies it once.
pub struct Sender {
    tls: std::sync::Arc<rustls::ClientConfig>,
    connections: tokio::sync::Mutex<std::collections::HashMap<String, h2::client::SendRequest<Bytes>>>,
    /// By origin and VAPID public key: the `Authorization` value and its `exp`.
    jwts: std::sync::Mutex<std::collections::HashMap<(String, String), (String, u64)>>,
}

/// How long a VAPID JWT this sender signs is valid (Apple refuses more than 24 h).
const JWT_LIFETIME: u64 = 12 * 3600;

impl Sender {
    /// A sender trusting `ca_pem` (the mock's CA) or, without it, the public roots.
    pub fn new(ca_pem: Option<&str>) -> Result<Sender, Error> {
        let mut tls = crate::client::tls_builder(ca_pem)?.with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Sender { tls: std::sync::Arc::new(tls), connections: Default::default(), jwts: Default::default() })
    }

    /// Sends one message: encrypted for the subscription with a fresh key and salt,
    /// signed for the endpoint's origin, on the origin's connection (opened, or opened
    /// again once, as needed).
    pub async fn send(
        &self,
        subscription: &Subscription,
        plaintext: &[u8],
        vapid: &Vapid,
        options: &Options,
        now: u64,
    ) -> Result<Answer, Error> {
        let body = if plaintext.is_empty() { Vec::new() } else { encrypt(subscription, plaintext)? };
        self.send_encrypted(&subscription.endpoint, Bytes::from(body), vapid, options, now).await
    }

    /// Sends a message already encrypted for the subscription at `endpoint` (an
    /// aes128gcm body, or none): what [`Sender::send`] does after encrypting.
    pub async fn send_encrypted(
        &self,
        endpoint: &str,
        body: Bytes,
        vapid: &Vapid,
        options: &Options,
        now: u64,
    ) -> Result<Answer, Error> {
        let url: http::Uri = endpoint.parse().map_err(|_| Error::Invalid("the endpoint is not a URL".into()))?;
        let (Some("https"), Some(authority)) = (url.scheme_str(), url.authority()) else {
            return Err(Error::Invalid("the endpoint is not an https URL".into()));
        };
        let origin = format!("https://{authority}");
        let mut request = http::Request::post(url.clone())
            .header("authorization", self.authorization(vapid, &origin, now)?)
            .header("ttl", options.ttl.to_string());
        if !body.is_empty() {
            request = request.header("content-encoding", "aes128gcm");
        }
        if let Some(u) = options.urgency {
            request = request.header("urgency", u.as_str());
        }
        if let Some(t) = &options.topic {
            request = request.header("topic", t);
        }
        let request = request.body(()).map_err(|e| Error::Invalid(e.to_string()))?;
        // A kept connection that the push service closed refuses the request before it
        // is sent: that one is tried again on a new connection. Once sent, a message is
        // never sent twice.
        let send = self.connection(authority, &origin, false).await?;
        match exchange(send, request.clone(), body.clone()).await {
            Err(Unsent(_)) => {
                let send = self.connection(authority, &origin, true).await?;
                exchange(send, request, body).await.map_err(|Unsent(e)| e)?
            }
            Ok(answer) => answer,
        }
    }

    /// The `Authorization` value for `origin`: the one signed before while it has more
    /// than an hour left, else a new one.
    fn authorization(&self, vapid: &Vapid, origin: &str, now: u64) -> Result<String, Error> {
        let key = (origin.to_owned(), vapid.public_key());
        let mut jwts = self.jwts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((value, exp)) = jwts.get(&key)
            && *exp > now + 3600
        {
            return Ok(value.clone());
        }
        let value = vapid.authorization(origin, now + JWT_LIFETIME)?;
        jwts.insert(key, (value.clone(), now + JWT_LIFETIME));
        Ok(value)
    }

    /// The origin's connection, ready for a request: the kept one unless `fresh` or it
    /// has closed, else a new one (kept for next time).
    async fn connection(
        &self,
        authority: &http::uri::Authority,
        origin: &str,
        fresh: bool,
    ) -> Result<h2::client::SendRequest<Bytes>, Error> {
        // The kept one, taken out of the lock before waiting on it (its streams are shared
        // by every task sending to this origin).
        let kept = if fresh { None } else { self.connections.lock().await.get(origin).cloned() };
        if let Some(kept) = kept
            && let Ok(ready) = kept.ready().await
        {
            return Ok(ready);
        }
        let mut connections = self.connections.lock().await;
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = authority.port_u16().unwrap_or(443);
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| Error::Connection(format!("{origin}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(host).map_err(|_| Error::Config(format!("bad host in {origin}")))?;
        let stream = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| Error::Connection(format!("{origin}: TLS: {e}")))?;
        let (send, conn) =
            h2::client::handshake(stream).await.map_err(|e| Error::Connection(format!("{origin}: {e}")))?;
        tokio::spawn(conn);
        let send = send.ready().await.map_err(|e| Error::Connection(e.to_string()))?;
        connections.insert(origin.to_owned(), send.clone());
        Ok(send)
    }
}

/// A request the connection refused before sending it.
struct Unsent(Error);

/// One request and its answer on a ready connection: `Err` if it could not be sent, else
/// the answer (or why there is none).
async fn exchange(
    mut send: h2::client::SendRequest<Bytes>,
    request: http::Request<()>,
    body: Bytes,
) -> Result<Result<Answer, Error>, Unsent> {
    let (response, stream) =
        send.send_request(request, body.is_empty()).map_err(|e| Unsent(Error::Connection(e.to_string())))?;
    Ok(answer(response, stream, body).await)
}

async fn answer(
    response: h2::client::ResponseFuture,
    mut stream: h2::SendStream<Bytes>,
    body: Bytes,
) -> Result<Answer, Error> {
    if !body.is_empty() {
        stream.send_data(body, true).map_err(|e| Error::Connection(e.to_string()))?;
    }
    let response = response.await.map_err(|e| Error::Connection(e.to_string()))?;
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, apns_id, location) = (response.status().as_u16(), header("apns-id"), header("location"));
    let mut data = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = data.data().await {
        let chunk = chunk.map_err(|e| Error::Connection(e.to_string()))?;
        let _ = data.flow_control().release_capacity(chunk.len());
        text.extend_from_slice(&chunk);
    }
    let reason =
        serde_json::from_slice::<serde_json::Value>(&text).ok().and_then(|v| v["reason"].as_str().map(str::to_owned));
    Ok(Answer { status, apns_id, location, reason })
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::agreement::{ECDH_P256, PrivateKey};
    use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};

    use super::*;

    #[test]
    fn a_sender_reuses_its_jwt_until_an_hour_before_it_expires() {
        let sender = Sender::new(None).expect("sender");
        let vapid = Vapid::generate("mailto:ops@example.com").expect("key");
        let now = 1_800_000_000;
        let first = sender.authorization(&vapid, "https://web.push.apple.com", now).expect("signs");
        let later = sender.authorization(&vapid, "https://web.push.apple.com", now + JWT_LIFETIME - 3601);
        assert_eq!(later.expect("signs"), first, "reused");
        let other = sender.authorization(&vapid, "https://127.0.0.1:2200", now).expect("signs");
        assert_ne!(other, first, "another origin, another audience");
        let renewed = sender.authorization(&vapid, "https://web.push.apple.com", now + JWT_LIFETIME - 3600);
        assert_ne!(renewed.expect("signs"), first, "an hour left: signed again");
    }

    #[test]
    fn a_subscription_s_message_decrypts_with_the_phone_s_keys() {
        // The phone's side, as a browser makes it.
        let phone = PrivateKey::generate(&ECDH_P256).expect("key");
        let public = phone.compute_public_key().expect("public");
        let scalar: EcPrivateKeyBin<'static> = phone.as_be_bytes().expect("scalar");
        let auth = [7u8; 16];
        let subscription = Subscription {
            endpoint: "https://web.push.apple.com/x".into(),
            expiration_time: None,
            keys: SubscriptionKeys { p256dh: b64(public.as_ref()), auth: b64(&auth) },
        };
        let body = encrypt(&subscription, b"Dinner at 7").expect("encrypts");
        let plain = protocol::ece::decrypt(&body, scalar.as_ref(), public.as_ref(), &auth).expect("decrypts");
        assert_eq!(plain, b"Dinner at 7");
    }

    #[test]
    fn the_authorization_header_is_vapid_t_and_k() {
        let vapid = Vapid::generate("mailto:ops@example.com").expect("key");
        let header = vapid.authorization("https://web.push.apple.com", 1_800_000_000).expect("signs");
        let parsed = protocol::webpush::parse_authorization(Some(&header)).expect("parses");
        assert_eq!(parsed.k, vapid.public_key());
        assert_eq!(parsed.t.split('.').count(), 3);
    }
}
