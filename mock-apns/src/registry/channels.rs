//! Broadcast channels (iOS 18): per app and environment, created by a provider through
//! the channel management API, subscribed to by Live Activities, and the target of one
//! broadcast that reaches every subscriber.
//!
//! Ids are 16 random bytes in standard base64 (24 characters, as APNs hands them out),
//! never issued twice — a deleted channel's id stays known, as deleted. At most
//! [`MAX_CHANNELS`] live channels per app per environment. The storage policy is fixed
//! at creation: 0 keeps nothing for phones that are away, 1 keeps the latest message for
//! at most 8 hours.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use base64::Engine as _;
use protocol::Environment;

use crate::state::rows::StoredChannel;

/// Live channels an app may have in one environment.
pub const MAX_CHANNELS: usize = 10_000;
/// How long a policy-1 channel keeps its latest message, in seconds.
pub const MAX_CHANNEL_STORAGE_SECS: u64 = 8 * 3600;

/// One channel, live or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// The id (standard base64).
    pub id: String,
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// 0: no messages stored; 1: the most recent message stored.
    pub storage_policy: u8,
    /// When it was created (ms).
    pub created_at: u64,
    /// When it was deleted (ms), if it was.
    pub deleted_at: Option<u64>,
}

/// Why a channel call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelError {
    /// Not valid base64, or too long.
    BadId,
    /// No such channel here (never created, in another app or environment, or deleted).
    NotRegistered,
    /// The app has [`MAX_CHANNELS`] live channels in this environment.
    TooMany,
}

#[derive(Default)]
struct Tables {
    /// Apps whose broadcast capability was switched off (on by default).
    disabled: std::collections::HashSet<String>,
    channels: Vec<Channel>,
    by_id: HashMap<String, usize>,
    live_per_app: HashMap<(Environment, String), usize>,
}

/// Every channel this APNs ever issued.
#[derive(Default)]
pub struct Channels {
    tables: RwLock<Tables>,
}

/// Whether `id` can be a channel id at all: standard base64, at most 64 characters.
pub fn well_formed(id: &str) -> bool {
    id.len() <= 64 && !id.is_empty() && base64::engine::general_purpose::STANDARD.decode(id).is_ok()
}

impl Channels {
    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a channel with a fresh id.
    pub fn create(
        &self,
        env: Environment,
        bundle_id: &str,
        storage_policy: u8,
        now: u64,
        random: impl Fn() -> Vec<u8>,
    ) -> Result<Channel, ChannelError> {
        let mut t = self.write();
        let live = t.live_per_app.entry((env, bundle_id.to_owned())).or_default();
        if *live >= MAX_CHANNELS {
            return Err(ChannelError::TooMany);
        }
        *live += 1;
        let id = loop {
            let id = base64::engine::general_purpose::STANDARD.encode(random());
            if !t.by_id.contains_key(&id) {
                break id;
            }
        };
        let channel = Channel {
            id: id.clone(),
            bundle_id: bundle_id.to_owned(),
            environment: env,
            storage_policy,
            created_at: now,
            deleted_at: None,
        };
        let at = t.channels.len();
        t.by_id.insert(id, at);
        t.channels.push(channel.clone());
        Ok(channel)
    }

    /// A live channel of this app in this environment.
    pub fn get(&self, env: Environment, bundle_id: &str, id: &str) -> Result<Channel, ChannelError> {
        if !well_formed(id) {
            return Err(ChannelError::BadId);
        }
        let t = self.read();
        match t.by_id.get(id).map(|&i| &t.channels[i]) {
            Some(c) if c.environment == env && c.bundle_id == bundle_id && c.deleted_at.is_none() => Ok(c.clone()),
            _ => Err(ChannelError::NotRegistered),
        }
    }

    /// Deletes a live channel; its id is never issued again.
    pub fn delete(&self, env: Environment, bundle_id: &str, id: &str, now: u64) -> Result<Channel, ChannelError> {
        self.get(env, bundle_id, id)?;
        let mut t = self.write();
        let i = *t.by_id.get(id).ok_or(ChannelError::NotRegistered)?;
        t.channels[i].deleted_at = Some(now.max(1));
        let channel = t.channels[i].clone();
        if let Some(live) = t.live_per_app.get_mut(&(env, bundle_id.to_owned())) {
            *live = live.saturating_sub(1);
        }
        Ok(channel)
    }

    /// The live channels of an app in an environment, oldest first.
    pub fn list(&self, env: Environment, bundle_id: &str) -> Vec<Channel> {
        let t = self.read();
        t.channels
            .iter()
            .filter(|c| c.environment == env && c.bundle_id == bundle_id && c.deleted_at.is_none())
            .cloned()
            .collect()
    }

    /// Every live channel, oldest first.
    pub fn all_live(&self) -> Vec<Channel> {
        self.read().channels.iter().filter(|c| c.deleted_at.is_none()).cloned().collect()
    }

    /// Any channel ever issued with this id (deleted ones too).
    pub fn find(&self, id: &str) -> Option<Channel> {
        let t = self.read();
        t.by_id.get(id).map(|&i| t.channels[i].clone())
    }

