//! The operations on devices, called alike by the admin routes, the gateway, the console
//! and [`crate::MockApns`]: create devices (step 2 for each app), apply lifecycle events,
//! push into a connected phone as `xcrun simctl push` does, read devices back; and what
//! each of them records — journey steps, lifecycle events, the state database's rows.

use protocol::{Environment, Topic};
use serde::{Deserialize, Serialize};

use super::Room;
use super::handoff::{Keep, Notification, Target};
use super::journey;
use super::storage::{Storage, StoredView};
use crate::error::Error;
use crate::registry::events::{self, LifecycleEvent, TokenChangeView};
use crate::registry::{self, AppRecord, DeviceRecord, TokenChange};
use crate::state::store::{self, Write};

/// `POST /api/v1/devices`: a virtual device and the apps installed on it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// The device's UDID; a new one is made up when absent.
    #[serde(default)]
    pub udid: Option<String>,
    /// Apps to register (step 2 of the flow for each).
    #[serde(default)]
    pub apps: Vec<NewApp>,
}

/// One app of a [`NewDevice`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    /// The bundle ID.
    pub bundle_id: String,
    /// `sandbox` (default: development builds) or `production`.
    #[serde(default = "sandbox")]
    pub environment: Environment,
    /// The team that owns the app (default: the mock's default team).
    #[serde(default)]
    pub team_id: Option<String>,
}

fn sandbox() -> Environment {
    Environment::Sandbox
}

/// A device as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeviceView {
    /// The UDID.
    pub udid: String,
    /// How many times it was erased (tokens change each time).
    pub generation: u32,
    /// Whether it is online.
    pub online: bool,
    /// Whether a phone holds its gateway stream (`apns-lab device run`, a fleet, a
    /// phone the admin API started): online without one, a device is virtual — APNs
    /// delivers to it and nothing shows what it got.
    pub connected: bool,
    /// Whether it has a backup to restore from.
    pub has_backup: bool,
    /// Its apps (installed or not) and their tokens, in install order.
    pub apps: Vec<AppView>,
    /// Its Live Activity tokens (push-to-start and per activity), in issue order; absent
    /// when it has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<super::activities::ActivityView>,
    /// Its web apps' Web Push subscriptions, oldest first; absent when it has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub web_apps: Vec<super::web_apps::WebSubscriptionView>,
}

impl DeviceView {
    /// The view of a device, with what is held for each of its apps.
    fn new(d: &DeviceRecord, storage: &Storage, now_secs: u64) -> Self {
        DeviceView {
            udid: d.udid.clone(),
            generation: d.generation,
            online: d.online,
            connected: false,
            has_backup: d.has_backup,
            apps: d
                .apps
                .iter()
                .map(|a| AppView {
                    stored: storage.get(&d.udid, &a.bundle_id, a.environment, now_secs).as_ref().map(StoredView::from),
                    ..AppView::from(a)
                })
                .collect(),
            activities: Vec::new(),
            web_apps: Vec::new(),
        }
    }
}

/// An app on a device.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AppView {
    /// The bundle ID.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The device token, lowercase hex: the token APNs gives the app when it registers.
    pub token: String,
    /// The owning team.
    pub team_id: String,
    /// Reinstall counter (per-app tokens change with it).
    pub install_generation: u32,
    /// App update counter (tokens do not change).
    pub version: u32,
    /// Whether the app is installed.
    pub installed: bool,
    /// When it was uninstalled (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uninstalled_at: Option<u64>,
    /// When APNs learned of the uninstall: pushes get 410 with this timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unregistered_at: Option<u64>,
    /// The notification APNs holds for this app while the device is offline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredView>,
}

impl From<&AppRecord> for AppView {
    fn from(a: &AppRecord) -> Self {
        AppView {
            bundle_id: a.bundle_id.clone(),
            environment: a.environment,
            token: a.token.to_hex(),
            team_id: a.team_id.clone(),
            install_generation: a.install_generation,
            version: a.version,
            installed: a.installed,
            uninstalled_at: a.uninstalled_at,
            unregistered_at: a.unregistered_at,
            stored: None,
        }
    }
}

