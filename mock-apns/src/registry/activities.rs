//! Live Activity tokens: an app's push-to-start token for each `ActivityAttributes` type
//! it declares, and each running activity's update token. Both are derived like device
//! tokens (the same secret; inputs: kind, environment, UDID, bundle ID, attributes type
//! or activity id, the device's generation and, per-app, the install generation), and are
//! 80 bytes — longer than a device token, as Apple's are.
//!
//! | event | push-to-start token | update token |
//! |---|---|---|
//! | the activity ends (on the phone, or through the admin API) | — | 200 and dropped on the device, then 410 once APNs has learned (the first push after the end, when the device is online) |
//! | erase | dies now (410) | dies now (410) |
//! | uninstall | 200 until APNs learns, then 410 | the activity ends with the app |
//! | reinstall | per-app: dies, a new one when declared again; per-device: kept | — (the activity went with the app) |
//!
//! An activity that listens to a broadcast channel (ActivityKit's `pushType:
//! .channel(id)`, or a push-to-start's `input-push-channel`) has no update token: on iOS
//! its `pushTokenUpdates` never yields, and broadcasts on its channel are what update it.
//! The registry still keeps a slot for it (its channel, its state, its end), under an
//! identity derived as a token would be, but never hands that out nor routes a push by it.

use protocol::{ActivityTokenKind, Reason};

use super::*;

/// The length of an activity token, in bytes.
pub const ACTIVITY_TOKEN_LEN: usize = 80;

/// One activity token, live or not.
pub(super) struct ActivitySlot {
    kind: ActivityTokenKind,
    device: u32,
    app: u32,
    attributes_type: Box<str>,
    /// The activity, for an update token.
    activity_id: Option<Box<str>>,
    token: Box<[u8]>,
    /// When it was issued (ms).
    issued_at: u64,
    /// 0 while the activity runs; else when it ended (ms).
    ended_at: u64,
    /// 0 until APNs learned the token is gone; then when (ms). Pushes get 410 after it.
    learned_at: u64,
    /// An end APNs will learn of when the offline device comes back.
    pending: bool,
    /// The broadcast channel the activity listens to.
    channel: Option<Box<str>>,
}

/// An activity token as the registry reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRecord {
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// Push-to-start or update.
    pub kind: ActivityTokenKind,
    /// The `ActivityAttributes` type.
    pub attributes_type: String,
    /// The activity, for an update token.
    pub activity_id: Option<String>,
    /// The token; `None` for an activity that listens to a channel (it has none).
    pub token: Option<DeviceToken>,
    /// When it was issued (ms).
    pub issued_at: u64,
    /// When the activity ended (ms), if it did.
    pub ended_at: Option<u64>,
    /// When APNs learned the token is gone (ms): pushes then get 410 with this timestamp.
    pub unregistered_at: Option<u64>,
    /// The broadcast channel it listens to.
    pub channel: Option<String>,
}

impl ActivityRecord {
    /// `active`, `ended` (pushes still accepted, and dropped) or `gone` (410).
    pub fn state(&self) -> &'static str {
        match (self.ended_at, self.unregistered_at) {
            (_, Some(_)) => "gone",
            (Some(_), None) => "ended",
            (None, None) => "active",
        }
    }
}

impl Registry {
    /// The 80-byte token for an activity input; fields are length-prefixed, and the MAC
    /// is stretched with a block counter.
    pub fn derive_activity_token(
        &self,
        kind: ActivityTokenKind,
        env: Environment,
        udid: &str,
        bundle_id: &str,
        name: &str,
        (device_gen, install_gen): (u32, u32),
    ) -> Box<[u8]> {
        let kind = match kind {
            ActivityTokenKind::PushToStart => "push-to-start",
            ActivityTokenKind::Update => "update",
        };
        let mut out = Vec::with_capacity(96);
        for block in 0u8..3 {
            let mut ctx = hmac::Context::with_key(&self.key);
            ctx.update(b"apns-lab/activity-token/v1");
            ctx.update(&[block]);
            for field in
                [kind.as_bytes(), env.as_str().as_bytes(), udid.as_bytes(), bundle_id.as_bytes(), name.as_bytes()]
            {
                ctx.update(&(field.len() as u32).to_be_bytes());
                ctx.update(field);
            }
            ctx.update(&device_gen.to_be_bytes());
            ctx.update(&install_gen.to_be_bytes());
            out.extend_from_slice(ctx.sign().as_ref());
        }
        out.truncate(ACTIVITY_TOKEN_LEN);
        out.into_boxed_slice()
    }

