//! The one way an accepted notification reaches the device side, whatever carried it — a
//! provider's push (and the console's, which is one), each subscriber's copy of a
//! broadcast, a phone's local push: deliver it now if the device's stream is open, or
//! hold it durably for an offline device (one per app, and one per Live Activity beside
//! it, the newest replacing the one before), or discard it, saying why in its journey.
//!
//! Holding is answered only once durable: [`Room::finish`] returns after the state
//! database has the held notifications, so a provider's 200 (or a broadcast's) is never
//! for a notification a crash could lose. How long one is kept is the sender's rule
//! ([`Keep`]): `apns-expiration` for a push, the channel's storage policy for a broadcast.

use bytes::Bytes;
use protocol::{ActivityTarget, ApnsId, Environment, Expiration, Priority, PushType};

use super::Room;
use super::delivery;
use super::journey::State;
use crate::error::Error;
use crate::registry::Routed;
use crate::state::rows::{Held, HeldKey};
use crate::state::store::Write;

/// An accepted notification, as the device side needs it.
#[derive(Debug, Clone)]
pub(crate) struct Notification {
    pub apns_id: ApnsId,
    pub topic: String,
    pub push_type: PushType,
    pub priority: Priority,
    pub collapse_id: Option<String>,
    pub environment: Environment,
    /// The payload, owned (not a slice of a connection's read buffer, which a held
    /// notification would keep alive).
    pub payload: Bytes,
    /// When APNs accepted it (ms).
    pub received_ms: u64,
}

/// Where a notification goes: a device, the app on it (when known), the activity (for
/// a Live Activity token or a broadcast subscriber), and what the registry found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub device: u32,
    pub app: Option<u32>,
    pub activity: Option<u32>,
    /// The device is online (not set offline); it may still have no stream open (a
    /// virtual device), and then nobody receives it, as for any push.
    pub online: bool,
    /// This delivery attempt is how APNs learns that the app (or the activity) is gone:
    /// the device drops it.
    pub learned: bool,
}

impl From<Routed> for Target {
    fn from(r: Routed) -> Target {
        Target { device: r.device, app: Some(r.app), activity: r.activity, online: r.online, learned: r.learned }
    }
}

/// How long a notification for an offline device is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keep {
    /// A push: until `apns-expiration` (absent: 30 days; 0 or past: try once).
    Expiration(Option<Expiration>),
    /// A broadcast: until `until` (UNIX seconds) if the channel keeps its latest message.
    Channel { keeps: bool, until: u64 },
    /// Never (a local push, which needs the device there).
    Never,
}

/// What became of a notification handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handed {
    /// On its way down the device's open stream.
    Delivering,
    /// Held, durably, until the device comes back.
    Held,
    /// Not delivered and not held (its journey says why), or nobody to deliver to.
    Dropped,
}

/// A notification whose fate is decided ([`Room::prepare`]) but not yet carried out:
/// what is left needs an await (the engine's queue, the state database).
pub(crate) enum Prepared {
    /// Nothing left to do.
    Done(Handed),
    /// For the engine, to the device's open stream.
    Deliver(Box<delivery::Outgoing>),
    /// To hold, once durable; the text is the journey's detail.
    Hold(Box<(HeldKey, Held)>, &'static str),
}

impl Room {
    /// Decides a notification's fate (see the module's table) and does what needs no
    /// wait: the drops, with their journeys, and what the registry learns when the app
    /// or activity is gone. The notification is made by `make` only when it goes
    /// further than nowhere (most pushes to a virtual device go nowhere, and cost no
    /// allocation here). What is left is [`Room::finish`]'s.
    pub(crate) fn prepare(&self, target: Target, keep: Keep, make: impl FnOnce() -> Notification) -> Prepared {
        if target.learned {
            match (target.activity, target.app) {
                (Some(slot), _) => self.delivery_found_activity_gone(slot),
                (None, Some(app)) => self.delivery_found_app_gone(app),
                (None, None) => {}
            }
        }
        let drop = |n: Notification, state, detail: Option<String>| {
            self.step(n.apns_id.as_str(), n.received_ms, state, self.state.clock.unix_millis(), detail);
            Prepared::Done(Handed::Dropped)
        };
        if target.online {
            if target.learned {
                // The device drops it: the app (or the activity) is not there.
                return match target.activity {
                    Some(_) => drop(make(), State::Discarded, Some("activity ended".to_owned())),
                    None => drop(make(), State::AppNotInstalled, None),
                };
            }
            if !self.connections.is_connected(target.device) {
                return Prepared::Done(Handed::Dropped); // a virtual device: nobody receives it
            }
            let activity = target.activity.map(|slot| self.registry.table.activity_target(slot));
            let out = delivery::Outgoing { device: target.device, held: None, delivery: note(make(), activity) };
            return Prepared::Deliver(Box::new(out));
        }
        let now_secs = self.state.clock.unix_secs();
        let expires_at = match keep {
            Keep::Expiration(expiration) => super::storage::storage_deadline(expiration, now_secs)
                .ok_or("device offline; apns-expiration says try once"),
            Keep::Channel { keeps: false, .. } => Err("device offline; the channel stores no messages"),
            Keep::Channel { until, .. } if until <= now_secs => Err("device offline; expired"),
            Keep::Channel { until, .. } => Ok(until),
            Keep::Never => Err("device offline"),
        };
        let (Ok(expires_at), Some(app)) = (expires_at, target.app) else {
            let why = expires_at.err().unwrap_or("device offline");
            return drop(make(), State::Discarded, Some(why.to_owned()));
        };
        let why = match keep {
            Keep::Channel { .. } => "device offline; the channel keeps its latest message",
            _ => "device offline",
        };
        let activity = target.activity.map(|slot| self.registry.table.activity_target(slot));
        let key = self.held_key(app, activity.as_ref());
        Prepared::Hold(Box::new((key, held_from(make(), expires_at, activity))), why)
    }

