//! The provider API room: what a provider's APNs client meets — the listeners (TLS,
//! HTTP/2, the byte tap under h2), the push checks in Apple's order, authentication by
//! token or certificate and the credentials behind it, fault rules and rate limits.

pub(crate) mod auth;
pub(crate) mod broadcast;
pub(crate) mod conn;
pub(crate) mod credentials;
pub(crate) mod faults;
pub(crate) mod limits;
pub(crate) mod push;
pub(crate) mod server;
pub(crate) mod tap;
pub(crate) mod vapid;
pub(crate) mod webpush;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock, Weak};

use dashmap::DashMap;
use protocol::Environment;
use tokio::sync::Notify;

use crate::error::Error;

/// Polls `f` once, within the task running now: `Ready` with its output, or `Pending`
/// (it has registered to be woken). For work that has usually nothing to wait for, so
/// that only what does wait gets a timer or a task of its own.
pub(crate) async fn poll_once<F: Future + ?Sized>(mut f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(f.as_mut().poll(cx))).await
}

/// The provider API room, the top of the stack the admin API stands on: it reaches
/// every room below by name (`state`, `registry`, `observe`, `devices`).
pub(crate) struct Room {
    /// The rooms below, each reached by name.
    pub(crate) state: Arc<crate::state::State>,
    pub(crate) registry: Arc<crate::registry::Room>,
    pub(crate) observe: Arc<crate::observe::Room>,
    pub(crate) devices: Arc<crate::devices::Room>,
    pub(crate) keys: auth::Keys,
    /// Provider tokens already verified.
    pub(crate) tokens: auth::TokenCache,
    /// VAPID JWTs already verified (Web Push).
    pub(crate) vapid: vapid::Verified,
    /// Fault rules set by tests.
    pub(crate) faults: faults::Faults,
    /// Rate limits set by tests.
    pub(crate) limits: limits::Limiter,
    /// Provider connections idle this long get GOAWAY IdleTimeout (ms; 0 = never).
    pub(crate) idle_timeout_ms: AtomicU64,
    /// Wakes every provider connection when the idle timeout changes, so one that is
    /// idle already counts from the change rather than from its next request.
    pub(crate) idle_changed: Notify,
    /// Open provider-API connections (to change their SETTINGS).
    pub(crate) provider_conns: DashMap<u64, Weak<conn::ConnState>>,
    /// The provider-API listeners' addresses (sandbox, production), once bound.
    pub(crate) endpoints: OnceLock<(SocketAddr, SocketAddr)>,
    /// The ready line, once every listener is bound (`GET /api/v1/ready`).
    pub(crate) ready: OnceLock<serde_json::Value>,
    /// The signing key created on first start.
    pub(crate) default_key_id: String,
    /// Its `.p8` (PKCS#8 PEM), as Apple hands out.
    pub(crate) default_key_p8: String,
    /// The admin API's budget for request bodies held in memory, in KiB permits.
    pub(crate) admin_bodies: Arc<tokio::sync::Semaphore>,
    /// The newest broadcasts' fan-outs: request id → each subscriber delivery's apns-id
    /// and the activity (its slot) it went to.
    pub(crate) fanouts: std::sync::Mutex<std::collections::VecDeque<(uuid::Uuid, Vec<FanoutCopy>)>>,
}

/// A broadcast's copy: its apns-id, and the slot of the activity it went to.
pub(crate) type FanoutCopy = (String, u32);

/// How many broadcasts' fan-outs are kept for `GET /api/v1/broadcasts/{request_id}`.
const FANOUTS_KEPT: usize = 1000;

impl Room {
    pub(crate) fn new(
        devices: Arc<crate::devices::Room>,
        keys: auth::Keys,
        default_key_id: String,
        default_key_p8: String,
    ) -> Room {
        let admin_bodies = Arc::new(tokio::sync::Semaphore::new(
            (devices.state.config.admin_body_budget / 1024).clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
        ));
        Room {
            tokens: auth::TokenCache::new(devices.state.config.token_cache_limit),
            state: devices.state.clone(),
            registry: devices.registry.clone(),
            observe: devices.observe.clone(),
            devices,
            keys,
            vapid: vapid::Verified::default(),
            faults: faults::Faults::default(),
            limits: limits::Limiter::default(),
            idle_timeout_ms: AtomicU64::new(0),
            idle_changed: Notify::new(),
            provider_conns: DashMap::new(),
            endpoints: OnceLock::new(),
            ready: OnceLock::new(),
            default_key_id,
            default_key_p8,
            fanouts: Default::default(),
            admin_bodies,
        }
    }

    /// Notes that a broadcast reached a subscriber (the activity in `slot`) under `apns_id`.
    pub(crate) fn record_fanout(&self, apns_id: &str, slot: u32, request_id: &uuid::Uuid) {
        let mut all = self.fanouts.lock().unwrap_or_else(|e| e.into_inner());
        match all.back_mut() {
            Some((id, ids)) if id == request_id => ids.push((apns_id.to_owned(), slot)),
            _ => {
                all.push_back((*request_id, vec![(apns_id.to_owned(), slot)]));
                if all.len() > FANOUTS_KEPT {
                    all.pop_front();
                }
            }
        }
    }

    /// The deliveries a broadcast fanned out to (their apns-ids and activities' slots), if
    /// it is among the newest.
    pub(crate) fn fanout(&self, request_id: &uuid::Uuid) -> Option<Vec<FanoutCopy>> {
        let all = self.fanouts.lock().unwrap_or_else(|e| e.into_inner());
        all.iter().rev().find(|(id, _)| id == request_id).map(|(_, ids)| ids.clone())
    }

    /// Where a provider connects for `env`, once the listeners are bound.
    pub(crate) fn endpoint(&self, env: Environment) -> Option<SocketAddr> {
        self.endpoints.get().map(|(s, p)| if env == Environment::Sandbox { *s } else { *p })
    }

    /// Forgets devices, events, stored notifications, the capture log, fault rules,
    /// rate limits and the idle timeout (keys and the CA stay).
    pub(crate) async fn reset(&self) -> Result<(), Error> {
        self.devices.reset().await?;
        self.faults.clear();
        self.vapid.clear();
        let _ = self.limits.set(limits::RateLimits::default());
        self.set_idle_timeout_ms(0);
        // A test that moved APNs's clock must not leave the next one with aged tokens.
        self.state.clock.set_offset(0);
        Ok(())
    }

    /// Sets the idle timeout (ms; 0 = never) and tells every provider connection.
    pub(crate) fn set_idle_timeout_ms(&self, ms: u64) {
        self.idle_timeout_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
        self.idle_changed.notify_waiters();
    }

    /// Lowers (or raises) MAX_CONCURRENT_STREAMS on every open provider connection with a
    /// SETTINGS frame; answers how many connections were told.
    pub(crate) fn set_max_streams(&self, n: u32) -> usize {
        let mut told = 0;
        for conn in self.provider_conns.iter().filter_map(|c| c.upgrade()) {
            conn.limit.store(n, std::sync::atomic::Ordering::Release);
            conn.tap.send_settings(&[(tap::SETTINGS_MAX_CONCURRENT_STREAMS, n)]);
            told += 1;
        }
        told
    }
}
