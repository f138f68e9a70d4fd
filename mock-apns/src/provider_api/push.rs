//! Step 4 of the flow, APNs's side: one `POST /3/device/<token>` from a provider,
//! checked the way APNs checks it and answered with APNs's exact bytes.
//!
//! It reads best whole, as the one place the order of checks lives, from a request whose
//! body `server.rs` has read to the last byte of its answer.
//!
//! Every request goes through the same shape: **parse → validate → apply → respond**
//! (the body read in `server.rs`; the credential, step 5, in `conn.rs`, shared with
//! broadcasts; the accepted push handed to the devices room's `handoff.rs`).
//! Validation turns the request into an [`Accepted`] push or a [`Reason`]. The order of
//! the checks matters (a request can be wrong in several ways, and a client sees only the
//! first), and Apple does not document it; this is the order, written down once:
//!
//! | # | check | reason (status) |
//! |---|---|---|
//! | 1 | `:path` starts with `/3/device/` | BadPath (404) |
//! | 2 | `:method` is POST | MethodNotAllowed (405) |
//! | 3 | no header field appears twice | DuplicateHeaders (400) |
//! | 4 | `apns-id`, if sent, is a canonical UUID | BadMessageId (400) |
//! | 5 | the credential: provider token (see `auth.rs`) or client certificate | MissingProviderToken, InvalidProviderToken, ExpiredProviderToken, BadEnvironmentKeyIdInToken, UnrelatedKeyIdInToken (403), TooManyProviderTokenUpdates (429), BadCertificate (403) |
//! | 6 | a device token follows `/3/device/` | MissingDeviceToken (400) |
//! | 7 | the token is even-length hex, 1–100 bytes | BadDeviceToken (400) |
//! | 8 | `apns-topic` is sent (a single-topic certificate implies it) | MissingTopic (400) |
//! | 9 | the topic is well formed | BadTopic (400) |
//! | 10 | `apns-push-type`, if sent, is known (absent: implied by the topic's suffix) | InvalidPushType (400) |
//! | 11 | `apns-priority` is 10, 5 or 1 (10 or 5 for `liveactivity`) | BadPriority (400) |
//! | 12 | `apns-expiration` is UNIX seconds | BadExpirationDate (400) |
//! | 13 | `apns-collapse-id` is at most 64 bytes | BadCollapseId (400) |
//! | 14 | the credential covers the topic: the key's team owns the app, a topic key lists it, a certificate names it | TopicDisallowed (400) |
//! | 15 | the body is not empty | PayloadEmpty (400) |
//! | 16 | the body fits: 4096 bytes, 5120 for VoIP | PayloadTooLarge (413) |
//! | 17 | the body is a JSON object | PayloadEmpty (400) |
//! | 18 | the token exists in this environment / was issued for this topic / is still valid (a `liveactivity` push goes to an activity token: push-to-start or update) | BadDeviceToken (400), DeviceTokenNotForTopic (400), Unregistered (410 + timestamp) |
//!
//! Authentication comes before the header checks because a token connection is limited
//! to one stream until a request *carrying a valid token* arrives, whatever else is
//! wrong with that request. Step 17 answers `PayloadEmpty` because APNs's table has no
//! reason for a body that is not JSON, and clients such as PyAPNs2 fail on reason
//! strings they do not know; of the known ones, "no usable payload" is the truthful one.
//! In step 18 a topic without the suffix its push type needs (`voip` to
//! `com.example.app` instead of `com.example.app.voip`) is DeviceTokenNotForTopic for a
//! token that exists: on real APNs the token of a push type is issued for the suffixed
//! topic, so the plain topic is another topic than the token's.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use h2::server::SendResponse;
use http::{HeaderMap, Method, Response};
use protocol::{
    ApnsId, CollapseId, DeviceToken, Environment, ErrorBody, Expiration, Priority, PushType, Reason, Topic,
    max_payload_size,
};

use super::Room;
use crate::devices::handoff::{Keep, Notification, Prepared, Target};
use crate::observe::capture::{Authenticated, Record};
use crate::provider_api::conn::{ConnControl, ConnState, Credential, authenticate};
use crate::provider_api::faults::{FaultAction, Fired, Probe};
use crate::registry::Routed;

