//! Broadcast push, as a provider does it: channels on the channel management API
//! ([`Channels`]: a [`Client`] whose endpoint is that API — Apple's
//! `api-manage-broadcast.sandbox.push.apple.com:2195`, or a mock's `channels_sandbox`), and
//! one broadcast on the provider API ([`broadcast`]) that reaches every Live Activity
//! listening to a channel.

use bytes::Bytes;
use http::Method;
use protocol::Priority;
use serde_json::{Value, json};

use crate::client::RawAnswer;
use crate::{Client, Error, LiveActivity};

/// What a channel keeps for phones that are away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoragePolicy {
    /// Nothing ("No Messages Stored"): a higher budget, for frequent updates.
    NoMessages,
    /// The most recent message, for at most 8 hours.
    MostRecent,
}

impl StoragePolicy {
    fn as_u8(self) -> u8 {
        match self {
            StoragePolicy::NoMessages => 0,
            StoragePolicy::MostRecent => 1,
        }
    }
}

/// A channel as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Its id.
    pub id: String,
    /// `message-storage-policy`: 0 or 1.
    pub storage_policy: u8,
}

/// An accepted broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastAccepted {
    /// `apns-request-id`.
    pub request_id: String,
    /// `apns-unique-id`, for support cases.
    pub unique_id: Option<String>,
}

fn ok(answer: RawAnswer) -> Result<RawAnswer, Error> {
    match answer.rejection() {
        Some(r) => Err(Error::Rejected(r)),
        None => Ok(answer),
    }
}

fn json_body(answer: &RawAnswer) -> Result<Value, Error> {
    serde_json::from_slice(&answer.body).map_err(|e| Error::Connection(format!("an unreadable answer: {e}")))
}

/// The channel management API for one app.
pub struct Channels<'a> {
    client: &'a Client,
    bundle_id: String,
}

impl<'a> Channels<'a> {
    /// Channels of `bundle_id`, through `client` (whose endpoint is the channel API).
    pub fn new(client: &'a Client, bundle_id: impl Into<String>) -> Self {
        Channels { client, bundle_id: bundle_id.into() }
    }

    fn path(&self, what: &str) -> String {
        format!("/1/apps/{}/{what}", self.bundle_id)
    }

    /// Creates a channel; answers its id.
    pub async fn create(&self, policy: StoragePolicy) -> Result<String, Error> {
        let body = json!({"message-storage-policy": policy.as_u8(), "push-type": "LiveActivity"}).to_string();
        let answer = ok(self.client.call(Method::POST, &self.path("channels"), &[], Bytes::from(body)).await?)?;
        answer
            .header("apns-channel-id")
            .map(str::to_owned)
            .ok_or_else(|| Error::Connection("a created channel without apns-channel-id".into()))
    }

    /// Reads a channel.
    pub async fn read(&self, id: &str) -> Result<ChannelInfo, Error> {
        let headers = [("apns-channel-id", id.to_owned())];
        let answer = ok(self.client.call(Method::GET, &self.path("channels"), &headers, Bytes::new()).await?)?;
        let body = json_body(&answer)?;
        let policy = body["message-storage-policy"].as_u64().unwrap_or(0) as u8;
        Ok(ChannelInfo { id: id.to_owned(), storage_policy: policy })
    }

    /// Deletes a channel (for good: its id is never issued again).
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        let headers = [("apns-channel-id", id.to_owned())];
        ok(self.client.call(Method::DELETE, &self.path("channels"), &headers, Bytes::new()).await?).map(|_| ())
    }

    /// Every channel of the app in this environment.
    pub async fn list(&self) -> Result<Vec<String>, Error> {
        let answer = ok(self.client.call(Method::GET, &self.path("all-channels"), &[], Bytes::new()).await?)?;
        let body = json_body(&answer)?;
        Ok(body["channels"].as_array().into_iter().flatten().filter_map(|c| c.as_str().map(str::to_owned)).collect())
    }
}

/// One broadcast to every activity listening to `channel_id`, through `client` (whose
/// endpoint is the provider API). `expiration` is UNIX seconds (0 on a channel that
/// stores nothing); `la` must be an update or an end.
pub async fn broadcast(
    client: &Client,
    bundle_id: &str,
    channel_id: &str,
    la: &LiveActivity,
    expiration: u64,
    priority: Priority,
) -> Result<BroadcastAccepted, Error> {
    la.check()?;
    if la.event() == protocol::ActivityEvent::Start {
        return Err(Error::Invalid("a broadcast updates or ends activities; it never starts one".into()));
    }
    let body = la.payload().to_string();
    if body.len() > 5120 {
        return Err(Error::Invalid(format!("the payload is {} bytes; a broadcast allows 5120", body.len())));
    }
    let headers = [
        ("apns-channel-id", channel_id.to_owned()),
        ("apns-push-type", "liveactivity".to_owned()),
        ("apns-expiration", expiration.to_string()),
        ("apns-priority", priority.to_string()),
    ];
    let path = format!("/4/broadcasts/apps/{bundle_id}");
    let answer = ok(client.call(Method::POST, &path, &headers, Bytes::from(body)).await?)?;
    Ok(BroadcastAccepted {
        request_id: answer.header("apns-request-id").unwrap_or_default().to_owned(),
        unique_id: answer.header("apns-unique-id").map(str::to_owned),
    })
}
