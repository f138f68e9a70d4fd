//! An emulated APNs: the provider API over real TLS and HTTP/2, answering exactly as
//! Apple's servers do, with the admin API that tests use to set it up and read it back.
//!
//! Start it in-process with [`MockApns::start`] (ephemeral ports, in-memory state), or
//! run `apns-lab serve` and read the ready line. A provider's real APNs client talks to
//! it by changing only host, port and trusted CA.
//!
//! The crate is six rooms, each a folder standing on the ones below it and never
//! importing one above (a test holds it to that):
//!
//! | room | holds |
//! |---|---|
//! | `admin` | the admin API's routes, the dashboard and its console, OpenAPI, `/metrics` |
//! | `provider_api` | listeners, the byte tap, the push checks, broadcasts and the channel API, auth and credentials, faults, limits |
//! | `devices` | the gateway, the delivery engine, store-and-forward, journeys, device operations |
//! | `observe` | the capture log, the live stream and counts, metrics counters |
//! | `registry` | UDID + bundle ID ⇄ token, activity tokens, broadcast channels, the lifecycle rules, the lifecycle event log |
//! | `state` | the state database, its rows, the data directory |
//!
//! Under them all lie `error`, `clock`, `config`, `tls` (the local CA), `random` and
//! `accept` (the accept loop every listener runs).
//! Each room's `Room` holds the rooms below it that it uses, each under its name
//! (`shared.state.clock`, `self.registry.table`), so every reach down is written, and
//! only down. This file wires them: it opens the state, builds the
//! rooms from the bottom up and starts the listeners.

mod accept;
mod admin;
mod clock;
mod config;

mod error;

mod devices;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod observe;
mod provider_api;
mod random;
mod registry;
mod state;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use protocol::Environment;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use devices::{delivery, gateway, storage};
use provider_api::{auth, faults, limits, server};
use registry::events;
use state::{data_dir, store};

/// Everything the listeners share: the top room, which reaches every room below it.
type Shared = provider_api::Room;

pub use admin::dashboard::{ConsoleAnswer, ConsolePush};
pub use auth::KeyEnvironment;
pub use clock::Clock;
pub use clock::{ClockView, SetClock};
pub use config::Config;
pub use delivery::{MAX_IN_FLIGHT, MAX_UNACKED};
pub use devices::activities::{ActivityView, NewActivity, NewActivityType};
pub use devices::operations::{AppView, DeviceView, Lifecycle, LifecycleOutcome, LocalPush, NewApp, NewDevice};
pub use devices::phones::{PhoneRunner, PhoneSpec};
pub use error::Error;
pub use events::{LifecycleEvent, TokenChangeView};
pub use faults::{FaultAction, FaultView, NewFault};
pub use limits::{Rate, RateLimits};
use observe::capture;
pub use observe::capture::{AuthSummary, CaptureFilter, CapturedRequest};
pub use provider_api::credentials::{CertificateView, KeyView, NewCertificate, NewKey};
pub use registry::TokenScope;
pub use storage::{MAX_STORAGE_SECS, StoredView};
pub use tls::SERVER_NAMES;

/// File names in the data directory.
const STATE_FILE: &str = "state.sqlite3";
const CA_FILE: &str = "ca.pem";