/// Header names, parsed once: looking a header up by `&str` parses the name every time.
mod names {
    use http::HeaderName;
    use protocol::headers as h;
    pub const APNS_PUSH_TYPE: HeaderName = HeaderName::from_static(h::APNS_PUSH_TYPE);
    pub const APNS_ID: HeaderName = HeaderName::from_static(h::APNS_ID);
    pub const APNS_UNIQUE_ID: HeaderName = HeaderName::from_static(h::APNS_UNIQUE_ID);
    pub const APNS_EXPIRATION: HeaderName = HeaderName::from_static(h::APNS_EXPIRATION);
    pub const APNS_PRIORITY: HeaderName = HeaderName::from_static(h::APNS_PRIORITY);
    pub const APNS_TOPIC: HeaderName = HeaderName::from_static(h::APNS_TOPIC);
    pub const APNS_COLLAPSE_ID: HeaderName = HeaderName::from_static(h::APNS_COLLAPSE_ID);
}
use names::*;

/// The path prefix of device pushes.
const DEVICE_PATH: &str = "/3/device/";

/// A push that passed every check.
struct Accepted {
    routed: Routed,
    push_type: PushType,
    priority: Priority,
    expiration: Option<Expiration>,
    collapse_id: Option<CollapseId>,
}

/// What is learnt about a request while checking it; the capture log shows it whether
/// or not the request was accepted.
struct Seen {
    apns_id: Option<ApnsId>,
    token: Option<DeviceToken>,
    topic: Option<Topic>,
    auth: Authenticated,
}

/// One reading of the clock, in both forms the checks and the log need.
#[derive(Clone, Copy)]
struct Now {
    at: std::time::SystemTime,
    /// `at` in ms since the epoch.
    ms: u64,
}

impl Now {
    fn read(clock: &crate::clock::Clock) -> Now {
        let at = clock.now();
        Now { at, ms: at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64) }
    }
}

/// Handles one device push whose body has been read (see `server.rs`): validate →
/// apply → respond, unless a fault rule takes over.
pub(crate) async fn handle(
    shared: &Room,
    conn: &ConnState,
    parts: Box<http::request::Parts>,
    body: Bytes,
    mut respond: SendResponse<Bytes>,
    started: std::time::Instant,
) {
    // A fault rule may take over: a test asked for this request to go wrong.
    let fired = shared.faults.check(Probe::request(conn.env, &parts));
    let answer = match fired {
        Some(Fired { id, action: action @ (FaultAction::Stall | FaultAction::Reset | FaultAction::Close) }) => {
            let label = Fired { id, action: action.clone() }.label();
            forced(shared, conn, &parts, &body, None, Some(&label));
            match action {
                // Held until the client resets the stream or the connection ends.
                FaultAction::Stall => {
                    let _ = std::future::poll_fn(|cx| respond.poll_reset(cx)).await;
                }
                FaultAction::Reset => respond.send_reset(h2::Reason::INTERNAL_ERROR),
                _ => {
                    let _ = conn.control.send(ConnControl::Close);
                }
            }
            return;
        }
        Some(fired @ Fired { action: FaultAction::MaxStreams { value }, .. }) => {
            conn.limit.store(value, Ordering::Release);
            conn.tap.send_settings(&[(crate::provider_api::tap::SETTINGS_MAX_CONCURRENT_STREAMS, value)]);
            Box::pin(process(shared, conn, &parts, body, Some(&fired.label()))).await
        }
        Some(fired @ Fired { action: FaultAction::Goaway { .. }, .. }) => {
            let reason = fired.action.reason().unwrap_or(Reason::InternalServerError);
            let answer = forced(shared, conn, &parts, &body, Some((reason, None)), Some(&fired.label()));
            let _ = conn.control.send(ConnControl::Goaway(reason));
            answer
        }
        fired => Box::pin(answer_with(shared, conn, &parts, body, fired)).await,
    };
    let Answer { status, apns_id, unique_id, error } = answer;
    let mut response = Response::builder().status(status).header(APNS_ID, apns_id.as_str());
    if let Some(unique) = &unique_id {
        let mut buf = uuid::Uuid::encode_buffer();
        response = response.header(APNS_UNIQUE_ID, &*unique.hyphenated().encode_lower(&mut buf));
    }

    // Respond: success is one HEADERS frame with END_STREAM; an error is HEADERS then
    // one DATA frame holding the JSON body, with END_STREAM.
    match error {
        None => {
            let response = response.body(()).expect("status and header values are valid");
            let _ = respond.send_response(response, true);
        }
        Some(error) => {
            let response =
                response.header(http::header::CONTENT_TYPE, "application/json").body(()).expect("valid header values");
            if let Ok(mut stream) = respond.send_response(response, false) {
                let _ = stream.send_data(Bytes::from(error.to_json()), true);
            }
        }
    }
    shared.observe.metrics.latency(conn.env, started.elapsed());
}

