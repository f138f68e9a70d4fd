//! An emulated APNs: the provider API over real TLS and HTTP/2, answering exactly as
//! Apple's servers do, with the admin API that tests use to set it up and read it back.
//!
//! Start it in-process with [`MockApns::start`] (ephemeral ports, in-memory state), or
//! run `apns-lab serve` and read the ready line. A provider's real APNs client talks to
//! it by changing only host, port and trusted CA.
//!
//! Map of the crate, in the order a push meets it:
//! `server` (listeners, TLS, HTTP/2) → `tap` (the SETTINGS APNs changes mid-connection)
//! → `push` (the checks, in order, and the exact response frames) → `auth` (provider
//! tokens and client certificates) → `registry` (UDID + bundle ID ⇄ token) → `capture`
//! (what was answered). `admin` serves the JSON API; `data_dir` holds the data directory
//! for one process; `store` keeps state in SQLite;
//! `tls` is the local certificate authority.

mod admin;
mod clock;
mod config;

mod error;

mod devices;
mod observe;
mod provider_api;
mod registry;
mod state;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use protocol::Environment;
use ring::rand::SecureRandom;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use devices::{delivery, gateway, journey, storage};
use provider_api::{auth, faults, limits, push, server};
use registry::events;
use state::{data_dir, store};

pub use admin::dashboard::{ConsoleAnswer, ConsolePush};
pub use auth::KeyEnvironment;
pub use clock::Clock;
pub use clock::{ClockView, SetClock};
pub use config::Config;
pub use delivery::{MAX_IN_FLIGHT, MAX_UNACKED};
pub use devices::operations::{AppView, DeviceView, Lifecycle, LifecycleOutcome, LocalPush, NewApp, NewDevice};
pub use error::Error;
pub use events::{LifecycleEvent, TokenChangeView};
pub use faults::{FaultAction, FaultView, NewFault};
pub use limits::{Rate, RateLimits};
pub use observe::capture::{AuthSummary, CaptureFilter, CapturedRequest};
use observe::{capture, live, metrics};
pub use provider_api::credentials::{CertificateView, KeyView, NewCertificate, NewKey};
pub use registry::TokenScope;
pub use storage::{MAX_STORAGE_SECS, StoredView};
pub use tls::SERVER_NAMES;

/// Everything the listeners share.
pub(crate) struct Shared {
    config: Config,
    clock: Clock,
    keys: auth::Keys,
    tokens: auth::TokenCache,
    registry: registry::Registry,
    capture: capture::Capture,
    events: events::Events,
    /// Notifications held for offline devices.
    storage: storage::Storage,
    /// Every accepted notification's journey.
    journeys: journey::Journeys,
    /// The live event stream for the dashboard.
    live: live::Live,
    /// The dashboard's counts.
    stats: live::Stats,
    /// Fault rules set by tests.
    faults: faults::Faults,
    /// Rate limits set by tests.
    limits: limits::Limiter,
    /// The counters behind `GET /metrics`.
    metrics: metrics::Metrics,
    /// Provider connections idle this long get GOAWAY IdleTimeout (ms; 0 = never).
    idle_timeout_ms: AtomicU64,
    /// Wakes every provider connection when the idle timeout changes, so one that is
    /// idle already counts from the change rather than from its next request.
    idle_changed: tokio::sync::Notify,
    /// Devices with an open gateway stream.
    connections: gateway::Connections,
    /// The delivery engine's inbox.
    engine: tokio::sync::mpsc::Sender<delivery::Event>,
    /// Its other end, taken when the engine starts.
    engine_inbox: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<delivery::Event>>>,
    authority: tls::Authority,
    store: store::Store,
    /// The team created on first start; apps without a team belong to it.
    default_team: String,
    /// The signing key created on first start.
    default_key_id: String,
    /// Its `.p8` (PKCS#8 PEM), as Apple hands out.
    default_key_p8: String,
    /// Numbers connections for the capture log.
    next_connection: AtomicU64,
    /// Open provider-API connections (to change their SETTINGS).
    provider_conns: dashmap::DashMap<u64, std::sync::Weak<push::ConnState>>,
    /// The provider-API listeners' addresses (sandbox, production), once bound.
    endpoints: std::sync::OnceLock<(SocketAddr, SocketAddr)>,
}

