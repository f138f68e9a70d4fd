//! The registry room. Step 2 of the flow: a device sends its UDID and an app's bundle ID, and APNs derives
//! the device token it will accept for that app. The registry also answers the other way
//! round for every push: which device and app does this token address, and is it still
//! valid?
//!
//! Tokens are *derived*, never random: `HMAC-SHA256(secret, "apns-lab/token/v1" ‖
//! environment ‖ UDID ‖ scope ‖ device generation ‖ install generation)`, so the same
//! inputs always give the same 32-byte token and a restart with the same secret keeps
//! every token. The scope and the two generation counters carry the token lifecycle:
//!
//! | event | per-app (today's iOS, default) | per-device (early iOS) |
//! |---|---|---|
//! | two apps on one device | different tokens (scope = bundle ID) | the same token (scope = the device) |
//! | app update | unchanged | unchanged |
//! | restore from backup onto the same device | unchanged | unchanged |
//! | restore onto a new device / new UDID | new token (other UDID) | new token (other UDID) |
//! | erase all content and settings | every token changes (device generation + 1) | changes |
//! | uninstall | 410 Unregistered once APNs learns of it | the same, for that app |
//! | reinstall | new token (install generation + 1) | the same token |
//!
//! Old tokens are not forgotten: they stay in the index marked dead with the time APNs
//! learned they died, so a push to them answers 410 Unregistered with that timestamp.
//! APNs learns of an uninstall only when a delivery to the app fails on the device: the
//! first push after an uninstall is still accepted (200), and the device's "app not
//! installed" answer — at once if it is online, when it comes back otherwise — is the
//! moment later pushes start getting 410.
//!
//! Memory is kept small for fleets of a million devices: bundle and team IDs are
//! interned, devices and apps live in flat vectors linked by index, the UDID index stores
//! only slot numbers, and the token index maps 32 inline bytes to a 16-byte reference.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use aws_lc_rs::hmac;
use hashbrown::HashTable;
use protocol::{DeviceToken, Environment};

pub use crate::config::TokenScope;
use crate::error::Error;
use crate::state::rows::{StoredActivity, StoredApp, StoredDevice, StoredToken};

pub use activities::ActivityRecord;

mod activities;
pub(crate) mod channels;
pub(crate) mod events;
mod lifecycle;
mod routing;
mod saved;
pub(crate) mod web;

/// The raw bytes of a derived token.
type Token = [u8; 32];
/// "No slot" in the linked lists.
const NONE: u32 = u32::MAX;

/// Tokens are HMAC outputs, uniformly random, so their first eight bytes are already a
/// good hash. Only derived tokens are ever inserted, so a client cannot pick colliding
/// keys; a crafted lookup only probes.
fn token_hash(token: &Token) -> u64 {
    u64::from_le_bytes([token[0], token[1], token[2], token[3], token[4], token[5], token[6], token[7]])
}

/// A token that no longer routes: the app it belonged to (per-device: one app of that
/// device and environment) and when APNs learned it died (ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dead {
    app: u32,
    dead_at: u64,
}

/// A simulated device.
struct Device {
    udid: Box<str>,
    /// Bumped by "erase all content and settings".
    generation: u32,
    /// Offline devices learn of uninstalls when they come back.
    online: bool,
    /// The first of its app slots (linked through [`App::next`]).
    first_app: u32,
    /// The apps of its latest backup.
    backup: Option<Box<[BackupApp]>>,
}

/// One app in a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BackupApp {
    bundle: u32,
    team: u32,
    env: Environment,
}

/// One app (bundle ID + environment) on one device, installed or not.
struct App {
    device: u32,
    next: u32,
    bundle: u32,
    team: u32,
    env: Environment,
    /// Bumped by reinstall (per-app tokens change with it).
    install_gen: u32,
    /// Bumped by app updates (tokens do not change).
    version: u32,
    /// 0 while installed; else when it was uninstalled (ms).
    uninstalled_at: u64,
    /// 0 until APNs learned of the uninstall; then when (ms). Pushes get 410 after it.
    learned_at: u64,
    /// An uninstall APNs will learn of when the offline device comes back.
    pending: bool,
    /// Whether `token` is live in the index (false once it died and no new one was issued).
    indexed: bool,
    /// The app's current token (per-device: the device's token in this environment).
    token: Token,
}