/// Validates, applies and answers one push that came without a provider-API connection
/// (the dashboard's console): fault rules that answer or delay apply, as they do to the
/// provider API's; those that act on a connection pass it by (see `faults.rs`).
pub(crate) async fn accept(shared: &Room, conn: &ConnState, parts: &http::request::Parts, body: Bytes) -> Answer {
    let fired = shared.faults.check(Probe { connection: false, ..Probe::request(conn.env, parts) });
    answer_with(shared, conn, parts, body, fired).await
}

/// A phone's local push (`POST /api/v1/devices/{udid}/push`, `apns-lab device push
/// FILE.apns`): no provider and no HTTP/2 stream, but the same fault rules that answer
/// or delay, and the same rate limits, as a provider's push to that app's token.
pub(crate) async fn local(
    shared: &Room,
    udid: &str,
    push: crate::devices::operations::LocalPush,
) -> Result<serde_json::Value, crate::error::Error> {
    use crate::error::Error;
    let target = shared.devices.local_target(udid, &push)?;
    let token = target.token.as_ref().map(|t| hex::encode(t.as_bytes())).unwrap_or_default();
    let probe = Probe {
        env: target.environment,
        token: &token,
        topic: Some(&target.bundle),
        push_type: Some(PushType::Alert.as_str()),
        connection: false,
    };
    if let Some(fired) = shared.faults.check(probe) {
        let by = format!("fault rule {}", fired.label());
        match fired.action {
            FaultAction::Delay { ms } => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
            FaultAction::Unregistered { timestamp } => {
                let timestamp = Some(timestamp.unwrap_or_else(|| shared.state.clock.unix_millis()));
                return Err(Error::Refused { reason: Reason::Unregistered, timestamp, by });
            }
            action => {
                let reason = action.reason().unwrap_or(Reason::InternalServerError);
                return Err(Error::Refused { reason, timestamp: None, by });
            }
        }
    }
    let bytes = target.token.as_ref().map_or(&[][..], DeviceToken::as_bytes);
    if !shared.limits.allow(bytes, || shared.state.clock.unix_millis()) {
        return Err(Error::Refused { reason: Reason::TooManyRequests, timestamp: None, by: "rate limit".into() });
    }
    shared.devices.local_push(target, &push.payload).await
}

/// The answer to a push, once the rule that fires on it (if any) is known — for the
/// actions that need no connection: none, `delay`, `reason`, `unregistered`.
async fn answer_with(
    shared: &Room,
    conn: &ConnState,
    parts: &http::request::Parts,
    body: Bytes,
    fired: Option<Fired>,
) -> Answer {
    let Some(fired) = fired else { return Box::pin(process(shared, conn, parts, body, None)).await };
    let label = fired.label();
    match fired.action {
        FaultAction::Delay { ms } => {
            Box::pin(tokio::time::sleep(std::time::Duration::from_millis(ms))).await;
            Box::pin(process(shared, conn, parts, body, Some(&label))).await
        }
        FaultAction::Unregistered { timestamp } => {
            let timestamp = timestamp.unwrap_or_else(|| shared.state.clock.unix_millis());
            forced(shared, conn, parts, &body, Some((Reason::Unregistered, Some(timestamp))), Some(&label))
        }
        action => {
            let reason = action.reason().unwrap_or(Reason::InternalServerError);
            forced(shared, conn, parts, &body, Some((reason, None)), Some(&label))
        }
    }
}

