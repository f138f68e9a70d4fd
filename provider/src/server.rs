//! The provider server: steps 3 and 4 of the flow as a backend should do them. Apps
//! register their tokens (step 3); the backend sends to a user, a token or every token of
//! an app (step 4); and it reacts to APNs's answers the way Apple says to:
//!
//! * 410 Unregistered: delete the token **only if** the 410 `timestamp` is later than the
//!   token's last registration — a token registered again after the uninstall (the app
//!   came back) stays.
//! * BadDeviceToken or DeviceTokenNotForTopic: the token is marked invalid (never retried).
//!
//! A token belongs to one environment (the app's `aps-environment`): a sandbox token is
//! unknown to production and the other way round. So the provider keeps one client per
//! environment ([`Clients`]) and sends every token to its own; a token whose environment
//! has no client is not sent (and kept), so an answer from the wrong environment can never
//! mark a good token invalid.
//!
//! Tokens live in an embedded SQLite database, so a restart loses none. A registration is
//! a (token, bundle ID) pair: with per-device tokens one token serves several apps.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/registrations` `{token, bundle_id, environment, user_id?, previous_token?, udid?}` | step 3: register or rotate a token |
//! | `DELETE /v1/registrations/{token}` | forget a token (every app it was registered for) |
//! | `GET /v1/registrations?user_id=&bundle_id=` | list tokens |
//! | `POST /v1/notifications` `{to: {user_id} \| {token} \| {bundle_id}, payload, push_type?, priority?, expiration?, collapse_id?}` | step 4: one result per token |
//! | `POST /v1/activities` · `GET` · `PATCH` / `DELETE /v1/activities/{activity_id}` | Live Activities: start by push-to-start, list the tokens, update, end ([`activities`]) |
//! | `POST /v1/channels` · `GET` · `DELETE /v1/channels/{id}` · `POST /v1/broadcasts` | broadcast channels for an event, and one broadcast to a channel ([`broadcasts`]) |
//! | `POST /v1/registrations` `{subscription, origin}` · `GET /v1/web-subscriptions` · `POST /v1/web-pushes` · `GET /v1/vapid-public-key` | Web Push: web apps' subscriptions, pruned on 404/410 ([`web`]) |

use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use protocol::{DeviceToken, Environment, Expiration, Priority, PushType, Reason, Topic};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::{Client, Error, Notification};

pub mod activities;
pub mod broadcasts;
mod cors;
pub mod web;

/// A token as the provider keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The device token, lowercase hex.
    pub token: String,
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The user it belongs to, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// When it was last registered, ms since the epoch.
    #[serde(default)]
    pub registered_at: u64,
    /// `valid` or `invalid` (BadDeviceToken / DeviceTokenNotForTopic).
    #[serde(default = "valid")]
    pub state: String,
}

fn valid() -> String {
    "valid".into()
}

/// `POST /v1/registrations`.
#[derive(Debug, Clone, Deserialize)]
pub struct Register {
    /// The token.
    pub token: String,
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The user, if known.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The token this one replaces (rotation).
    #[serde(default)]
    pub previous_token: Option<String>,
    /// The device (sent by simulated phones; not kept).
    #[serde(default)]
    pub udid: Option<String>,
}

/// Whom a notification goes to.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum To {
    /// Every valid token of a user.
    UserId(String),
    /// One token.
    Token(String),
    /// Every valid token of an app.
    BundleId(String),
}

/// `POST /v1/notifications`.
#[derive(Debug, Clone, Deserialize)]
pub struct NotificationRequest {
    /// Whom to.
    pub to: To,
    /// The payload.
    pub payload: serde_json::Value,
    /// `apns-push-type`.
    #[serde(default)]
    pub push_type: Option<PushType>,
    /// `apns-priority`.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// `apns-expiration`.
    #[serde(default)]
    pub expiration: Option<Expiration>,
    /// `apns-collapse-id`.
    #[serde(default)]
    pub collapse_id: Option<String>,
}

