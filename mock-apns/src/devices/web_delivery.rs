//! Step 5 for Web Push: a message the endpoint accepted goes to the phone as Safari's
//! push service does it — now, if the phone's stream is open; else held until `TTL`
//! runs out (`TTL: 0`: now or never), one pending message per `Topic` (the newer
//! replaces it), at most [`MAX_PENDING`] per subscription, delivered in `Urgency` order
//! when the phone comes back. Held messages stay encrypted, as Apple holds them.
//!
//! The phone decrypts (RFC 8291) with the private key and auth secret it made when it
//! subscribed. A running phone made and keeps them itself: the message goes down its
//! stream as sent, and the phone decrypts it (the cost is the phone's). For a phone of
//! the admin API the device side made them and keeps them for the phone, and decrypts as
//! the message leaves for the stream; the push service's side never reads them. A
//! message the phone cannot decrypt is dropped, its journey says why, and the sender —
//! which got 201 — never hears of it, as with a real phone. What goes down the stream is
//! a [`protocol::gateway::WebMessage`] for the web app's service worker.

use bytes::Bytes;
use protocol::webpush::Urgency;
use protocol::{ApnsId, Environment, Priority, PushType};

use super::Room;
use super::delivery::Note;
use super::handoff::{Handed, Notification, Prepared};
use super::journey::State;
use crate::error::Error;
use crate::registry::web::WebSubscription;
use crate::state::rows::{Held, HeldKey};
use crate::state::store::Write;

/// The most messages held for one subscription (those without a `Topic` each take a
/// place); past it the oldest is dropped. Apple publishes no number: chosen so that a
/// sender cannot make the mock hold unbounded memory for a phone that stays away.
pub const MAX_PENDING: usize = 100;

/// A message the Web Push endpoint accepted.
#[derive(Debug, Clone)]
pub(crate) struct WebMessage {
    pub apns_id: ApnsId,
    pub subscription: std::sync::Arc<WebSubscription>,
    /// Seconds it may wait for the phone (already cut to 30 days).
    pub ttl: u64,
    pub urgency: Urgency,
    pub topic: Option<String>,
    /// The encrypted body, as sent.
    pub body: Bytes,
    /// When the endpoint accepted it (ms).
    pub received_ms: u64,
}

/// The delivery priority an urgency maps to: `high` at once, `normal` in the engine's
/// small batches, `low` and `very-low` as power allows (RFC 8030 §5.3; four urgencies
/// onto APNs's three priorities, Apple's own mapping unpublished). Held messages go out
/// highest first.
pub(crate) fn priority(urgency: Urgency) -> Priority {
    match urgency {
        Urgency::High => Priority::Immediate,
        Urgency::Normal => Priority::PowerConsiderate,
        Urgency::Low | Urgency::VeryLow => Priority::PowerPrioritized,
    }
}

/// Where a held message waits: beside the phone's apps, under its subscription, and
/// by its `Topic` (one per topic) or its own id.
fn slot(subscription: &str, topic: Option<&str>, apns_id: &ApnsId) -> String {
    match topic {
        Some(topic) => format!("web/{subscription}/topic/{topic}"),
        None => format!("web/{subscription}/{}", apns_id.as_str()),
    }
}

impl Room {
    /// Hands an accepted Web Push message to the phone (see the module's rules).
    /// Answers once a held message is durable; `Err` if it could not be written.
    pub(crate) async fn hand_over_web(&self, m: WebMessage) -> Result<Handed, Error> {
        let now_ms = self.state.clock.unix_millis();
        let Some((device, online)) = self.registry.table.device_slot_online(&m.subscription.udid) else {
            self.step(m.apns_id.as_str(), m.received_ms, State::Discarded, now_ms, Some("no such phone".into()));
            return Ok(Handed::Dropped);
        };
        if online && !self.connections.is_connected(device) {
            return Ok(Handed::Dropped); // a virtual phone: nobody receives it
        }
        let note = Notification {
            apns_id: m.apns_id.clone(),
            topic: m.subscription.id.clone(),
            push_type: PushType::Webpush,
            priority: priority(m.urgency),
            collapse_id: m.topic.clone(),
            environment: Environment::Production,
            payload: m.body,
            received_ms: m.received_ms,
        };
        if online {
            let out = super::delivery::Outgoing { device, held: None, delivery: Note::from(note) };
            self.finish([Prepared::Deliver(Box::new(out))]).await?;
            return Ok(Handed::Delivering);
        }
        if m.ttl == 0 {
            let why = "phone offline; TTL 0 says now or never";
            self.step(m.apns_id.as_str(), m.received_ms, State::Discarded, now_ms, Some(why.into()));
            return Ok(Handed::Dropped);
        }
        let udid = m.subscription.udid.as_str();
        let expires_at = self.state.clock.unix_secs() + m.ttl;
        let slot = slot(&m.subscription.id, m.topic.as_deref(), &m.apns_id);
        if m.topic.is_none() {
            self.make_room(udid, &m.subscription.id, now_ms).await?;
        }
        let key: HeldKey = (udid.into(), slot.into(), Environment::Production);
        let held = Held {
            apns_id: note.apns_id,
            received_ms: note.received_ms,
            expires_at,
            priority: note.priority,
            push_type: PushType::Webpush,
            topic: note.topic,
            collapse_id: note.collapse_id,
            payload: note.payload,
            activity: None,
        };
        let why = match m.topic {
            Some(_) => "phone offline; held until TTL, one per Topic",
            None => "phone offline; held until TTL",
        };
        self.finish([Prepared::Hold(Box::new((key, held)), why)]).await?;
        Ok(Handed::Held)
    }

