//! Web Push on the provider server, beside device tokens: a web app hands in its
//! `PushSubscription` (step 3, `POST /v1/registrations` with `subscription`), and the
//! backend sends to its subscriptions (step 4, `POST /v1/web-pushes`), encrypted for each
//! and signed with the server's VAPID key. A 404 or 410 from the push service means the
//! subscription is gone for good (RFC 8030 §7.3; Apple answers 410 once a web app is
//! removed or its permission revoked): it is deleted. Nothing else deletes one.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/registrations` `{subscription: {endpoint, keys}, origin, user_id?, udid?}` | step 3 for a web app |
//! | `GET /v1/web-subscriptions?origin=&user_id=` | list subscriptions |
//! | `POST /v1/web-pushes` `{to: {origin} \| {user_id} \| {endpoint}, payload, ttl?, urgency?, topic?}` | step 4: one result per subscription |
//! | `GET /v1/vapid-public-key` | `{public_key}`: the `applicationServerKey` a web app subscribes with |

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use protocol::webpush::Urgency;
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Answer, Provider, Tokens, body, error, from_error, json, now_ms};
use crate::Error;
use crate::webpush::{Options, Sender, Subscription, SubscriptionKeys, Vapid};

/// How the provider reaches Web Push endpoints: its VAPID identity and a sender that
/// keeps a connection per push service (absent: it cannot send web pushes).
#[derive(Default)]
pub struct WebPush {
    vapid: Option<(Vapid, Sender)>,
}

impl WebPush {
    /// Sends signed with `vapid`, trusting `ca_pem` (the mock's CA) or the public roots.
    pub fn new(vapid: Vapid, ca_pem: Option<&str>) -> Result<WebPush, Error> {
        Ok(WebPush { vapid: Some((vapid, Sender::new(ca_pem)?)) })
    }

    /// The `applicationServerKey` web apps subscribe with, if there is a VAPID key.
    pub fn public_key(&self) -> Option<String> {
        self.vapid.as_ref().map(|(v, _)| v.public_key())
    }
}

/// `POST /v1/registrations` from a web app.
#[derive(Debug, Clone, Deserialize)]
pub struct RegisterWeb {
    /// `PushSubscription.toJSON()`.
    pub subscription: Subscription,
    /// The web app's origin.
    pub origin: String,
    /// The user, if known.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The device (sent by simulated phones; not kept).
    #[serde(default)]
    pub udid: Option<String>,
}

/// A subscription as the provider keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebRegistration {
    /// `PushSubscription.toJSON()`.
    pub subscription: Subscription,
    /// The web app's origin.
    pub origin: String,
    /// The user, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// When it was handed in, ms since the epoch.
    pub registered_at: u64,
}

/// Whom a web push goes to.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebTo {
    /// Every subscription of a web app.
    Origin(String),
    /// Every subscription of a user.
    UserId(String),
    /// One subscription.
    Endpoint(String),
}

/// `POST /v1/web-pushes`.
#[derive(Debug, Clone, Deserialize)]
pub struct WebPushRequest {
    /// Whom to.
    pub to: WebTo,
    /// The message: a string is sent as its text, anything else as JSON.
    pub payload: serde_json::Value,
    /// `TTL`, seconds (default: 4 weeks, as Apple keeps at most 30 days).
    #[serde(default)]
    pub ttl: Option<u64>,
    /// `Urgency`: very-low, low, normal or high.
    #[serde(default)]
    pub urgency: Option<String>,
    /// `Topic`: a newer message with the same topic replaces a pending one.
    #[serde(default)]
    pub topic: Option<String>,
}

/// The result for one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebSendResult {
    /// The subscription's endpoint.
    pub endpoint: String,
    /// The HTTP status the push service answered (0: no answer).
    pub status: u16,
    /// Its `apns-id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apns_id: Option<String>,
    /// The reason, for refusals (or why it was not sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the provider did with the subscription: `kept` or `deleted`.
    pub action: &'static str,
}

impl Tokens {
    /// Step 3 for a web app: keeps (or refreshes) its subscription.
    pub fn register_web(&self, r: &RegisterWeb, now_ms: u64) -> Result<WebRegistration, Error> {
        let endpoint = &r.subscription.endpoint;
        if !endpoint.starts_with("https://") {
            return Err(Error::Invalid(format!("subscription.endpoint {endpoint:?} is not an https:// URL")));
        }
        for (name, value, len) in [("p256dh", &r.subscription.keys.p256dh, 65), ("auth", &r.subscription.keys.auth, 16)]
        {
            if protocol::webpush::base64url(value).is_none_or(|b| b.len() != len) {
                return Err(Error::Invalid(format!("subscription.keys.{name} is not {len} bytes of base64url")));
            }
        }
        self.db()
            .execute(
                "INSERT OR REPLACE INTO web_subscriptions (endpoint, p256dh, auth, origin, user_id, registered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    endpoint,
                    r.subscription.keys.p256dh,
                    r.subscription.keys.auth,
                    r.origin,
                    r.user_id,
                    now_ms as i64
                ],
            )
            .map_err(|e| Error::Config(format!("token database: {e}")))?;
        Ok(WebRegistration {
            subscription: r.subscription.clone(),
            origin: r.origin.clone(),
            user_id: r.user_id.clone(),
            registered_at: now_ms,
        })
    }

    /// Subscriptions, filtered, oldest first.
    pub fn web_subscriptions(
        &self,
        origin: Option<&str>,
        user_id: Option<&str>,
        endpoint: Option<&str>,
    ) -> Result<Vec<WebRegistration>, Error> {
        let db = self.db();
        let map = |e: rusqlite::Error| Error::Config(e.to_string());
        let mut stmt = db
            .prepare(
                "SELECT endpoint, p256dh, auth, origin, user_id, registered_at FROM web_subscriptions
                 WHERE (?1 IS NULL OR origin = ?1) AND (?2 IS NULL OR user_id = ?2) AND (?3 IS NULL OR endpoint = ?3)
                 ORDER BY registered_at",
            )
            .map_err(map)?;
        let rows = stmt
            .query_map(params![origin, user_id, endpoint], |r| {
                Ok(WebRegistration {
                    subscription: Subscription {
                        endpoint: r.get(0)?,
                        expiration_time: None,
                        keys: SubscriptionKeys { p256dh: r.get(1)?, auth: r.get(2)? },
                    },
                    origin: r.get(3)?,
                    user_id: r.get(4)?,
                    registered_at: r.get::<_, i64>(5)? as u64,
                })
            })
            .map_err(map)?;
        rows.collect::<Result<_, _>>().map_err(map)
    }

    /// Forgets a subscription; whether it was there.
    pub fn remove_web(&self, endpoint: &str) -> Result<bool, Error> {
        let n = self
            .db()
            .execute("DELETE FROM web_subscriptions WHERE endpoint = ?1", [endpoint])
            .map_err(|e| Error::Config(format!("token database: {e}")))?;
        Ok(n > 0)
    }
}