/// Events the delivery engine may have queued before senders wait.
const ENGINE_QUEUE: usize = 65_536;

/// File names in the data directory.
const STATE_FILE: &str = "state.sqlite3";
const CA_FILE: &str = "ca.pem";

impl Shared {
    /// Where a provider connects for `env`, once the listeners are bound.
    fn endpoint(&self, env: Environment) -> Option<SocketAddr> {
        self.endpoints.get().map(|(s, p)| if env == Environment::Sandbox { *s } else { *p })
    }

    /// Opens the state (creating the CA, token secret, team and key on first start) and
    /// reads back everything stored.
    fn open(config: Config) -> Result<Shared, Error> {
        let db = store::Opened::open(config.data_dir.as_ref().map(|d| d.join(STATE_FILE)).as_deref())?;
        let meta_or = |key: &str, make: &dyn Fn() -> Result<Vec<u8>, Error>| -> Result<Vec<u8>, Error> {
            match db.meta(key)? {
                Some(v) => Ok(v),
                None => {
                    let v = make()?;
                    db.set_meta(key, &v)?;
                    Ok(v)
                }
            }
        };
        let text =
            |v: Vec<u8>| String::from_utf8(v).map_err(|_| Error::Invalid("state database holds non-UTF-8 text".into()));

        let scope = text(meta_or("token_scope", &|| Ok(config.token_scope.as_str().as_bytes().to_vec()))?)?;
        let scope: TokenScope = scope.parse()?;
        if scope != config.token_scope {
            return Err(Error::Invalid(format!(
                "this data dir was created with --token-scope {}; it cannot be opened with {} (use another data dir)",
                scope.as_str(),
                config.token_scope.as_str()
            )));
        }
        let secret = meta_or("token_secret", &|| Ok(random_bytes(32)))?;
        let ca_cert = text(meta_or("ca_cert", &|| {
            let ca = tls::Authority::generate()?;
            db.set_meta("ca_key", ca.key_pem().as_bytes())?;
            Ok(ca.cert_pem().as_bytes().to_vec())
        })?)?;
        let ca_key =
            text(db.meta("ca_key")?.ok_or_else(|| Error::Invalid("state database has a CA without its key".into()))?)?;
        let authority = tls::Authority::from_pem(&ca_cert, &ca_key)?;
        let default_team = text(meta_or("default_team", &|| Ok(random_id().into_bytes()))?)?;
        let default_key_id = text(meta_or("default_key_id", &|| Ok(random_id().into_bytes()))?)?;
        let default_key_p8 = text(meta_or("default_key_p8", &|| Ok(new_p8()?.into_bytes()))?)?;

        let keys = auth::Keys::default();
        let stored = db.load_keys()?.into_iter().map(auth::SigningKey::from_row).collect::<Result<Vec<_>, _>>()?;
        if !stored.iter().any(|k| k.key_id == default_key_id) {
            let key = auth::SigningKey::new(
                &default_key_id,
                &default_team,
                KeyEnvironment::Both,
                None,
                None,
                &default_key_p8,
            )?;
            db.save_key(key.row())?;
            keys.insert(key);
        }
        for key in stored {
            keys.insert(key);
        }
        let registry = registry::Registry::new(&secret, scope);
        db.load_devices(|d| registry.load_device(d))?;
        db.load_tokens(|t| registry.load_token(t))?;
        let events = events::Events::default();
        events.load(db.load_events()?.into_iter().filter_map(|(_, body)| serde_json::from_str(&body).ok()));
        let capture = capture::Capture::new(config.capture_limit);
        capture.import(db.load_capture()?);
        let storage = storage::Storage::default();
        db.load_held(|key, held| storage.hold(key, held))?;
        let (engine, engine_inbox) = tokio::sync::mpsc::channel(ENGINE_QUEUE);

        if let Some(dir) = &config.data_dir {
            let write = |name: &str, contents: &str| {
                std::fs::write(dir.join(name), contents).map_err(|e| data_dir::unusable(dir, &e))
            };
            write(CA_FILE, authority.cert_pem())?;
            write(&format!("AuthKey_{default_key_id}.p8"), &default_key_p8)?;
        }
        Ok(Shared {
            clock: config.clock.clone(),
            tokens: auth::TokenCache::new(config.token_cache_limit),
            capture,
            events,
            storage,
            journeys: journey::Journeys::default(),
            live: live::Live::default(),
            stats: live::Stats::default(),
            faults: faults::Faults::default(),
            limits: limits::Limiter::default(),
            metrics: metrics::Metrics::default(),
            idle_timeout_ms: AtomicU64::new(0),
            idle_changed: tokio::sync::Notify::new(),
            connections: gateway::Connections::default(),
            engine,
            engine_inbox: std::sync::Mutex::new(Some(engine_inbox)),
            config,
            keys,
            registry,
            authority,
            store: db.start_writer()?,
            default_team,
            default_key_id,
            default_key_p8,
            next_connection: AtomicU64::new(1),
            endpoints: std::sync::OnceLock::new(),
            provider_conns: dashmap::DashMap::new(),
        })
    }
}

pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    ring::rand::SystemRandom::new().fill(&mut v).expect("the OS random source is available");
    v
}

/// A 10-character id of capital letters and digits, the shape of Apple's Team and Key IDs.
fn random_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    random_bytes(10).iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// A new P-256 signing key as Apple's `.p8` download: PKCS#8, PEM.
fn new_p8() -> Result<String, Error> {
    use base64::Engine as _;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| Error::BadKey("could not generate a P-256 key".into()))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let lines: Vec<&str> = b64.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    Ok(format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n")))
}

/// How often new capture-log entries are written to the state database. A crash loses
/// at most this much of the log; the push path never waits for it.
const CAPTURE_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// Saves the capture log's new entries every [`CAPTURE_FLUSH`], and once more at shutdown.
async fn flush_capture(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut saved = shared.capture.newest_seq();
    let mut tick = tokio::time::interval(CAPTURE_FLUSH);
    loop {
        let stop = tokio::select! {
            _ = tick.tick() => false,
            _ = shutdown.changed() => true,
        };
        if let Some(batch) = shared.capture.export_since(saved) {
            saved = batch.newest;
            let write = store::Write::Capture { batch, keep: shared.config.capture_limit as u64 };
            if stop {
                let _ = shared.store.write(vec![write]).await;
            } else {
                shared.store.write_later(vec![write]);
            }
        }
        if stop {
            return;
        }
    }
}

/// The tokio runtime `apns-lab` runs on: single-threaded when the process has one CPU (a
/// pinned process, a small container: the same work without the hand-offs of a
/// one-worker pool), multi-threaded otherwise. Nothing in this crate depends on which.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    if std::thread::available_parallelism().is_ok_and(|n| n.get() == 1) {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Runtime::new()
    }
}

/// What a started mock tells its users: the contract of `apns-lab serve`'s ready line.
#[derive(Debug, Clone, Serialize)]
pub struct Ready {
    /// Always `"ready"`.
    pub event: &'static str,
    /// `https://127.0.0.1:P` of the sandbox provider API.
    pub sandbox: String,
    /// `https://127.0.0.1:P` of the production provider API.
    pub production: String,
    /// `http://127.0.0.1:P` of the admin API.
    pub admin: String,
    /// `https://127.0.0.1:P` of the device gateway.
    pub gateway: String,
    /// `http://127.0.0.1:P` of the h2c (plaintext, sandbox) listener, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2c: Option<String>,
    /// The CA certificate to trust (only with a data dir).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The default team.
    pub team_id: String,
    /// The default signing key's id.
    pub key_id: String,
    /// The default signing key's `.p8` (only with a data dir).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The data directory, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// The serving process's id (to stop it: `kill <pid>`).
    pub pid: u32,
    /// The token rules in force (`per-app` or `per-device`).
    pub token_scope: TokenScope,
}