    /// The installed app `bundle_id` in `env` on `udid`, or why not.
    fn installed_app(&self, t: &Tables, udid: &str, bundle_id: &str, env: Environment) -> Result<(u32, u32), Error> {
        let device = self.device_or_404(t, udid)?;
        let app = t
            .names
            .get(bundle_id)
            .and_then(|b| Self::find_app(t, device, b, env))
            .ok_or_else(|| Error::NotFound(format!("{bundle_id} ({}) is not installed on {udid}", env.as_str())))?;
        if t.apps[app as usize].uninstalled_at != 0 {
            return Err(Error::Conflict(format!("{bundle_id} is not installed on {udid}")));
        }
        Ok((device, app))
    }

    /// The token an activity input has now.
    fn fresh_activity_token(&self, t: &Tables, kind: ActivityTokenKind, app: u32, name: &str) -> Box<[u8]> {
        let a = &t.apps[app as usize];
        let d = &t.devices[a.device as usize];
        let install_gen = match (kind, self.scope) {
            (ActivityTokenKind::PushToStart, TokenScope::PerDevice) => 0,
            _ => a.install_gen,
        };
        self.derive_activity_token(kind, a.env, &d.udid, t.names.name(a.bundle), name, (d.generation, install_gen))
    }

    /// Issues (or finds) an activity token: the same live slot for the same input, a new
    /// one when the inputs' generations moved on. Returns it, and whether it is new.
    fn issue_activity(
        &self,
        t: &mut Tables,
        kind: ActivityTokenKind,
        (device, app): (u32, u32),
        attributes_type: &str,
        (activity_id, channel): (Option<&str>, Option<&str>),
        now: u64,
    ) -> Result<(ActivityRecord, bool), Error> {
        let name = activity_id.unwrap_or(attributes_type);
        let token = self.fresh_activity_token(t, kind, app, name);
        if let Some(&slot) = t.activity_tokens.get(&token) {
            let s = &mut t.activities[slot as usize];
            if s.learned_at == 0 && s.ended_at == 0 {
                return Ok((self.activity_record(t, slot), false));
            }
            if kind == ActivityTokenKind::PushToStart {
                // The same inputs give the same token: per-device, a reinstalled app's
                // push-to-start token works again, as its device token does.
                (s.ended_at, s.learned_at, s.pending, s.issued_at) = (0, 0, false, now);
                return Ok((self.activity_record(t, slot), true));
            }
            // An activity id is the phone's: a second activity with an ended one's id is
            // another activity, which the phone would never make.
            return Err(Error::Conflict(format!("{name} already ran on this device and ended")));
        }
        if kind == ActivityTokenKind::PushToStart {
            // The type's earlier push-to-start token (older generations) is replaced.
            for &slot in t.activities_by_device.get(&device).map_or(&[][..], Vec::as_slice) {
                let s = &mut t.activities[slot as usize];
                if s.kind == kind && s.app == app && &*s.attributes_type == attributes_type && s.learned_at == 0 {
                    (s.ended_at, s.learned_at) = (s.ended_at.max(now), now.max(1));
                }
            }
        }
        let slot = t.activities.len() as u32;
        t.activities.push(ActivitySlot {
            kind,
            device,
            app,
            attributes_type: attributes_type.into(),
            activity_id: activity_id.map(Into::into),
            token: token.clone(),
            issued_at: now,
            ended_at: 0,
            learned_at: 0,
            pending: false,
            channel: channel.map(Into::into),
        });
        t.activity_tokens.insert(token, slot);
        t.activities_by_device.entry(device).or_default().push(slot);
        Ok((self.activity_record(t, slot), true))
    }

