//! Step 2 of the flow: a device sends its UDID and an app's bundle ID, and APNs derives
//! the device token it will accept for that app. The registry also answers the other
//! way round for every push: which device and app does this token address?
//!
//! Tokens are *derived*, not random: `HMAC-SHA256(secret, "apns-lab/token/v1" ‖
//! environment ‖ UDID ‖ bundle ID ‖ generation)`, so the same device, app, environment
//! and generation always give the same 32-byte token, and a restart with the same
//! secret keeps every token valid. A token is bound to its environment: the sandbox
//! registry never answers for a production token, which is APNs's `BadDeviceToken`.

use std::collections::BTreeMap;
use std::sync::Arc;

use dashmap::DashMap;
use protocol::{DeviceToken, Environment, Reason};
use ring::hmac;

use crate::Error;

/// One app installed on a virtual device, as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRecord {
    /// The app's bundle ID.
    pub bundle_id: String,
    /// The `aps-environment` the app was built with.
    pub environment: Environment,
    /// The team that owns the app (its topics belong to that team's keys).
    pub team_id: String,
    /// Bumped when the token must change (erase, reinstall); 0 at first.
    pub generation: u32,
    /// The token derived for this app.
    pub token: DeviceToken,
    /// When APNs learned the token is no longer valid (ms since the epoch); a push to
    /// it gets 410 Unregistered with this timestamp.
    pub unregistered_at: Option<u64>,
}

/// Whom a token addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// The device.
    pub udid: Arc<str>,
    /// The app on it.
    pub bundle_id: Arc<str>,
    /// When the token stopped being valid, if it has.
    pub unregistered_at: Option<u64>,
}

/// UDID + bundle ID → token, and back.
pub struct Registry {
    /// The server secret tokens are derived with.
    key: hmac::Key,
    /// Devices by UDID, each with its apps by (bundle ID, environment).
    devices: DashMap<String, BTreeMap<(String, Environment), AppRecord>>,
    /// Token → owner, one map per environment.
    sandbox: DashMap<DeviceToken, TokenOwner>,
    production: DashMap<DeviceToken, TokenOwner>,
    /// Bundle ID → owning team.
    owners: DashMap<String, String>,
}