/// A device lifecycle event, for [`crate::MockApns::lifecycle`] and the admin routes
/// `POST /api/v1/devices/{udid}/…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// Erase all content and settings: every token of the device changes.
    Erase,
    /// Save the installed apps as the device's backup.
    Backup,
    /// Restore the backup onto the device itself (tokens unchanged) or onto another
    /// UDID (new tokens there; this device untouched).
    Restore {
        /// The device to restore onto; `None` for the same device.
        to_udid: Option<String>,
    },
    /// The device leaves the network (uninstalls it hits are learned when it returns).
    Offline,
    /// The device comes back.
    Online,
    /// An app update (token unchanged).
    Update(String),
    /// The app is removed; APNs learns of it at the next delivery attempt.
    Uninstall(String),
    /// The app is installed again (per-app: new token; per-device: the same).
    Reinstall(String),
}

impl Lifecycle {
    fn kind(&self) -> &'static str {
        match self {
            Lifecycle::Erase => "erase",
            Lifecycle::Backup => "backup",
            Lifecycle::Restore { .. } => "restore",
            Lifecycle::Offline => "offline",
            Lifecycle::Online => "online",
            Lifecycle::Update(_) => "update",
            Lifecycle::Uninstall(_) => "uninstall",
            Lifecycle::Reinstall(_) => "reinstall",
        }
    }
}

/// What a lifecycle call answers: the event as logged and the device after it.
#[derive(Debug, Clone, Serialize)]
pub struct LifecycleOutcome {
    /// The logged event, with each token change.
    pub event: LifecycleEvent,
    /// The device afterwards.
    pub device: DeviceView,
}

/// `POST /api/v1/devices/{udid}/push`: a payload injected straight into a connected
/// device, the way `xcrun simctl push` does (no provider, no token).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalPush {
    /// The app; when absent, the payload's `"Simulator Target Bundle"` names it.
    #[serde(default)]
    pub bundle_id: Option<String>,
    /// The `.apns` file's JSON.
    pub payload: serde_json::Value,
}

/// `POST /api/v1/devices/{udid}/notifications/{apns_id}/respond`: the user's response to
/// a notification a running phone shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Respond {
    /// `tap` (the default), `dismiss`, or an action identifier of the notification's category.
    #[serde(default)]
    pub action: Option<String>,
}

/// Where a [`LocalPush`] goes, once checked.
pub(crate) struct LocalTarget {
    slot: u32,
    /// The app.
    pub bundle: String,
    /// The app's environment (sandbox when the phone does not have the app).
    pub environment: Environment,
    /// The app's token, when the phone has the app.
    pub token: Option<protocol::DeviceToken>,
}

impl Room {
    /// Adds a step to a notification's journey, counts it, and tells the dashboard.
    pub(crate) fn step(
        &self,
        apns_id: &str,
        received_ms: u64,
        state: journey::State,
        time_ms: u64,
        detail: Option<String>,
    ) {
        self.step_at(apns_id, received_ms, state, time_ms, detail, None);
    }

    /// [`Room::step`], with where the journey was last seen; says where it is now.
    pub(crate) fn step_at(
        &self,
        apns_id: &str,
        received_ms: u64,
        state: journey::State,
        time_ms: u64,
        detail: Option<String>,
        hint: Option<journey::Hint>,
    ) -> journey::Hint {
        self.observe.stats.count(state.as_str(), detail.as_deref());
        self.observe.live.journey(apns_id, state.as_str(), time_ms, detail.as_deref());
        self.journeys.step(apns_id, received_ms, state, time_ms, detail, hint)
    }

    /// Persists one device (its apps and token-index entries) and waits until durable.
    pub(crate) async fn save_device(&self, udid: &str) -> Result<(), Error> {
        self.state.store.write(self.device_writes(udid)).await
    }

    /// Persists broadcast channels (created, deleted or switched off) and waits until
    /// durable.
    pub(crate) async fn save_channels(&self, ids: &[String]) -> Result<(), Error> {
        let writes: Vec<store::Write> =
            ids.iter().filter_map(|id| self.registry.channels.stored(id)).map(store::Write::Channel).collect();
        if writes.is_empty() {
            return Ok(());
        }
        self.state.store.write(writes).await
    }

