//! The devices room: what APNs keeps on the device side of the flow — the gateway every
//! phone connects to, the delivery engine and store-and-forward, each notification's
//! journey, and the operations on devices (create, lifecycle events, a local push) that
//! the admin API, the gateway and `MockApns` all call.

pub(crate) mod activities;
pub(crate) mod delivery;
pub(crate) mod gateway;
pub(crate) mod handoff;
pub(crate) mod journey;
pub(crate) mod operations;
pub mod phones;
pub(crate) mod storage;
pub(crate) mod web_apps;
pub(crate) mod web_delivery;

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::error::Error;

/// Events the delivery engine may have queued before senders wait.
const ENGINE_QUEUE: usize = 65_536;

/// The devices room, standing on the observation room.
pub(crate) struct Room {
    /// The rooms below.
    pub(crate) state: Arc<crate::state::State>,
    pub(crate) registry: Arc<crate::registry::Room>,
    pub(crate) observe: Arc<crate::observe::Room>,
    /// Notifications held for offline devices.
    pub(crate) storage: storage::Storage,
    /// Every accepted notification's journey.
    pub(crate) journeys: journey::Journeys,
    /// Devices with an open gateway stream.
    pub(crate) connections: gateway::Connections,
    /// The delivery engine's inbox.
    pub(crate) engine: mpsc::Sender<delivery::Event>,
    /// The phones' private keys for their Web Push subscriptions.
    pub(crate) web_keys: web_apps::WebKeys,
    /// `https://host:port` of the Web Push listener, once bound: where endpoints point.
    pub(crate) webpush_url: std::sync::OnceLock<String>,
    /// Who runs phones in the mock's process for virtual devices, if anyone does.
    pub(crate) phones: std::sync::OnceLock<std::sync::Arc<dyn phones::PhoneRunner>>,
    /// Its other end, taken when the engine starts.
    engine_inbox: Mutex<Option<mpsc::Receiver<delivery::Event>>>,
}

impl Room {
    pub(crate) fn new(
        observe: Arc<crate::observe::Room>,
        storage: storage::Storage,
        web_keys: web_apps::WebKeys,
    ) -> Room {
        let (engine, inbox) = mpsc::channel(ENGINE_QUEUE);
        Room {
            state: observe.state.clone(),
            registry: observe.registry.clone(),
            observe,
            storage,
            journeys: journey::Journeys::default(),
            connections: gateway::Connections::default(),
            engine,
            web_keys,
            webpush_url: std::sync::OnceLock::new(),
            phones: std::sync::OnceLock::new(),
            engine_inbox: Mutex::new(Some(inbox)),
        }
    }

    /// The delivery engine's inbox, the first time it is asked for (the engine starts once).
    pub(crate) fn take_engine_inbox(&self) -> Option<mpsc::Receiver<delivery::Event>> {
        self.engine_inbox.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Forgets held notifications and journeys (after the rooms below).
    pub(crate) async fn reset(&self) -> Result<(), Error> {
        self.observe.reset().await?;
        self.storage.clear();
        self.journeys.clear();
        self.web_keys.clear();
        Ok(())
    }
}
