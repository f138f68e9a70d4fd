//! The dashboard console's web pushes: one Web Push message as a web app's server sends
//! it — encrypted for the subscription (RFC 8291) and signed with VAPID (RFC 8292) — and
//! answered by the same checks, log and delivery as a message that arrived on the Web
//! Push listener. The console's VAPID key is the mock's default signing key (a P-256
//! key, as VAPID keys are), so web apps the dashboard subscribes with it
//! (`GET /api/v1/console/vapid-key`) can be pushed to from the console; a subscription
//! made with another key gets `VapidPkHashMismatch`, as from Apple.

use std::sync::Arc;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use super::Shared;
use crate::error::Error;

/// `POST /api/v1/console/web-push`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleWebPush {
    /// The subscription: its id, or its endpoint.
    pub subscription: String,
    /// The message: text as typed, or any other JSON value (sent as compact JSON).
    #[serde(deserialize_with = "super::dashboard::text_or_json")]
    pub payload: String,
    /// `TTL`, seconds (default 60); sent as given, so a bad value gets Apple's answer.
    #[serde(default)]
    pub ttl: Option<String>,
    /// `Urgency`.
    #[serde(default)]
    pub urgency: Option<String>,
    /// `Topic`.
    #[serde(default)]
    pub topic: Option<String>,
    /// The VAPID JWT's `sub` (default `mailto:console@example.com`): try
    /// `mailto:admin@localhost` to see Apple refuse it.
    #[serde(default)]
    pub subject: Option<String>,
}

/// What the console shows.
#[derive(Debug, Clone, Serialize)]
pub struct WebConsoleAnswer {
    /// 201 when accepted.
    pub status: u16,
    /// `apns-id`.
    pub apns_id: String,
    /// `Location`, when accepted.
    pub location: Option<String>,
    /// The reason, when refused.
    pub reason: Option<String>,
}

/// The console's VAPID key pair: the mock's default key.
fn console_key(shared: &Shared) -> Result<EcdsaKeyPair, Error> {
    let der = PrivateKeyDer::from_pem_slice(shared.default_key_p8.as_bytes())
        .map_err(|_| Error::BadKey("the default key is not PEM".into()))?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_der())
        .map_err(|e| Error::BadKey(format!("the default key: {e}")))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `GET /api/v1/console/vapid-key`: the `applicationServerKey` the console signs for.
pub(crate) fn vapid_key(shared: &Shared) -> Result<serde_json::Value, Error> {
    Ok(serde_json::json!({ "public_key": b64(console_key(shared)?.public_key().as_ref()) }))
}

/// Sends one web push from the console.
pub(crate) async fn web_push(shared: &Arc<Shared>, push: ConsoleWebPush) -> Result<WebConsoleAnswer, Error> {
    let id = push.subscription.rsplit('/').next().unwrap_or_default().to_owned();
    let subscription = shared
        .registry
        .web
        .get(&id)
        .ok_or_else(|| Error::NotFound(format!("no subscription {:?}", push.subscription)))?;
    let listener = shared.devices.webpush_url.get().cloned().unwrap_or_default();
    let authority = listener.trim_start_matches("https://").to_owned();
    // The message, encrypted for the subscription with a fresh key and salt.
    let body = protocol::ece::seal(push.payload.as_bytes(), &subscription.p256dh, &subscription.auth)
        .map_err(|e| Error::Invalid(format!("payload: {e}")))?;
    // The VAPID header, for this endpoint's origin.
    let subject = push.subject.unwrap_or_else(|| "mailto:console@example.com".into());
    let exp = shared.state.clock.unix_secs() + 12 * 3600;
    let authorization = protocol::webpush::vapid_authorization(&console_key(shared)?, &listener, exp, &subject)
        .ok_or_else(|| Error::BadKey("could not sign".into()))?;
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("https://{authority}/{id}"))
        .header(http::header::AUTHORIZATION, authorization)
        .header("ttl", push.ttl.as_deref().unwrap_or("60"))
        .header(http::header::CONTENT_ENCODING, "aes128gcm");
    for (name, value) in [("urgency", &push.urgency), ("topic", &push.topic)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            request = request.header(name, v);
        }
    }
    let (parts, ()) = request.body(()).map_err(|e| Error::Invalid(format!("cannot send that: {e}")))?.into_parts();
    let response = crate::provider_api::webpush::respond(shared, &parts, Ok(Bytes::from(body))).await;
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, apns_id, location) = (response.status().as_u16(), header("apns-id"), header("location"));
    let text = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let reason =
        serde_json::from_slice::<serde_json::Value>(&text).ok().and_then(|v| v["reason"].as_str().map(str::to_owned));
    Ok(WebConsoleAnswer { status, apns_id: apns_id.unwrap_or_default(), location, reason })
}