/// The result for one token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendResult {
    /// The token.
    pub token: String,
    /// The environment it was registered for, and sent to.
    pub environment: Environment,
    /// The HTTP status APNs answered (0: no answer).
    pub status: u16,
    /// The apns-id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apns_id: Option<String>,
    /// The reason, for rejections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The 410 timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// What the provider did with the token: `kept`, `deleted`, `marked-invalid`.
    pub action: String,
}

/// The token store (SQLite).
pub struct Tokens {
    conn: Mutex<Connection>,
}

impl Tokens {
    /// Opens (creating) `path`, or memory for `None`.
    pub fn open(path: Option<&Path>) -> Result<Tokens, Error> {
        let conn = match path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        }
        .map_err(|e| Error::Config(format!("token database: {e}")))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS registrations (
                token TEXT NOT NULL, bundle_id TEXT NOT NULL, environment TEXT NOT NULL,
                user_id TEXT, registered_at INTEGER NOT NULL, state TEXT NOT NULL,
                PRIMARY KEY (token, bundle_id));
             CREATE INDEX IF NOT EXISTS by_user ON registrations (user_id);
             CREATE TABLE IF NOT EXISTS activity_tokens (
                token TEXT PRIMARY KEY, bundle_id TEXT NOT NULL, environment TEXT NOT NULL, kind TEXT NOT NULL,
                attributes_type TEXT NOT NULL, activity_id TEXT, user_id TEXT, registered_at INTEGER NOT NULL,
                state TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS web_subscriptions (
                endpoint TEXT PRIMARY KEY, p256dh TEXT NOT NULL, auth TEXT NOT NULL, origin TEXT NOT NULL,
                user_id TEXT, registered_at INTEGER NOT NULL);",
        )
        .map_err(|e| Error::Config(format!("token database: {e}")))?;
        Ok(Tokens { conn: Mutex::new(conn) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Step 3: registers (or rotates) a token.
    pub fn register(&self, r: &Register, now_ms: u64) -> Result<Registration, Error> {
        let token = DeviceToken::parse_hex(&r.token).map_err(|e| Error::Invalid(format!("token: {e}")))?.to_hex();
        Topic::parse(&r.bundle_id).map_err(|e| Error::Invalid(format!("bundle_id: {e}")))?;
        let db = self.db();
        let map = |e: rusqlite::Error| Error::Config(format!("token database: {e}"));
        if let Some(prev) = &r.previous_token {
            db.execute(
                "DELETE FROM registrations WHERE token = ?1 AND bundle_id = ?2",
                params![prev.to_lowercase(), r.bundle_id],
            )
            .map_err(map)?;
        }
        db.execute(
            "INSERT OR REPLACE INTO registrations (token, bundle_id, environment, user_id, registered_at, state)
             VALUES (?1, ?2, ?3, ?4, ?5, 'valid')",
            params![token, r.bundle_id, r.environment.as_str(), r.user_id, now_ms as i64],
        )
        .map_err(map)?;
        Ok(Registration {
            token,
            bundle_id: r.bundle_id.clone(),
            environment: r.environment,
            user_id: r.user_id.clone(),
            registered_at: now_ms,
            state: valid(),
        })
    }

    /// Forgets a token; whether it was there.
    pub fn remove(&self, token: &str) -> Result<bool, Error> {
        let n = self
            .db()
            .execute("DELETE FROM registrations WHERE token = ?1", [token.to_lowercase()])
            .map_err(|e| Error::Config(format!("token database: {e}")))?;
        Ok(n > 0)
    }

    /// Tokens, filtered.
    pub fn list(
        &self,
        user_id: Option<&str>,
        bundle_id: Option<&str>,
        token: Option<&str>,
    ) -> Result<Vec<Registration>, Error> {
        let db = self.db();
        let mut stmt = db
            .prepare(
                "SELECT token, bundle_id, environment, user_id, registered_at, state FROM registrations
                 WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR bundle_id = ?2) AND (?3 IS NULL OR token = ?3)
                 ORDER BY registered_at",
            )
            .map_err(|e| Error::Config(e.to_string()))?;
        let rows = stmt
            .query_map(params![user_id, bundle_id, token.map(str::to_lowercase)], |r| {
                let env: String = r.get(2)?;
                Ok(Registration {
                    token: r.get(0)?,
                    bundle_id: r.get(1)?,
                    environment: env.parse().unwrap_or(Environment::Sandbox),
                    user_id: r.get(3)?,
                    registered_at: r.get::<_, i64>(4)? as u64,
                    state: r.get(5)?,
                })
            })
            .map_err(|e| Error::Config(e.to_string()))?;
        rows.collect::<Result<_, _>>().map_err(|e| Error::Config(e.to_string()))
    }

    /// Apple's rule for a 410: delete the registration only if APNs learned the token
    /// was invalid after it was last registered. Returns the action taken.
    pub fn unregistered(&self, token: &str, bundle_id: &str, timestamp: Option<u64>) -> Result<&'static str, Error> {
        self.unregistered_in(Table::Registrations, token, bundle_id, timestamp)
    }