    pub(crate) fn device_writes(&self, udid: &str) -> Vec<store::Write> {
        let mut writes = match self.registry.table.stored_device(udid) {
            Some(d) => vec![store::Write::Device(d, self.registry.table.stored_tokens(udid))],
            None => Vec::new(),
        };
        let activities = self.registry.table.stored_activities(udid);
        if !activities.is_empty() {
            writes.push(store::Write::Activities(udid.to_owned(), activities));
        }
        writes
    }

    /// A push reached an app that was uninstalled: the device answers "not installed"
    /// (now, or when it comes back online), which is how APNs learns. Logged and saved
    /// without holding up the push's answer.
    pub(crate) fn delivery_found_app_gone(&self, app: u32) {
        let (udid, bundle_id, environment, token, learned_at) = self.registry.table.app_summary(app);
        let change = registry::TokenChange {
            udid: udid.clone(),
            bundle_id: bundle_id.clone(),
            environment,
            old: Some(token.clone()),
            new: Some(token),
        };
        let kind = if learned_at != 0 { "unregistered" } else { "undeliverable" };
        let event = self.registry.events.push(events::LifecycleEvent {
            seq: 0,
            time_ms: self.state.clock.unix_millis(),
            udid: udid.clone(),
            kind: kind.to_owned(),
            bundle_id: Some(bundle_id),
            to_udid: None,
            attributes_type: None,
            activity_id: None,
            tokens: vec![events::TokenChangeView::from(&change)],
        });
        self.observe.live.lifecycle(&event);
        let mut writes = self.device_writes(&udid);
        writes.push(store::Write::Event {
            seq: event.seq,
            body: serde_json::to_string(&event).unwrap_or_default(),
            keep: events::Events::LIMIT,
        });
        self.state.store.write_later(writes);
    }

    /// Records a lifecycle event (and persists it with the devices it touched).
    pub(crate) async fn record_event(
        &self,
        event: events::LifecycleEvent,
        devices: &[&str],
    ) -> Result<events::LifecycleEvent, Error> {
        let event = self.registry.events.push(event);
        self.observe.live.lifecycle(&event);
        let mut writes: Vec<store::Write> = devices.iter().flat_map(|u| self.device_writes(u)).collect();
        writes.push(store::Write::Event {
            seq: event.seq,
            body: serde_json::to_string(&event).unwrap_or_default(),
            keep: events::Events::LIMIT,
        });
        self.state.store.write(writes).await?;
        Ok(event)
    }

    pub(crate) fn new_event(
        &self,
        udid: &str,
        kind: &str,
        bundle_id: Option<&str>,
        changes: &[TokenChange],
    ) -> LifecycleEvent {
        LifecycleEvent {
            seq: 0,
            time_ms: self.state.clock.unix_millis(),
            udid: udid.to_owned(),
            kind: kind.to_owned(),
            bundle_id: bundle_id.map(str::to_owned),
            to_udid: None,
            attributes_type: None,
            activity_id: None,
            tokens: changes.iter().map(TokenChangeView::from).collect(),
        }
    }

    /// Creates a device (or adds apps to it): step 2 of the flow for each app.
    pub(crate) async fn create_device(&self, req: NewDevice) -> Result<DeviceView, Error> {
        let udid = match req.udid {
            Some(u) if !valid_udid(&u) => {
                return Err(Error::Invalid("udid must be 1-64 letters, digits or '-'".into()));
            }
            Some(u) => u,
            None => new_udid(),
        };
        for app in &req.apps {
            Topic::parse(&app.bundle_id).map_err(|e| Error::Invalid(format!("bundle_id {:?}: {e}", app.bundle_id)))?;
        }
        self.registry.table.add_device(&udid);
        let now = self.state.clock.unix_millis();
        let mut changes = Vec::new();
        for app in &req.apps {
            let team = app.team_id.as_deref().unwrap_or(&self.registry.default_team);
            let (_, c) = self.registry.table.register_app(&udid, &app.bundle_id, app.environment, team, now)?;
            changes.extend(c);
        }
        if changes.is_empty() {
            self.save_device(&udid).await?;
        } else {
            self.record_event(self.new_event(&udid, "install", None, &changes), &[&udid]).await?;
        }
        let record = self.registry.table.device(&udid).ok_or_else(|| Error::NotFound(format!("no device {udid}")))?;
        // Answer with the apps in the order they were asked for, then any others.
        let mut apps: Vec<AppView> = req
            .apps
            .iter()
            .filter_map(|a| record.apps.iter().find(|r| r.bundle_id == a.bundle_id && r.environment == a.environment))
            .map(AppView::from)
            .collect();
        for r in &record.apps {
            if !apps.iter().any(|v| v.bundle_id == r.bundle_id && v.environment == r.environment) {
                apps.push(AppView::from(r));
            }
        }
        Ok(DeviceView { apps, ..self.view(&record) })
    }

