//! Web apps on a phone's Home Screen, and their Web Push subscriptions: the phone makes
//! the subscription's P-256 key pair and 16-byte auth secret (the private half stays on
//! the phone, to decrypt what arrives), the push service issues the endpoint, and the
//! answer has the shape of `PushSubscription.toJSON()`. A running phone makes its keys
//! itself and sends the public half over the gateway; for a phone of the admin API the
//! device side makes them, and keeps the private half for it (see `web_delivery`).
//! Removing the web app ends its subscription; pushes to it answer 410 from then on.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::Room;
use crate::error::Error;
use crate::registry::web::{Ended, WebSubscription};
use crate::state::store::Write;

/// `POST /api/v1/devices/{udid}/web-apps`: a web app is added to the Home Screen and
/// subscribes (`PushManager.subscribe({userVisibleOnly: true, applicationServerKey})`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebApp {
    /// The web app's origin: `https://host[:port]`.
    pub origin: String,
    /// Its name on the Home Screen (default: the origin's host).
    #[serde(default)]
    pub name: Option<String>,
    /// The application server's public key (VAPID), base64url: a 65-byte uncompressed
    /// P-256 point.
    pub application_server_key: String,
    /// The phone's own keys (`p256dh`, `auth`), when a running phone made them and keeps
    /// the private half (the gateway's call); the admin API's phones get keys made here.
    #[serde(skip)]
    pub phone_keys: Option<(Vec<u8>, Vec<u8>)>,
}

/// `POST /api/v1/devices/{udid}/web-apps/remove` (the web app is removed from the Home
/// Screen) and `…/web-apps/revoke` (the user turns its notifications off in Settings; the
/// web app stays, and may subscribe again once allowed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveWebApp {
    /// The web app's origin.
    pub origin: String,
}

/// A subscription as the web app sees it: `PushSubscription.toJSON()`, plus the web app
/// and whether the subscription still stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebSubscriptionView {
    /// `https://<web push listener>/<id>`.
    pub endpoint: String,
    /// Always `null`, as from Apple.
    #[serde(rename = "expirationTime")]
    pub expiration_time: Option<u64>,
    /// `p256dh` and `auth`, base64url.
    pub keys: Keys,
    /// The web app's origin.
    pub origin: String,
    /// Its name on the Home Screen.
    pub name: String,
    /// `active`, or `ended` (410).
    pub state: &'static str,
    /// For an ended one: `removed`, `revoked` or `erased`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<&'static str>,
}

/// The subscription's keys, base64url.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Keys {
    /// The phone's public key (65 bytes).
    pub p256dh: String,
    /// The auth secret (16 bytes).
    pub auth: String,
}

/// The phones' private keys for their subscriptions, by subscription id.
#[derive(Default)]
pub(crate) struct WebKeys {
    private: Mutex<HashMap<String, Vec<u8>>>,
}

impl WebKeys {
    /// One read back from the state database.
    pub(crate) fn load(&self, id: String, key: Vec<u8>) {
        self.private.lock().unwrap_or_else(|e| e.into_inner()).insert(id, key);
    }

    /// The private key (P-256 scalar) for a subscription, while the phone has it.
    pub(crate) fn get(&self, id: &str) -> Option<Vec<u8>> {
        self.private.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    /// Forgets them all (a reset).
    pub(crate) fn clear(&self) {
        self.private.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `https://host[:port]` and nothing else.
fn valid_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("https://") else { return false };
    !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' '])
        && rest.split(':').next().is_some_and(|h| !h.is_empty())
}

/// A subscription as the admin API shows it, its endpoint under `listener`.
pub(crate) fn view(s: &WebSubscription, listener: &str) -> WebSubscriptionView {
    WebSubscriptionView {
        endpoint: format!("{listener}/{}", s.id),
        expiration_time: None,
        keys: Keys { p256dh: b64(&s.p256dh), auth: b64(&s.auth) },
        origin: s.origin.clone(),
        name: s.name.clone(),
        state: if s.ended_at.is_some() { "ended" } else { "active" },
        ended_by: s.ended_by.map(Ended::as_str),
    }
}

