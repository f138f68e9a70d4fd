//! Broadcasts at the provider: a channel per event (on the channel management API, one
//! client per environment), and one broadcast to it that updates every activity the
//! phones subscribed to it.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/channels` `{bundle_id, environment?, storage_policy?}` | create a channel; answers `{channel_id}` |
//! | `GET /v1/channels?bundle_id=&environment=` | the app's channels |
//! | `DELETE /v1/channels/{channel_id}?bundle_id=&environment=` | delete one (its id is never issued again) |
//! | `POST /v1/broadcasts` `{bundle_id, channel_id, environment?, event?, content_state, alert?, stale_date?, dismissal_date?, expiration?, priority?}` | one broadcast: `{status, request_id?, reason?}` |

use protocol::{Environment, Priority};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Provider;
use crate::broadcast::{Channels, StoragePolicy};
use crate::{Client, Error, LiveActivity};

fn sandbox() -> Environment {
    Environment::Sandbox
}

/// `POST /v1/channels`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// The app.
    pub bundle_id: String,
    /// Its environment (default sandbox).
    #[serde(default = "sandbox")]
    pub environment: Environment,
    /// 0 (default): nothing kept for phones that are away; 1: the latest, 8 hours.
    #[serde(default)]
    pub storage_policy: u8,
}

/// A created channel.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedChannel {
    /// Its id.
    pub channel_id: String,
}

/// `POST /v1/broadcasts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastRequest {
    /// The app.
    pub bundle_id: String,
    /// The channel.
    pub channel_id: String,
    /// Its environment (default sandbox).
    #[serde(default = "sandbox")]
    pub environment: Environment,
    /// `update` (default) or `end`.
    #[serde(default)]
    pub event: Option<String>,
    /// The new (or final) content state.
    pub content_state: Map<String, Value>,
    /// An alert that lights the screens.
    #[serde(default)]
    pub alert: Option<Value>,
    /// When the content goes stale.
    #[serde(default)]
    pub stale_date: Option<u64>,
    /// End: when to remove it.
    #[serde(default)]
    pub dismissal_date: Option<u64>,
    /// `apns-expiration` (default 0: a channel that stores nothing needs it).
    #[serde(default)]
    pub expiration: Option<u64>,
    /// `apns-priority` (default 10).
    #[serde(default)]
    pub priority: Option<Priority>,
}

/// What APNs answered to a broadcast.
#[derive(Debug, Clone, Serialize)]
pub struct BroadcastResult {
    /// The HTTP status (0: no answer).
    pub status: u16,
    /// `apns-request-id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The reason, if refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Provider {
    fn channel_client(&self, env: Environment) -> Result<&Client, Error> {
        self.channel_clients
            .get(env)
            .ok_or_else(|| Error::Invalid(format!("this provider has no channel API endpoint for {env}")))
    }

    /// Creates a channel for an event.
    pub async fn create_channel(&self, r: NewChannel) -> Result<CreatedChannel, Error> {
        let policy = if r.storage_policy == 1 { StoragePolicy::MostRecent } else { StoragePolicy::NoMessages };
        let id = Channels::new(self.channel_client(r.environment)?, r.bundle_id).create(policy).await?;
        Ok(CreatedChannel { channel_id: id })
    }

    /// The app's channels.
    pub async fn list_channels(&self, bundle_id: &str, env: Environment) -> Result<Vec<String>, Error> {
        Channels::new(self.channel_client(env)?, bundle_id).list().await
    }

    /// Deletes a channel.
    pub async fn delete_channel(&self, bundle_id: &str, env: Environment, id: &str) -> Result<(), Error> {
        Channels::new(self.channel_client(env)?, bundle_id).delete(id).await
    }

    /// One broadcast; APNs's refusal is a result, not an error.
    pub async fn broadcast(&self, r: BroadcastRequest) -> Result<BroadcastResult, Error> {
        let client = self
            .clients
            .get(r.environment)
            .ok_or_else(|| Error::Invalid(format!("this provider has no APNs endpoint for {}", r.environment)))?;
        let now = super::now_ms() / 1000;
        let mut la = match r.event.as_deref() {
            None | Some("update") => LiveActivity::update(&r.content_state, now)?,
            Some("end") => LiveActivity::end(&r.content_state, now)?,
            Some(other) => return Err(Error::Invalid(format!("event {other:?}: a broadcast updates or ends"))),
        };
        if let Some(a) = r.alert {
            la = la.alert(a);
        }
        if let Some(d) = r.stale_date {
            la = la.stale_date(d);
        }
        if let Some(d) = r.dismissal_date {
            la = la.dismissal_date(d);
        }
        let priority = r.priority.unwrap_or_default();
        match crate::broadcast::broadcast(client, &r.bundle_id, &r.channel_id, &la, r.expiration.unwrap_or(0), priority)
            .await
        {
            Ok(ok) => Ok(BroadcastResult { status: 200, request_id: Some(ok.request_id), reason: None }),
            Err(Error::Rejected(rej)) => Ok(BroadcastResult {
                status: rej.status,
                request_id: rej.apns_id.clone(),
                reason: Some(rej.reason.to_string()),
            }),
            Err(e) => Err(e),
        }
    }
}