    fn unregistered_in(
        &self,
        table: Table,
        token: &str,
        bundle_id: &str,
        timestamp: Option<u64>,
    ) -> Result<&'static str, Error> {
        let db = self.db();
        let map = |e: rusqlite::Error| Error::Config(e.to_string());
        let name = table.name();
        let registered: Option<i64> = db
            .query_row(
                &format!("SELECT registered_at FROM {name} WHERE token = ?1 AND bundle_id = ?2"),
                params![token, bundle_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(map)?;
        match (registered, timestamp) {
            (Some(at), Some(ts)) if ts <= at as u64 => Ok("kept (registered again after APNs's timestamp)"),
            (Some(_), _) => {
                db.execute(
                    &format!("DELETE FROM {name} WHERE token = ?1 AND bundle_id = ?2"),
                    params![token, bundle_id],
                )
                .map_err(map)?;
                Ok("deleted")
            }
            (None, _) => Ok("not registered"),
        }
    }

    /// Marks a registration invalid (BadDeviceToken, DeviceTokenNotForTopic).
    pub fn invalid(&self, token: &str, bundle_id: &str) -> Result<(), Error> {
        self.invalid_in(Table::Registrations, token, bundle_id)
    }

    fn invalid_in(&self, table: Table, token: &str, bundle_id: &str) -> Result<(), Error> {
        self.db()
            .execute(
                &format!("UPDATE {} SET state = 'invalid' WHERE token = ?1 AND bundle_id = ?2", table.name()),
                params![token, bundle_id],
            )
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(())
    }
}

/// Which token table a result's 410 or invalid token is decided in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    /// Device tokens.
    Registrations,
    /// Live Activity tokens.
    Activities,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Registrations => "registrations",
            Table::Activities => "activity_tokens",
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// How the provider reaches APNs: one client per environment, either possibly absent.
#[derive(Clone, Default)]
pub struct Clients {
    /// For tokens registered as `sandbox`.
    pub sandbox: Option<Client>,
    /// For tokens registered as `production`.
    pub production: Option<Client>,
}

impl Clients {
    /// The client for `env`'s tokens, if there is one.
    pub fn get(&self, env: Environment) -> Option<&Client> {
        match env {
            Environment::Sandbox => self.sandbox.as_ref(),
            Environment::Production => self.production.as_ref(),
        }
    }
}

/// The provider server's state.
pub struct Provider {
    /// Where tokens are kept.
    pub tokens: Tokens,
    /// How it reaches APNs, per environment.
    pub clients: Clients,
    /// How it reaches the channel management API, per environment (broadcasts).
    pub channel_clients: Clients,
    /// How it reaches Web Push endpoints (its VAPID key).
    pub web: web::WebPush,
}

impl Provider {
    /// Step 4: sends to every valid token `to` names; one result per token, and each
    /// token's fate decided by APNs's answer.
    pub async fn send(&self, req: NotificationRequest) -> Result<Vec<SendResult>, Error> {
        let targets = match &req.to {
            To::UserId(u) => self.tokens.list(Some(u), None, None)?,
            To::BundleId(b) => self.tokens.list(None, Some(b), None)?,
            To::Token(t) => self.tokens.list(None, None, Some(t))?,
        };
        let payload = serde_json::to_vec(&req.payload).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut out = Vec::new();
        for reg in targets.into_iter().filter(|r| r.state == "valid") {
            let mut n =
                Notification::raw(reg.token.clone(), payload.clone()).topic(topic_for(&reg.bundle_id, req.push_type));
            n.push_type = req.push_type;
            n.priority = req.priority;
            n.expiration = req.expiration;
            n.collapse_id = req.collapse_id.clone();
            out.push(self.deliver(&reg.bundle_id, reg.environment, n, Table::Registrations).await?);
        }
        Ok(out)
    }

