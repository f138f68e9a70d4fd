//! The observation room: what the mock saw and did, for tests and people to read back —
//! the capture log of answered requests, the live stream and counts the dashboard
//! watches, and the counters behind the Prometheus metrics. Everything here is fed by
//! the rooms above, which do the work; it stands on the registry and state rooms only.

pub(crate) mod capture;
pub(crate) mod live;
pub(crate) mod metrics;
pub(crate) mod misbehaviour;
pub(crate) mod registrations;
pub(crate) mod web_log;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::watch;

use crate::error::Error;

/// The observation room, standing on the registry room.
pub(crate) struct Room {
    /// The rooms below.
    pub(crate) state: Arc<crate::state::State>,
    pub(crate) registry: Arc<crate::registry::Room>,
    pub(crate) capture: capture::Capture,
    /// The live event stream for the dashboard.
    pub(crate) live: live::Live,
    /// The dashboard's counts.
    pub(crate) stats: live::Stats,
    /// The counters behind `GET /metrics`.
    pub(crate) metrics: metrics::Metrics,
    /// Numbers connections (provider and gateway) for the capture log.
    pub(crate) next_connection: AtomicU64,
    /// Peer misbehaviour, counted, and logged at most once a second per kind.
    pub(crate) misbehaviour: misbehaviour::Misbehaviour,
    /// Steps 1–3 of each app's registration, for the dashboard's flow.
    pub(crate) registrations: registrations::Registrations,
    /// The Web Push endpoint's answers.
    pub(crate) web_log: web_log::WebLog,
}

impl Room {
    pub(crate) fn new(registry: Arc<crate::registry::Room>, capture: capture::Capture) -> Room {
        Room {
            state: registry.state.clone(),
            registry,
            capture,
            live: live::Live::default(),
            stats: live::Stats::default(),
            metrics: metrics::Metrics::default(),
            next_connection: AtomicU64::new(1),
            misbehaviour: misbehaviour::Misbehaviour::default(),
            registrations: registrations::Registrations::default(),
            web_log: web_log::WebLog::default(),
        }
    }

    /// Forgets the capture log, the counts and the metrics (after the rooms below).
    pub(crate) async fn reset(&self) -> Result<(), Error> {
        self.registry.reset().await?;
        self.capture.clear();
        self.stats.clear();
        self.metrics.clear();
        self.registrations.clear();
        self.web_log.clear();
        Ok(())
    }
}

/// How often new capture-log entries are written to the state database. A crash loses
/// at most this much of the log; the push path never waits for it.
const CAPTURE_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// Saves the capture log's new entries every [`CAPTURE_FLUSH`], and once more at shutdown.
pub(crate) async fn flush_capture(shared: Arc<Room>, mut shutdown: watch::Receiver<bool>) {
    let mut saved = shared.capture.newest_seq();
    let mut tick = tokio::time::interval(CAPTURE_FLUSH);
    loop {
        let stop = tokio::select! {
            _ = tick.tick() => false,
            _ = shutdown.changed() => true,
        };
        if let Some(batch) = shared.capture.export_since(saved) {
            saved = batch.newest;
            let write = crate::state::store::Write::Capture { batch, keep: shared.state.config.capture_limit as u64 };
            if stop {
                let _ = shared.state.store.write(vec![write]).await;
            } else {
                shared.state.store.write_later(vec![write]);
            }
        }
        if stop {
            return;
        }
    }
}
