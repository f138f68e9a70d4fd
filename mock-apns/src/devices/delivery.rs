//! Step 5 of the flow: APNs delivers. The engine is one loop over one event enum (a push
//! accepted, a device connected or gone, an ack): it sends each notification down the
//! device's gateway stream — priority 10 at once, 5 and 1 in small batches — keeps it
//! until the device acknowledges it, and resends what was not acknowledged when the
//! device comes back. What cannot be delivered is stored ([`super::storage`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
#[cfg(any(doc, test))]
use protocol::gateway::Delivery;
use protocol::gateway::{Ack, Outcome};
use protocol::{ActivityTarget, ApnsId, Environment, Priority, PushType};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Room;
use super::journey::State;
use crate::state::rows::HeldKey;
use crate::state::store::Write;

/// A device's open notification stream as the delivery engine holds it. Dropping it
/// ends the stream (its task sees the closer go).
pub(crate) struct DeviceStream {
    /// The stream's number (a device that reconnects gets a new one).
    pub conn: u64,
    out: Arc<std::sync::Mutex<h2::SendStream<Bytes>>>,
    _closer: tokio::sync::oneshot::Sender<()>,
}

impl DeviceStream {
    /// The gateway's side of a stream it has opened: `out` to write into, `closer` to
    /// drop when the engine lets go of it.
    pub(crate) fn new(
        conn: u64,
        out: Arc<std::sync::Mutex<h2::SendStream<Bytes>>>,
        closer: tokio::sync::oneshot::Sender<()>,
    ) -> Self {
        DeviceStream { conn, out, _closer: closer }
    }

    /// Queues one line on the stream; h2 sends it as the device's flow-control window
    /// allows (the engine bounds how many are outstanding). `false` if the stream is gone.
    pub(crate) fn send(&self, line: Bytes) -> bool {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).send_data(line, false).is_ok()
    }
}

/// How many notifications a device may have delivered but not acknowledged. Past it the
/// oldest is dropped from redelivery (its journey says `discarded: queue-full`): a
/// device that stops acknowledging cannot make APNs hold unbounded memory for it.
pub const MAX_UNACKED: usize = 1000;

/// How many notifications may be on their way down a device's stream, sent and not yet
/// acknowledged. Past it the engine keeps new ones for when the device reconnects (with
/// the unacknowledged ones, within [`MAX_UNACKED`]), so a device that stops reading
/// cannot make h2 buffer without bound.
pub const MAX_IN_FLIGHT: usize = 1024;

/// The reason a phone gives for dropping a push to an activity that has ended.
pub const ACTIVITY_ENDED: &str = "activity-ended";

/// How many events the engine takes from its inbox at a time.
const EVENT_BATCH: usize = 256;

/// What the engine reacts to.
pub(crate) enum Event {
    /// A push accepted for a device that is online.
    Deliver(Box<Outgoing>),
    /// A device opened its notification stream; lines go into `stream`.
    Connected { device: u32, udid: String, stream: DeviceStream },
    /// That stream closed.
    Disconnected { device: u32, conn: u64 },
    /// Close the device's stream (its tokens changed: it must register again).
    Kick { device: u32 },
    /// The device acknowledged a notification.
    Acked { device: u32, ack: Ack },
    /// A line for the device's open stream that is not a notification (the user's
    /// response to one); `sent` says whether a stream took it.
    Control { device: u32, line: Bytes, sent: tokio::sync::oneshot::Sender<bool> },
    /// APNs's clock was moved: every open stream is told its time now.
    ClockMoved { now_ms: u64 },
}

/// One notification on its way.
#[derive(Clone)]
pub(crate) struct Outgoing {
    /// The device slot (the engine's links are keyed by it: no strings on the hot path).
    pub device: u32,
    /// For a notification delivered from storage: which held slot to release on ack.
    pub held: Option<HeldKey>,
    pub delivery: Note,
}

