//! Broadcast push (iOS 18): the channel management API on its own listeners, and
//! `POST /4/broadcasts/apps/<bundle>` on the provider API's, which fans one request out to
//! every Live Activity subscribed to the channel.
//!
//! | request | success | checks, in order (Apple: authentication, then the channel, then fan-out) |
//! |---|---|---|
//! | `POST /1/apps/<bundle>/channels` `{"message-storage-policy": 0\|1, "push-type": "LiveActivity"}` | 201, no body, `apns-channel-id` | request id · credential · bundle · body (BadRequestPayload, BadRequestParams, MissingChannelQueueSize, MissingPushType, InvalidPushType) · CannotCreateChannelConfig (10 000 live per app per environment) |
//! | `GET /1/apps/<bundle>/channels` + `apns-channel-id` | 200 `{"message-storage-policy", "push-type"}` | request id · credential · bundle · MissingChannelId, BadChannelId (malformed, or never issued), ChannelNotRegistered (deleted, or another app's or environment's) |
//! | `DELETE /1/apps/<bundle>/channels` + `apns-channel-id` | 204, no body | as read, but an unknown or deleted id is 404 BadPath (as live probes saw) |
//! | `GET /1/apps/<bundle>/all-channels` | 200 `{"channels": […]}` | request id · credential · bundle |
//! | `POST /4/broadcasts/apps/<bundle>` + `apns-channel-id` | 200, `apns-unique-id` | request id · credential · bundle · channel · push type (MissingPushType, InvalidPushType: `liveactivity`, any case) · `apns-expiration` (required; 0 on a no-storage channel) · `apns-priority` (required: 10, 5 or 1) · body (PayloadEmpty, 5120 bytes, a JSON object with `event` `update` or `end`: else BadRequestPayload) |
//!
//! An app whose broadcast capability is off (`PUT /api/v1/broadcast-capability/{bundle}`
//! `{"enabled": false}`; on by default, so tests need no set-up) gets 400
//! FeatureNotEnabled — Apple's table's name; one live probe saw
//! `BroadcastFeatureNotEnabled`, which `protocol::Reason` also knows.
//! Every answer carries `apns-request-id`: the client's (a canonical UUID, echoed in
//! lowercase; `apns-id` is taken as well, as Apple's sample sends it) or a new one. The
//! bundle is checked as: a suffix (`.push-type.liveactivity`) is TopicDisallowed, a
//! credential that does not cover it is 403 TopicMismatch. A wrong method on a channel
//! path is 404 BadPath (Apple: "wrong method and path combination"); a method the API
//! never takes (PUT, PATCH…) is 405 MethodNotAllowed. Bodiless requests may end on their
//! HEADERS or with an empty DATA frame: both are read the same. A broadcast whose payload
//! starts an activity is refused with BadRequestPayload, the closest of the documented
//! reasons: channels update and end activities, never start them.

use bytes::Bytes;
use h2::server::SendResponse;
use http::{HeaderMap, Method, Response};
use protocol::{ApnsId, Environment, Priority, Reason, Topic};
use serde_json::{Value, json};

use super::Room;
use super::conn::{ConnState, Credential, authenticate};
use crate::devices::handoff::{Keep, Notification, Target};
use crate::devices::journey::State;
use crate::observe::capture::{Authenticated, Record};
use crate::registry::channels::{ChannelError, MAX_CHANNEL_STORAGE_SECS};

/// Where broadcasts are sent, on the provider API's listeners.
pub(crate) const BROADCAST_PATH: &str = "/4/broadcasts/apps/";
/// The largest broadcast payload.
pub(crate) const MAX_BROADCAST_PAYLOAD: usize = 5120;

/// An answer of the channel API or of a broadcast.
pub(crate) struct Reply {
    pub status: u16,
    pub request_id: uuid::Uuid,
    pub channel_id: Option<String>,
    pub unique_id: Option<uuid::Uuid>,
    /// A JSON body: the result of a read or a list, or `{"reason":…}`.
    pub body: Option<Value>,
}