/// Listeners for [`MockApns::start_on`], already bound.
pub struct Listeners {
    /// The sandbox provider API.
    pub sandbox: TcpListener,
    /// The production provider API.
    pub production: TcpListener,
    /// The admin API.
    pub admin: TcpListener,
    /// The device gateway.
    pub gateway: TcpListener,
    /// The optional h2c listener (sandbox).
    pub h2c: Option<TcpListener>,
}

/// A running mock APNs.
pub struct MockApns {
    shared: Arc<Shared>,
    ready: Ready,
    sandbox: SocketAddr,
    production: SocketAddr,
    admin: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The data directory, held until this mock is shut down or dropped.
    _dir_lock: Option<data_dir::DirLock>,
}

impl MockApns {
    /// Binds the addresses in `config` and starts serving. The data dir is taken first, so
    /// a second mock on the same dir is told so, whatever else would clash.
    pub async fn start(config: Config) -> Result<MockApns, Error> {
        let dir_lock = config.data_dir.as_deref().map(data_dir::take).transpose()?;
        async fn bind(listener: &'static str, addr: SocketAddr) -> Result<TcpListener, Error> {
            TcpListener::bind(addr).await.map_err(|source| Error::Bind { listener, addr, source })
        }
        let listeners = Listeners {
            sandbox: bind("sandbox", config.sandbox_addr).await?,
            production: bind("production", config.production_addr).await?,
            admin: bind("admin", config.admin_addr).await?,
            gateway: bind("gateway", config.gateway_addr).await?,
            h2c: match config.h2c_addr {
                Some(a) => Some(bind("h2c", a).await?),
                None => None,
            },
        };
        Self::start_held(listeners, config, dir_lock).await
    }

    /// Starts serving on listeners the caller bound.
    pub async fn start_on(listeners: Listeners, config: Config) -> Result<MockApns, Error> {
        let dir_lock = config.data_dir.as_deref().map(data_dir::take).transpose()?;
        Self::start_held(listeners, config, dir_lock).await
    }

    /// Starts serving, the data dir (if any) already held: one process per data dir,
    /// taken before the state database is opened.
    async fn start_held(
        listeners: Listeners,
        config: Config,
        dir_lock: Option<data_dir::DirLock>,
    ) -> Result<MockApns, Error> {
        // The admin API can create devices, send pushes and read every payload: beyond
        // loopback it needs a secret.
        let admin_addr = listeners.admin.local_addr()?;
        match &config.admin_token {
            Some(t) if t.is_empty() => return Err(Error::Invalid("the admin token is empty".into())),
            None if !admin_addr.ip().is_loopback() => {
                return Err(Error::Invalid(format!(
                    "the admin API would listen on {admin_addr}, beyond loopback: set an admin token (--admin-token)"
                )));
            }
            _ => {}
        }
        let data_dir = config.data_dir.clone();
        let shared = Arc::new(Shared::open(config)?);
        let acceptor = TlsAcceptor::from(shared.authority.server_config()?);
        let (shutdown, rx) = watch::channel(false);
        let sandbox = listeners.sandbox.local_addr()?;
        let production = listeners.production.local_addr()?;
        let _ = shared.endpoints.set((sandbox, production));
        let admin = listeners.admin.local_addr()?;
        let gateway = listeners.gateway.local_addr()?;
        let h2c = listeners.h2c.as_ref().map(|l| l.local_addr()).transpose()?;
        let mut tasks = vec![
            tokio::spawn(server::serve(
                listeners.sandbox,
                Environment::Sandbox,
                Some(acceptor.clone()),
                shared.clone(),
                rx.clone(),
            )),
            tokio::spawn(server::serve(
                listeners.production,
                Environment::Production,
                Some(acceptor.clone()),
                shared.clone(),
                rx.clone(),
            )),
            tokio::spawn(admin::serve(listeners.admin, shared.clone(), rx.clone())),
            tokio::spawn(gateway::serve(listeners.gateway, acceptor.clone(), shared.clone(), rx.clone())),
        ];
        let inbox = shared.engine_inbox.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(inbox) = inbox {
            tasks.push(tokio::spawn(delivery::run(
                shared.clone(),
                inbox,
                shared.config.low_priority_batch,
                rx.clone(),
            )));
        }
        if data_dir.is_some() && shared.config.capture_limit > 0 {
            tasks.push(tokio::spawn(flush_capture(shared.clone(), rx.clone())));
        }
        if let Some(h2c) = listeners.h2c {
            tasks.push(tokio::spawn(server::serve(h2c, Environment::Sandbox, None, shared.clone(), rx.clone())));
        }
        let ready = Ready {
            event: "ready",
            sandbox: format!("https://{sandbox}"),
            production: format!("https://{production}"),
            admin: format!("http://{admin}"),
            gateway: format!("https://{gateway}"),
            h2c: h2c.map(|a| format!("http://{a}")),
            ca_file: data_dir.as_ref().map(|d| d.join(CA_FILE)),
            team_id: shared.default_team.clone(),
            key_id: shared.default_key_id.clone(),
            key_file: data_dir.as_ref().map(|d| d.join(format!("AuthKey_{}.p8", shared.default_key_id))),
            data_dir,
            pid: std::process::id(),
            token_scope: shared.registry.scope(),
        };
        Ok(MockApns { shared, ready, sandbox, production, admin, shutdown, tasks, _dir_lock: dir_lock })
    }