    /// Sends one notification to its token's environment and decides the token's fate
    /// by APNs's answer (in `table`).
    async fn deliver(
        &self,
        bundle_id: &str,
        environment: Environment,
        n: Notification,
        table: Table,
    ) -> Result<SendResult, Error> {
        let token = n.token.clone();
        let Some(client) = self.clients.get(environment) else {
            // Sending it elsewhere would only earn BadDeviceToken for a good token.
            return Ok(SendResult {
                token,
                environment,
                status: 0,
                apns_id: None,
                reason: Some(format!("not sent: this provider has no APNs endpoint for {environment}")),
                timestamp: None,
                action: "kept".into(),
            });
        };
        Ok(match client.send(&n).await {
            Ok(ok) => {
                tracing::info!(token = %&token[..8], apns_id = %ok.apns_id, "[4] accepted by APNs");
                SendResult {
                    token,
                    environment,
                    status: 200,
                    apns_id: Some(ok.apns_id),
                    reason: None,
                    timestamp: None,
                    action: "kept".into(),
                }
            }
            Err(Error::Rejected(rej)) => {
                let action = match rej.reason.known() {
                    Some(Reason::Unregistered | Reason::ExpiredToken) => {
                        self.tokens.unregistered_in(table, &token, bundle_id, rej.timestamp)?.to_owned()
                    }
                    Some(Reason::BadDeviceToken | Reason::DeviceTokenNotForTopic) => {
                        self.tokens.invalid_in(table, &token, bundle_id)?;
                        "marked-invalid".to_owned()
                    }
                    _ => "kept".to_owned(),
                };
                tracing::info!(token = %&token[..8], reason = %rej.reason, %action, "[4] refused by APNs");
                SendResult {
                    token,
                    environment,
                    status: rej.status,
                    apns_id: rej.apns_id,
                    reason: Some(rej.reason.to_string()),
                    timestamp: rej.timestamp,
                    action,
                }
            }
            Err(e) => SendResult {
                token,
                environment,
                status: 0,
                apns_id: None,
                reason: Some(e.to_string()),
                timestamp: None,
                action: "kept".into(),
            },
        })
    }
}

/// The topic for a push type: the bundle ID with the suffix the type needs.
fn topic_for(bundle_id: &str, push_type: Option<PushType>) -> String {
    match push_type.and_then(PushType::topic_suffix) {
        Some(suffix) => format!("{bundle_id}{suffix}"),
        None => bundle_id.to_owned(),
    }
}

pub(crate) type Answer = Response<Full<Bytes>>;

pub(crate) fn json(status: StatusCode, v: &impl Serialize) -> Answer {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default())))
        .expect("static header")
}

pub(crate) fn error(status: StatusCode, message: impl std::fmt::Display) -> Answer {
    json(status, &serde_json::json!({ "error": message.to_string() }))
}