    /// Creates many devices at once, for fleets: validated first (nothing is created if
    /// one is bad), saved in large group commits, and without a lifecycle event per
    /// device. Answers the devices with their tokens, in order.
    pub(crate) async fn create_devices(&self, reqs: Vec<NewDevice>) -> Result<Vec<DeviceView>, Error> {
        const CHUNK: usize = 10_000;
        let mut udids = Vec::with_capacity(reqs.len());
        for req in &reqs {
            match &req.udid {
                Some(u) if !valid_udid(u) => {
                    return Err(Error::Invalid(format!("udid {u:?} must be 1-64 letters, digits or '-'")));
                }
                Some(u) => udids.push(u.clone()),
                None => udids.push(new_udid()),
            }
            for app in &req.apps {
                Topic::parse(&app.bundle_id)
                    .map_err(|e| Error::Invalid(format!("bundle_id {:?}: {e}", app.bundle_id)))?;
                let team = app.team_id.as_deref().unwrap_or(&self.registry.default_team);
                if self.registry.table.owned_by_other_team(&app.bundle_id, team) {
                    return Err(Error::Conflict(format!("{} belongs to another team than {team}", app.bundle_id)));
                }
            }
        }
        let now = self.state.clock.unix_millis();
        for (chunk_reqs, chunk_udids) in reqs.chunks(CHUNK).zip(udids.chunks(CHUNK)) {
            for (req, udid) in chunk_reqs.iter().zip(chunk_udids) {
                self.registry.table.add_device(udid);
                for app in &req.apps {
                    let team = app.team_id.as_deref().unwrap_or(&self.registry.default_team);
                    self.registry.table.register_app(udid, &app.bundle_id, app.environment, team, now)?;
                }
            }
            self.state.store.write(chunk_udids.iter().flat_map(|u| self.device_writes(u)).collect()).await?;
        }
        Ok(udids.iter().filter_map(|u| self.registry.table.device(u)).map(|d| self.view(&d)).collect())
    }