    /// Carries out what [`Room::prepare`] left: deliveries queued for the engine, and
    /// the held notifications written to the state database in one write, returning
    /// once it is durable. `Err` if it could not be written (nothing is then held, and
    /// the sender answers 500).
    pub(crate) async fn finish(&self, prepared: impl IntoIterator<Item = Prepared>) -> Result<(), Error> {
        let mut held = Vec::new();
        for p in prepared {
            match p {
                Prepared::Done(_) => {}
                Prepared::Deliver(out) => {
                    let _ = self.engine.send(delivery::Event::Deliver(out)).await;
                }
                Prepared::Hold(kept, why) => {
                    let (key, h) = *kept;
                    held.push((key, h, why));
                }
            }
        }
        if held.is_empty() {
            return Ok(());
        }
        let writes = held.iter().map(|(k, h, _)| Write::Hold(k.clone(), h.clone())).collect();
        if let Err(e) = self.state.store.write(writes).await {
            tracing::error!(error = %e, "could not store notifications for offline devices");
            return Err(e);
        }
        let now_ms = self.state.clock.unix_millis();
        for (key, h, why) in held {
            let (apns_id, received_ms) = (h.apns_id.clone(), h.received_ms);
            let replaced = self.storage.hold(key, h);
            self.step(apns_id.as_str(), received_ms, State::Stored, now_ms, Some(why.into()));
            if let Some(old) = replaced {
                // APNs keeps one per app (and per activity): the one it held ends here.
                let by = Some(format!("by {apns_id}"));
                self.step(old.apns_id.as_str(), old.received_ms, State::Replaced, now_ms, by);
            }
        }
        Ok(())
    }

    /// [`Room::prepare`] then [`Room::finish`], for one notification.
    pub(crate) async fn hand_over(
        &self,
        target: Target,
        keep: Keep,
        make: impl FnOnce() -> Notification,
    ) -> Result<Handed, Error> {
        match self.prepare(target, keep, make) {
            Prepared::Done(handed) => Ok(handed),
            p => {
                let handed = if matches!(p, Prepared::Deliver(_)) { Handed::Delivering } else { Handed::Held };
                self.finish([p]).await.map(|()| handed)
            }
        }
    }

    /// Where a notification for `app` is held: one per app, and one per Live Activity
    /// (update token, or push-to-start token of an attributes type) beside it.
    fn held_key(&self, app: u32, activity: Option<&ActivityTarget>) -> HeldKey {
        let (udid, bundle_id, environment, _, _) = self.registry.table.app_summary(app);
        let slot = match activity {
            None => bundle_id,
            Some(ActivityTarget::Update { activity_id }) => format!("{bundle_id}.push-type.liveactivity/{activity_id}"),
            Some(ActivityTarget::PushToStart { attributes_type }) => {
                format!("{bundle_id}.push-type.liveactivity/start:{attributes_type}")
            }
        };
        (udid.into(), slot.into(), environment)
    }
}

impl From<Notification> for delivery::Note {
    fn from(n: Notification) -> delivery::Note {
        delivery::Note {
            apns_id: n.apns_id,
            topic: n.topic,
            push_type: n.push_type,
            priority: n.priority,
            collapse_id: n.collapse_id,
            environment: n.environment,
            payload: n.payload,
            received_ms: n.received_ms,
            from_storage: false,
            redelivered: false,
            activity: None,
        }
    }
}

fn note(n: Notification, activity: Option<ActivityTarget>) -> delivery::Note {
    delivery::Note { activity, ..delivery::Note::from(n) }
}

fn held_from(n: Notification, expires_at: u64, activity: Option<ActivityTarget>) -> Held {
    Held {
        apns_id: n.apns_id,
        received_ms: n.received_ms,
        expires_at,
        priority: n.priority,
        push_type: n.push_type,
        topic: n.topic,
        collapse_id: n.collapse_id,
        payload: n.payload,
        activity,
    }
}