    /// The ready line's contents.
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// The listening address of an environment's provider API.
    pub fn addr(&self, env: Environment) -> SocketAddr {
        match env {
            Environment::Sandbox => self.sandbox,
            Environment::Production => self.production,
        }
    }

    /// The admin API's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// The CA certificate clients must trust, PEM.
    pub fn ca_pem(&self) -> &str {
        self.shared.authority.cert_pem()
    }

    /// The default team's id.
    pub fn team_id(&self) -> &str {
        &self.shared.default_team
    }

    /// The default signing key's id.
    pub fn key_id(&self) -> &str {
        &self.shared.default_key_id
    }

    /// The default signing key, as a `.p8` (PKCS#8 PEM).
    pub fn key_p8(&self) -> &str {
        &self.shared.default_key_p8
    }

    /// APNs's clock, as the mock reads it: JWT age and refresh, storage expiry, 410
    /// timestamps, rate limits and journeys. Move it with [`Clock::advance`],
    /// [`Clock::set_offset`] or [`Clock::set`] (or [`MockApns::set_clock`]).
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Moves the clock as `PUT /api/v1/clock` does; answers what it reads then.
    pub fn set_clock(&self, set: SetClock) -> Result<ClockView, Error> {
        set.apply(&self.shared.clock)
    }

    /// Registers a signing key (`POST /api/v1/keys`); returns once it is saved.
    pub async fn register_key(&self, key: NewKey) -> Result<KeyView, Error> {
        self.shared.register_key(key).await
    }

    /// Lists signing keys (`GET /api/v1/keys`).
    pub fn keys(&self) -> Vec<KeyView> {
        self.shared.key_views()
    }

    /// Issues an APNs client certificate (`POST /api/v1/certificates`).
    pub fn issue_certificate(&self, req: NewCertificate) -> Result<CertificateView, Error> {
        self.shared.issue_certificate(req)
    }

    /// Creates a virtual device and registers its apps (`POST /api/v1/devices`).
    pub async fn create_device(&self, req: NewDevice) -> Result<DeviceView, Error> {
        self.shared.create_device(req).await
    }

    /// Creates many devices at once (`POST /api/v1/devices/batch`), for fleets.
    pub async fn create_devices(&self, reqs: Vec<NewDevice>) -> Result<Vec<DeviceView>, Error> {
        self.shared.create_devices(reqs).await
    }

    /// Token lookups as a push does them: `Ok` if a push to `token` for `bundle_id` in
    /// `env` would be accepted. For benchmarks of the registry at scale.
    pub fn route(
        &self,
        env: Environment,
        token: &protocol::DeviceToken,
        bundle_id: &str,
    ) -> Result<(), protocol::Reason> {
        self.shared
            .registry
            .route(env, token, bundle_id, self.shared.clock.unix_millis())
            .map(|_| ())
            .map_err(|(r, _)| r)
    }

