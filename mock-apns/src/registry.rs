//! Step 2 of the flow: a device sends its UDID and an app's bundle ID, and APNs derives
//! the device token it will accept for that app. The registry also answers the other way
//! round for every push: which device and app does this token address, and is it still
//! valid?
//!
//! Tokens are *derived*, never random: `HMAC-SHA256(secret, "apns-lab/token/v1" ‖
//! environment ‖ UDID ‖ scope ‖ device generation ‖ install generation)`, so the same
//! inputs always give the same 32-byte token and a restart with the same secret keeps
//! every token. The scope and the two generation counters carry the token lifecycle:
//!
//! | event | per-app (today's iOS, default) | per-device (the seed's rules) |
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

use hashbrown::HashTable;
use protocol::{DeviceToken, Environment, Reason};
use ring::hmac;

use crate::Error;
use crate::state::rows::{StoredApp, StoredDevice, StoredToken};

/// Which token rules the registry follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenScope {
    /// One token per app per device; reinstall gives a new token (today's iOS).
    #[default]
    PerApp,
    /// One token per device shared by its apps; reinstall keeps it (the seed's rules).
    PerDevice,
}

impl TokenScope {
    /// `per-app` or `per-device`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::PerApp => "per-app",
            TokenScope::PerDevice => "per-device",
        }
    }
}