impl Reply {
    fn error(request_id: uuid::Uuid, reason: Reason) -> Reply {
        Reply {
            status: reason.status(),
            request_id,
            channel_id: None,
            unique_id: None,
            body: Some(json!({ "reason": reason.as_str() })),
        }
    }

    /// Sends it: success without a body is one HEADERS frame; a body is one DATA frame.
    pub(crate) fn send(self, mut respond: SendResponse<Bytes>) {
        let mut buf = uuid::Uuid::encode_buffer();
        let mut response = Response::builder()
            .status(self.status)
            .header("apns-request-id", &*self.request_id.hyphenated().encode_lower(&mut buf));
        if let Some(id) = &self.channel_id {
            response = response.header("apns-channel-id", id.as_str());
        }
        if let Some(unique) = &self.unique_id {
            let mut buf = uuid::Uuid::encode_buffer();
            response = response.header("apns-unique-id", &*unique.hyphenated().encode_lower(&mut buf));
        }
        match self.body {
            None => {
                let _ = respond.send_response(response.body(()).expect("valid header values"), true);
            }
            Some(body) => {
                let response = response
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(())
                    .expect("valid header values");
                if let Ok(mut stream) = respond.send_response(response, false) {
                    let _ = stream.send_data(Bytes::from(body.to_string()), true);
                }
            }
        }
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request id to echo: the client's `apns-request-id` (or `apns-id`), or a new one.
fn request_id(headers: &HeaderMap) -> Result<uuid::Uuid, uuid::Uuid> {
    match header(headers, "apns-request-id").or_else(|| header(headers, "apns-id")) {
        None => Ok(uuid::Uuid::new_v4()),
        Some(text) => match ApnsId::parse(text) {
            Ok(_) => uuid::Uuid::parse_str(text).map_err(|_| uuid::Uuid::new_v4()),
            Err(_) => Err(uuid::Uuid::new_v4()),
        },
    }
}

/// Whether the credential covers `bundle`: the key's team owns it (and a topic key lists
/// it), or the certificate names it.
fn covers(shared: &Room, credential: &Credential<'_>, bundle: &str) -> bool {
    match credential {
        Credential::Token(key) => {
            !shared.registry.table.owned_by_other_team(bundle, &key.team_id) && key.covers(bundle)
        }
        Credential::Certificate(id) => id.topics.iter().any(|t| t == bundle),
    }
}

/// The checks every channel call and broadcast makes after the request id, in order: the
/// credential, the bundle in the path (TopicDisallowed with a suffix), the credential
/// covering it (TopicMismatch), the App ID's broadcast capability (FeatureNotEnabled).
/// Answers the bundle ID.
fn authorized_app(
    shared: &Room,
    conn: &ConnState,
    parts: &http::request::Parts,
    bundle: &str,
    auth: &mut Authenticated,
) -> Result<String, Reason> {
    let credential = authenticate(shared, conn, &parts.headers, shared.state.clock.now(), auth)?;
    let bundle = bundle_of(bundle)?;
    if !covers(shared, &credential, &bundle) {
        return Err(Reason::TopicMismatch);
    }
    if !shared.registry.channels.enabled(&bundle) {
        return Err(Reason::FeatureNotEnabled);
    }
    Ok(bundle)
}

/// The bundle ID of a path's `<bundle>` part: TopicDisallowed with a push-type suffix.
fn bundle_of(text: &str) -> Result<String, Reason> {
    let topic = Topic::parse(text).map_err(|_| Reason::BadPath)?;
    if protocol::PushType::implied_by(&topic) != protocol::PushType::Alert {
        return Err(Reason::TopicDisallowed);
    }
    Ok(topic.as_str().to_owned())
}

/// One request to the channel API or one broadcast: checked, applied, answered.
pub(crate) async fn answer(shared: &Room, conn: &ConnState, parts: &http::request::Parts, body: Bytes) -> Reply {
    let mut auth = Authenticated::None;
    let reply = match request_id(&parts.headers) {
        Err(made) => Reply::error(made, Reason::BadMessageId),
        Ok(request_id) => {
            let result = match conn.channels {
                true => channel_call(shared, conn, parts, &body, request_id, &mut auth).await,
                false => broadcast(shared, conn, parts, &body, request_id, &mut auth).await,
            };
            result.unwrap_or_else(|reason| Reply::error(request_id, reason))
        }
    };
    log(shared, conn, parts, &body, &reply, &auth);
    reply
}

/// Records a channel call or a broadcast in the capture log (under its request id), the
/// metrics and the live stream, as a device push is.
fn log(
    shared: &Room,
    conn: &ConnState,
    parts: &http::request::Parts,
    body: &[u8],
    reply: &Reply,
    auth: &Authenticated,
) {
    let Ok(id) = ApnsId::parse(&reply.request_id.hyphenated().to_string()) else { return };
    let reason = reply.body.as_ref().and_then(|b| b["reason"].as_str()).and_then(|r| r.parse::<Reason>().ok());
    shared.observe.capture.record(&Record {
        time_ms: shared.state.clock.unix_millis(),
        environment: conn.env,
        connection: conn.id,
        apns_id: &id,
        apns_unique_id: reply.unique_id,
        method: &parts.method,
        path: parts.uri.path(),
        headers: &parts.headers,
        token: None,
        topic: None,
        auth,
        body,
        status: reply.status,
        reason,
        timestamp: None,
        fault: None,
    });
    shared.observe.metrics.request(conn.env, reply.status, reason);
    let error = reason.map(|reason| protocol::ErrorBody { reason, timestamp: None });
    shared.observe.live.request(&id, reply.status, error.as_ref(), None, None, conn.env);
}

/// The channel management API.
async fn channel_call(
    shared: &Room,
    conn: &ConnState,
    parts: &http::request::Parts,
    body: &[u8],
    request_id: uuid::Uuid,
    auth: &mut Authenticated,
) -> Result<Reply, Reason> {
    let path = parts.uri.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (bundle, what) = match segments.as_slice() {
        ["1", "apps", bundle, what @ ("channels" | "all-channels")] => (*bundle, *what),
        _ => return Err(Reason::BadPath),
    };
    let method = &parts.method;
    if ![Method::GET, Method::POST, Method::DELETE].contains(method) {
        return Err(Reason::MethodNotAllowed);
    }
    let bundle = authorized_app(shared, conn, parts, bundle, auth)?;
    let env = conn.env;
    let ok = |status: u16, channel_id: Option<String>, body: Option<Value>| Reply {
        status,
        request_id,
        channel_id,
        unique_id: None,
        body,
    };
    let channel_header =
        || -> Result<&str, Reason> { header(&parts.headers, "apns-channel-id").ok_or(Reason::MissingChannelId) };
    match (method.clone(), what) {
        (Method::POST, "channels") => {
            let policy = create_request(body)?;
            let now = shared.state.clock.unix_millis();
            let channel = shared
                .registry
                .channels
                .create(env, &bundle, policy, now, || crate::random::bytes(16))
                .map_err(|_| Reason::CannotCreateChannelConfig)?;
            save(shared, &channel.id).await?;
            shared.observe.metrics.channel_call("create");
            Ok(ok(201, Some(channel.id), None))
        }
        (Method::GET, "channels") => {
            let id = channel_header()?;
            let channel = shared.registry.channels.get(env, &bundle, id).map_err(|e| channel_reason(shared, e, id))?;
            shared.observe.metrics.channel_call("read");
            let body = json!({"message-storage-policy": channel.storage_policy, "push-type": "LiveActivity"});
            Ok(ok(200, Some(channel.id), Some(body)))
        }
        (Method::DELETE, "channels") => {
            let id = channel_header()?;
            match shared.registry.channels.delete(env, &bundle, id, shared.state.clock.unix_millis()) {
                Ok(channel) => {
                    save(shared, &channel.id).await?;
                    shared.observe.metrics.channel_call("delete");
                    Ok(ok(204, None, None))
                }
                Err(ChannelError::BadId) => Err(Reason::BadChannelId),
                // Live sandbox probes: deleting an unknown or deleted channel is 404 BadPath.
                Err(_) => Err(Reason::BadPath),
            }
        }
        (Method::GET, "all-channels") => {
            let ids: Vec<String> = shared.registry.channels.list(env, &bundle).into_iter().map(|c| c.id).collect();
            shared.observe.metrics.channel_call("list");
            Ok(ok(200, None, Some(json!({ "channels": ids }))))
        }
        _ => Err(Reason::BadPath),
    }
}

/// ChannelNotRegistered for a channel that was issued (and deleted, or is another app's
/// or environment's); BadChannelId for one that never was.
fn channel_reason(shared: &Room, e: ChannelError, id: &str) -> Reason {
    match e {
        ChannelError::NotRegistered if shared.registry.channels.find(id).is_some() => Reason::ChannelNotRegistered,
        _ => Reason::BadChannelId,
    }
}

/// Reads a create body: the storage policy.
fn create_request(body: &[u8]) -> Result<u8, Reason> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(Reason::BadRequestPayload);
    };
    if fields.keys().any(|k| k != "message-storage-policy" && k != "push-type") {
        return Err(Reason::BadRequestParams);
    }
    let policy = match fields.get("message-storage-policy").and_then(Value::as_u64) {
        Some(p @ (0 | 1)) => p as u8,
        _ => return Err(Reason::MissingChannelQueueSize),
    };
    match fields.get("push-type").and_then(Value::as_str) {
        None => Err(Reason::MissingPushType),
        Some(t) if t.eq_ignore_ascii_case("liveactivity") => Ok(policy),
        Some(_) => Err(Reason::InvalidPushType),
    }
}