    /// An app declares an `ActivityAttributes` type: its push-to-start token. Answers the
    /// token, and whether it is new.
    pub fn declare_activity_type(
        &self,
        udid: &str,
        bundle_id: &str,
        env: Environment,
        attributes_type: &str,
        now: u64,
    ) -> Result<(ActivityRecord, bool), Error> {
        valid_name("attributes_type", attributes_type)?;
        let mut t = self.write();
        let at = self.installed_app(&t, udid, bundle_id, env)?;
        self.issue_activity(&mut t, ActivityTokenKind::PushToStart, at, attributes_type, (None, None), now)
    }

    /// An activity started on the phone: its update token. Answers the token, and
    /// whether it is new.
    pub fn start_activity(
        &self,
        udid: &str,
        bundle_id: &str,
        env: Environment,
        (attributes_type, activity_id): (&str, &str),
        channel: Option<&str>,
        now: u64,
    ) -> Result<(ActivityRecord, bool), Error> {
        valid_name("attributes_type", attributes_type)?;
        valid_name("activity_id", activity_id)?;
        let mut t = self.write();
        let at = self.installed_app(&t, udid, bundle_id, env)?;
        self.issue_activity(&mut t, ActivityTokenKind::Update, at, attributes_type, (Some(activity_id), channel), now)
    }

    /// The running activities that listen to `channel`: (device slot, app slot, activity
    /// slot, whether the device is online).
    pub(crate) fn subscribers(&self, channel: &str) -> Vec<(u32, u32, u32, bool)> {
        let t = self.read();
        t.activities
            .iter()
            .enumerate()
            .filter(|(_, s)| s.channel.as_deref() == Some(channel) && s.ended_at == 0 && s.learned_at == 0)
            .map(|(i, s)| (s.device, s.app, i as u32, t.devices[s.device as usize].online))
            .collect()
    }

    /// An activity ended on the phone (or through the admin API): its token is accepted
    /// and dropped until APNs learns, then 410. Answers its record.
    pub fn end_activity(&self, udid: &str, activity_id: &str, now: u64) -> Result<ActivityRecord, Error> {
        let mut t = self.write();
        let device = self.device_or_404(&t, udid)?;
        let slot = t
            .activities_by_device
            .get(&device)
            .and_then(|slots| {
                slots
                    .iter()
                    .copied()
                    .rev()
                    .find(|&s| t.activities[s as usize].activity_id.as_deref() == Some(activity_id))
            })
            .ok_or_else(|| Error::NotFound(format!("no activity {activity_id} on {udid}")))?;
        let s = &mut t.activities[slot as usize];
        if s.ended_at == 0 {
            s.ended_at = now.max(1);
        }
        Ok(self.activity_record(&t, slot))
    }

    fn activity_record(&self, t: &Tables, slot: u32) -> ActivityRecord {
        let s = &t.activities[slot as usize];
        let a = &t.apps[s.app as usize];
        ActivityRecord {
            bundle_id: t.names.name(a.bundle).to_owned(),
            environment: a.env,
            kind: s.kind,
            attributes_type: s.attributes_type.to_string(),
            activity_id: s.activity_id.as_deref().map(str::to_owned),
            token: s
                .channel
                .is_none()
                .then(|| DeviceToken::from_bytes(&s.token).expect("80 bytes is a valid token length")),
            issued_at: s.issued_at,
            ended_at: (s.ended_at != 0).then_some(s.ended_at),
            unregistered_at: (s.learned_at != 0).then_some(s.learned_at),
            channel: s.channel.as_deref().map(str::to_owned),
        }
    }