impl std::str::FromStr for TokenScope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "per-app" => Ok(TokenScope::PerApp),
            "per-device" => Ok(TokenScope::PerDevice),
            other => Err(Error::Invalid(format!("token scope {other:?} is not per-app or per-device"))),
        }
    }
}

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

    /// Reinstalls one app slot: per-app, the old token dies (at the time APNs learned of
    /// the uninstall, or now) and a new one is issued; per-device, the same token lives on.
    fn reinstall_slot(&self, t: &mut Tables, app: u32, now: u64) -> TokenChange {
        let old = Self::app_token(t, app);
        let (env, device) = (t.apps[app as usize].env, t.apps[app as usize].device);
        let a = &mut t.apps[app as usize];
        let died = if a.learned_at != 0 { a.learned_at } else { now };
        (a.uninstalled_at, a.learned_at, a.pending) = (0, 0, false);
        if self.scope == TokenScope::PerApp {
            a.install_gen += 1;
            Self::index_dead(t, device, env, &old, died);
        }
        let new = self.index_live(t, app);
        self.change(t, app, Some(old), Some(new))
    }

    /// The slots of `bundle_id` (any environment) on a device, or 404.
    fn bundle_slots(&self, t: &Tables, udid: &str, bundle_id: &str) -> Result<(u32, Vec<u32>), Error> {
        let device = self.device_or_404(t, udid)?;
        let slots: Vec<u32> = match t.names.get(bundle_id) {
            Some(bundle) => {
                Self::apps_of(t, device).into_iter().filter(|&a| t.apps[a as usize].bundle == bundle).collect()
            }
            None => Vec::new(),
        };
        if slots.is_empty() {
            return Err(Error::NotFound(format!("{bundle_id} was never installed on {udid}")));
        }
        Ok((device, slots))
    }

    /// Uninstalls an app. Its token stays live until APNs learns of it.
    pub fn uninstall(&self, udid: &str, bundle_id: &str, now: u64) -> Result<Vec<TokenChange>, Error> {
        self.change_installed(udid, bundle_id, "", |a| {
            (a.uninstalled_at, a.learned_at, a.pending) = (now.max(1), 0, false)
        })
    }

    /// Reinstalls an app (uninstalling it first if it is installed).
    pub fn reinstall(&self, udid: &str, bundle_id: &str, now: u64) -> Result<Vec<TokenChange>, Error> {
        let mut t = self.write();
        let (_, slots) = self.bundle_slots(&t, udid, bundle_id)?;
        Ok(slots.into_iter().map(|app| self.reinstall_slot(&mut t, app, now)).collect())
    }

    /// An app update: the token does not change.
    pub fn update(&self, udid: &str, bundle_id: &str) -> Result<Vec<TokenChange>, Error> {
        self.change_installed(udid, bundle_id, ": nothing to update", |a| a.version += 1)
    }

    /// Applies `f` to every installed copy of an app (one per environment) and reports
    /// each as a change that keeps its token; Conflict if none is installed (`why` ends
    /// the message).
    fn change_installed(
        &self,
        udid: &str,
        bundle_id: &str,
        why: &str,
        f: impl Fn(&mut App),
    ) -> Result<Vec<TokenChange>, Error> {
        let mut t = self.write();
        let (_, slots) = self.bundle_slots(&t, udid, bundle_id)?;
        let installed: Vec<u32> = slots.into_iter().filter(|&a| t.apps[a as usize].uninstalled_at == 0).collect();
        if installed.is_empty() {
            return Err(Error::Conflict(format!("{bundle_id} is not installed on {udid}{why}")));
        }
        let mut changes = Vec::new();
        for app in installed {
            f(&mut t.apps[app as usize]);
            let token = Self::app_token(&t, app);
            changes.push(self.change(&t, app, Some(token), Some(token)));
        }
        Ok(changes)
    }

    /// Erase all content and settings: every token of the device dies now; the device's
    /// generation moves on, and its installed apps come back with new tokens (as when the
    /// phone is set up again and the apps register).
    pub fn erase(&self, udid: &str, now: u64) -> Result<Vec<TokenChange>, Error> {
        let mut t = self.write();
        let t = &mut *t;
        let device = self.device_or_404(t, udid)?;
        let apps = Self::apps_of(t, device);
        let old: Vec<Token> = apps.iter().map(|&a| Self::app_token(t, a)).collect();
        for (&app, token) in apps.iter().zip(&old) {
            Self::index_dead(t, device, t.apps[app as usize].env, token, now);
        }
        t.devices[device as usize].generation += 1;
        let mut changes = Vec::new();
        for (&app, old) in apps.iter().zip(old) {
            let a = &t.apps[app as usize];
            if a.uninstalled_at != 0 {
                changes.push(self.change(t, app, Some(old), None));
                continue;
            }
            let new = self.index_live(t, app);
            changes.push(self.change(t, app, Some(old), Some(new)));
        }
        Ok(changes)
    }

    /// Saves the device's installed apps as its backup.
    pub fn backup(&self, udid: &str) -> Result<usize, Error> {
        let mut t = self.write();
        let device = self.device_or_404(&t, udid)?;
        let apps: Vec<BackupApp> = Self::apps_of(&t, device)
            .into_iter()
            .map(|a| &t.apps[a as usize])
            .filter(|a| a.uninstalled_at == 0)
            .map(|a| BackupApp { bundle: a.bundle, team: a.team, env: a.env })
            .collect();
        let n = apps.len();
        t.devices[device as usize].backup = Some(apps.into());
        Ok(n)
    }

    /// Restores `udid`'s backup onto itself (tokens unchanged) or onto `to_udid` (a new
    /// device: new tokens; the old device is left as it is).
    pub fn restore(&self, udid: &str, to_udid: Option<&str>, now: u64) -> Result<Vec<TokenChange>, Error> {
        let mut t = self.write();
        let t = &mut *t;
        let source = self.device_or_404(t, udid)?;
        let backup = t.devices[source as usize]
            .backup
            .clone()
            .ok_or_else(|| Error::Conflict(format!("{udid} has no backup to restore (POST …/backup first)")))?;
        let target = match to_udid {
            Some(to) => self.add_device_slot(t, to),
            None => source,
        };
        let mut changes = Vec::new();
        for b in backup.iter() {
            match Self::find_app(t, target, b.bundle, b.env) {
                Some(app) if t.apps[app as usize].uninstalled_at == 0 => {
                    let token = Self::app_token(t, app);
                    changes.push(self.change(t, app, Some(token), Some(token)));
                }
                Some(app) => changes.push(self.reinstall_slot(t, app, now)),
                None => changes.push(self.install_new(t, target, b.bundle, b.team, b.env)),
            }
        }
        Ok(changes)
    }

    /// Takes a device offline or brings it back; coming back, it reports the uninstalls
    /// that pushes hit while it was away, and APNs learns of them now.
    pub fn set_online(&self, udid: &str, online: bool, now: u64) -> Result<Vec<TokenChange>, Error> {
        let mut t = self.write();
        let device = self.device_or_404(&t, udid)?;
        t.devices[device as usize].online = online;
        let mut changes = Vec::new();
        if online {
            for app in Self::apps_of(&t, device) {
                let a = &mut t.apps[app as usize];
                if a.pending {
                    (a.pending, a.learned_at) = (false, now.max(1));
                    let token = Self::app_token(&t, app);
                    changes.push(self.change(&t, app, Some(token), Some(token)));
                }
            }
        }
        Ok(changes)
    }

    /// Whether `bundle_id` is registered to a team other than `team_id`.
    pub fn owned_by_other_team(&self, bundle_id: &str, team_id: &str) -> bool {
        let t = self.read();
        let Some(bundle) = t.names.get(bundle_id) else {
            return false;
        };
        match (t.owners.get(&bundle), t.names.get(team_id)) {
            (Some(owner), Some(team)) => *owner != team,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Finds the app a push addresses. The token must exist in `env` (else
    /// BadDeviceToken), have been issued for `bundle_id` (else DeviceTokenNotForTopic) and
    /// still be valid (else 410 Unregistered with when APNs learned it was not). A push to
    /// an app whose uninstall APNs has not learned of yet is accepted, and is how it learns.
    pub(crate) fn route(
        &self,
        env: Environment,
        token: &DeviceToken,
        bundle_id: &str,
        now: u64,
    ) -> Result<Routed, (Reason, Option<u64>)> {
        let Ok(key) = <&Token>::try_from(token.as_bytes()) else {
            return Err((Reason::BadDeviceToken, None));
        };
        let t = self.read();
        let (entry, dead_at) = match Self::find_live(&t, env, key) {
            Some(app) => (app, 0),
            None => match t.dead_tokens.get(key) {
                Some(d) if t.apps[d.app as usize].env == env => (d.app, d.dead_at),
                _ => return Err((Reason::BadDeviceToken, None)),
            },
        };
        let not_for_topic = (Reason::DeviceTokenNotForTopic, None);
        let bundle = t.names.get(bundle_id).ok_or(not_for_topic)?;
        let app = match self.scope {
            TokenScope::PerApp if t.apps[entry as usize].bundle == bundle => entry,
            TokenScope::PerApp => return Err(not_for_topic),
            TokenScope::PerDevice => {
                Self::find_app(&t, t.apps[entry as usize].device, bundle, env).ok_or(not_for_topic)?
            }
        };
        if dead_at != 0 {
            return Err((Reason::Unregistered, Some(dead_at)));
        }
        let a = &t.apps[app as usize];
        if a.learned_at != 0 {
            return Err((Reason::Unregistered, Some(a.learned_at)));
        }
        let device = a.device;
        let online = t.devices[device as usize].online;
        if a.uninstalled_at == 0 || a.pending {
            return Ok(Routed { device, app, learned: false, online });
        }
        // Uninstalled, and APNs does not know yet: accept, and let the delivery attempt
        // find the app gone — now if the device is online, when it returns otherwise.
        drop(t);
        let mut t = self.write();
        let online = t.devices[device as usize].online;
        let a = &mut t.apps[app as usize];
        if a.uninstalled_at != 0 && a.learned_at == 0 {
            if online {
                a.learned_at = now.max(1);
            } else {
                a.pending = true;
            }
        }
        Ok(Routed { device, app, learned: true, online })
    }

    /// A phone answered a delivery with "no such app": APNs learns the app is gone now
    /// (whether or not the uninstall went through the admin API). Returns the app slot if
    /// this changed anything.
    pub(crate) fn device_reports_app_gone(
        &self,
        device: u32,
        bundle_id: &str,
        env: Environment,
        now: u64,
    ) -> Option<u32> {
        let mut t = self.write();
        let bundle = t.names.get(bundle_id)?;
        let app = Self::find_app(&t, device, bundle, env)?;
        let a = &mut t.apps[app as usize];
        if a.learned_at != 0 {
            return None;
        }
        if a.uninstalled_at == 0 {
            a.uninstalled_at = now.max(1);
        }
        (a.learned_at, a.pending) = (now.max(1), false);
        Some(app)
    }

    /// A routed app's device, bundle ID, environment, token and when APNs learned it
    /// was uninstalled (0: not yet).
    pub(crate) fn app_summary(&self, app: u32) -> (String, String, Environment, DeviceToken, u64) {
        let t = self.read();
        let a = &t.apps[app as usize];
        let token = DeviceToken::from_bytes(&Self::app_token(&t, app)).expect("32 bytes is a valid token length");
        (t.devices[a.device as usize].udid.to_string(), t.names.name(a.bundle).to_owned(), a.env, token, a.learned_at)
    }

    /// A device's slot number, or `None`.
    pub(crate) fn device_slot(&self, udid: &str) -> Option<u32> {
        let t = self.read();
        self.find_device(&t, udid)
    }

    /// One device, or `None`.
    pub fn device(&self, udid: &str) -> Option<DeviceRecord> {
        let t = self.read();
        self.find_device(&t, udid).map(|d| self.device_record(&t, d))
    }

    /// Up to `limit` devices, sorted by UDID, after `after` (exclusive) if given.
    pub fn devices(&self, after: Option<&str>, limit: usize) -> Vec<DeviceRecord> {
        let t = self.read();
        let mut ids: Vec<u32> =
            (0..t.devices.len() as u32).filter(|&d| after.is_none_or(|a| &*t.devices[d as usize].udid > a)).collect();
        ids.sort_by(|a, b| t.devices[*a as usize].udid.cmp(&t.devices[*b as usize].udid));
        ids.into_iter().take(limit).map(|d| self.device_record(&t, d)).collect()
    }

    /// How many devices and tokens (live and dead) are registered.
    pub fn counts(&self) -> (usize, usize) {
        let t = self.read();
        (t.devices.len(), t.live.len() + t.dead_tokens.len())
    }

    /// Forgets every device, app and token.
    pub fn clear(&self) {
        *self.write() = Tables::default();
    }

    /// A device's state for the database.
    pub(crate) fn stored_device(&self, udid: &str) -> Option<StoredDevice> {
        let t = self.read();
        let device = self.find_device(&t, udid)?;
        let d = &t.devices[device as usize];
        let name = |id: u32| t.names.name(id).to_owned();
        Some(StoredDevice {
            udid: d.udid.to_string(),
            generation: d.generation,
            online: d.online,
            backup: d.backup.as_ref().map(|b| b.iter().map(|x| (name(x.bundle), name(x.team), x.env)).collect()),
            apps: Self::apps_of(&t, device)
                .into_iter()
                .map(|app| {
                    let a = &t.apps[app as usize];
                    StoredApp {
                        bundle_id: name(a.bundle),
                        team_id: name(a.team),
                        environment: a.env,
                        install_gen: a.install_gen,
                        version: a.version,
                        uninstalled_at: a.uninstalled_at,
                        learned_at: a.learned_at,
                        pending: a.pending,
                        indexed: a.indexed,
                        token: a.token,
                    }
                })
                .collect(),
        })
    }

    /// The device's dead tokens, for the database (its live ones are on its apps).
    pub(crate) fn stored_tokens(&self, udid: &str) -> Vec<StoredToken> {
        let t = self.read();
        let Some(device) = self.find_device(&t, udid) else { return Vec::new() };
        let mut out = Vec::new();
        for token in t.dead_by_device.get(&device).into_iter().flatten() {
            let Some(d) = t.dead_tokens.get(token) else { continue };
            let a = &t.apps[d.app as usize];
            out.push(StoredToken {
                environment: a.env,
                token: *token,
                udid: udid.to_owned(),
                bundle_id: Some(t.names.name(a.bundle).to_owned()),
                dead_at: d.dead_at,
            });
        }
        out
    }

    /// Rebuilds a device and its apps from the database; its tokens come back with
    /// [`Registry::load_token`], as stored (nothing is derived again at start-up).
    pub(crate) fn load_device(&self, d: StoredDevice) {
        let mut t = self.write();
        let t = &mut *t;
        let device = self.add_device_slot(t, &d.udid);
        t.devices[device as usize].generation = d.generation;
        t.devices[device as usize].online = d.online;
        t.devices[device as usize].backup = d.backup.map(|b| {
            b.iter()
                .map(|(bundle, team, env)| BackupApp { bundle: t.names.id(bundle), team: t.names.id(team), env: *env })
                .collect()
        });
        for s in d.apps {
            let bundle = t.names.id(&s.bundle_id);
            let team = t.names.id(&s.team_id);
            t.owners.insert(bundle, team);
            let app = Self::add_app_slot(
                t,
                App {
                    device,
                    next: NONE,
                    bundle,
                    team,
                    env: s.environment,
                    install_gen: s.install_gen,
                    version: s.version,
                    uninstalled_at: s.uninstalled_at,
                    learned_at: s.learned_at,
                    pending: s.pending,
                    indexed: s.indexed,
                    token: s.token,
                },
            );
            if s.indexed && Self::find_live(t, s.environment, &s.token).is_none() {
                let apps = &t.apps;
                t.live.insert_unique(token_hash(&s.token), app, |&x| token_hash(&apps[x as usize].token));
            }
        }
    }

    /// Puts a dead token back (after its device was loaded).
    pub(crate) fn load_token(&self, s: StoredToken) {
        let mut t = self.write();
        let t = &mut *t;
        let Some(device) = self.find_device(t, &s.udid) else { return };
        let Some(bundle) = s.bundle_id.as_deref().and_then(|b| t.names.get(b)) else { return };
        let Some(app) = Self::find_app(t, device, bundle, s.environment) else { return };
        if t.dead_tokens.insert(s.token, Dead { app, dead_at: s.dead_at.max(1) }).is_none() {
            t.dead_by_device.entry(device).or_default().push(s.token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Environment::{Production, Sandbox};

    const CHAT: &str = "com.example.chat";
    const NEWS: &str = "com.example.news";

    fn install(r: &Registry, udid: &str, bundle: &str) -> DeviceToken {
        r.register_app(udid, bundle, Sandbox, "TEAM", 1).expect("installs").0.token
    }

    fn route(r: &Registry, token: &DeviceToken, bundle: &str, now: u64) -> Result<(), (Reason, Option<u64>)> {
        r.route(Sandbox, token, bundle, now).map(|_| ())
    }

    #[test]
    fn tokens_are_derived_deterministically_and_per_input() {
        let r = Registry::new(b"secret", TokenScope::PerApp);
        let a = r.derive_token(Sandbox, "UDID-1", Some(CHAT), 0, 0);
        assert_eq!(
            a,
            Registry::new(b"secret", TokenScope::PerDevice).derive_token(Sandbox, "UDID-1", Some(CHAT), 0, 0)
        );
        for other in [
            r.derive_token(Production, "UDID-1", Some(CHAT), 0, 0),
            r.derive_token(Sandbox, "UDID-2", Some(CHAT), 0, 0),
            r.derive_token(Sandbox, "UDID-1", Some(NEWS), 0, 0),
            r.derive_token(Sandbox, "UDID-1", None, 0, 0),
            r.derive_token(Sandbox, "UDID-1", Some(CHAT), 1, 0),
            r.derive_token(Sandbox, "UDID-1", Some(CHAT), 0, 1),
            Registry::new(b"other", TokenScope::PerApp).derive_token(Sandbox, "UDID-1", Some(CHAT), 0, 0),
            // Length prefixes keep field boundaries apart.
            r.derive_token(Sandbox, "UDID-1com.example", Some(".chat"), 0, 0),
        ] {
            assert_ne!(a, other);
        }
    }

    /// The design's lifecycle table, row by row, for both policies.
    #[test]
    fn the_lifecycle_table_per_app_and_per_device() {
        for scope in [TokenScope::PerApp, TokenScope::PerDevice] {
            let per_device = scope == TokenScope::PerDevice;
            let r = Registry::new(b"secret", scope);
            let chat = install(&r, "U1", CHAT);
            let news = install(&r, "U1", NEWS);
            // Two apps on one device.
            assert_eq!(chat == news, per_device, "{scope:?}: two apps");
            // App update: unchanged.
            r.update("U1", CHAT).expect("update");
            assert_eq!(r.device("U1").expect("device").apps[0].token, chat, "{scope:?}: update");
            // Restore onto the same device: unchanged.
            r.backup("U1").expect("backup");
            r.restore("U1", None, 5).expect("restore");
            let d = r.device("U1").expect("device");
            assert_eq!((&d.apps[0].token, &d.apps[1].token), (&chat, &news), "{scope:?}: restore same");
            // Restore onto a new device: new tokens; the old device keeps its own.
            r.restore("U1", Some("U2"), 6).expect("restore elsewhere");
            let moved = r.device("U2").expect("new device");
            assert_ne!(moved.apps[0].token, chat, "{scope:?}: restore new");
            assert_eq!(route(&r, &chat, CHAT, 7), Ok(()), "{scope:?}: the old device's token still works");
            assert_eq!(route(&r, &moved.apps[0].token, CHAT, 7), Ok(()));
            // Uninstall: accepted once (APNs learns on the failed delivery), then 410.
            r.uninstall("U1", CHAT, 10).expect("uninstall");
            assert_eq!(route(&r, &chat, CHAT, 11), Ok(()), "{scope:?}: first push after uninstall");
            assert_eq!(route(&r, &chat, CHAT, 12), Err((Reason::Unregistered, Some(11))), "{scope:?}");
            if per_device {
                assert_eq!(route(&r, &news, NEWS, 12), Ok(()), "the other app keeps the shared token");
            }
            // Reinstall: per-app a new token (the old one stays 410); per-device the same.
            r.reinstall("U1", CHAT, 20).expect("reinstall");
            let again = r.device("U1").expect("device").apps[0].token.clone();
            assert_eq!(again == chat, per_device, "{scope:?}: reinstall");
            assert_eq!(route(&r, &again, CHAT, 21), Ok(()));
            if !per_device {
                assert_eq!(route(&r, &chat, CHAT, 21), Err((Reason::Unregistered, Some(11))));
            }
            // Erase: every token of the device changes; the old ones answer 410 with the
            // erase time.
            r.erase("U1", 30).expect("erase");
            let d = r.device("U1").expect("device");
            assert_eq!(d.generation, 1);
            for (app, old) in d.apps.iter().zip([&again, &news]) {
                assert_ne!(&app.token, old, "{scope:?}: erase");
                assert_eq!(route(&r, old, &app.bundle_id, 31), Err((Reason::Unregistered, Some(30))));
                assert_eq!(route(&r, &app.token, &app.bundle_id, 31), Ok(()));
            }
            // The restored device was not touched by the erase.
            assert_eq!(route(&r, &moved.apps[0].token, CHAT, 32), Ok(()));
        }
    }

    #[test]
    fn offline_devices_report_uninstalls_when_they_return() {
        let r = Registry::new(b"secret", TokenScope::PerApp);
        let chat = install(&r, "U1", CHAT);
        r.set_online("U1", false, 1).expect("offline");
        r.uninstall("U1", CHAT, 2).expect("uninstall");
        assert_eq!(route(&r, &chat, CHAT, 3), Ok(()));
        assert_eq!(route(&r, &chat, CHAT, 4), Ok(()), "APNs still does not know");
        r.set_online("U1", true, 50).expect("online");
        assert_eq!(route(&r, &chat, CHAT, 51), Err((Reason::Unregistered, Some(50))));
    }

    #[test]
    fn routing_answers_like_apns() {
        let r = Registry::new(b"secret", TokenScope::PerApp);
        let (chat, _) = r.register_app("U1", CHAT, Sandbox, "TEAM", 1).expect("register");
        assert_eq!(r.register_app("U1", CHAT, Sandbox, "TEAM", 2).expect("again").0, chat);
        assert_eq!(r.route(Production, &chat.token, CHAT, 3).map(|_| ()), Err((Reason::BadDeviceToken, None)));
        assert_eq!(route(&r, &chat.token, NEWS, 3), Err((Reason::DeviceTokenNotForTopic, None)));
        let unknown = DeviceToken::parse_hex(&"ab".repeat(32)).expect("hex");
        assert_eq!(route(&r, &unknown, CHAT, 3), Err((Reason::BadDeviceToken, None)));
        let short = DeviceToken::parse_hex("abcd").expect("hex");
        assert_eq!(route(&r, &short, CHAT, 3), Err((Reason::BadDeviceToken, None)));
        assert!(matches!(r.register_app("U2", CHAT, Sandbox, "OTHER", 1), Err(Error::Conflict(_))));
        assert!(r.owned_by_other_team(CHAT, "OTHER"));
        assert!(!r.owned_by_other_team(CHAT, "TEAM"));
        assert!(!r.owned_by_other_team("com.example.unknown", "TEAM"));
    }

    #[test]
    fn bad_lifecycle_calls_are_errors_not_changes() {
        let r = Registry::new(b"secret", TokenScope::PerApp);
        install(&r, "U1", CHAT);
        assert!(matches!(r.erase("NOPE", 1), Err(Error::NotFound(_))));
        assert!(matches!(r.uninstall("U1", NEWS, 1), Err(Error::NotFound(_))));
        r.uninstall("U1", CHAT, 1).expect("uninstall");
        assert!(matches!(r.uninstall("U1", CHAT, 2), Err(Error::Conflict(_))), "double uninstall");
        assert!(matches!(r.update("U1", CHAT), Err(Error::Conflict(_))));
        assert!(matches!(r.restore("U1", None, 3), Err(Error::Conflict(_))), "no backup");
        assert!(matches!(r.set_online("NOPE", true, 1), Err(Error::NotFound(_))));
    }

    #[test]
    fn state_round_trips_through_its_stored_form() {
        for scope in [TokenScope::PerApp, TokenScope::PerDevice] {
            let r = Registry::new(b"secret", scope);
            let chat = install(&r, "U1", CHAT);
            install(&r, "U1", NEWS);
            r.backup("U1").expect("backup");
            r.uninstall("U1", CHAT, 5).expect("uninstall");
            route(&r, &chat, CHAT, 6).expect("accepted once");
            r.erase("U1", 9).expect("erase");
            let loaded = Registry::new(b"secret", scope);
            loaded.load_device(r.stored_device("U1").expect("stored"));
            for token in r.stored_tokens("U1") {
                loaded.load_token(token);
            }
            assert_eq!(loaded.device("U1"), r.device("U1"), "{scope:?}");
            assert_eq!(route(&loaded, &chat, CHAT, 10), route(&r, &chat, CHAT, 10), "{scope:?}");
            assert_eq!(loaded.counts(), r.counts());
        }
    }
}