/// Interned strings (bundle and team IDs): few distinct values, referenced millions of
/// times.
#[derive(Default)]
struct Names {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// Everything, behind one lock: reads (every push) share it; lifecycle events take it
/// exclusively and are rare.
#[derive(Default)]
struct Tables {
    devices: Vec<Device>,
    /// Device slots, found by hashing their UDID.
    udids: HashTable<u32>,
    apps: Vec<App>,
    /// The live token index: app slots, found by hashing their stored token. Per-device
    /// tokens are indexed once, through one app of the device and environment.
    live: HashTable<u32>,
    /// Tokens that died (erase, per-app reinstall), kept for 410s.
    dead_tokens: HashMap<Token, Dead>,
    names: Names,
    /// Bundle → owning team.
    owners: HashMap<u32, u32>,
    /// The dead tokens of each device (rare: only lifecycle events make them), so they
    /// can be listed without scanning every dead token.
    dead_by_device: HashMap<u32, Vec<Token>>,
    /// Live Activity tokens (push-to-start and update), live or not.
    activities: Vec<activities::ActivitySlot>,
    /// Every activity token ever issued → its slot.
    activity_tokens: HashMap<Box<[u8]>, u32>,
    /// Each device's activity slots, in the order they were issued.
    activities_by_device: HashMap<u32, Vec<u32>>,
}

/// One app as the registry reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRecord {
    /// The bundle ID.
    pub bundle_id: String,
    /// The environment it was built for.
    pub environment: Environment,
    /// The owning team.
    pub team_id: String,
    /// The current token (the one APNs would hand the app if it registered now).
    pub token: DeviceToken,
    /// Reinstall counter.
    pub install_generation: u32,
    /// App update counter.
    pub version: u32,
    /// Whether the app is installed.
    pub installed: bool,
    /// When it was uninstalled (ms), if it is not installed.
    pub uninstalled_at: Option<u64>,
    /// When APNs learned of the uninstall (ms): pushes then get 410 with this timestamp.
    pub unregistered_at: Option<u64>,
}

/// One device as the registry reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The UDID.
    pub udid: String,
    /// Erase counter.
    pub generation: u32,
    /// Whether it is online.
    pub online: bool,
    /// Whether it has a backup to restore from.
    pub has_backup: bool,
    /// Its apps, installed or not, in install order.
    pub apps: Vec<AppRecord>,
}

/// How one event changed one app's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenChange {
    /// The device.
    pub udid: String,
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The token before (none for a new install).
    pub old: Option<DeviceToken>,
    /// The token after (the same as `old` when it did not change).
    pub new: Option<DeviceToken>,
}

/// What a push was routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Routed {
    /// The device slot.
    pub device: u32,
    /// The app slot.
    pub app: u32,
    /// Set when this push made APNs learn of an uninstall (the device must be saved).
    pub learned: bool,
    /// Whether the device is online (offline devices get the push stored).
    pub online: bool,
    /// The Live Activity token slot, for a `liveactivity` push.
    pub activity: Option<u32>,
}

/// UDID + bundle ID ⇄ token, with the lifecycle of both.
pub struct Registry {
    key: hmac::Key,
    scope: TokenScope,
    udid_hasher: RandomState,
    tables: RwLock<Tables>,
}

impl Registry {
    /// A registry deriving tokens with `secret` under `scope`.
    pub fn new(secret: &[u8], scope: TokenScope) -> Self {
        Registry {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            scope,
            udid_hasher: RandomState::new(),
            tables: RwLock::new(Tables::default()),
        }
    }