    /// Drops the oldest message held for a subscription when it has [`MAX_PENDING`].
    async fn make_room(&self, udid: &str, subscription: &str, now_ms: u64) -> Result<(), Error> {
        let prefix = format!("web/{subscription}/");
        let mut held = self.storage.of_device(udid, |slot| slot.starts_with(&prefix));
        if held.len() < MAX_PENDING {
            return Ok(());
        }
        held.sort_by_key(|(_, h)| h.received_ms);
        let (key, oldest) = held.swap_remove(0);
        self.state.store.write(vec![Write::DropHeldApp(key.clone())]).await?;
        if self.storage.release(&key, oldest.apns_id.as_str()) {
            let why = format!("{MAX_PENDING} messages already pending for the subscription; the oldest goes");
            self.step(oldest.apns_id.as_str(), oldest.received_ms, State::Discarded, now_ms, Some(why));
        }
        Ok(())
    }

    /// A Web Push message as it goes down the phone's stream: for a subscription whose
    /// keys the phone holds, as sent (the phone decrypts it); for one whose keys the
    /// device side keeps for the phone, decrypted here (RFC 8291). `Err` says why it
    /// cannot go (the subscription ended and its keys are gone, or they do not open it).
    pub(crate) fn open_web(&self, note: &Note) -> Result<Bytes, String> {
        use base64::Engine as _;
        let subscription = self.registry.web.get(&note.topic).ok_or("the subscription is unknown")?;
        if subscription.ended_at.is_some() {
            return Err("the subscription ended; the phone has no keys for it".into());
        }
        let mut message = protocol::gateway::WebMessage {
            origin: subscription.origin.clone(),
            name: subscription.name.clone(),
            subscription: subscription.id.clone(),
            data: None,
            encrypted: None,
        };
        match self.web_keys.get(&subscription.id) {
            Some(key) => {
                let plain = protocol::ece::decrypt(&note.payload, &key, &subscription.p256dh, &subscription.auth)
                    .map_err(|e| format!("the phone could not decrypt it: {e}"))?;
                message.data = Some(String::from_utf8_lossy(&plain).into_owned());
            }
            None => {
                message.encrypted = Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&note.payload));
            }
        }
        let payload = serde_json::to_vec(&message).map_err(|e| e.to_string())?;
        let opened = Note { topic: subscription.origin.clone(), payload: Bytes::from(payload), ..note.clone() };
        Ok(opened.line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgency_orders_delivery() {
        assert_eq!(priority(Urgency::High), Priority::Immediate);
        assert_eq!(priority(Urgency::Normal), Priority::PowerConsiderate);
        assert_eq!(priority(Urgency::Low), Priority::PowerPrioritized);
        assert_eq!(priority(Urgency::VeryLow), Priority::PowerPrioritized);
    }

    #[test]
    fn one_slot_per_topic_or_per_message() {
        let a = ApnsId::parse("00000000-0000-4000-8000-000000000001").expect("uuid");
        let b = ApnsId::parse("00000000-0000-4000-8000-000000000002").expect("uuid");
        assert_eq!(slot("S", Some("score"), &a), slot("S", Some("score"), &b));
        assert_ne!(slot("S", None, &a), slot("S", None, &b));
        assert_ne!(slot("S", Some("score"), &a), slot("T", Some("score"), &a));
    }
}