    /// Applies a lifecycle event to a device (`POST /api/v1/devices/{udid}/…`).
    pub async fn lifecycle(&self, udid: &str, event: Lifecycle) -> Result<LifecycleOutcome, Error> {
        self.shared.lifecycle(udid, event).await
    }

    /// One device (`GET /api/v1/devices/{udid}`).
    pub fn device(&self, udid: &str) -> Result<DeviceView, Error> {
        self.shared.device_view(udid)
    }

    /// Devices sorted by UDID, up to `limit` after `after` (`GET /api/v1/devices`).
    pub fn devices(&self, after: Option<&str>, limit: usize) -> Vec<DeviceView> {
        self.shared.device_views(after, limit)
    }

    /// Lifecycle events, newest first, optionally for one device (`GET /api/v1/events`).
    pub fn events(&self, udid: Option<&str>, limit: usize) -> Vec<LifecycleEvent> {
        self.shared.events.query(udid, limit)
    }

    /// Answered requests, newest first (`GET /api/v1/notifications`).
    pub fn notifications(&self, filter: &CaptureFilter) -> Vec<CapturedRequest> {
        self.shared.capture.query(filter)
    }

    /// Lowers (or raises) MAX_CONCURRENT_STREAMS on every open provider connection, with a
    /// SETTINGS frame, as APNs does under load; streams a client opens beyond it are
    /// refused (REFUSED_STREAM). Returns how many connections were told.
    pub fn set_max_streams(&self, n: u32) -> usize {
        self.shared.set_max_streams(n)
    }

    /// Adds a fault rule (`POST /api/v1/faults`).
    pub fn add_fault(&self, rule: NewFault) -> Result<FaultView, Error> {
        self.shared.faults.add(rule)
    }

    /// The fault rules, with how often each matched and fired.
    pub fn faults(&self) -> Vec<FaultView> {
        self.shared.faults.list()
    }

    /// Removes a fault rule.
    pub fn remove_fault(&self, id: u64) -> Result<(), Error> {
        self.shared.faults.remove(id)
    }

    /// Sets the rate limits (`PUT /api/v1/rate-limits`); both off by default.
    pub fn set_rate_limits(&self, limits: RateLimits) -> Result<RateLimits, Error> {
        self.shared.limits.set(limits)
    }

    /// Closes provider connections idle for `after` with GOAWAY `{"reason":"IdleTimeout"}`
    /// (`None`: never, the default).
    pub fn set_idle_timeout(&self, after: Option<std::time::Duration>) {
        let ms = after.map_or(0, |d| d.as_millis().clamp(1, u128::from(u64::MAX)) as u64);
        self.shared.set_idle_timeout_ms(ms);
    }

    /// Full ES256 verifications and token-cache hits so far.
    pub fn token_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.shared.tokens.verifications.load(Relaxed), self.shared.tokens.hits.load(Relaxed))
    }

    /// Forgets devices, events and the capture log (`POST /api/v1/reset`).
    pub async fn reset(&self) -> Result<(), Error> {
        self.shared.reset().await
    }

    /// Stops accepting, sends GOAWAY on open connections and waits (bounded) for them.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

/// Dropping a mock stops it too (without waiting), so a test that forgets to call
/// [`MockApns::shutdown`] does not leave listeners running for the rest of the process.
impl Drop for MockApns {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl Shared {
    /// Forgets devices, events, stored notifications, the capture log, fault rules,
    /// rate limits and the idle timeout (keys and the CA stay).
    pub(crate) async fn reset(&self) -> Result<(), Error> {
        self.store.write(vec![store::Write::ClearRegistry]).await?;
        self.registry.clear();
        self.capture.clear();
        self.events.clear();
        self.storage.clear();
        self.journeys.clear();
        self.stats.clear();
        self.faults.clear();
        self.metrics.clear();
        let _ = self.limits.set(RateLimits::default());
        self.set_idle_timeout_ms(0);
        Ok(())
    }
}