    /// A device's activity tokens, in the order they were issued.
    pub fn activities(&self, udid: &str) -> Vec<ActivityRecord> {
        let t = self.read();
        let Some(device) = self.find_device(&t, udid) else { return Vec::new() };
        t.activities_by_device
            .get(&device)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|&s| self.activity_record(&t, s))
            .collect()
    }

    /// What a push to an activity token is for, as the device's stream names it.
    pub(crate) fn activity_target(&self, slot: u32) -> protocol::ActivityTarget {
        let t = self.read();
        let s = &t.activities[slot as usize];
        match &s.activity_id {
            Some(id) => protocol::ActivityTarget::Update { activity_id: id.to_string() },
            None => protocol::ActivityTarget::PushToStart { attributes_type: s.attributes_type.to_string() },
        }
    }

    /// The UDID of an activity token's device.
    pub(crate) fn activity_udid(&self, slot: u32) -> Option<String> {
        let t = self.read();
        let s = t.activities.get(slot as usize)?;
        Some(t.devices[s.device as usize].udid.to_string())
    }

    /// How many activity tokens there are, by kind (`push-to-start`, `update`) and state
    /// (`active`, `ended`, `gone`); every combination, zeros included.
    pub(crate) fn activity_counts(&self) -> Vec<((&'static str, &'static str), u64)> {
        let t = self.read();
        let mut counts = [[0u64; 3]; 2];
        for s in &t.activities {
            let kind = usize::from(s.kind == ActivityTokenKind::Update);
            let state = match (s.ended_at, s.learned_at) {
                (_, l) if l != 0 => 2,
                (e, _) if e != 0 => 1,
                _ => 0,
            };
            counts[kind][state] += 1;
        }
        let mut out = Vec::new();
        for (k, kind) in ["push-to-start", "update"].into_iter().enumerate() {
            for (i, state) in ["active", "ended", "gone"].into_iter().enumerate() {
                out.push(((kind, state), counts[k][i]));
            }
        }
        out
    }

    /// One activity token's record, by slot.
    pub(crate) fn activity(&self, slot: u32) -> ActivityRecord {
        self.activity_record(&self.read(), slot)
    }

    /// Finds the activity a `liveactivity` push addresses, with the same answers as
    /// [`Registry::route`]: BadDeviceToken (no such token in `env`), DeviceTokenNotForTopic
    /// (another app's), 410 (gone); a device token routes as any push does. A push to an ended activity that
    /// APNs has not learned of yet is accepted; the delivery attempt is how it learns.
    pub(crate) fn route_activity(
        &self,
        env: Environment,
        token: &DeviceToken,
        bundle_id: &str,
        now: u64,
    ) -> Result<Routed, (Reason, Option<u64>)> {
        let t = self.read();
        // A channel activity's slot is not a token APNs issued: as if it were unknown.
        let found = t.activity_tokens.get(token.as_bytes()).filter(|&&s| t.activities[s as usize].channel.is_none());
        let Some(&slot) = found else {
            drop(t);
            // The app's device token is valid for every topic of the app, this one too
            // (as for `.voip` and the others): accepted, and the device, which has no
            // activity for it, drops it.
            return self.route(env, token, bundle_id, now);
        };
        let s = &t.activities[slot as usize];
        let a = &t.apps[s.app as usize];
        if a.env != env {
            return Err((Reason::BadDeviceToken, None));
        }
        if t.names.name(a.bundle) != bundle_id {
            return Err((Reason::DeviceTokenNotForTopic, None));
        }
        if s.learned_at != 0 {
            return Err((Reason::Unregistered, Some(s.learned_at)));
        }
        let (device, app) = (s.device, s.app);
        let online = t.devices[device as usize].online;
        if s.ended_at == 0 || s.pending {
            return Ok(Routed { device, app, learned: false, online, activity: Some(slot) });
        }
        drop(t);
        let mut t = self.write();
        let online = t.devices[device as usize].online;
        let s = &mut t.activities[slot as usize];
        if s.learned_at == 0 {
            if online {
                s.learned_at = now.max(1);
            } else {
                s.pending = true;
            }
        }
        Ok(Routed { device, app, learned: true, online, activity: Some(slot) })
    }

    /// A phone dropped a push because the activity had ended: APNs learns its token is
    /// gone now. Returns the slot if this changed anything.
    pub(crate) fn device_reports_activity_gone(&self, device: u32, activity_id: &str, now: u64) -> Option<u32> {
        let mut t = self.write();
        let slot = t
            .activities_by_device
            .get(&device)?
            .iter()
            .copied()
            .rev()
            .find(|&s| t.activities[s as usize].activity_id.as_deref() == Some(activity_id))?;
        let s = &mut t.activities[slot as usize];
        if s.learned_at != 0 {
            return None;
        }
        if s.ended_at == 0 {
            s.ended_at = now.max(1);
        }
        (s.learned_at, s.pending) = (now.max(1), false);
        Some(slot)
    }

    /// Whether `token` is an activity token of `env` (an alert to one is another topic's).
    pub(crate) fn is_activity_token(&self, env: Environment, token: &[u8]) -> bool {
        let t = self.read();
        t.activity_tokens.get(token).is_some_and(|&s| {
            let s = &t.activities[s as usize];
            s.channel.is_none() && t.apps[s.app as usize].env == env
        })
    }

    /// Erase: every activity token of the device dies now.
    pub(super) fn activities_die(t: &mut Tables, device: u32, now: u64) {
        let Some(slots) = t.activities_by_device.get(&device) else { return };
        for &slot in slots {
            let s = &mut t.activities[slot as usize];
            if s.learned_at == 0 {
                (s.ended_at, s.learned_at, s.pending) = (s.ended_at.max(now), now.max(1), false);
            }
        }
    }

    /// Uninstall: the app's activities end with it, and its push-to-start tokens too;
    /// APNs learns as it learns of the uninstall. Reinstall (per-app): they die.
    pub(super) fn activities_of_app_end(t: &mut Tables, app: u32, now: u64, dead: bool) {
        let device = t.apps[app as usize].device;
        let Some(slots) = t.activities_by_device.get(&device) else { return };
        for &slot in slots {
            let s = &mut t.activities[slot as usize];
            if s.app != app || s.learned_at != 0 {
                continue;
            }
            if s.ended_at == 0 {
                s.ended_at = now.max(1);
            }
            if dead {
                (s.learned_at, s.pending) = (now.max(1), false);
            }
        }
    }

    /// The device came back online: ends APNs tried to deliver to meanwhile are learned.
    pub(super) fn activities_learn_pending(t: &mut Tables, device: u32, now: u64) -> usize {
        let Some(slots) = t.activities_by_device.get(&device) else { return 0 };
        let mut learned = 0;
        for &slot in slots {
            let s = &mut t.activities[slot as usize];
            if s.pending {
                (s.learned_at, s.pending) = (now.max(1), false);
                learned += 1;
            }
        }
        learned
    }

    /// A device's activity tokens as the state database stores them.
    pub(crate) fn stored_activities(&self, udid: &str) -> Vec<StoredActivity> {
        let t = self.read();
        let Some(device) = self.find_device(&t, udid) else { return Vec::new() };
        t.activities_by_device
            .get(&device)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|&slot| {
                let s = &t.activities[slot as usize];
                let a = &t.apps[s.app as usize];
                StoredActivity {
                    bundle_id: t.names.name(a.bundle).to_owned(),
                    environment: a.env,
                    push_to_start: s.kind == ActivityTokenKind::PushToStart,
                    attributes_type: s.attributes_type.to_string(),
                    activity_id: s.activity_id.as_deref().map(str::to_owned),
                    token: s.token.to_vec(),
                    issued_at: s.issued_at,
                    ended_at: s.ended_at,
                    learned_at: s.learned_at,
                    pending: s.pending,
                    channel: s.channel.as_deref().map(str::to_owned),
                }
            })
            .collect()
    }

    /// Reads back one stored activity token (its device and app are loaded first).
    pub(crate) fn load_activity(&self, udid: &str, s: StoredActivity) {
        let mut t = self.write();
        let Some(device) = self.find_device(&t, udid) else { return };
        let Some(app) = t.names.get(&s.bundle_id).and_then(|b| Self::find_app(&t, device, b, s.environment)) else {
            return;
        };
        let slot = t.activities.len() as u32;
        let token: Box<[u8]> = s.token.into_boxed_slice();
        t.activities.push(ActivitySlot {
            kind: if s.push_to_start { ActivityTokenKind::PushToStart } else { ActivityTokenKind::Update },
            device,
            app,
            attributes_type: s.attributes_type.into(),
            activity_id: s.activity_id.map(Into::into),
            token: token.clone(),
            issued_at: s.issued_at,
            ended_at: s.ended_at,
            learned_at: s.learned_at,
            pending: s.pending,
            channel: s.channel.map(Into::into),
        });
        t.activity_tokens.insert(token, slot);
        t.activities_by_device.entry(device).or_default().push(slot);
    }
}

/// Attribute type names and activity ids: 1–128 printable ASCII characters.
fn valid_name(what: &str, s: &str) -> Result<(), Error> {
    if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Invalid(format!("{what} must be 1-128 printable ASCII characters")));
    }
    Ok(())
}