    /// Applies a lifecycle event to a device.
    pub(crate) async fn lifecycle(&self, udid: &str, event: Lifecycle) -> Result<LifecycleOutcome, Error> {
        let now = self.state.clock.unix_millis();
        let r = &self.registry;
        let mut web_ended = 0;
        let changes = match &event {
            Lifecycle::Erase => {
                let changes = r.table.erase(udid, now)?;
                // What APNs held for the device was for tokens that are now dead.
                self.storage.drop_device(udid);
                self.state.store.write(vec![Write::DropHeld(udid.to_owned())]).await?;
                // The web apps' subscriptions end with their keys: a web app that
                // subscribes again gets a new endpoint.
                web_ended = self.end_web_subscriptions(udid, now).await?;
                changes
            }
            Lifecycle::Backup => {
                r.table.backup(udid)?;
                Vec::new()
            }
            Lifecycle::Restore { to_udid } => {
                if let Some(to) = to_udid
                    && !valid_udid(to)
                {
                    return Err(Error::Invalid("to_udid must be 1-64 letters, digits or '-'".into()));
                }
                r.table.restore(udid, to_udid.as_deref(), now)?
            }
            Lifecycle::Offline => r.table.set_online(udid, false, now)?,
            Lifecycle::Online => r.table.set_online(udid, true, now)?,
            Lifecycle::Update(b) => r.table.update(udid, b)?,
            Lifecycle::Uninstall(b) => r.table.uninstall(udid, b, now)?,
            Lifecycle::Reinstall(b) => r.table.reinstall(udid, b, now)?,
        };
        let bundle = match &event {
            Lifecycle::Update(b) | Lifecycle::Uninstall(b) | Lifecycle::Reinstall(b) => Some(b.as_str()),
            _ => None,
        };
        let mut logged = self.new_event(udid, event.kind(), bundle, &changes);
        let mut touched = vec![udid];
        if let Lifecycle::Restore { to_udid: Some(to) } = &event {
            logged.to_udid = Some(to.clone());
            touched.push(to);
        }
        let logged = self.record_event(logged, &touched).await?;
        // A connected phone whose tokens changed is told by losing its stream: it
        // reconnects, registers its apps again and hands the new tokens to its provider.
        // One set back online reconnects the same way, and gets what was stored meanwhile.
        // So does one whose web apps' subscriptions ended with an erase.
        if (logged.tokens.iter().any(|t| t.changed) || matches!(event, Lifecycle::Online) || web_ended > 0)
            && let Some(device) = self.registry.table.device_slot(udid)
        {
            let _ = self.engine.send(crate::devices::delivery::Event::Kick { device }).await;
        }
        // Coming back online, the device reports the uninstalls pushes hit while it was away.
        if matches!(event, Lifecycle::Online) && !changes.is_empty() {
            let learned = self.registry.events.push(LifecycleEvent { kind: "unregistered".into(), ..logged.clone() });
            self.observe.live.lifecycle(&learned);
        }
        let device = r.table.device(udid).ok_or_else(|| Error::NotFound(format!("no device {udid}")))?;
        Ok(LifecycleOutcome { event: logged, device: self.view(&device) })
    }

    /// Where a local push goes: its app, that app's environment and current token, on
    /// a phone with its gateway stream open. Refused with a clear error otherwise.
    pub(crate) fn local_target(&self, udid: &str, push: &LocalPush) -> Result<LocalTarget, Error> {
        let bundle = match &push.bundle_id {
            Some(b) => b.clone(),
            None => {
                push.payload.get("Simulator Target Bundle").and_then(|b| b.as_str()).map(str::to_owned).ok_or_else(
                    || Error::Invalid("give bundle_id, or put \"Simulator Target Bundle\" in the payload".into()),
                )?
            }
        };
        Topic::parse(&bundle).map_err(|e| Error::Invalid(format!("bundle {bundle:?}: {e}")))?;
        if !push.payload.is_object() {
            return Err(Error::Invalid("payload must be a JSON object".into()));
        }
        let slot = self.registry.table.device_slot(udid).ok_or_else(|| Error::NotFound(format!("no device {udid}")))?;
        if !self.connections.is_connected(slot) {
            return Err(Error::Conflict(format!(
                "{udid} has no open gateway stream: run it with `apns-lab device run`"
            )));
        }
        let record = self.registry.table.device(udid).ok_or_else(|| Error::NotFound(format!("no device {udid}")))?;
        let app = record.apps.iter().find(|a| a.bundle_id == bundle);
        Ok(LocalTarget {
            slot,
            environment: app.map_or(Environment::Sandbox, |a| a.environment),
            token: app.map(|a| a.token.clone()),
            bundle,
        })
    }

