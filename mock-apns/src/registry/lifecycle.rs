//! The lifecycle rules that change tokens: uninstall, reinstall, update, erase, backup,
//! restore, offline and online (the table at the top of the registry).

use super::*;

impl Registry {
    /// Reinstalls one app slot: per-app, the old token dies (at the time APNs learned of
    /// the uninstall, or now) and a new one is issued; per-device, the same token lives on.
    pub(super) fn reinstall_slot(&self, t: &mut Tables, app: u32, now: u64) -> TokenChange {
        let old = Self::app_token(t, app);
        let (env, device) = (t.apps[app as usize].env, t.apps[app as usize].device);
        let a = &mut t.apps[app as usize];
        let died = if a.learned_at != 0 { a.learned_at } else { now };
        (a.uninstalled_at, a.learned_at, a.pending) = (0, 0, false);
        if self.scope == TokenScope::PerApp {
            a.install_gen += 1;
            Self::index_dead(t, device, env, &old, died);
        }
        Self::activities_of_app_end(t, app, died, self.scope == TokenScope::PerApp);
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
        let changes = self.change_installed(udid, bundle_id, "", |a| {
            (a.uninstalled_at, a.learned_at, a.pending) = (now.max(1), 0, false)
        })?;
        // The app's activities end with it (APNs learns as it learns of the uninstall).
        let mut t = self.write();
        let (_, slots) = self.bundle_slots(&t, udid, bundle_id)?;
        for app in slots {
            Self::activities_of_app_end(&mut t, app, now, false);
        }
        Ok(changes)
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
        Self::activities_die(t, device, now);
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
            // A new phone restored from the backup: off until a phone runs as it (its
            // gateway stream brings it online), so nothing is delivered to it unseen.
            Some(to) if self.find_device(t, to).is_none() => {
                let slot = self.add_device_slot(t, to);
                t.devices[slot as usize].online = false;
                slot
            }
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
            Self::activities_learn_pending(&mut t, device, now);
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
}