impl Registry {
    /// A registry deriving tokens with `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Registry {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            devices: DashMap::new(),
            sandbox: DashMap::new(),
            production: DashMap::new(),
            owners: DashMap::new(),
        }
    }

    fn tokens(&self, env: Environment) -> &DashMap<DeviceToken, TokenOwner> {
        match env {
            Environment::Sandbox => &self.sandbox,
            Environment::Production => &self.production,
        }
    }

    /// The token for (environment, UDID, bundle ID, generation). Fields are
    /// length-prefixed so no two inputs share a MAC input.
    pub fn derive_token(
        &self,
        env: Environment,
        udid: &str,
        bundle_id: &str,
        generation: u32,
    ) -> DeviceToken {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"apns-lab/token/v1");
        for field in [
            env.as_str().as_bytes(),
            udid.as_bytes(),
            bundle_id.as_bytes(),
        ] {
            ctx.update(&(field.len() as u32).to_be_bytes());
            ctx.update(field);
        }
        ctx.update(&generation.to_be_bytes());
        DeviceToken::from_bytes(ctx.sign().as_ref())
            .expect("an HMAC-SHA256 tag is 32 bytes, a valid token length")
    }

    /// Registers `bundle_id` on device `udid` (creating the device) and returns its
    /// record. Registering the same app again returns the same token.
    pub fn register_app(
        &self,
        udid: &str,
        bundle_id: &str,
        environment: Environment,
        team_id: &str,
    ) -> Result<AppRecord, Error> {
        if let Some(owner) = self.owners.get(bundle_id)
            && *owner != team_id
        {
            return Err(Error::Conflict(format!(
                "{bundle_id} belongs to team {}, not {team_id}",
                *owner
            )));
        }
        self.owners.insert(bundle_id.to_owned(), team_id.to_owned());
        let mut device = self.devices.entry(udid.to_owned()).or_default();
        let key = (bundle_id.to_owned(), environment);
        if let Some(existing) = device.get(&key) {
            return Ok(existing.clone());
        }
        let record = AppRecord {
            bundle_id: bundle_id.to_owned(),
            environment,
            team_id: team_id.to_owned(),
            generation: 0,
            token: self.derive_token(environment, udid, bundle_id, 0),
            unregistered_at: None,
        };
        self.insert_record(udid, &record);
        device.insert(key, record.clone());
        Ok(record)
    }

    /// Puts a stored record back (used when loading the state database).
    pub(crate) fn restore(&self, udid: &str, record: AppRecord) {
        self.owners
            .insert(record.bundle_id.clone(), record.team_id.clone());
        self.insert_record(udid, &record);
        self.devices
            .entry(udid.to_owned())
            .or_default()
            .insert((record.bundle_id.clone(), record.environment), record);
    }

    /// Adds a device with no apps yet.
    pub fn add_device(&self, udid: &str) {
        self.devices.entry(udid.to_owned()).or_default();
    }

    fn insert_record(&self, udid: &str, record: &AppRecord) {
        self.tokens(record.environment).insert(
            record.token.clone(),
            TokenOwner {
                udid: udid.into(),
                bundle_id: record.bundle_id.as_str().into(),
                unregistered_at: record.unregistered_at,
            },
        );
    }

    /// The apps of a device, or `None` if there is no such device.
    pub fn device(&self, udid: &str) -> Option<Vec<AppRecord>> {
        self.devices
            .get(udid)
            .map(|apps| apps.values().cloned().collect())
    }

    /// Every device with its apps, sorted by UDID.
    pub fn devices(&self) -> Vec<(String, Vec<AppRecord>)> {
        let mut all: Vec<_> = self
            .devices
            .iter()
            .map(|d| (d.key().clone(), d.value().values().cloned().collect()))
            .collect();
        all.sort_by(|a: &(String, Vec<AppRecord>), b| a.0.cmp(&b.0));
        all
    }

    /// Whether `bundle_id` is registered to a team other than `team_id`.
    pub fn owned_by_other_team(&self, bundle_id: &str, team_id: &str) -> bool {
        self.owners
            .get(bundle_id)
            .is_some_and(|owner| *owner != team_id)
    }

    /// Finds the app a push addresses: the token must exist in `env` (else
    /// BadDeviceToken), belong to `bundle_id` (else DeviceTokenNotForTopic) and still be
    /// valid (else 410 Unregistered with its timestamp).
    pub fn route(
        &self,
        env: Environment,
        token: &DeviceToken,
        bundle_id: &str,
    ) -> Result<TokenOwner, (Reason, Option<u64>)> {
        let owner = self
            .tokens(env)
            .get(token)
            .ok_or((Reason::BadDeviceToken, None))?;
        if *owner.bundle_id != *bundle_id {
            return Err((Reason::DeviceTokenNotForTopic, None));
        }
        if let Some(ts) = owner.unregistered_at {
            return Err((Reason::Unregistered, Some(ts)));
        }
        Ok(owner.clone())
    }

    /// Forgets every device, app and token.
    pub fn clear(&self) {
        self.devices.clear();
        self.sandbox.clear();
        self.production.clear();
        self.owners.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_derived_deterministically_and_per_input() {
        let r = Registry::new(b"secret");
        let a = r.derive_token(Environment::Sandbox, "UDID-1", "com.example.chat", 0);
        assert_eq!(
            a,
            Registry::new(b"secret").derive_token(
                Environment::Sandbox,
                "UDID-1",
                "com.example.chat",
                0
            )
        );
        assert_eq!(a.as_bytes().len(), 32);
        for other in [
            r.derive_token(Environment::Production, "UDID-1", "com.example.chat", 0),
            r.derive_token(Environment::Sandbox, "UDID-2", "com.example.chat", 0),
            r.derive_token(Environment::Sandbox, "UDID-1", "com.example.news", 0),
            r.derive_token(Environment::Sandbox, "UDID-1", "com.example.chat", 1),
            Registry::new(b"other").derive_token(
                Environment::Sandbox,
                "UDID-1",
                "com.example.chat",
                0,
            ),
            // Length prefixes keep field boundaries apart.
            r.derive_token(Environment::Sandbox, "UDID-1com.example", ".chat", 0),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn routing_answers_like_apns() {
        let r = Registry::new(b"secret");
        let chat = r
            .register_app("U1", "com.example.chat", Environment::Sandbox, "TEAM")
            .expect("register");
        assert_eq!(
            r.register_app("U1", "com.example.chat", Environment::Sandbox, "TEAM")
                .expect("again"),
            chat
        );
        let ok = r
            .route(Environment::Sandbox, &chat.token, "com.example.chat")
            .expect("routes");
        assert_eq!((&*ok.udid, &*ok.bundle_id), ("U1", "com.example.chat"));
        assert_eq!(
            r.route(Environment::Production, &chat.token, "com.example.chat"),
            Err((Reason::BadDeviceToken, None))
        );
        assert_eq!(
            r.route(Environment::Sandbox, &chat.token, "com.example.news"),
            Err((Reason::DeviceTokenNotForTopic, None))
        );
        let unknown = DeviceToken::parse_hex(&"ab".repeat(32)).expect("hex");
        assert_eq!(
            r.route(Environment::Sandbox, &unknown, "com.example.chat"),
            Err((Reason::BadDeviceToken, None))
        );
        assert!(matches!(
            r.register_app("U2", "com.example.chat", Environment::Sandbox, "OTHER"),
            Err(Error::Conflict(_))
        ));
        assert!(r.owned_by_other_team("com.example.chat", "OTHER"));
        assert!(!r.owned_by_other_team("com.example.chat", "TEAM"));
        assert!(!r.owned_by_other_team("com.example.unknown", "TEAM"));
    }
}