/// Opens the state (creating the CA, token secret, team and key on first start), reads
/// back everything stored, and builds the rooms from the bottom up.
fn open(config: Config) -> Result<Arc<Shared>, Error> {
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
    let secret = meta_or("token_secret", &|| Ok(random::bytes(32)))?;
    let ca_cert = text(meta_or("ca_cert", &|| {
        let ca = tls::Authority::generate()?;
        db.set_meta("ca_key", ca.key_pem().as_bytes())?;
        Ok(ca.cert_pem().as_bytes().to_vec())
    })?)?;
    let ca_key =
        text(db.meta("ca_key")?.ok_or_else(|| Error::Invalid("state database has a CA without its key".into()))?)?;
    let authority = tls::Authority::from_pem(&ca_cert, &ca_key)?;
    let default_team = text(meta_or("default_team", &|| Ok(random::id().into_bytes()))?)?;
    let default_key_id = text(meta_or("default_key_id", &|| Ok(random::id().into_bytes()))?)?;
    let default_key_p8 = text(meta_or("default_key_p8", &|| Ok(new_p8()?.into_bytes()))?)?;

    let keys = auth::Keys::default();
    let stored = db.load_keys()?.into_iter().map(auth::SigningKey::from_row).collect::<Result<Vec<_>, _>>()?;
    if !stored.iter().any(|k| k.key_id == default_key_id) {
        let key =
            auth::SigningKey::new(&default_key_id, &default_team, KeyEnvironment::Both, None, None, &default_key_p8)?;
        db.save_key(key.row())?;
        keys.insert(key);
    }
    for key in stored {
        keys.insert(key);
    }
    let registry = registry::Registry::new(&secret, scope);
    db.load_devices(|d| registry.load_device(d))?;
    db.load_tokens(|t| registry.load_token(t))?;
    db.load_activities(|udid, a| registry.load_activity(&udid, a))?;
    let channels = registry::channels::Channels::default();
    db.load_channels(|c| channels.load(c))?;
    let (web, web_keys) = (registry::web::WebSubscriptions::default(), devices::web_apps::WebKeys::default());
    db.load_web_subscriptions(|mut s| {
        let key = std::mem::take(&mut s.phone_key);
        if !key.is_empty() {
            web_keys.load(s.id.clone(), key);
        }
        web.load(registry::web::WebSubscription::from_stored(s));
    })?;
    let events = events::Events::default();
    events.load(db.load_events()?.into_iter().filter_map(|(_, body)| serde_json::from_str(&body).ok()));
    let capture = capture::Capture::new(config.capture_limit);
    capture.import(db.load_capture()?);
    let storage = storage::Storage::default();
    db.load_held(|key, held| {
        storage.hold(key, held);
    })?;

    if let Some(dir) = &config.data_dir {
        let write = |name: &str, contents: &str| {
            std::fs::write(dir.join(name), contents).map_err(|e| data_dir::unusable(dir, &e))
        };
        write(CA_FILE, authority.cert_pem())?;
        write(&format!("AuthKey_{default_key_id}.p8"), &default_key_p8)?;
    }
    let state = Arc::new(state::State { clock: config.clock.clone(), config, store: db.start_writer()?, authority });
    let registry = Arc::new(registry::Room::new(state, registry, events, (channels, web), default_team));
    let observe = Arc::new(observe::Room::new(registry, capture));
    let devices = Arc::new(devices::Room::new(observe, storage, web_keys));
    Ok(Arc::new(provider_api::Room::new(devices, keys, default_key_id, default_key_p8)))
}