pub(crate) fn from_error(e: Error) -> Answer {
    match e {
        Error::Invalid(_) => error(StatusCode::BAD_REQUEST, e),
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

pub(crate) async fn body<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, Answer> {
    let bytes = Limited::new(req.into_body(), 1 << 20)
        .collect()
        .await
        .map_err(|_| error(StatusCode::PAYLOAD_TOO_LARGE, "body over 1 MiB"))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")))
}

/// `%2B`, `%2F` and `%3D` in a channel id in a path (standard base64 has `+`, `/`, `=`).
fn percent_decode(s: &str) -> String {
    s.replace("%2B", "+")
        .replace("%2b", "+")
        .replace("%2F", "/")
        .replace("%2f", "/")
        .replace("%3D", "=")
        .replace("%3d", "=")
}

/// A JSON body that may be absent (an end without a final state).
async fn optional_body<T: serde::de::DeserializeOwned + Default>(req: Request<Incoming>) -> Result<T, Answer> {
    let bytes = Limited::new(req.into_body(), 1 << 20)
        .collect()
        .await
        .map_err(|_| error(StatusCode::PAYLOAD_TOO_LARGE, "body over 1 MiB"))?
        .to_bytes();
    if bytes.trim_ascii().is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")))
}

pub(crate) async fn route(p: Arc<Provider>, req: Request<Incoming>) -> Result<Answer, Infallible> {
    let path = req.uri().path().to_owned();
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let q = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let answer = match (req.method().clone(), path.as_str()) {
        (Method::POST, "/v1/registrations") => match body::<serde_json::Value>(req).await {
            // A web app hands in a subscription.
            Ok(v) if v.get("subscription").is_some() => web::register(&p, v),
            // A Live Activity token says which kind it is.
            Ok(v) if v.get("kind").is_some() => match serde_json::from_value::<activities::RegisterActivity>(v) {
                Ok(r) => match p.tokens.register_activity(&r, now_ms()) {
                    Ok(reg) => {
                        tracing::info!(bundle = %reg.bundle_id, token = %&reg.token[..8], "[3] activity token registered");
                        json(StatusCode::CREATED, &reg)
                    }
                    Err(e) => from_error(e),
                },
                Err(e) => error(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")),
            },
            Ok(v) => match serde_json::from_value::<Register>(v) {
                Ok(r) => match p.tokens.register(&r, now_ms()) {
                    Ok(reg) => {
                        tracing::info!(bundle = %reg.bundle_id, token = %&reg.token[..8], "[3] token registered");
                        json(StatusCode::CREATED, &reg)
                    }
                    Err(e) => from_error(e),
                },
                Err(e) => error(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")),
            },
            Err(a) => a,
        },
        (Method::GET, "/v1/activities") => {
            match p.tokens.activity_tokens(q("bundle_id").as_deref(), q("user_id").as_deref(), None, None) {
                Ok(list) => json(StatusCode::OK, &list),
                Err(e) => from_error(e),
            }
        }
        (Method::POST, "/v1/activities") => match body::<activities::StartRequest>(req).await {
            Ok(r) => match p.start_activity(r).await {
                Ok(results) => json(StatusCode::OK, &results),
                Err(e) => from_error(e),
            },
            Err(a) => a,
        },
        (Method::POST, "/v1/channels") => match body::<broadcasts::NewChannel>(req).await {
            Ok(r) => match p.create_channel(r).await {
                Ok(created) => json(StatusCode::CREATED, &created),
                Err(e) => from_error(e),
            },
            Err(a) => a,
        },
        (Method::GET, "/v1/channels") => {
            let env = q("environment").and_then(|e| e.parse().ok()).unwrap_or(Environment::Sandbox);
            match p.list_channels(q("bundle_id").as_deref().unwrap_or(""), env).await {
                Ok(list) => json(StatusCode::OK, &list),
                Err(e) => from_error(e),
            }
        }
        (Method::DELETE, t) if t.starts_with("/v1/channels/") => {
            let env = q("environment").and_then(|e| e.parse().ok()).unwrap_or(Environment::Sandbox);
            let id = percent_decode(t.trim_start_matches("/v1/channels/"));
            match p.delete_channel(q("bundle_id").as_deref().unwrap_or(""), env, &id).await {
                Ok(()) => {
                    Response::builder().status(StatusCode::NO_CONTENT).body(Full::new(Bytes::new())).expect("static")
                }
                Err(e) => from_error(e),
            }
        }
        (Method::POST, "/v1/broadcasts") => match body::<broadcasts::BroadcastRequest>(req).await {
            Ok(r) => match p.broadcast(r).await {
                Ok(result) => json(StatusCode::OK, &result),
                Err(e) => from_error(e),
            },
            Err(a) => a,
        },
        (Method::PATCH | Method::DELETE, t) if t.starts_with("/v1/activities/") => {
            let end = req.method() == Method::DELETE;
            let id = t.trim_start_matches("/v1/activities/").to_owned();
            let change = match optional_body::<activities::ChangeRequest>(req).await {
                Ok(c) => c,
                Err(a) => return Ok(a),
            };
            match p.change_activity(&id, change, end).await {
                Ok(results) => json(StatusCode::OK, &results),
                Err(e) => from_error(e),
            }
        }
        (Method::GET, "/v1/registrations") => {
            match p.tokens.list(q("user_id").as_deref(), q("bundle_id").as_deref(), None) {
                Ok(list) => json(StatusCode::OK, &list),
                Err(e) => from_error(e),
            }
        }
        (Method::DELETE, t) if t.starts_with("/v1/registrations/") => {
            match p.tokens.remove(t.trim_start_matches("/v1/registrations/")) {
                Ok(true) => {
                    Response::builder().status(StatusCode::NO_CONTENT).body(Full::new(Bytes::new())).expect("static")
                }
                Ok(false) => error(StatusCode::NOT_FOUND, "no such token"),
                Err(e) => from_error(e),
            }
        }
        (Method::POST, "/v1/notifications") => match body::<NotificationRequest>(req).await {
            Ok(s) => match p.send(s).await {
                Ok(results) => json(StatusCode::OK, &results),
                Err(e) => from_error(e),
            },
            Err(a) => a,
        },
        (_, "/v1/web-subscriptions" | "/v1/web-pushes" | "/v1/vapid-public-key") => {
            web::route(&p, req, &path, q("origin"), q("user_id")).await
        }
        (_, "/v1/registrations" | "/v1/notifications" | "/v1/activities" | "/v1/channels" | "/v1/broadcasts") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "wrong method")
        }
        _ => error(StatusCode::NOT_FOUND, format!("no route {path}")),
    };
    Ok(answer)
}

/// Serves the provider API on `listener` until `shutdown` resolves.
pub async fn run(listener: TcpListener, provider: Arc<Provider>, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let provider = provider.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| cors::serve(provider.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(token: &str) -> Register {
        Register {
            token: token.into(),
            bundle_id: "com.example.chat".into(),
            environment: Environment::Sandbox,
            user_id: Some("ann".into()),
            previous_token: None,
            udid: None,
        }
    }

    #[test]
    fn tokens_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("apns-lab-provider-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("tokens.sqlite3");
        let _ = std::fs::remove_file(&path);
        let a = "cc".repeat(32);
        Tokens::open(Some(&path)).expect("db").register(&reg(&a), 42).expect("registers");
        let again = Tokens::open(Some(&path)).expect("reopens");
        let list = again.list(Some("ann"), None, None).expect("lists");
        assert_eq!((list[0].token.as_str(), list[0].registered_at), (a.as_str(), 42));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn registrations_rotate_and_the_410_rule_holds_both_ways() {
        let t = Tokens::open(None).expect("db");
        let a = "aa".repeat(32);
        let b = "bb".repeat(32);
        t.register(&reg(&a), 1000).expect("registers");
        t.register(&Register { previous_token: Some(a.clone()), ..reg(&b) }, 2000).expect("rotates");
        let list = t.list(Some("ann"), None, None).expect("lists");
        assert_eq!(list.iter().map(|r| r.token.as_str()).collect::<Vec<_>>(), [b.as_str()]);
        // APNs learned of the uninstall before the last registration: keep.
        assert_eq!(
            t.unregistered(&b, "com.example.chat", Some(1500)).expect("decides"),
            "kept (registered again after APNs's timestamp)"
        );
        assert_eq!(t.list(None, None, Some(&b)).expect("lists").len(), 1);
        // After it: delete.
        assert_eq!(t.unregistered(&b, "com.example.chat", Some(2500)).expect("decides"), "deleted");
        assert!(t.list(None, None, Some(&b)).expect("lists").is_empty());
        assert!(matches!(t.register(&reg("nothex"), 1), Err(Error::Invalid(_))));
        assert_eq!(topic_for("com.example.chat", Some(PushType::Voip)), "com.example.chat.voip");
    }
}
