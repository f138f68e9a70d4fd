//! Token → device and app for every push (and the 410 rule), and the registry read back:
//! devices, records, counts.

use protocol::Reason;

use super::*;

impl Registry {
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
            // A Live Activity token is issued for the `.push-type.liveactivity` topic.
            return Err(match self.is_activity_token(env, token.as_bytes()) {
                true => (Reason::DeviceTokenNotForTopic, None),
                false => (Reason::BadDeviceToken, None),
            });
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
            return Ok(Routed { device, app, learned: false, online, activity: None });
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
        Ok(Routed { device, app, learned: true, online, activity: None })
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

    /// A device's slot number and whether it is online (not set offline), or `None`.
    pub(crate) fn device_slot_online(&self, udid: &str) -> Option<(u32, bool)> {
        let t = self.read();
        self.find_device(&t, udid).map(|d| (d, t.devices[d as usize].online))
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
}