/// Switches an app's broadcast capability (off deletes its channels, as Apple's does).
pub(crate) async fn set_capability(
    shared: &Room,
    bundle_id: &str,
    on: bool,
) -> Result<Vec<String>, crate::error::Error> {
    Topic::parse(bundle_id).map_err(|e| crate::error::Error::Invalid(format!("bundle {bundle_id:?}: {e}")))?;
    let gone = shared.registry.channels.set_enabled(bundle_id, on, shared.state.clock.unix_millis());
    shared.devices.save_channels(&gone).await?;
    Ok(gone)
}

/// Persists a channel (created or deleted) and waits until it is durable.
async fn save(shared: &Room, id: &str) -> Result<(), Reason> {
    shared.devices.save_channels(&[id.to_owned()]).await.map_err(|e| {
        tracing::error!(error = %e, "could not save a channel");
        Reason::InternalServerError
    })
}

/// `POST /4/broadcasts/apps/<bundle>`: checks, then one delivery per subscriber.
async fn broadcast(
    shared: &Room,
    conn: &ConnState,
    parts: &http::request::Parts,
    body: &[u8],
    request_id: uuid::Uuid,
    auth: &mut Authenticated,
) -> Result<Reply, Reason> {
    let bundle = parts.uri.path().strip_prefix(BROADCAST_PATH).ok_or(Reason::BadPath)?;
    if bundle.is_empty() || bundle.contains('/') {
        return Err(Reason::BadPath);
    }
    if parts.method != Method::POST {
        return Err(Reason::MethodNotAllowed);
    }
    let bundle = authorized_app(shared, conn, parts, bundle, auth)?;
    let env = conn.env;
    let id = header(&parts.headers, "apns-channel-id").ok_or(Reason::MissingChannelId)?;
    let channel = shared.registry.channels.get(env, &bundle, id).map_err(|e| channel_reason(shared, e, id))?;
    match header(&parts.headers, "apns-push-type") {
        None => return Err(Reason::MissingPushType),
        Some(t) if !t.eq_ignore_ascii_case("liveactivity") => return Err(Reason::InvalidPushType),
        Some(_) => {}
    }
    let expiration: u64 = header(&parts.headers, "apns-expiration")
        .and_then(|e| e.trim().parse().ok())
        .ok_or(Reason::BadExpirationDate)?;
    if channel.storage_policy == 0 && expiration != 0 {
        return Err(Reason::BadExpirationDate);
    }
    let priority: Priority =
        header(&parts.headers, "apns-priority").ok_or(Reason::BadPriority)?.parse().map_err(|_| Reason::BadPriority)?;
    if body.is_empty() {
        return Err(Reason::PayloadEmpty);
    }
    if body.len() > MAX_BROADCAST_PAYLOAD {
        return Err(Reason::PayloadTooLarge);
    }
    let event = serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .and_then(|v| v["aps"]["event"].as_str().map(str::to_owned));
    if !matches!(event.as_deref(), Some("update" | "end")) {
        return Err(Reason::BadRequestPayload);
    }
    let reached = fan_out(shared, env, &channel, expiration, priority, body, request_id).await.map_err(|e| {
        tracing::error!(error = %e, "could not hold a broadcast for offline subscribers");
        Reason::InternalServerError
    })?;
    shared.observe.metrics.broadcast(reached);
    Ok(Reply { status: 200, request_id, channel_id: None, unique_id: Some(uuid::Uuid::new_v4()), body: None })
}

