//! Phones the mock runs in its own process, so that an app on a device made through the
//! admin API can be given a handler (`POST /api/v1/devices/{udid}/phone`): the device is
//! run as a simulated phone whose apps' events go to the handlers' URLs. The mock does not
//! know how a phone works: whoever starts it (`apns-lab serve`, `exec`) hands it a
//! [`PhoneRunner`].

use std::collections::BTreeMap;

use protocol::Environment;
use serde::Deserialize;

use super::Room;
use crate::error::Error;

/// A phone to run for a virtual device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneSpec {
    /// The device.
    pub udid: String,
    /// Its installed apps.
    pub apps: Vec<(String, Environment)>,
    /// Handler URLs, by bundle ID.
    pub handlers: BTreeMap<String, String>,
}

/// Runs phones in the mock's process.
pub trait PhoneRunner: Send + Sync {
    /// Starts the phone (in place of one it runs for the same UDID); an error says what
    /// is wrong with the request (a handler that is not a loopback URL).
    fn start(&self, spec: PhoneSpec) -> Result<(), String>;
    /// Stops the phone it runs for `udid`; whether there was one.
    fn stop(&self, udid: &str) -> bool;
}

/// `POST /api/v1/devices/{udid}/phone`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunPhone {
    /// Handler URLs (loopback), by bundle ID of an installed app.
    #[serde(default)]
    pub handlers: BTreeMap<String, String>,
}

impl Room {
    /// Runs a virtual device as a phone in the mock's process, its apps' handlers at the
    /// given URLs: `{"udid", "apps", "handlers"}`.
    pub(crate) fn run_phone(&self, udid: &str, run: RunPhone) -> Result<serde_json::Value, Error> {
        let runner = self.phones.get().ok_or_else(|| {
            Error::Conflict("this mock runs no phones of its own (apns-lab serve and exec do)".into())
        })?;
        let device = self.registry.table.device(udid).ok_or_else(|| Error::NotFound(format!("no device {udid}")))?;
        let apps: Vec<(String, Environment)> =
            device.apps.iter().filter(|a| a.installed).map(|a| (a.bundle_id.clone(), a.environment)).collect();
        for (bundle, url) in &run.handlers {
            if !apps.iter().any(|(b, _)| b == bundle) {
                return Err(Error::Invalid(format!("{bundle} is not installed on {udid}")));
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::Invalid(format!("handler {url:?}: through the admin API a handler is a URL")));
            }
        }
        if apps.is_empty() {
            return Err(Error::Invalid(format!("{udid} has no installed app")));
        }
        let spec = PhoneSpec { udid: udid.to_owned(), apps: apps.clone(), handlers: run.handlers.clone() };
        runner.start(spec).map_err(Error::Invalid)?;
        let apps: Vec<&str> = apps.iter().map(|(b, _)| b.as_str()).collect();
        Ok(serde_json::json!({"udid": udid, "apps": apps, "handlers": run.handlers}))
    }

    /// Stops the phone the mock runs for `udid`: `{"udid", "stopped"}`.
    pub(crate) fn stop_phone(&self, udid: &str) -> Result<serde_json::Value, Error> {
        let stopped = self.phones.get().is_some_and(|r| r.stop(udid));
        Ok(serde_json::json!({"udid": udid, "stopped": stopped}))
    }
}
