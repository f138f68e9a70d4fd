//! The operations on Live Activity tokens, called alike by the gateway (a phone's app
//! declares an attributes type, an activity starts or ends on the phone) and the admin
//! API (the same, for a virtual device with no phone running): each issues or ends a
//! token in the registry, logs a lifecycle event and answers once it is saved.

use protocol::{ActivityTokenKind, DeviceToken, Environment};
use serde::{Deserialize, Serialize};

use super::Room;
use crate::error::Error;
use crate::registry::ActivityRecord;
use crate::registry::events::{LifecycleEvent, TokenChangeView};
use crate::state::store;

/// `POST /api/v1/devices/{udid}/activity-types`: an app declares an `ActivityAttributes`
/// type and gets its push-to-start token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewActivityType {
    /// The app (installed on the device).
    pub bundle_id: String,
    /// Its environment (default sandbox).
    #[serde(default = "sandbox")]
    pub environment: Environment,
    /// The `ActivityAttributes` type's name.
    pub attributes_type: String,
}

/// `POST /api/v1/devices/{udid}/activities`: an activity starts on the device and gets
/// its update token (or, listening to a channel, none).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewActivity {
    /// The app (installed on the device).
    pub bundle_id: String,
    /// Its environment (default sandbox).
    #[serde(default = "sandbox")]
    pub environment: Environment,
    /// The `ActivityAttributes` type.
    pub attributes_type: String,
    /// The activity's id; a new UUID (as ActivityKit makes) when absent.
    #[serde(default)]
    pub activity_id: Option<String>,
    /// A broadcast channel to listen to (ActivityKit's `pushType: .channel(id)`): it
    /// must be a live channel of the app in its environment, or the start fails.
    #[serde(default)]
    pub channel: Option<String>,
}

/// Which admin call [`Room::refuse_on_running_phone`] refuses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ActivityCall {
    /// `POST /api/v1/devices/{udid}/activities`.
    Start,
    /// `POST /api/v1/devices/{udid}/activities/{id}/end`.
    End,
}

fn sandbox() -> Environment {
    Environment::Sandbox
}

/// A Live Activity token as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityView {
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// `push-to-start` (one per app and attributes type) or `update` (one per activity).
    pub kind: ActivityTokenKind,
    /// The `ActivityAttributes` type.
    pub attributes_type: String,
    /// The activity, for an update token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<String>,
    /// The token, lowercase hex (80 bytes). Absent for an activity that listens to a
    /// broadcast channel: it has no push token (ActivityKit's `pushTokenUpdates` never
    /// yields for it); broadcasts on its channel update it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `active`, `ended` (pushes still get 200, and the device drops them) or `gone` (410).
    pub state: &'static str,
    /// The broadcast channel it listens to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// When APNs issued it (ms).
    pub issued_at: u64,
    /// When the activity ended (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
    /// When APNs learned it is gone (ms): the 410's timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unregistered_at: Option<u64>,
}

impl From<&ActivityRecord> for ActivityView {
    fn from(r: &ActivityRecord) -> Self {
        ActivityView {
            bundle_id: r.bundle_id.clone(),
            environment: r.environment,
            kind: r.kind,
            attributes_type: r.attributes_type.clone(),
            activity_id: r.activity_id.clone(),
            token: r.token.as_ref().map(DeviceToken::to_hex),
            state: r.state(),
            channel: r.channel.clone(),
            issued_at: r.issued_at,
            ended_at: r.ended_at,
            unregistered_at: r.unregistered_at,
        }
    }
}

impl Room {
    /// The lifecycle event of an activity token (`kind`), with the token's change.
    /// (A channel activity has no token, so its events list none.)
    fn activity_event(&self, udid: &str, kind: &str, r: &ActivityRecord, old: bool, new: bool) -> LifecycleEvent {
        let tokens = r.token.as_ref().map(DeviceToken::to_hex).map(|token| TokenChangeView {
            udid: udid.to_owned(),
            bundle_id: r.bundle_id.clone(),
            environment: r.environment,
            old: old.then(|| token.clone()),
            new: new.then_some(token),
            changed: old != new,
        });
        LifecycleEvent {
            attributes_type: Some(r.attributes_type.clone()),
            activity_id: r.activity_id.clone(),
            tokens: tokens.into_iter().collect(),
            ..self.new_event(udid, kind, Some(&r.bundle_id), &[])
        }
    }

