//! Simulated iPhones: a device's identity (its UDID) and the apps installed on it, each
//! built for an APNs environment. This is where steps 1, 2 and 5 of the flow happen on
//! the device side: an app asks to register, the device sends UDID + bundle ID to APNs,
//! and later routes each notification to the app by topic.
//!
//! Today the crate holds the device model that the mock's admin API and the demo use;
//! the gateway connection and presentation rules build on it.

use protocol::{DeviceToken, Environment};

/// An app installed on a simulated device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledApp {
    /// The bundle ID, which is also the app's APNs topic.
    pub bundle_id: String,
    /// The `aps-environment` entitlement the app was signed with.
    pub environment: Environment,
    /// The token APNs gave the app (step 2), once it has registered.
    pub token: Option<DeviceToken>,
}

/// A simulated iPhone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The device's unique identifier, which APNs folds into every token it issues.
    pub udid: String,
    /// Installed apps, in install order.
    pub apps: Vec<InstalledApp>,
}

impl Device {
    /// A device with nothing installed.
    pub fn new(udid: impl Into<String>) -> Self {
        Device { udid: udid.into(), apps: Vec::new() }
    }

    /// Installs an app (step 1 happens when it launches and asks to register).
    pub fn install(&mut self, bundle_id: impl Into<String>, environment: Environment) -> &mut InstalledApp {
        self.apps.push(InstalledApp { bundle_id: bundle_id.into(), environment, token: None });
        self.apps.last_mut().expect("an app was just pushed")
    }

    /// The installed app a notification for `topic` goes to: the app whose bundle ID is
    /// the topic's bundle part (step 5's routing).
    pub fn app_for_topic(&self, topic: &protocol::Topic) -> Option<&InstalledApp> {
        self.apps.iter().find(|a| a.bundle_id == topic.bundle_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_topic_bundle() {
        let mut d = Device::new("00008030-001A2D3C3E02802E");
        d.install("com.example.chat", Environment::Sandbox);
        d.install("com.example.news", Environment::Production);
        let voip: protocol::Topic = "com.example.chat.voip".parse().expect("topic");
        assert_eq!(d.app_for_topic(&voip).map(|a| a.bundle_id.as_str()), Some("com.example.chat"));
        let other: protocol::Topic = "com.example.mail".parse().expect("topic");
        assert!(d.app_for_topic(&other).is_none());
    }
}