    /// The token rules in force.
    pub fn scope(&self) -> TokenScope {
        self.scope
    }

    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The token for (environment, UDID, scope, generations). `bundle_id` is `None` for
    /// a per-device token. Fields are length-prefixed so no two inputs share a MAC input.
    pub fn derive_token(
        &self,
        env: Environment,
        udid: &str,
        bundle_id: Option<&str>,
        device_gen: u32,
        install_gen: u32,
    ) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"apns-lab/token/v1");
        let scope = bundle_id.unwrap_or("");
        for field in [env.as_str().as_bytes(), udid.as_bytes(), scope.as_bytes()] {
            ctx.update(&(field.len() as u32).to_be_bytes());
            ctx.update(field);
        }
        ctx.update(&device_gen.to_be_bytes());
        ctx.update(&install_gen.to_be_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    fn find_device(&self, t: &Tables, udid: &str) -> Option<u32> {
        let hash = self.udid_hasher.hash_one(udid);
        t.udids.find(hash, |&d| &*t.devices[d as usize].udid == udid).copied()
    }

    fn device_or_404(&self, t: &Tables, udid: &str) -> Result<u32, Error> {
        self.find_device(t, udid).ok_or_else(|| Error::NotFound(format!("no device {udid}")))
    }

    fn add_device_slot(&self, t: &mut Tables, udid: &str) -> u32 {
        if let Some(d) = self.find_device(t, udid) {
            return d;
        }
        let id = t.devices.len() as u32;
        t.devices.push(Device { udid: udid.into(), generation: 0, online: true, first_app: NONE, backup: None });
        let hasher = &self.udid_hasher;
        let devices = &t.devices;
        let hash = hasher.hash_one(udid);
        t.udids.insert_unique(hash, id, |&d| hasher.hash_one(&*devices[d as usize].udid));
        id
    }

    /// The app slots of a device, in install order.
    fn apps_of(t: &Tables, device: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut a = t.devices[device as usize].first_app;
        while a != NONE {
            out.push(a);
            a = t.apps[a as usize].next;
        }
        out.reverse();
        out
    }

    fn find_app(t: &Tables, device: u32, bundle: u32, env: Environment) -> Option<u32> {
        let mut a = t.devices[device as usize].first_app;
        while a != NONE {
            let app = &t.apps[a as usize];
            if app.bundle == bundle && app.env == env {
                return Some(a);
            }
            a = app.next;
        }
        None
    }

    /// The token an app has now.
    fn app_token(t: &Tables, app: u32) -> Token {
        t.apps[app as usize].token
    }

    /// The token an app gets under its current generations.
    fn fresh_token(&self, t: &Tables, app: u32) -> Token {
        let a = &t.apps[app as usize];
        let d = &t.devices[a.device as usize];
        match self.scope {
            TokenScope::PerApp => {
                self.derive_token(a.env, &d.udid, Some(t.names.name(a.bundle)), d.generation, a.install_gen)
            }
            TokenScope::PerDevice => self.derive_token(a.env, &d.udid, None, d.generation, 0),
        }
    }

    /// The live index entry (an app slot) for `token` in `env`.
    fn find_live(t: &Tables, env: Environment, token: &Token) -> Option<u32> {
        t.live
            .find(token_hash(token), |&a| t.apps[a as usize].token == *token && t.apps[a as usize].env == env)
            .copied()
    }

    /// Gives an app its fresh token and makes it live in the index.
    fn index_live(&self, t: &mut Tables, app: u32) -> Token {
        let token = self.fresh_token(t, app);
        let a = &mut t.apps[app as usize];
        (a.token, a.indexed) = (token, true);
        let env = a.env;
        if Self::find_live(t, env, &token).is_none() {
            let apps = &t.apps;
            t.live.insert_unique(token_hash(&token), app, |&x| token_hash(&apps[x as usize].token));
        }
        token
    }

    /// Marks a token of `device` dead at `at` (keeping an earlier death): it leaves the
    /// live index, and the apps that had it are no longer indexed.
    fn index_dead(t: &mut Tables, device: u32, env: Environment, token: &Token, at: u64) {
        let hash = token_hash(token);
        let apps = &t.apps;
        let entry = t.live.find_entry(hash, |&a| apps[a as usize].token == *token && apps[a as usize].env == env);
        let Ok(entry) = entry else { return };
        let (app, _) = entry.remove();
        t.dead_tokens.entry(*token).or_insert(Dead { app, dead_at: at.max(1) });
        t.dead_by_device.entry(device).or_default().push(*token);
        for a in Self::apps_of(t, device) {
            let a = &mut t.apps[a as usize];
            if a.env == env && a.token == *token {
                a.indexed = false;
            }
        }
    }

    fn record(&self, t: &Tables, app: u32) -> AppRecord {
        let a = &t.apps[app as usize];
        let token = Self::app_token(t, app);
        AppRecord {
            bundle_id: t.names.name(a.bundle).to_owned(),
            environment: a.env,
            team_id: t.names.name(a.team).to_owned(),
            token: DeviceToken::from_bytes(&token).expect("32 bytes is a valid token length"),
            install_generation: a.install_gen,
            version: a.version,
            installed: a.uninstalled_at == 0,
            uninstalled_at: (a.uninstalled_at != 0).then_some(a.uninstalled_at),
            unregistered_at: (a.learned_at != 0).then_some(a.learned_at),
        }
    }

    fn device_record(&self, t: &Tables, device: u32) -> DeviceRecord {
        let d = &t.devices[device as usize];
        DeviceRecord {
            udid: d.udid.to_string(),
            generation: d.generation,
            online: d.online,
            has_backup: d.backup.is_some(),
            apps: Self::apps_of(t, device).into_iter().map(|a| self.record(t, a)).collect(),
        }
    }

    fn change(&self, t: &Tables, app: u32, old: Option<Token>, new: Option<Token>) -> TokenChange {
        let a = &t.apps[app as usize];
        let token = |b: Token| DeviceToken::from_bytes(&b).expect("32 bytes is a valid token length");
        TokenChange {
            udid: t.devices[a.device as usize].udid.to_string(),
            bundle_id: t.names.name(a.bundle).to_owned(),
            environment: a.env,
            old: old.map(token),
            new: new.map(token),
        }
    }

    /// Installs `bundle_id` on `udid` (creating the device) — step 2 of the flow — and
    /// returns its record. An installed app is returned as it is; an uninstalled one is
    /// reinstalled.
    pub fn register_app(
        &self,
        udid: &str,
        bundle_id: &str,
        env: Environment,
        team_id: &str,
        now: u64,
    ) -> Result<(AppRecord, Vec<TokenChange>), Error> {
        let mut t = self.write();
        let t = &mut *t;
        let bundle = t.names.id(bundle_id);
        let team = t.names.id(team_id);
        if let Some(&owner) = t.owners.get(&bundle)
            && owner != team
        {
            return Err(Error::Conflict(format!("{bundle_id} belongs to team {}, not {team_id}", t.names.name(owner))));
        }
        t.owners.insert(bundle, team);
        let device = self.add_device_slot(t, udid);
        let changes = match Self::find_app(t, device, bundle, env) {
            Some(app) if t.apps[app as usize].uninstalled_at == 0 => Vec::new(),
            Some(app) => vec![self.reinstall_slot(t, app, now)],
            None => vec![self.install_new(t, device, bundle, team, env)],
        };
        let app = Self::find_app(t, device, bundle, env).expect("the app was found or added above");
        Ok((self.record(t, app), changes))
    }

    /// Links an app slot into its device's list and returns its number.
    fn add_app_slot(t: &mut Tables, app: App) -> u32 {
        let id = t.apps.len() as u32;
        let device = app.device as usize;
        t.apps.push(App { next: t.devices[device].first_app, ..app });
        t.devices[device].first_app = id;
        id
    }

    /// A first install: a new app slot with a live token.
    fn install_new(&self, t: &mut Tables, device: u32, bundle: u32, team: u32, env: Environment) -> TokenChange {
        let app = Self::add_app_slot(
            t,
            App {
                device,
                next: NONE,
                bundle,
                team,
                env,
                install_gen: 0,
                version: 0,
                uninstalled_at: 0,
                learned_at: 0,
                pending: false,
                indexed: false,
                token: [0; 32],
            },
        );
        let token = self.index_live(t, app);
        self.change(t, app, None, Some(token))
    }

    /// Adds a device with no apps (or finds it).
    pub fn add_device(&self, udid: &str) {
        let mut t = self.write();
        self.add_device_slot(&mut t, udid);
    }
}

/// The registry room: the token table, the lifecycle event log and the default team,
/// standing on the state room.
pub(crate) struct Room {
    /// The room below.
    pub(crate) state: std::sync::Arc<crate::state::State>,
    /// Devices, apps and their tokens, activity tokens.
    pub(crate) table: Registry,
    pub(crate) events: events::Events,
    /// Broadcast channels.
    pub(crate) channels: channels::Channels,
    /// Web Push subscriptions.
    pub(crate) web: web::WebSubscriptions,
    /// The team created on first start; apps without a team belong to it.
    pub(crate) default_team: String,
}

impl Room {
    pub(crate) fn new(
        state: std::sync::Arc<crate::state::State>,
        table: Registry,
        events: events::Events,
        (channels, web): (channels::Channels, web::WebSubscriptions),
        default_team: String,
    ) -> Room {
        Room { state, table, events, channels, web, default_team }
    }

    /// Forgets devices, tokens and events (after the room below has).
    pub(crate) async fn reset(&self) -> Result<(), Error> {
        self.state.reset().await?;
        self.table.clear();
        self.events.clear();
        self.channels.clear();
        self.web.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