/// A notification as the engine carries it: the fields of a [`Delivery`] line, with
/// the payload kept as the provider's bytes (checked once, by the provider API, and
/// never parsed again: [`Note::line`] writes the line by hand).
#[derive(Debug, Clone)]
pub(crate) struct Note {
    pub apns_id: ApnsId,
    pub topic: String,
    pub push_type: PushType,
    pub priority: Priority,
    pub collapse_id: Option<String>,
    pub environment: Environment,
    /// A JSON object.
    pub payload: Bytes,
    pub received_ms: u64,
    pub from_storage: bool,
    pub redelivered: bool,
    /// For a `liveactivity` push: the activity (or push-to-start type) its token is for.
    pub activity: Option<ActivityTarget>,
}

impl Note {
    /// The notification as one line of the device's stream: a [`Delivery`] in JSON and a
    /// newline. Raw line breaks in the payload (whitespace, since JSON strings cannot
    /// hold them) become spaces, so a pretty-printed payload stays on its line.
    pub(crate) fn line(&self) -> Bytes {
        use std::io::Write as _;
        fn string(out: &mut Vec<u8>, s: &str) {
            // Serialising a &str to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, s);
        }
        let mut out = Vec::with_capacity(200 + self.topic.len() + self.payload.len());
        out.extend_from_slice(br#"{"apns_id":""#);
        out.extend_from_slice(self.apns_id.as_str().as_bytes());
        out.extend_from_slice(br#"","topic":"#);
        string(&mut out, &self.topic);
        out.extend_from_slice(br#","push_type":""#);
        out.extend_from_slice(self.push_type.as_str().as_bytes());
        out.extend_from_slice(br#"","priority":"#);
        let _ = write!(out, "{}", self.priority.as_u8());
        if let Some(collapse_id) = &self.collapse_id {
            out.extend_from_slice(br#","collapse_id":"#);
            string(&mut out, collapse_id);
        }
        out.extend_from_slice(br#","environment":""#);
        out.extend_from_slice(self.environment.as_str().as_bytes());
        out.extend_from_slice(br#"","payload":"#);
        let payload = self.payload.trim_ascii();
        let at = out.len();
        out.extend_from_slice(if payload.is_empty() { b"{}" } else { payload });
        for b in &mut out[at..] {
            if *b == b'\n' || *b == b'\r' {
                *b = b' ';
            }
        }
        out.extend_from_slice(br#","received_ms":"#);
        let _ = write!(out, "{}", self.received_ms);
        out.extend_from_slice(br#","from_storage":"#);
        out.extend_from_slice(if self.from_storage { b"true" } else { b"false" });
        out.extend_from_slice(br#","redelivered":"#);
        out.extend_from_slice(if self.redelivered { b"true" } else { b"false" });
        if let Some(activity) = &self.activity {
            out.extend_from_slice(br#","activity":"#);
            let _ = serde_json::to_writer(&mut out, activity);
        }
        out.extend_from_slice(b"}\n");
        Bytes::from(out)
    }
}

/// A delivered, unacknowledged notification.
struct Pending {
    out: Outgoing,
    /// Whether it went down the current stream (and counts as in flight).
    sent: bool,
    /// Where its journey is.
    journey: Option<crate::devices::journey::Hint>,
}

/// What the engine knows of one device.
#[derive(Default)]
struct Link {
    /// The open stream, if any.
    conn: Option<DeviceStream>,
    /// Notifications sent down `conn` and not yet acknowledged.
    in_flight: usize,
    /// Delivered and not yet acknowledged, oldest first.
    unacked: VecDeque<Pending>,
    /// Priority 5 and 1 notifications waiting for the next batch.
    batch: Vec<Outgoing>,
}

/// Runs the engine until every sender is gone.
pub(crate) async fn run(
    shared: Arc<Room>,
    mut events: mpsc::Receiver<Event>,
    batch_window: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut links: HashMap<u32, Link> = HashMap::new();
    let mut next_batch: Option<Instant> = None;
    // The shutdown signal is waited on by one future for the engine's whole life (made
    // afresh per event, it would register and unregister a waiter, under a lock, twice
    // per notification), and events are taken in batches.
    let shutting_down = shutdown.changed();
    tokio::pin!(shutting_down);
    let mut inbox = Vec::with_capacity(EVENT_BATCH);
    loop {
        let got = match next_batch {
            Some(at) => tokio::select! {
                biased;
                _ = &mut shutting_down => return,
                n = events.recv_many(&mut inbox, EVENT_BATCH) => n,
                _ = tokio::time::sleep_until(at) => {
                    next_batch = None;
                    for link in links.values_mut() {
                        for out in std::mem::take(&mut link.batch) {
                            send(&shared, link, out, State::Delivered);
                        }
                    }
                    continue;
                }
            },
            None => tokio::select! {
                biased;
                _ = &mut shutting_down => return,
                n = events.recv_many(&mut inbox, EVENT_BATCH) => n,
            },
        };
        if got == 0 {
            return; // every sender is gone
        }
        for event in inbox.drain(..) {
            match event {
                Event::Deliver(out) => {
                    let link = links.entry(out.device).or_default();
                    if out.delivery.priority == protocol::Priority::Immediate || batch_window.is_zero() {
                        send(&shared, link, *out, State::Delivered);
                    } else {
                        link.batch.push(*out);
                        next_batch.get_or_insert_with(|| Instant::now() + batch_window);
                    }
                }
                Event::Connected { device, udid, stream } => {
                    let link = links.entry(device).or_default();
                    link.conn = Some(stream);
                    link.in_flight = 0;
                    // Resume: everything not acknowledged goes again, then what was stored.
                    let again: Vec<Pending> = link.unacked.drain(..).collect();
                    for mut p in again {
                        // Only what went down a stream before is a redelivery; a push
                        // that arrived while this stream was being set up is new.
                        if p.sent || p.out.delivery.redelivered {
                            p.out.delivery.redelivered = true;
                            send(&shared, link, p.out, State::Redelivered);
                        } else {
                            send(&shared, link, p.out, State::Delivered);
                        }
                    }
                    let now = shared.state.clock.unix_secs();
                    // Most urgent first, then oldest (Web Push's `Urgency`; APNs holds
                    // one per app, so its order across apps is the priority's).
                    let mut stored = shared.storage.take_device(&udid);
                    stored.sort_by_key(|(_, h)| (std::cmp::Reverse(h.priority.as_u8()), h.received_ms));
                    for (key, held) in stored {
                        if held.expires_at <= now {
                            shared.step(
                                held.apns_id.as_str(),
                                held.received_ms,
                                State::Discarded,
                                shared.state.clock.unix_millis(),
                                Some("expired".into()),
                            );
                            shared.state.store.write_later(vec![Write::DropHeldApp(key)]);
                            continue;
                        }
                        // Kept in storage until the device acknowledges it.
                        let _ = shared.storage.hold(key.clone(), held.clone());
                        let delivery = Note {
                            apns_id: held.apns_id.clone(),
                            topic: held.topic.clone(),
                            push_type: held.push_type,
                            priority: held.priority,
                            collapse_id: held.collapse_id.clone(),
                            environment: key.2,
                            payload: held.payload.clone(),
                            received_ms: held.received_ms,
                            from_storage: true,
                            activity: held.activity.clone(),
                            redelivered: false,
                        };
                        send(
                            &shared,
                            link,
                            Outgoing { device, held: Some(key), delivery },
                            State::DeliveredFromStorage,
                        );
                    }
                }
                Event::Kick { device } => {
                    // Dropping the sender ends the stream; the device reconnects and registers.
                    if let Some(link) = links.get_mut(&device) {
                        link.conn = None;
                    }
                }
                Event::Disconnected { device, conn } => {
                    if let Some(link) = links.get_mut(&device)
                        && link.conn.as_ref().is_some_and(|s| s.conn == conn)
                    {
                        link.conn = None;
                        link.in_flight = 0;
                        // Batched ones wait for the device like the unacknowledged ones.
                        let waiting = std::mem::take(&mut link.batch);
                        link.unacked.extend(waiting.into_iter().map(|out| Pending { out, sent: false, journey: None }));
                    }
                }
                Event::ClockMoved { now_ms } => {
                    let line = clock_line(now_ms);
                    for link in links.values() {
                        if let Some(stream) = &link.conn {
                            stream.send(line.clone());
                        }
                    }
                }
                Event::Control { device, line, sent } => {
                    let ok = links.get(&device).and_then(|l| l.conn.as_ref()).is_some_and(|s| s.send(line));
                    let _ = sent.send(ok);
                }
                Event::Acked { device, ack } if ack.outcome == Outcome::Responded => {
                    // The user's response: a step of the notification's own journey.
                    let now = shared.state.clock.unix_millis();
                    if shared.journeys.knows(&ack.apns_id) {
                        shared.step_at(&ack.apns_id, now, State::Responded, now, ack.reason, None);
                    }
                    let _ = device;
                }
                Event::Acked { device, ack } => {
                    let Some(link) = links.get_mut(&device) else { continue };
                    let Some(at) = link.unacked.iter().position(|p| p.out.delivery.apns_id.as_str() == ack.apns_id)
                    else {
                        continue; // a duplicate ack, or for a notification not on this device
                    };
                    let p = link.unacked.remove(at).expect("the position was just found");
                    if p.sent {
                        link.in_flight = link.in_flight.saturating_sub(1);
                    }
                    let state = match ack.outcome {
                        Outcome::Presented => State::Presented,
                        Outcome::HandledSilently => State::HandledSilently,
                        Outcome::Discarded => State::Discarded,
                        Outcome::AppNotInstalled => State::AppNotInstalled,
                        Outcome::ActivityStarted => State::ActivityStarted,
                        Outcome::ActivityUpdated => State::ActivityUpdated,
                        Outcome::ActivityEnded => State::ActivityEnded,
                        Outcome::ModifiedByExtension => State::ModifiedByExtension,
                        Outcome::ExtensionTimedOut => State::ExtensionTimedOut,
                        Outcome::ExtensionFailed => State::ExtensionFailed,
                        Outcome::BackgroundFetch => State::BackgroundFetch,
                        Outcome::CallReported => State::CallReported,
                        Outcome::VoipNoCall => State::VoipNoCall,
                        Outcome::VoipBlocked => State::VoipBlocked,
                        Outcome::Responded => State::Responded,
                    };
                    let now = shared.state.clock.unix_millis();
                    let activity_ended =
                        ack.outcome == Outcome::Discarded && ack.reason.as_deref() == Some(ACTIVITY_ENDED);
                    // A web push the phone showed: what it showed is the step's detail.
                    let detail = ack.reason.or(ack.shown);
                    shared.step_at(&ack.apns_id, p.out.delivery.received_ms, state, now, detail, p.journey);
                    // "No such app" from the phone is how APNs learns of an uninstall.
                    if ack.outcome == Outcome::AppNotInstalled
                        && let Ok(topic) = protocol::Topic::parse(&p.out.delivery.topic)
                        && let Some(app) = shared.registry.table.device_reports_app_gone(
                            device,
                            topic.bundle_id(),
                            p.out.delivery.environment,
                            shared.state.clock.unix_millis(),
                        )
                    {
                        shared.delivery_found_app_gone(app);
                    }
                    // "That activity has ended" from the phone: APNs learns its token is gone.
                    if activity_ended
                        && let Some(ActivityTarget::Update { activity_id }) = &p.out.delivery.activity
                        && let Some(slot) = shared.registry.table.device_reports_activity_gone(
                            device,
                            activity_id,
                            shared.state.clock.unix_millis(),
                        )
                    {
                        shared.delivery_found_activity_gone(slot);
                    }
                    if let Some(key) = p.out.held
                        && shared.storage.release(&key, &ack.apns_id)
                    {
                        shared.state.store.write_later(vec![Write::DropHeldApp(key)]);
                    }
                }
            }
        }
    }
}

/// The line that tells a phone APNs's clock moved ([`protocol::gateway::Delivery::clock`]).
fn clock_line(now_ms: u64) -> Bytes {
    let line = format!(
        r#"{{"apns_id":"","topic":"","push_type":"alert","priority":10,"environment":"sandbox","payload":{{}},"received_ms":{now_ms},"clock":true}}"#
    );
    Bytes::from(line + "\n")
}

/// Tells the engine each time APNs's clock is moved, until shutdown.
pub(crate) async fn follow_clock(shared: Arc<Room>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut moves = shared.state.clock.moves();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            moved = moves.changed() => {
                if moved.is_err() {
                    return;
                }
                let now_ms = shared.state.clock.unix_millis();
                if shared.engine.send(Event::ClockMoved { now_ms }).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Sends one notification down the device's stream (or keeps it for the next connection)
/// and remembers it until it is acknowledged.
fn send(shared: &Room, link: &mut Link, out: Outgoing, state: State) {
    let sent = match &link.conn {
        Some(stream) if link.in_flight < MAX_IN_FLIGHT => {
            // A Web Push message is decrypted by the phone as it goes (see `web_delivery`).
            let line = match out.delivery.push_type {
                PushType::Webpush => shared.open_web(&out.delivery),
                _ => Ok(out.delivery.line()),
            };
            match line {
                Ok(line) => stream.send(line),
                Err(why) => return unreadable(shared, out, why),
            }
        }
        _ => false,
    };
    let mut journey = None;
    if sent {
        link.in_flight += 1;
        let now = shared.state.clock.unix_millis();
        journey = Some(shared.step_at(out.delivery.apns_id.as_str(), out.delivery.received_ms, state, now, None, None));
    }
    if link.unacked.len() >= MAX_UNACKED
        && let Some(dropped) = link.unacked.pop_front()
    {
        shared.step(
            dropped.out.delivery.apns_id.as_str(),
            dropped.out.delivery.received_ms,
            State::Discarded,
            shared.state.clock.unix_millis(),
            Some("queue-full".into()),
        );
    }
    link.unacked.push_back(Pending { out, sent, journey });
}

/// A Web Push message the phone could not open: dropped, and released from storage.
fn unreadable(shared: &Room, out: Outgoing, why: String) {
    let note = &out.delivery;
    let now = shared.state.clock.unix_millis();
    shared.step(note.apns_id.as_str(), note.received_ms, State::Discarded, now, Some(why));
    if let Some(key) = out.held
        && shared.storage.release(&key, note.apns_id.as_str())
    {
        shared.state.store.write_later(vec![Write::DropHeldApp(key)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written line is exactly what serde makes of the same [`Delivery`], and
    /// stays one line whatever the payload's layout.
    #[test]
    fn a_line_is_a_delivery_in_json() {
        let note = Note {
            apns_id: ApnsId::parse("00000000-0000-4000-8000-000000000001").expect("uuid"),
            topic: r#"com.example."odd"\app"#.into(),
            push_type: PushType::Background,
            priority: Priority::PowerConsiderate,
            collapse_id: Some("c\u{e9}\"1".into()),
            environment: Environment::Production,
            payload: Bytes::from_static(b"  {\n  \"aps\" : {\"alert\":\"a\\nb\"},\r\n  \"k\": [1, 2]\n}\n"),
            received_ms: 1_800_000_000_123,
            from_storage: true,
            redelivered: false,
            activity: None,
        };
        let line = note.line();
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one line");
        assert!(line.ends_with(b"\n"));
        let got: Delivery = serde_json::from_slice(&line).expect("a Delivery");
        let expected = Delivery {
            apns_id: note.apns_id.as_str().to_owned(),
            topic: note.topic.clone(),
            push_type: note.push_type,
            priority: note.priority,
            collapse_id: note.collapse_id.clone(),
            environment: note.environment,
            payload: protocol::gateway::raw_payload(br#"{"aps":{"alert":"a\nb"},"k":[1,2]}"#),
            received_ms: note.received_ms,
            from_storage: true,
            redelivered: false,
            activity: None,
            response: None,
            clock: false,
        };
        let value = |d: &Delivery| {
            let mut v = serde_json::to_value(d).expect("JSON");
            v["payload"] = serde_json::from_str(d.payload.get()).expect("payload");
            v
        };
        assert_eq!(value(&got), value(&expected));
        let plain = Note { collapse_id: None, redelivered: true, ..note };
        let got: Delivery = serde_json::from_slice(&plain.line()).expect("a Delivery");
        assert_eq!((got.collapse_id, got.redelivered), (None, true));
        let target = ActivityTarget::Update { activity_id: "A\"1".into() };
        let activity = Note { push_type: PushType::Liveactivity, activity: Some(target.clone()), ..plain };
        let got: Delivery = serde_json::from_slice(&activity.line()).expect("a Delivery");
        assert_eq!(got.activity, Some(target));
    }
}
