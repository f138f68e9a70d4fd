//! A simulated iPhone: its identity (UDID and device certificate), its installed apps and
//! their state, its notification center, and the loop that receives notifications from
//! the gateway, drops duplicates by apns-id, presents them, and acknowledges each.

use std::collections::{HashMap, HashSet, VecDeque};

use protocol::gateway::{
    Ack, ActivityToken, DeclareActivityType, Delivery, EndActivity, Outcome, RegisterApp, Registered, StartActivity,
};
use protocol::{Environment, PushType, Topic};
use serde_json::{Map, Value};

use crate::Error;
use crate::activity::{Activities, Applied, Change};
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
    /// The `ActivityAttributes` types it declares, with the push-to-start token APNs
    /// gave each once declared.
    pub activity_types: Vec<(String, Option<String>)>,
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
    /// Live Activities: declared types, running and ended ones.
    pub activities: Activities,
    /// APNs's clock minus this machine's, ms: each delivery's `received_ms` sets it, so
    /// the phone's Live Activity timers follow the mock's clock.
    pub clock_offset_ms: i64,
    /// The keys its web apps subscribed with (the private halves stay here).
    pub web_keys: crate::web::WebKeys,
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
    /// For a Live Activity push: what it did to an activity.
    pub activity: Option<Change>,
}

