//! The registry as the state database stores it, and read back at start-up.

use super::*;

impl Registry {
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