impl Room {
    /// Adds a web app to a phone's Home Screen and subscribes it: the phone makes its key
    /// pair and auth secret, the registry issues the subscription.
    pub(crate) async fn add_web_app(&self, udid: &str, req: NewWebApp) -> Result<WebSubscription, Error> {
        if self.registry.table.device_slot(udid).is_none() {
            return Err(Error::NotFound(format!("no device {udid}")));
        }
        if !valid_origin(&req.origin) {
            return Err(Error::Invalid(format!("origin {:?} is not https://host[:port]", req.origin)));
        }
        let server_key = protocol::webpush::public_key(&req.application_server_key).map_err(|_| {
            Error::Invalid("application_server_key must be a base64url 65-byte uncompressed P-256 point".into())
        })?;
        // `subscribe()` again answers the subscription the web app has, if it was made
        // with the same key; with another key it fails (InvalidStateError) until the web
        // app unsubscribes, as browsers do.
        // A phone that brings other keys than the live subscription's has lost those
        // (its storage was cleared): that subscription ends and a new one is made.
        let live =
            self.registry.web.of_device(udid).into_iter().find(|s| s.origin == req.origin && s.ended_at.is_none());
        if let Some(live) = live {
            let same_keys =
                req.phone_keys.as_ref().is_none_or(|(p256dh, auth)| *p256dh == live.p256dh && *auth == live.auth);
            match (live.application_server_key == server_key, same_keys) {
                (true, true) => return Ok(live),
                (true, false) => {
                    self.remove_web_app(udid, &req.origin, Ended::Removed).await?;
                }
                (false, _) => {
                    return Err(Error::Conflict(format!(
                        "{} is subscribed with another application server key; remove it first (InvalidStateError)",
                        req.origin
                    )));
                }
            }
        }
        let (p256dh, auth, key) = match req.phone_keys {
            Some((p256dh, auth)) => {
                if p256dh.len() != 65 || p256dh[0] != 4 || auth.len() != 16 {
                    return Err(Error::Invalid("keys: p256dh must be a 65-byte P-256 point and auth 16 bytes".into()));
                }
                (p256dh, auth, Vec::new())
            }
            None => {
                let (private, public) =
                    protocol::ece::key_pair().map_err(|e| Error::Invalid(format!("no key pair: {e}")))?;
                (public, crate::random::bytes(16), private)
            }
        };
        let subscription = self.registry.web.add(WebSubscription {
            id: String::new(),
            udid: udid.to_owned(),
            name: req.name.unwrap_or_else(|| {
                req.origin.trim_start_matches("https://").split(':').next().unwrap_or("").to_owned()
            }),
            origin: req.origin,
            application_server_key: server_key,
            p256dh,
            auth,
            created_at: self.state.clock.unix_millis(),
            ended_at: None,
            ended_by: None,
        });
        self.state.store.write(vec![Write::WebSubscription(subscription.stored(key.clone()))]).await?;
        if !key.is_empty() {
            self.web_keys.load(subscription.id.clone(), key);
        }
        Ok(subscription)
    }

    /// Removes a web app from a phone, or revokes its notification permission (`by`):
    /// its subscriptions end (410 from then on).
    pub(crate) async fn remove_web_app(
        &self,
        udid: &str,
        origin: &str,
        by: Ended,
    ) -> Result<Vec<WebSubscription>, Error> {
        if self.registry.table.device_slot(udid).is_none() {
            return Err(Error::NotFound(format!("no device {udid}")));
        }
        let ended = self.registry.web.end(udid, Some(origin), self.state.clock.unix_millis(), by);
        if ended.is_empty() {
            return Err(Error::NotFound(format!("{udid} has no web app {origin} subscribed")));
        }
        // The phone drops its keys with the web app.
        let writes = ended.iter().map(|s| Write::WebSubscription(s.stored(Vec::new()))).collect();
        self.state.store.write(writes).await?;
        let mut keys = self.web_keys.private.lock().unwrap_or_else(|e| e.into_inner());
        for s in &ended {
            keys.remove(&s.id);
        }
        Ok(ended)
    }

    /// Ends every subscription of a phone (an erase: its keys are gone); answers how many.
    pub(crate) async fn end_web_subscriptions(&self, udid: &str, now: u64) -> Result<usize, Error> {
        let ended = self.registry.web.end(udid, None, now, Ended::Erased);
        if ended.is_empty() {
            return Ok(0);
        }
        let writes = ended.iter().map(|s| Write::WebSubscription(s.stored(Vec::new()))).collect();
        self.state.store.write(writes).await?;
        let mut keys = self.web_keys.private.lock().unwrap_or_else(|e| e.into_inner());
        for s in &ended {
            keys.remove(&s.id);
        }
        Ok(ended.len())
    }

    /// A phone's web subscriptions.
    pub(crate) fn web_apps(&self, udid: &str) -> Result<Vec<WebSubscription>, Error> {
        if self.registry.table.device_slot(udid).is_none() {
            return Err(Error::NotFound(format!("no device {udid}")));
        }
        Ok(self.registry.web.of_device(udid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_https_host_and_port_only() {
        for ok in ["https://app.example", "https://app.example:8443", "https://127.0.0.1:4000"] {
            assert!(valid_origin(ok), "{ok}");
        }
        for bad in ["http://app.example", "https://app.example/", "https://app.example/x", "https://", "app.example"] {
            assert!(!valid_origin(bad), "{bad}");
        }
    }
}