/// What the provider API answers to one request.
pub(crate) struct Answer {
    pub status: u16,
    pub apns_id: ApnsId,
    pub unique_id: Option<uuid::Uuid>,
    pub error: Option<ErrorBody>,
}

/// Validates and applies one request (whatever carried it: an HTTP/2 stream, or the
/// dashboard's console), records it in the capture log, and says what to answer.
pub(crate) async fn process(
    shared: &Room,
    conn: &ConnState,
    parts: &http::request::Parts,
    body: Bytes,
    fault: Option<&str>,
) -> Answer {
    // Validate.
    // One reading of the clock serves the token's age, the registry and the log.
    let now = Now::read(&shared.state.clock);
    let mut seen = Seen { apns_id: None, token: None, topic: None, auth: Authenticated::None };
    let verdict = validate(shared, conn, parts, &body, now, &mut seen);

    // Apply: an accepted push goes to the device side; every answer goes to the log.
    let apns_id = seen.apns_id.take().unwrap_or_else(ApnsId::random);
    let unique_id = (conn.env == Environment::Sandbox).then(uuid::Uuid::new_v4);
    let too_fast = |token: Option<&DeviceToken>| {
        !shared.limits.allow(token.map_or(&[][..], DeviceToken::as_bytes), || shared.state.clock.unix_millis())
    };
    let (status, error) = match &verdict {
        // Rate limits (off unless a test sets them) refuse only what would be accepted.
        Ok(_) if too_fast(seen.token.as_ref()) => {
            let reason = Reason::TooManyRequests;
            (reason.status(), Some(ErrorBody { reason, timestamp: None }))
        }
        Ok(accepted) => {
            let routed = accepted.routed;
            tracing::debug!(apns_id = %apns_id, device = routed.device, app = routed.app, "accepted");
            // Step 5 begins: the device side delivers it, holds it for an offline device
            // (answering only once that is durable), or drops it. (Boxed: rare or cheap
            // next to what its state would add to every request's task, which is copied
            // when it is spawned.)
            let make = || Notification {
                apns_id: apns_id.clone(),
                topic: seen.topic.as_ref().map(|t| t.as_str().to_owned()).unwrap_or_default(),
                push_type: accepted.push_type,
                priority: accepted.priority,
                collapse_id: accepted.collapse_id.as_ref().map(|c| c.as_str().to_owned()),
                environment: conn.env,
                // A copy: the body may be a slice of h2's read buffer.
                payload: Bytes::copy_from_slice(&body),
                received_ms: now.ms,
            };
            let handed = match shared.devices.prepare(Target::from(routed), Keep::Expiration(accepted.expiration), make)
            {
                Prepared::Done(_) => Ok(()),
                left => Box::pin(shared.devices.finish([left])).await,
            };
            match handed {
                Ok(()) => (200, None),
                Err(_) => {
                    let reason = Reason::InternalServerError;
                    (reason.status(), Some(ErrorBody { reason, timestamp: None }))
                }
            }
        }
        Err((reason, timestamp)) => {
            tracing::debug!(apns_id = %apns_id, %reason, "rejected");
            (reason.status(), Some(ErrorBody { reason: *reason, timestamp: *timestamp }))
        }
    };
    log_answer(
        shared,
        conn,
        parts,
        &body,
        &Logged {
            time_ms: now.ms,
            apns_id: &apns_id,
            unique_id,
            token: seen.token.as_ref(),
            topic: seen.topic.as_ref(),
            auth: &seen.auth,
            status,
            error: error.as_ref(),
            fault,
        },
    );
    Answer { status, apns_id, unique_id, error }
}