    /// The user responds to a notification a running phone shows: the response goes down
    /// the phone's stream, and the phone's app gets it (its handler's
    /// `didReceiveResponse`); the journey records `responded` once the phone has it.
    pub(crate) async fn respond(
        &self,
        udid: &str,
        apns_id: &str,
        respond: Respond,
    ) -> Result<serde_json::Value, Error> {
        use protocol::gateway::UserResponse;
        let action = match respond.action.as_deref() {
            None | Some("tap") => UserResponse::TAP.to_owned(),
            Some("dismiss") => UserResponse::DISMISS.to_owned(),
            Some(a) if !a.is_empty() && a.len() <= 64 && a.chars().all(|c| c.is_ascii_graphic()) => a.to_owned(),
            Some(a) => {
                return Err(Error::Invalid(format!(
                    "action {a:?}: tap, dismiss, or an identifier (1–64 printable ASCII)"
                )));
            }
        };
        if apns_id.is_empty() || apns_id.len() > 64 {
            return Err(Error::Invalid("no such apns-id".into()));
        }
        let slot = self.registry.table.device_slot(udid).ok_or_else(|| Error::NotFound(format!("no device {udid}")))?;
        let away = || Error::Conflict(format!("{udid} has no open gateway stream: run it with `apns-lab device run`"));
        // A phone set offline keeps its stream but is out of reach, as for pushes.
        if !self.registry.table.device(udid).is_some_and(|d| d.online) {
            return Err(away());
        }
        let now = self.state.clock.unix_millis();
        let line = protocol::gateway::Delivery {
            apns_id: apns_id.to_owned(),
            topic: String::new(),
            push_type: protocol::PushType::Alert,
            priority: protocol::Priority::Immediate,
            collapse_id: None,
            environment: Environment::Sandbox,
            payload: protocol::gateway::raw_payload(b"{}"),
            received_ms: now,
            from_storage: false,
            redelivered: false,
            activity: None,
            response: Some(UserResponse { action: action.clone() }),
            clock: false,
        };
        let mut bytes = serde_json::to_vec(&line).map_err(|e| Error::Invalid(e.to_string()))?;
        bytes.push(b'\n');
        let (sent, took) = tokio::sync::oneshot::channel();
        let event = crate::devices::delivery::Event::Control { device: slot, line: bytes.into(), sent };
        let _ = self.engine.send(event).await;
        match took.await {
            Ok(true) => Ok(serde_json::json!({"udid": udid, "apns_id": apns_id, "action": action})),
            _ => Err(away()),
        }
    }

    /// Hands a local push to the device side, the way `xcrun simctl push` does: to the
    /// open stream at once, never held.
    pub(crate) async fn local_push(
        &self,
        target: LocalTarget,
        payload: &serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        let apns_id = protocol::ApnsId::random();
        let received_ms = self.state.clock.unix_millis();
        let make = || Notification {
            apns_id: apns_id.clone(),
            topic: target.bundle,
            push_type: protocol::PushType::Alert,
            priority: protocol::Priority::Immediate,
            collapse_id: None,
            environment: target.environment,
            payload: bytes::Bytes::from(payload.to_string()),
            received_ms,
        };
        let to = Target { device: target.slot, app: None, activity: None, online: true, learned: false };
        self.hand_over(to, Keep::Never, make).await?;
        Ok(serde_json::json!({ "apns_id": apns_id.as_str() }))
    }

    pub(crate) fn view(&self, d: &DeviceRecord) -> DeviceView {
        DeviceView {
            connected: self.registry.table.device_slot(&d.udid).is_some_and(|s| self.connections.is_connected(s)),
            activities: self
                .registry
                .table
                .activities(&d.udid)
                .iter()
                .map(super::activities::ActivityView::from)
                .collect(),
            web_apps: {
                let listener = self.webpush_url.get().map_or("", String::as_str);
                self.registry.web.of_device(&d.udid).iter().map(|s| super::web_apps::view(s, listener)).collect()
            },
            ..DeviceView::new(d, &self.storage, self.state.clock.unix_secs())
        }
    }

    pub(crate) fn device_view(&self, udid: &str) -> Result<DeviceView, Error> {
        self.registry
            .table
            .device(udid)
            .map(|d| self.view(&d))
            .ok_or_else(|| Error::NotFound(format!("no device {udid}")))
    }

    pub(crate) fn device_views(&self, after: Option<&str>, limit: usize) -> Vec<DeviceView> {
        self.registry.table.devices(after, limit).iter().map(|d| self.view(d)).collect()
    }
}

/// A UDID in the shape of a current iPhone's: 8 hex digits, a dash, 16 hex digits.
pub(crate) fn new_udid() -> String {
    let b = hex::encode_upper(crate::random::bytes(12));
    format!("{}-{}", &b[..8], &b[8..])
}

fn valid_udid(u: &str) -> bool {
    !u.is_empty() && u.len() <= 64 && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
