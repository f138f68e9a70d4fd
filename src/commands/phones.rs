//! The phones `apns-lab serve` and `exec` run in their own process for virtual devices
//! given handlers through the admin API (`POST /api/v1/devices/{udid}/phone`): each a
//! simulated phone connected to the mock's gateway, its narration in the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mock_apns::{MockApns, PhoneRunner, PhoneSpec};
use tokio::task::JoinHandle;

/// Runs phones on the mock's runtime.
pub(crate) struct InProcess {
    endpoint: device_sim::Endpoint,
    runtime: tokio::runtime::Handle,
    running: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl InProcess {
    /// Gives `mock` a phone runner whose phones connect to its gateway.
    pub(crate) fn attach(mock: &MockApns) -> Result<(), Box<dyn std::error::Error>> {
        let endpoint = device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned())?;
        let runner =
            InProcess { endpoint, runtime: tokio::runtime::Handle::current(), running: Mutex::new(HashMap::new()) };
        mock.run_phones_with(Arc::new(runner));
        Ok(())
    }
}

impl PhoneRunner for InProcess {
    fn start(&self, spec: PhoneSpec) -> Result<(), String> {
        let mut apps = Vec::with_capacity(spec.apps.len());
        for (bundle, environment) in spec.apps {
            let mut app = device_sim::run::AppSetup::new(bundle.clone(), environment);
            if let Some(url) = spec.handlers.get(&bundle) {
                app.handler = Some(device_sim::Target::parse(url, false).map_err(|e| e.to_string())?);
            }
            apps.push(app);
        }
        let udid = spec.udid.clone();
        let phone = device_sim::run::Phone { udid: Some(udid.clone()), ..device_sim::run::Phone::new(apps) };
        let endpoint = self.endpoint.clone();
        let task = self.runtime.spawn(async move {
            let say = move |line: String| tracing::info!(udid = %udid, "{line}");
            let _ = device_sim::run::run_with(endpoint, phone, say).await;
        });
        if let Some(old) = self.running.lock().unwrap_or_else(|e| e.into_inner()).insert(spec.udid, task) {
            old.abort();
        }
        Ok(())
    }

    fn stop(&self, udid: &str) -> bool {
        let task = self.running.lock().unwrap_or_else(|e| e.into_inner()).remove(udid);
        task.map(|t| t.abort()).is_some()
    }
}