/// The checks of the module table, in order.
fn validate(
    shared: &Room,
    conn: &ConnState,
    parts: &http::request::Parts,
    body: &[u8],
    now: Now,
    seen: &mut Seen,
) -> Result<Accepted, (Reason, Option<u64>)> {
    let (method, path, headers) = (&parts.method, parts.uri.path(), &parts.headers);
    let fail = |r: Reason| (r, None);
    // The request's one valid apns-id is echoed by every answer, those of checks 1–3
    // included; two apns-id fields are DuplicateHeaders and echo neither.
    let mut ids = headers.get_all(&APNS_ID).iter();
    let (first, second) = (ids.next(), ids.next());
    let bad_id = match first.map(|v| v.to_str().ok().and_then(|s| ApnsId::parse(s).ok())) {
        Some(Some(id)) if second.is_none() => {
            seen.apns_id = Some(id);
            false
        }
        Some(None) => true,
        _ => false,
    };
    // 1–4: route, method, duplicates, apns-id.
    let Some(token_text) = path.strip_prefix(DEVICE_PATH) else {
        return Err(fail(Reason::BadPath));
    };
    if method != Method::POST {
        return Err(fail(Reason::MethodNotAllowed));
    }
    if headers.keys_len() != headers.len() {
        return Err(fail(Reason::DuplicateHeaders));
    }
    if bad_id {
        return Err(fail(Reason::BadMessageId));
    }

    // 5: the credential.
    let credential = authenticate(shared, conn, headers, now.at, &mut seen.auth).map_err(fail)?;

    // 6–7: the device token.
    if token_text.is_empty() {
        return Err(fail(Reason::MissingDeviceToken));
    }
    seen.token = Some(DeviceToken::parse_hex(token_text).map_err(|e| fail(e.reason()))?);

    // 8–9: the topic.
    let topic = match header_str(headers, &APNS_TOPIC) {
        Some(text) => Topic::parse(text).map_err(|e| fail(e.reason()))?,
        None => match &credential {
            Credential::Certificate(id) if id.topics.len() == 1 => {
                Topic::parse(&id.uid).map_err(|_| fail(Reason::MissingTopic))?
            }
            _ => return Err(fail(Reason::MissingTopic)),
        },
    };
    seen.topic = Some(topic);
    let (Some(token), Some(topic)) = (&seen.token, &seen.topic) else {
        return Err(fail(Reason::InternalServerError)); // both were stored just above
    };

    // 10–13: push type, priority, expiration, collapse id.
    let push_type = match header_str(headers, &APNS_PUSH_TYPE) {
        Some(text) => text.parse::<PushType>().map_err(|e| fail(e.reason()))?,
        None => PushType::implied_by(topic),
    };
    let priority = match header_value(headers, &APNS_PRIORITY) {
        Some(text) => text.parse::<Priority>().map_err(|e| fail(e.reason()))?,
        None => Priority::default(),
    };
    // Live Activity pushes take 10 or 5 (ActivityKit's push article).
    if push_type == PushType::Liveactivity && priority == Priority::PowerPrioritized {
        return Err(fail(Reason::BadPriority));
    }
    let expiration = match header_value(headers, &APNS_EXPIRATION) {
        Some(text) => Some(text.parse::<Expiration>().map_err(|e| fail(e.reason()))?),
        None => None,
    };
    let collapse_id = match headers.get(&APNS_COLLAPSE_ID) {
        Some(value) => Some(CollapseId::new(String::from_utf8_lossy(value.as_bytes())).map_err(|e| fail(e.reason()))?),
        None => None,
    };

    // 14: the credential covers the topic.
    let (bundle_id, has_suffix) = match topic.bundle_id_for(push_type) {
        Some(bundle_id) => (bundle_id, true),
        None => (topic.as_str(), false),
    };
    match &credential {
        Credential::Token(key) => {
            if shared.registry.table.owned_by_other_team(bundle_id, &key.team_id) || !key.covers(bundle_id) {
                return Err(fail(Reason::TopicDisallowed));
            }
        }
        Credential::Certificate(id) => {
            if !id.topics.iter().any(|t| t == topic.as_str()) {
                return Err(fail(Reason::TopicDisallowed));
            }
        }
    }

    // 15–17: the payload.
    if body.is_empty() {
        return Err(fail(Reason::PayloadEmpty));
    }
    if body.len() > max_payload_size(push_type) {
        return Err(fail(Reason::PayloadTooLarge));
    }
    let is_object = body.trim_ascii_start().starts_with(b"{");
    if !is_object || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        return Err(fail(Reason::PayloadEmpty));
    }

    // 18: route the token (a Live Activity push to an activity token).
    let routed = match push_type {
        PushType::Liveactivity => shared.registry.table.route_activity(conn.env, token, bundle_id, now.ms)?,
        _ => shared.registry.table.route(conn.env, token, bundle_id, now.ms)?,
    };
    if !has_suffix {
        return Err(fail(Reason::DeviceTokenNotForTopic));
    }
    Ok(Accepted { routed, push_type, priority, expiration, collapse_id })
}