/// One delivery per subscribed activity: to a connected phone now; to one that is away,
/// held if the channel stores its latest message (8 hours at most; durable before the
/// broadcast is answered), else nothing. Each delivery has its own apns-id and a journey
/// that names the broadcast. Answers how many subscribers there were.
async fn fan_out(
    shared: &Room,
    env: Environment,
    channel: &crate::registry::channels::Channel,
    expiration: u64,
    priority: Priority,
    body: &[u8],
    request_id: uuid::Uuid,
) -> Result<usize, crate::error::Error> {
    let subscribers = shared.registry.table.subscribers(&channel.id);
    let payload = Bytes::copy_from_slice(body);
    let topic = format!("{}.push-type.liveactivity", channel.bundle_id);
    let now_ms = shared.state.clock.unix_millis();
    let now_secs = shared.state.clock.unix_secs();
    let mut buf = uuid::Uuid::encode_buffer();
    let label = format!("broadcast {} on channel {}", request_id.hyphenated().encode_lower(&mut buf), channel.id);
    // Each subscriber's copy is a notification of its own (its apns-id, its journey,
    // starting with the broadcast), handed to the device side like any push.
    let keep = Keep::Channel {
        keeps: channel.storage_policy != 0,
        until: expiration.min(now_secs + MAX_CHANNEL_STORAGE_SECS),
    };
    let copies: Vec<_> = subscribers
        .iter()
        .map(|&(device, app, slot, online)| {
            let apns_id = ApnsId::random();
            shared.devices.step(apns_id.as_str(), now_ms, State::Broadcast, now_ms, Some(label.clone()));
            shared.record_fanout(apns_id.as_str(), slot, &request_id);
            let target = Target { device, app: Some(app), activity: Some(slot), online, learned: false };
            shared.devices.prepare(target, keep, || Notification {
                apns_id,
                topic: topic.clone(),
                push_type: protocol::PushType::Liveactivity,
                priority,
                collapse_id: None,
                environment: env,
                payload: payload.clone(),
                received_ms: now_ms,
            })
        })
        .collect();
    // Every copy held for an offline subscriber is durable, in one write, before the
    // broadcast is answered.
    shared.devices.finish(copies).await?;
    Ok(subscribers.len())
}