    /// Every channel, as the state database stores them.
    pub(crate) fn stored(&self, id: &str) -> Option<StoredChannel> {
        self.find(id).map(|c| StoredChannel {
            id: c.id,
            bundle_id: c.bundle_id,
            environment: c.environment,
            storage_policy: c.storage_policy,
            created_at: c.created_at,
            deleted_at: c.deleted_at.unwrap_or(0),
        })
    }

    /// Reads back one stored channel.
    pub(crate) fn load(&self, s: StoredChannel) {
        let mut t = self.write();
        if s.deleted_at == 0 {
            *t.live_per_app.entry((s.environment, s.bundle_id.clone())).or_default() += 1;
        }
        let i = t.channels.len();
        t.by_id.insert(s.id.clone(), i);
        t.channels.push(Channel {
            id: s.id,
            bundle_id: s.bundle_id,
            environment: s.environment,
            storage_policy: s.storage_policy,
            created_at: s.created_at,
            deleted_at: (s.deleted_at != 0).then_some(s.deleted_at),
        });
    }

    /// Whether the app's broadcast capability is on (it is unless switched off).
    pub fn enabled(&self, bundle_id: &str) -> bool {
        !self.read().disabled.contains(bundle_id)
    }

    /// Switches an app's broadcast capability. Switching it off deletes every channel of
    /// the app, in both environments, as Apple's does; answers the ids deleted.
    pub fn set_enabled(&self, bundle_id: &str, on: bool, now: u64) -> Vec<String> {
        let mut t = self.write();
        if on {
            t.disabled.remove(bundle_id);
            return Vec::new();
        }
        t.disabled.insert(bundle_id.to_owned());
        let mut gone = Vec::new();
        for c in t.channels.iter_mut().filter(|c| c.bundle_id == bundle_id && c.deleted_at.is_none()) {
            c.deleted_at = Some(now.max(1));
            gone.push(c.id.clone());
        }
        t.live_per_app.retain(|(_, b), _| b != bundle_id);
        gone
    }

    /// Forgets every channel.
    pub fn clear(&self) {
        *self.write() = Tables::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Environment::{Production, Sandbox};

    fn counter() -> impl Fn() -> Vec<u8> {
        let n = std::sync::atomic::AtomicU8::new(0);
        move || vec![n.fetch_add(1, std::sync::atomic::Ordering::Relaxed); 16]
    }

    #[test]
    fn ids_are_base64_per_app_and_environment_and_never_reused() {
        let c = Channels::default();
        let next = counter();
        let a = c.create(Sandbox, "com.example.score", 1, 10, &next).expect("created");
        assert_eq!(a.id.len(), 24);
        assert!(well_formed(&a.id));
        assert_eq!(c.get(Sandbox, "com.example.score", &a.id).expect("there").storage_policy, 1);
        assert_eq!(c.get(Production, "com.example.score", &a.id), Err(ChannelError::NotRegistered));
        assert_eq!(c.get(Sandbox, "com.example.other", &a.id), Err(ChannelError::NotRegistered));
        assert_eq!(c.get(Sandbox, "com.example.score", "not base64!"), Err(ChannelError::BadId));
        c.delete(Sandbox, "com.example.score", &a.id, 20).expect("deleted");
        assert_eq!(c.get(Sandbox, "com.example.score", &a.id), Err(ChannelError::NotRegistered));
        assert_eq!(c.delete(Sandbox, "com.example.score", &a.id, 21), Err(ChannelError::NotRegistered));
        // Random bytes that give a taken id (a deleted one's too) are drawn again.
        let calls = std::sync::atomic::AtomicU8::new(0);
        let collide_once = || match calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
            0 => vec![0u8; 16], // a's bytes
            _ => vec![9u8; 16],
        };
        let b = c.create(Sandbox, "com.example.score", 0, 30, collide_once).expect("created");
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 2, "drawn twice");
        assert_ne!(b.id, a.id);
        assert_eq!(c.list(Sandbox, "com.example.score").iter().map(|c| c.id.clone()).collect::<Vec<_>>(), [b.id]);
    }

    #[test]
    fn at_most_ten_thousand_live_channels_per_app_and_environment() {
        let c = Channels::default();
        let n = std::sync::atomic::AtomicU32::new(0);
        let random = || {
            let mut v = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_le_bytes().to_vec();
            v.resize(16, 7);
            v
        };
        let mut last = None;
        for _ in 0..MAX_CHANNELS {
            last = Some(c.create(Sandbox, "com.example.many", 0, 1, random).expect("under the limit"));
        }
        assert_eq!(c.create(Sandbox, "com.example.many", 0, 1, random), Err(ChannelError::TooMany));
        c.create(Production, "com.example.many", 0, 1, random).expect("another environment has its own");
        c.delete(Sandbox, "com.example.many", &last.expect("one").id, 2).expect("deleted");
        c.create(Sandbox, "com.example.many", 0, 1, random).expect("room again");
    }
}