impl Received {
    /// The acknowledgement: what the phone did, and for a web push it showed, what (APNs
    /// cannot read a web push: the simulator reports it for the journey and dashboard).
    pub fn ack(&self) -> Ack {
        let apns_id = self.delivery.apns_id.clone();
        match &self.decision {
            Some(d) => Ack {
                apns_id,
                outcome: d.outcome,
                reason: d.reason.clone(),
                shown: d.shown.as_ref().filter(|_| self.delivery.push_type == PushType::Webpush).map(|s| {
                    [s.title.as_deref(), s.body.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" — ")
                }),
            },
            None => Ack { apns_id, outcome: Outcome::Discarded, reason: Some("duplicate".into()), shown: None },
        }
    }
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
            activities: Activities::default(),
            clock_offset_ms: 0,
            web_keys: Default::default(),
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
            activity_types: Vec::new(),
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
        Some(acks.send(&received.ack()).map(|()| received))
    }

    /// Presents one notification (or recognises a duplicate) without any I/O.
    pub fn handle(&mut self, delivery: Delivery) -> Received {
        if !self.seen.0.insert(delivery.apns_id.clone()) {
            return Received { delivery, decision: None, replaced: false, activity: None };
        }
        self.seen.1.push_back(delivery.apns_id.clone());
        if self.seen.1.len() > SEEN
            && let Some(old) = self.seen.1.pop_front()
        {
            self.seen.0.remove(&old);
        }
        self.observe_clock(delivery.received_ms);
        if delivery.push_type == PushType::Liveactivity {
            return self.handle_activity(delivery);
        }
        let decision = match delivery.push_type {
            PushType::Webpush => crate::web::present_web(&delivery, &self.web_keys),
            _ => {
                let states: Vec<AppState> = self.apps.iter().map(|a| a.state.clone()).collect();
                present(&delivery, &states)
            }
        };
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
        Received { delivery, decision: Some(decision), replaced, activity: None }
    }

    /// A Live Activity push: routed to the app by topic, then applied by ActivityKit's rules.
    fn handle_activity(&mut self, delivery: Delivery) -> Received {
        let bundle = Topic::parse(&delivery.topic).map(|t| t.bundle_id().to_owned()).unwrap_or_default();
        let now = self.now_secs();
        let applied = match self.apps.iter().any(|a| a.bundle_id == bundle) {
            true => self.activities.apply(&delivery, &bundle, now),
            false => Applied { outcome: Outcome::AppNotInstalled, reason: None, change: None },
        };
        let decision =
            Decision { outcome: applied.outcome, reason: applied.reason, shown: None, bundle_id: Some(bundle) };
        Received { delivery, decision: Some(decision), replaced: false, activity: applied.change }
    }

    /// A web app on the Home Screen subscribes to Web Push with its server's key: the
    /// phone makes (or reuses) the origin's keys, keeps the private half, and gets the
    /// subscription to hand to the server.
    pub async fn subscribe_web_app(
        &mut self,
        gateway: &mut Gateway,
        origin: &str,
        name: Option<&str>,
        application_server_key: &str,
    ) -> Result<protocol::gateway::PushSubscription, Error> {
        let request = protocol::gateway::SubscribeWebApp {
            origin: origin.to_owned(),
            name: name.map(str::to_owned),
            application_server_key: application_server_key.to_owned(),
            keys: Some(self.web_keys.for_origin(origin)),
        };
        let subscription = gateway.subscribe_web_app(&request).await?;
        self.web_keys.subscribed(origin, &subscription.endpoint);
        Ok(subscription)
    }

    /// Follows APNs's clock: `received_ms` is its time when it accepted the push, a moment ago.
    pub fn observe_clock(&mut self, received_ms: u64) {
        self.clock_offset_ms = received_ms as i64 - local_ms() as i64;
    }

    /// The phone's now, on APNs's clock, UNIX seconds.
    pub fn now_secs(&self) -> u64 {
        ((local_ms() as i64 + self.clock_offset_ms).max(0) as u64) / 1000
    }

    /// Declares an attributes type for an app and gets its push-to-start token (step 2,
    /// for activities).
    pub async fn declare_activity_type(
        &mut self,
        gateway: &mut Gateway,
        bundle_id: &str,
        attributes_type: &str,
    ) -> Result<ActivityToken, Error> {
        let app = self
            .apps
            .iter_mut()
            .find(|a| a.bundle_id == bundle_id)
            .ok_or_else(|| Error::Config(format!("{bundle_id} is not installed on this phone")))?;
        let token = gateway
            .declare_activity_type(&DeclareActivityType {
                bundle_id: bundle_id.to_owned(),
                environment: app.environment,
                attributes_type: attributes_type.to_owned(),
            })
            .await?;
        match app.activity_types.iter_mut().find(|(t, _)| t == attributes_type) {
            Some(known) => known.1 = Some(token.token.clone()),
            None => app.activity_types.push((attributes_type.to_owned(), Some(token.token.clone()))),
        }
        self.activities.declare(bundle_id, attributes_type);
        Ok(token)
    }

    /// Every declared type of every app, declared with APNs again (after a reconnect).
    pub async fn declare_activity_types(&mut self, gateway: &mut Gateway) -> Result<Vec<ActivityToken>, Error> {
        let wanted: Vec<(String, String)> = self
            .apps
            .iter()
            .flat_map(|a| a.activity_types.iter().map(|(t, _)| (a.bundle_id.clone(), t.clone())))
            .collect();
        let mut out = Vec::new();
        for (bundle, kind) in wanted {
            out.push(self.declare_activity_type(gateway, &bundle, &kind).await?);
        }
        Ok(out)
    }

    /// Starts an activity from the app and gets its update token.
    pub async fn start_activity(
        &mut self,
        gateway: &mut Gateway,
        bundle_id: &str,
        attributes_type: &str,
        attributes: Map<String, Value>,
        content_state: Map<String, Value>,
    ) -> Result<ActivityToken, Error> {
        let now = self.now_secs();
        let id = self.activities.start_local(bundle_id, attributes_type, attributes, content_state, now);
        self.activity_token(gateway, &id)
            .await?
            .ok_or_else(|| Error::Protocol(format!("APNs issued no update token for activity {id}")))
    }

    /// Starts an activity that listens to a broadcast channel (ActivityKit's `pushType:
    /// .channel(id)`): APNs learns the subscription and issues no token (broadcasts
    /// update it); a channel that is not the app's makes the start fail, and the activity
    /// is gone again. Answers the activity's id.
    pub async fn start_channel_activity(
        &mut self,
        gateway: &mut Gateway,
        bundle_id: &str,
        attributes_type: &str,
        channel: &str,
    ) -> Result<String, Error> {
        let now = self.now_secs();
        let id = self.activities.start_local(bundle_id, attributes_type, Map::new(), Map::new(), now);
        if let Some(a) = self.activities.list.iter_mut().find(|a| a.id == id) {
            a.channel = Some(channel.to_owned());
        }
        match self.activity_token(gateway, &id).await {
            Ok(_) => Ok(id),
            Err(e) => {
                self.activities.list.retain(|a| a.id != id);
                Err(e)
            }
        }
    }

    /// Tells APNs a running activity started and, unless it listens to a channel, gets its
    /// update token (pushTokenUpdates) and keeps it.
    pub async fn activity_token(&mut self, gateway: &mut Gateway, id: &str) -> Result<Option<ActivityToken>, Error> {
        let a = self.activities.get(id).ok_or_else(|| Error::Config(format!("no activity {id}")))?;
        let environment = self
            .apps
            .iter()
            .find(|app| app.bundle_id == a.bundle_id)
            .map_or(protocol::Environment::Sandbox, |app| app.environment);
        let token = gateway
            .start_activity(&StartActivity {
                bundle_id: a.bundle_id.clone(),
                environment,
                attributes_type: a.attributes_type.clone(),
                activity_id: id.to_owned(),
                channel: a.channel.clone(),
            })
            .await?;
        if let Some(a) = self.activities.list.iter_mut().find(|a| a.id == id) {
            a.token = token.as_ref().map(|t| t.token.clone());
        }
        Ok(token)
    }

    /// Tells APNs an activity ended on the phone.
    pub async fn report_end(&mut self, gateway: &mut Gateway, id: &str) -> Result<(), Error> {
        let Some(a) = self.activities.get(id) else { return Ok(()) };
        let environment = self
            .apps
            .iter()
            .find(|app| app.bundle_id == a.bundle_id)
            .map_or(protocol::Environment::Sandbox, |app| app.environment);
        gateway
            .end_activity(&EndActivity { bundle_id: a.bundle_id.clone(), environment, activity_id: id.to_owned() })
            .await
    }

    /// What a change needs from APNs: an update token for a new activity that asked for
    /// one (or that listens to a channel), or word that an activity ended. Answers the new
    /// token when the push asked for one (`input-push-token`).
    pub async fn settle(&mut self, gateway: &mut Gateway, change: &Change) -> Result<Option<ActivityToken>, Error> {
        match change {
            Change::Started { id, wants_token } => {
                // A channel is a subscription APNs must know of, token or not; a channel
                // that is not the app's makes the start fail, as on iOS.
                let channel = self.activities.get(id).and_then(|a| a.channel.clone());
                if !wants_token && channel.is_none() {
                    return Ok(None);
                }
                match self.activity_token(gateway, id).await {
                    Ok(t) => Ok(t.filter(|_| *wants_token)),
                    Err(e) if channel.is_some() => {
                        self.activities.list.retain(|a| &a.id != id);
                        Err(Error::Config(format!("the Live Activity could not start: {e}")))
                    }
                    Err(e) => Err(e),
                }
            }
            Change::Ended { id, .. } => self.report_end(gateway, id).await.map(|()| None),
            _ => Ok(None),
        }
    }
}

fn local_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