    /// An app declares an attributes type: its push-to-start token (step 2, for
    /// activities). Logged when the token is new.
    pub(crate) async fn declare_activity_type(&self, udid: &str, req: NewActivityType) -> Result<ActivityView, Error> {
        let now = self.state.clock.unix_millis();
        let (record, new) = self.registry.table.declare_activity_type(
            udid,
            &req.bundle_id,
            req.environment,
            &req.attributes_type,
            now,
        )?;
        if new {
            self.record_event(self.activity_event(udid, "push-to-start-token", &record, false, true), &[udid]).await?;
        }
        Ok(ActivityView::from(&record))
    }

    /// An activity starts on the device: its update token. Logged when it is new.
    pub(crate) async fn start_activity(&self, udid: &str, req: NewActivity) -> Result<ActivityView, Error> {
        let now = self.state.clock.unix_millis();
        let id = req.activity_id.unwrap_or_else(|| uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase());
        if let Some(channel) = &req.channel {
            // As on iOS: a start with a channel that is not the app's fails.
            self.registry.channels.get(req.environment, &req.bundle_id, channel).map_err(|_| {
                Error::Invalid(format!(
                    "{channel:?} is not a broadcast channel of {} ({})",
                    req.bundle_id, req.environment
                ))
            })?;
        }
        let (record, new) = self.registry.table.start_activity(
            udid,
            &req.bundle_id,
            req.environment,
            (&req.attributes_type, &id),
            req.channel.as_deref(),
            now,
        )?;
        if new {
            self.record_event(self.activity_event(udid, "activity-start", &record, false, true), &[udid]).await?;
        }
        Ok(ActivityView::from(&record))
    }

    /// An activity ended on the device: its token is accepted and dropped until APNs
    /// learns, then 410.
    pub(crate) async fn end_activity(&self, udid: &str, activity_id: &str) -> Result<ActivityView, Error> {
        let before = self.registry.table.activities(udid);
        let record = self.registry.table.end_activity(udid, activity_id, self.state.clock.unix_millis())?;
        let was_running = before.iter().any(|r| r.activity_id.as_deref() == Some(activity_id) && r.ended_at.is_none());
        if was_running {
            self.record_event(self.activity_event(udid, "activity-end", &record, true, true), &[udid]).await?;
        }
        Ok(ActivityView::from(&record))
    }

    /// The admin API starts and ends activities on virtual devices only: a running phone
    /// (its gateway stream open) holds its activities itself, so one started or ended
    /// in APNs's books alone would never be on its Lock Screen (a broadcast to it would
    /// find it ended). Refuses, saying what to do instead.
    pub(crate) fn refuse_on_running_phone(&self, udid: &str, call: ActivityCall) -> Result<(), Error> {
        let running = self.registry.table.device_slot(udid).is_some_and(|slot| self.connections.is_connected(slot));
        if !running {
            return Ok(());
        }
        Err(Error::Conflict(match call {
            ActivityCall::Start => format!(
                "{udid} is a running phone: its Live Activities start on the phone. Send a push-to-start \
                 (apns-push-type: liveactivity, \"event\": \"start\") to its app's push-to-start token, or run \
                 it with `apns-lab device run --start-activity BUNDLE:TYPE`"
            ),
            ActivityCall::End => format!(
                "{udid} is a running phone: its Live Activities end on the phone. Send an end \
                 (apns-push-type: liveactivity, \"event\": \"end\") to the activity's update token, or a broadcast \
                 to its channel"
            ),
        }))
    }

    /// A device's activity tokens.
    pub(crate) fn activity_views(&self, udid: &str) -> Result<Vec<ActivityView>, Error> {
        if self.registry.table.device_slot(udid).is_none() {
            return Err(Error::NotFound(format!("no device {udid}")));
        }
        Ok(self.registry.table.activities(udid).iter().map(ActivityView::from).collect())
    }

    /// A push reached an ended activity: the device drops it (now, or when it comes back
    /// online), which is how APNs learns the token is gone. Logged and saved without
    /// holding up the push's answer.
    pub(crate) fn delivery_found_activity_gone(&self, slot: u32) {
        let record = self.registry.table.activity(slot);
        let Some(udid) = self.registry.table.activity_udid(slot) else { return };
        let kind = if record.unregistered_at.is_some() { "activity-unregistered" } else { "activity-undeliverable" };
        let event = self.registry.events.push(self.activity_event(&udid, kind, &record, true, true));
        self.observe.live.lifecycle(&event);
        let mut writes = self.device_writes(&udid);
        writes.push(store::Write::Event {
            seq: event.seq,
            body: serde_json::to_string(&event).unwrap_or_default(),
            keep: crate::registry::events::Events::LIMIT,
        });
        self.state.store.write_later(writes);
    }
}