impl Provider {
    /// Step 4 for web apps: sends to every subscription `to` names; one result each, and
    /// a subscription the push service says is gone (404, 410) is deleted.
    pub async fn send_web(&self, req: WebPushRequest) -> Result<Vec<WebSendResult>, Error> {
        let Some((vapid, sender)) = &self.web.vapid else {
            return Err(Error::Invalid("this provider has no VAPID key: it cannot send web pushes".into()));
        };
        let urgency = match req.urgency.as_deref() {
            Some(u) => Some(Urgency::parse(Some(u)).map_err(|_| Error::Invalid(format!("urgency {u:?}")))?),
            None => None,
        };
        let options = Options { ttl: req.ttl.unwrap_or(28 * 24 * 3600), urgency, topic: req.topic.clone() };
        let message = match &req.payload {
            serde_json::Value::String(text) => text.clone().into_bytes(),
            other => serde_json::to_vec(other).map_err(|e| Error::Invalid(e.to_string()))?,
        };
        let targets = match &req.to {
            WebTo::Origin(o) => self.tokens.web_subscriptions(Some(o), None, None)?,
            WebTo::UserId(u) => self.tokens.web_subscriptions(None, Some(u), None)?,
            WebTo::Endpoint(e) => self.tokens.web_subscriptions(None, None, Some(e))?,
        };
        let now = now_ms() / 1000;
        let mut out = Vec::new();
        for reg in targets {
            let sub = &reg.subscription;
            let sent = sender.send(sub, &message, vapid, &options, now).await;
            out.push(match sent {
                Ok(answer) => {
                    let gone = matches!(answer.status, 404 | 410);
                    if gone {
                        self.tokens.remove_web(&sub.endpoint)?;
                    }
                    tracing::info!(endpoint = %sub.endpoint, status = answer.status, "[4] web push answered");
                    WebSendResult {
                        endpoint: sub.endpoint.clone(),
                        status: answer.status,
                        apns_id: answer.apns_id,
                        reason: answer.reason,
                        action: if gone { "deleted" } else { "kept" },
                    }
                }
                Err(e) => WebSendResult {
                    endpoint: sub.endpoint.clone(),
                    status: 0,
                    apns_id: None,
                    reason: Some(e.to_string()),
                    action: "kept",
                },
            });
        }
        Ok(out)
    }
}

/// `POST /v1/registrations` with a `subscription`: step 3 for a web app.
pub(super) fn register(p: &Provider, v: serde_json::Value) -> Answer {
    match serde_json::from_value::<RegisterWeb>(v) {
        Ok(r) => match p.tokens.register_web(&r, now_ms()) {
            Ok(reg) => {
                tracing::info!(origin = %reg.origin, endpoint = %reg.subscription.endpoint, "[3] web subscription registered");
                json(StatusCode::CREATED, &reg)
            }
            Err(e) => from_error(e),
        },
        Err(e) => error(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")),
    }
}

/// The Web Push routes (see the module's table); 405 for a method they do not take.
pub(super) async fn route(
    p: &Provider,
    req: Request<Incoming>,
    path: &str,
    origin: Option<String>,
    user_id: Option<String>,
) -> Answer {
    match (req.method().clone(), path) {
        (Method::GET, "/v1/web-subscriptions") => {
            let origin = origin.map(|o| percent_decode_all(&o));
            match p.tokens.web_subscriptions(origin.as_deref(), user_id.as_deref(), None) {
                Ok(list) => json(StatusCode::OK, &list),
                Err(e) => from_error(e),
            }
        }
        (Method::POST, "/v1/web-pushes") => match body::<WebPushRequest>(req).await {
            Ok(r) => match p.send_web(r).await {
                Ok(results) => json(StatusCode::OK, &results),
                Err(e) => from_error(e),
            },
            Err(a) => a,
        },
        (Method::GET, "/v1/vapid-public-key") => match p.web.public_key() {
            Some(key) => json(StatusCode::OK, &serde_json::json!({ "public_key": key })),
            None => error(StatusCode::NOT_FOUND, "this provider has no VAPID key"),
        },
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "wrong method"),
    }
}

/// A query value with its `%XX` escapes decoded (an origin's `:` and `/`).
fn percent_decode_all(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_in_queries_are_decoded() {
        assert_eq!(percent_decode_all("https%3A%2F%2Fnews.example"), "https://news.example");
        assert_eq!(percent_decode_all("a+b%zz%4"), "a b%zz%4");
    }
}