/// A new P-256 signing key as Apple's `.p8` download: PKCS#8, PEM.
fn new_p8() -> Result<String, Error> {
    use base64::Engine as _;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .map_err(|_| Error::BadKey("could not generate a P-256 key".into()))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let lines: Vec<&str> = b64.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    Ok(format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n")))
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
    /// `https://127.0.0.1:P` of the sandbox channel management API.
    pub channels_sandbox: String,
    /// `https://127.0.0.1:P` of the production channel management API.
    pub channels_production: String,
    /// `https://127.0.0.1:P` of the Web Push endpoint (`web.push.apple.com`).
    pub webpush: String,
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
    /// The sandbox channel management API.
    pub channels_sandbox: TcpListener,
    /// The production channel management API.
    pub channels_production: TcpListener,
    /// The Web Push endpoint.
    pub webpush: TcpListener,
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
            channels_sandbox: bind("channels-sandbox", config.channels_sandbox_addr).await?,
            channels_production: bind("channels-production", config.channels_production_addr).await?,
            webpush: bind("web push", config.webpush_addr).await?,
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
        let shared = open(config)?;
        let acceptor = TlsAcceptor::from(shared.state.authority.server_config(&shared.state.config.tls_names)?);
        let (shutdown, rx) = watch::channel(false);
        let sandbox = listeners.sandbox.local_addr()?;
        let production = listeners.production.local_addr()?;
        let _ = shared.endpoints.set((sandbox, production));
        let admin = listeners.admin.local_addr()?;
        let gateway = listeners.gateway.local_addr()?;
        let channels_sandbox = listeners.channels_sandbox.local_addr()?;
        let channels_production = listeners.channels_production.local_addr()?;
        let h2c = listeners.h2c.as_ref().map(|l| l.local_addr()).transpose()?;
        let webpush = listeners.webpush.local_addr()?;
        let webpush_url = format!("https://{webpush}");
        let _ = shared.devices.webpush_url.set(webpush_url.clone());
        let mut tasks = Vec::new();
        for (listener, env, channels) in [
            (listeners.sandbox, Environment::Sandbox, false),
            (listeners.production, Environment::Production, false),
            (listeners.channels_sandbox, Environment::Sandbox, true),
            (listeners.channels_production, Environment::Production, true),
        ] {
            tasks.push(tokio::spawn(server::serve(
                listener,
                (env, channels),
                Some(acceptor.clone()),
                shared.clone(),
                rx.clone(),
            )));
        }
        tasks.extend([
            tokio::spawn(admin::serve(listeners.admin, shared.clone(), rx.clone())),
            tokio::spawn(gateway::serve(listeners.gateway, acceptor.clone(), shared.devices.clone(), rx.clone())),
            tokio::spawn(provider_api::webpush::serve(
                listeners.webpush,
                TlsAcceptor::from(shared.state.authority.web_push_config(&shared.state.config.tls_names)?),
                shared.clone(),
                rx.clone(),
            )),
        ]);
        if let Some(inbox) = shared.devices.take_engine_inbox() {
            tasks.push(tokio::spawn(delivery::run(
                shared.devices.clone(),
                inbox,
                shared.state.config.low_priority_batch,
                rx.clone(),
            )));
            tasks.push(tokio::spawn(delivery::follow_clock(shared.devices.clone(), rx.clone())));
        }
        if data_dir.is_some() && shared.state.config.capture_limit > 0 {
            tasks.push(tokio::spawn(observe::flush_capture(shared.observe.clone(), rx.clone())));
        }
        if let Some(h2c) = listeners.h2c {
            tasks.push(tokio::spawn(server::serve(
                h2c,
                (Environment::Sandbox, false),
                None,
                shared.clone(),
                rx.clone(),
            )));
        }
        let ready = Ready {
            event: "ready",
            sandbox: format!("https://{sandbox}"),
            production: format!("https://{production}"),
            admin: format!("http://{admin}"),
            gateway: format!("https://{gateway}"),
            channels_sandbox: format!("https://{channels_sandbox}"),
            channels_production: format!("https://{channels_production}"),
            webpush: webpush_url,
            h2c: h2c.map(|a| format!("http://{a}")),
            ca_file: data_dir.as_ref().map(|d| d.join(CA_FILE)),
            team_id: shared.registry.default_team.clone(),
            key_id: shared.default_key_id.clone(),
            key_file: data_dir.as_ref().map(|d| d.join(format!("AuthKey_{}.p8", shared.default_key_id))),
            data_dir,
            pid: std::process::id(),
            token_scope: shared.registry.table.scope(),
        };
        if let Ok(line) = serde_json::to_value(&ready) {
            let _ = shared.ready.set(line);
        }
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
        self.shared.state.authority.cert_pem()
    }

    /// The default team's id.
    pub fn team_id(&self) -> &str {
        &self.shared.registry.default_team
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
        &self.shared.state.clock
    }

    /// Moves the clock as `PUT /api/v1/clock` does; answers what it reads then.
    pub fn set_clock(&self, set: SetClock) -> Result<ClockView, Error> {
        set.apply(&self.shared.state.clock)
    }

    /// Lets the admin API run virtual devices as phones in this process
    /// (`POST /api/v1/devices/{udid}/phone`), with `runner`; only the first call counts.
    pub fn run_phones_with(&self, runner: std::sync::Arc<dyn PhoneRunner>) {
        let _ = self.shared.devices.phones.set(runner);
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
        self.shared.devices.create_device(req).await
    }

    /// Creates many devices at once (`POST /api/v1/devices/batch`), for fleets.
    pub async fn create_devices(&self, reqs: Vec<NewDevice>) -> Result<Vec<DeviceView>, Error> {
        self.shared.devices.create_devices(reqs).await
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
            .table
            .route(env, token, bundle_id, self.shared.state.clock.unix_millis())
            .map(|_| ())
            .map_err(|(r, _)| r)
    }

    /// Applies a lifecycle event to a device (`POST /api/v1/devices/{udid}/…`).
    pub async fn lifecycle(&self, udid: &str, event: Lifecycle) -> Result<LifecycleOutcome, Error> {
        self.shared.devices.lifecycle(udid, event).await
    }

    /// An app on a device declares an `ActivityAttributes` type: its push-to-start token
    /// (`POST /api/v1/devices/{udid}/activity-types`).
    pub async fn declare_activity_type(&self, udid: &str, req: NewActivityType) -> Result<ActivityView, Error> {
        self.shared.devices.declare_activity_type(udid, req).await
    }

    /// A Live Activity starts on a device: its update token (`POST
    /// /api/v1/devices/{udid}/activities`).
    /// Refused (Conflict) for a running phone, whose activities start on the phone.
    pub async fn start_activity(&self, udid: &str, req: NewActivity) -> Result<ActivityView, Error> {
        self.shared.devices.refuse_on_running_phone(udid, devices::activities::ActivityCall::Start)?;
        self.shared.devices.start_activity(udid, req).await
    }

    /// A Live Activity ends on a device (`POST …/activities/{id}/end`): its token answers
    /// 200 (and the device drops the push) until APNs learns, then 410.
    /// Refused (Conflict) for a running phone, whose activities end on the phone.
    pub async fn end_activity(&self, udid: &str, activity_id: &str) -> Result<ActivityView, Error> {
        self.shared.devices.refuse_on_running_phone(udid, devices::activities::ActivityCall::End)?;
        self.shared.devices.end_activity(udid, activity_id).await
    }

    /// A web app leaves a phone's Home Screen (`POST …/web-apps/remove`): its
    /// subscriptions end, and pushes to them get 410.
    pub async fn remove_web_app(&self, udid: &str, origin: &str) -> Result<(), Error> {
        self.shared.devices.remove_web_app(udid, origin, registry::web::Ended::Removed).await.map(|_| ())
    }

    /// A device's Live Activity tokens (`GET /api/v1/devices/{udid}/activities`).
    pub fn activities(&self, udid: &str) -> Result<Vec<ActivityView>, Error> {
        self.shared.devices.activity_views(udid)
    }

    /// One device (`GET /api/v1/devices/{udid}`).
    pub fn device(&self, udid: &str) -> Result<DeviceView, Error> {
        self.shared.devices.device_view(udid)
    }

    /// Devices sorted by UDID, up to `limit` after `after` (`GET /api/v1/devices`).
    pub fn devices(&self, after: Option<&str>, limit: usize) -> Vec<DeviceView> {
        self.shared.devices.device_views(after, limit)
    }

    /// Lifecycle events, newest first, optionally for one device (`GET /api/v1/events`).
    pub fn events(&self, udid: Option<&str>, limit: usize) -> Vec<LifecycleEvent> {
        self.shared.registry.events.query(udid, limit)
    }

    /// Answered requests, newest first (`GET /api/v1/notifications`).
    pub fn notifications(&self, filter: &CaptureFilter) -> Vec<CapturedRequest> {
        self.shared.observe.capture.query(filter)
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
