//! Web Push subscriptions: a web app added to a phone's Home Screen subscribes with its
//! application server's key (`PushManager.subscribe({applicationServerKey})`), and the
//! push service issues an endpoint, `https://<web push listener>/<opaque id>`. The id is
//! 32 random bytes in base64url (43 characters), never issued twice; a subscription that
//! ended (the web app removed or unsubscribed) answers 410 from then on.
//!
//! The phone's side of the subscription — its P-256 key pair and auth secret — is made
//! by the phone (`devices` room); the registry keeps the public half, which is what the
//! push service knows. Both are kept in the state database, so a restart keeps them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine as _;

use crate::state::rows::StoredWebSubscription;

/// One subscription, live or ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSubscription {
    /// The opaque id, the endpoint's path.
    pub id: String,
    /// The phone.
    pub udid: String,
    /// The web app's origin (`https://host[:port]`).
    pub origin: String,
    /// Its name on the Home Screen.
    pub name: String,
    /// The application server's key it was made with (65 bytes, uncompressed P-256).
    pub application_server_key: Vec<u8>,
    /// The phone's public key for it (`keys.p256dh`, 65 bytes).
    pub p256dh: Vec<u8>,
    /// The auth secret (`keys.auth`, 16 bytes).
    pub auth: Vec<u8>,
    /// When it was made (ms).
    pub created_at: u64,
    /// When it ended (ms), if it did.
    pub ended_at: Option<u64>,
    /// What ended it.
    pub ended_by: Option<Ended>,
}

/// What ended a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The web app was removed from the Home Screen.
    Removed,
    /// Its notification permission was revoked (the web app stays).
    Revoked,
    /// The phone was erased (its keys are gone).
    Erased,
}

impl Ended {
    /// As the admin API and the state database name it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Ended::Removed => "removed",
            Ended::Revoked => "revoked",
            Ended::Erased => "erased",
        }
    }

    fn parse(s: &str) -> Option<Ended> {
        [Ended::Removed, Ended::Revoked, Ended::Erased].into_iter().find(|e| e.as_str() == s)
    }
}

impl WebSubscription {
    /// The row the state database keeps, with the phone's key (empty once ended).
    pub(crate) fn stored(&self, phone_key: Vec<u8>) -> StoredWebSubscription {
        StoredWebSubscription {
            id: self.id.clone(),
            udid: self.udid.clone(),
            origin: self.origin.clone(),
            name: self.name.clone(),
            application_server_key: self.application_server_key.clone(),
            p256dh: self.p256dh.clone(),
            auth: self.auth.clone(),
            phone_key,
            created_at: self.created_at,
            ended_at: self.ended_at.unwrap_or(0),
            ended_by: self.ended_by.map(|e| e.as_str().to_owned()),
        }
    }

    /// Read back from a stored row.
    pub(crate) fn from_stored(s: StoredWebSubscription) -> WebSubscription {
        WebSubscription {
            id: s.id,
            udid: s.udid,
            origin: s.origin,
            name: s.name,
            application_server_key: s.application_server_key,
            p256dh: s.p256dh,
            auth: s.auth,
            created_at: s.created_at,
            ended_at: (s.ended_at != 0).then_some(s.ended_at),
            ended_by: s.ended_by.as_deref().and_then(Ended::parse),
        }
    }
}

/// The subscriptions, by id.
#[derive(Default)]
pub(crate) struct WebSubscriptions {
    /// Shared, so that a push looks one up without copying its keys.
    by_id: RwLock<HashMap<String, Arc<WebSubscription>>>,
}

impl WebSubscriptions {
    /// A new subscription, with a fresh id.
    pub(crate) fn add(&self, mut s: WebSubscription) -> WebSubscription {
        let mut all = self.by_id.write().unwrap_or_else(|e| e.into_inner());
        loop {
            let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::random::bytes(32));
            if !all.contains_key(&id) {
                s.id = id;
                break;
            }
        }
        all.insert(s.id.clone(), Arc::new(s.clone()));
        s
    }

    /// One subscription, live or ended.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<WebSubscription>> {
        self.by_id.read().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    /// A phone's subscriptions, oldest first.
    pub(crate) fn of_device(&self, udid: &str) -> Vec<WebSubscription> {
        let all = self.by_id.read().unwrap_or_else(|e| e.into_inner());
        let mut mine: Vec<WebSubscription> = all.values().filter(|s| s.udid == udid).map(|s| (**s).clone()).collect();
        // Made in the same millisecond: by id, so the order is at least stable.
        mine.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        mine
    }

    /// Ends the live subscriptions of a phone's web app (`origin`), or all of the phone's
    /// (`None`: an erase). Answers those it ended.
    pub(crate) fn end(&self, udid: &str, origin: Option<&str>, now: u64, by: Ended) -> Vec<WebSubscription> {
        let mut all = self.by_id.write().unwrap_or_else(|e| e.into_inner());
        let mut ended = Vec::new();
        for s in all.values_mut() {
            if s.udid == udid && s.ended_at.is_none() && origin.is_none_or(|o| o == s.origin) {
                let s = Arc::make_mut(s);
                (s.ended_at, s.ended_by) = (Some(now.max(1)), Some(by));
                ended.push(s.clone());
            }
        }
        ended
    }

    /// How many subscriptions stand, and how many ended.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let all = self.by_id.read().unwrap_or_else(|e| e.into_inner());
        let ended = all.values().filter(|s| s.ended_at.is_some()).count();
        (all.len() - ended, ended)
    }

    /// One read back from the state database.
    pub(crate) fn load(&self, s: WebSubscription) {
        self.by_id.write().unwrap_or_else(|e| e.into_inner()).insert(s.id.clone(), Arc::new(s));
    }

    /// Forgets them all (a reset).
    pub(crate) fn clear(&self) {
        self.by_id.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(udid: &str, origin: &str, at: u64) -> WebSubscription {
        WebSubscription {
            id: String::new(),
            udid: udid.into(),
            origin: origin.into(),
            name: "App".into(),
            application_server_key: vec![4; 65],
            p256dh: vec![4; 65],
            auth: vec![0; 16],
            created_at: at,
            ended_at: None,
            ended_by: None,
        }
    }

    #[test]
    fn ids_are_opaque_and_ending_is_per_app_or_per_phone() {
        let subs = WebSubscriptions::default();
        let a = subs.add(sub("P1", "https://a.example", 1));
        let b = subs.add(sub("P1", "https://b.example", 2));
        let c = subs.add(sub("P2", "https://a.example", 3));
        assert_eq!(a.id.len(), 43);
        assert_ne!(a.id, b.id);
        assert_eq!(subs.end("P1", Some("https://a.example"), 10, Ended::Removed).len(), 1);
        assert_eq!(subs.get(&a.id).and_then(|s| s.ended_at), Some(10));
        assert_eq!(subs.get(&b.id).and_then(|s| s.ended_at), None);
        assert_eq!(subs.end("P1", None, 11, Ended::Erased).len(), 1, "the rest of the phone's: only b is left");
        assert_eq!(subs.get(&c.id).and_then(|s| s.ended_at), None, "another phone's stays");
        assert_eq!(
            subs.of_device("P1").iter().map(|s| s.origin.as_str()).collect::<Vec<_>>(),
            ["https://a.example", "https://b.example"]
        );
    }
}
