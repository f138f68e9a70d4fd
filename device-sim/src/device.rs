//! A simulated iPhone: its identity (UDID and device certificate), its installed apps and
//! their state, its notification center, and the loop that receives notifications from
//! the gateway, drops duplicates by apns-id, presents them, and acknowledges each.

use std::collections::{HashMap, HashSet, VecDeque};

use protocol::Environment;
use protocol::gateway::{Ack, Delivery, RegisterApp, Registered};

use crate::Error;
use crate::gateway::{AckSink, Endpoint, Gateway, Identity, Notifications};
use crate::present::{AppState, Authorization, Decision, NotificationCenter, present};

/// An app installed on the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledApp {
    /// The bundle ID, which is also the app's APNs topic.
    pub bundle_id: String,
    /// The `aps-environment` entitlement the app was signed with.
    pub environment: Environment,
    /// Notification permission, foreground state, extension, budget.
    pub state: AppState,
    /// The token APNs gave the app (step 2), once it has registered.
    pub token: Option<String>,
}

/// How many apns-ids the phone remembers to drop duplicates.
const SEEN: usize = 10_000;
/// Background updates allowed per app before they are throttled.
pub const BACKGROUND_BUDGET: u32 = 3;

/// A simulated iPhone.
pub struct Device {
    /// The device's unique identifier, which APNs folds into every token it issues.
    pub udid: String,
    /// Installed apps, in install order.
    pub apps: Vec<InstalledApp>,
    /// What was presented.
    pub center: NotificationCenter,
    /// Badge per app.
    pub badges: HashMap<String, u32>,
    endpoint: Endpoint,
    identity: Identity,
    seen: (HashSet<String>, VecDeque<String>),
}

/// One notification as it arrived and what the phone did with it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The notification.
    pub delivery: Delivery,
    /// What the phone did (None: a duplicate, dropped and acknowledged again).
    pub decision: Option<Decision>,
    /// Whether it replaced an earlier notification with the same collapse id.
    pub replaced: bool,
}

impl Device {
    /// Activates a phone with the gateway (once per UDID) and returns it, with no apps.
    pub async fn activate(endpoint: Endpoint, udid: Option<String>) -> Result<Device, Error> {
        let mut anonymous = Gateway::connect(&endpoint, None).await?;
        let activation = anonymous.activate(udid).await?;
        Ok(Device {
            udid: activation.udid,
            apps: Vec::new(),
            center: NotificationCenter::default(),
            badges: HashMap::new(),
            endpoint,
            identity: Identity { cert_pem: activation.cert_pem, key_pem: activation.key_pem },
            seen: (HashSet::new(), VecDeque::new()),
        })
    }

    /// The device's identity certificate and key.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Connects to the gateway as this device.
    pub async fn connect(&self) -> Result<Gateway, Error> {
        Gateway::connect(&self.endpoint, Some(&self.identity)).await
    }

    /// Installs an app (step 1 happens when it registers).
    pub fn install(&mut self, bundle_id: impl Into<String>, environment: Environment) -> &mut InstalledApp {
        let bundle_id = bundle_id.into();
        self.apps.push(InstalledApp {
            state: AppState {
                bundle_id: bundle_id.clone(),
                authorization: Authorization::Granted,
                foreground: false,
                foreground_banner: false,
                service_extension: false,
                background_budget: BACKGROUND_BUDGET,
            },
            bundle_id,
            environment,
            token: None,
        });
        self.apps.last_mut().expect("an app was just pushed")
    }

    /// Steps 1 and 2 for every installed app: ask to register, get the token.
    pub async fn register_apps(&mut self, gateway: &mut Gateway) -> Result<Vec<Registered>, Error> {
        let mut out = Vec::new();
        for app in &mut self.apps {
            let registered = gateway
                .register(&RegisterApp { bundle_id: app.bundle_id.clone(), environment: app.environment })
                .await?;
            app.token = Some(registered.token.clone());
            out.push(registered);
        }
        Ok(out)
    }

    /// Waits for the next notification on `stream`, presents it (or drops a duplicate),
    /// and acknowledges it on `acks`. `None` when the stream closed.
    pub async fn receive(&mut self, stream: &mut Notifications, acks: &mut AckSink) -> Option<Result<Received, Error>> {
        let delivery = match stream.next().await? {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        let received = self.handle(delivery);
        let ack = match &received.decision {
            Some(d) => Ack { apns_id: received.delivery.apns_id.clone(), outcome: d.outcome, reason: d.reason.clone() },
            None => Ack {
                apns_id: received.delivery.apns_id.clone(),
                outcome: protocol::gateway::Outcome::Discarded,
                reason: Some("duplicate".into()),
            },
        };
        Some(acks.send(&ack).map(|()| received))
    }

    /// Presents one notification (or recognises a duplicate) without any I/O.
    pub fn handle(&mut self, delivery: Delivery) -> Received {
        if !self.seen.0.insert(delivery.apns_id.clone()) {
            return Received { delivery, decision: None, replaced: false };
        }
        self.seen.1.push_back(delivery.apns_id.clone());
        if self.seen.1.len() > SEEN
            && let Some(old) = self.seen.1.pop_front()
        {
            self.seen.0.remove(&old);
        }
        let states: Vec<AppState> = self.apps.iter().map(|a| a.state.clone()).collect();
        let decision = present(&delivery, &states);
        if decision.outcome == protocol::gateway::Outcome::HandledSilently
            && let Some(app) = self.apps.iter_mut().find(|a| Some(&a.bundle_id) == decision.bundle_id.as_ref())
        {
            app.state.background_budget = app.state.background_budget.saturating_sub(1);
        }
        let mut replaced = false;
        if let Some(shown) = &decision.shown {
            if let Some(badge) = shown.badge {
                self.badges.insert(shown.bundle_id.clone(), badge);
            }
            replaced = self.center.add(shown.clone());
        }
        Received { delivery, decision: Some(decision), replaced }
    }
}