/// A header's value as text, `None` if absent. Values that are not visible ASCII read
/// as an empty string, which every typed parser refuses.
fn header_value<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> Option<&'h str> {
    headers.get(name).map(|v| v.to_str().unwrap_or(""))
}

/// Like [`header_value`], but an empty value counts as absent (`apns-topic:` with
/// nothing is a missing topic, not a bad one).
fn header_str<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> Option<&'h str> {
    header_value(headers, name).filter(|v| !v.is_empty())
}

/// What was answered to one request.
struct Logged<'a> {
    /// When, ms since the epoch.
    time_ms: u64,
    apns_id: &'a ApnsId,
    unique_id: Option<uuid::Uuid>,
    token: Option<&'a DeviceToken>,
    topic: Option<&'a Topic>,
    auth: &'a Authenticated,
    /// 0 when a fault rule left the request unanswered.
    status: u16,
    error: Option<&'a ErrorBody>,
    fault: Option<&'a str>,
}

/// Records an answer everywhere it is seen: the capture log, the metrics, the counts and
/// the live stream.
fn log_answer(shared: &Room, conn: &ConnState, parts: &http::request::Parts, body: &[u8], a: &Logged<'_>) {
    let reason = a.error.map(|e| e.reason);
    shared.observe.capture.record(&Record {
        time_ms: a.time_ms,
        environment: conn.env,
        connection: conn.id,
        apns_id: a.apns_id,
        apns_unique_id: a.unique_id,
        method: &parts.method,
        path: parts.uri.path(),
        headers: &parts.headers,
        token: a.token,
        topic: a.topic,
        auth: a.auth,
        body,
        status: a.status,
        reason,
        timestamp: a.error.and_then(|e| e.timestamp),
        fault: a.fault,
    });
    shared.observe.metrics.request(conn.env, a.status, reason);
    if a.status == 200 {
        shared.observe.stats.accepted.fetch_add(1, Ordering::Relaxed);
    }
    shared.observe.live.request(a.apns_id, a.status, a.error, a.token, a.topic, conn.env);
}

/// Answers (or, with `reason` `None`, leaves unanswered) what a fault rule took over,
/// without validating; logged like any answer.
fn forced(
    shared: &Room,
    conn: &ConnState,
    parts: &http::request::Parts,
    body: &Bytes,
    reason: Option<(Reason, Option<u64>)>,
    fault: Option<&str>,
) -> Answer {
    let apns_id =
        header_str(&parts.headers, &APNS_ID).and_then(|v| ApnsId::parse(v).ok()).unwrap_or_else(ApnsId::random);
    let token = parts.uri.path().strip_prefix("/3/device/").and_then(|t| DeviceToken::parse_hex(t).ok());
    let topic = header_str(&parts.headers, &APNS_TOPIC).and_then(|t| Topic::parse(t).ok());
    let error = reason.map(|(reason, timestamp)| ErrorBody { reason, timestamp });
    let answered = error.is_some();
    let unique_id = (answered && conn.env == Environment::Sandbox).then(uuid::Uuid::new_v4);
    let status = error.as_ref().map_or(0, |e| e.reason.status());
    let logged = Logged {
        time_ms: shared.state.clock.unix_millis(),
        apns_id: &apns_id,
        unique_id,
        token: token.as_ref(),
        topic: topic.as_ref(),
        auth: &Authenticated::None,
        status,
        error: error.as_ref(),
        fault,
    };
    log_answer(shared, conn, parts, body, &logged);
    Answer { status, apns_id, unique_id, error }
}
