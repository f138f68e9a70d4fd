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
use crate::app::{AppLife, Rules};
use crate::gateway::{AckSink, Endpoint, Gateway, Identity, Notifications};
use crate::handler::Handler;
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
    /// What the phone keeps of it for iOS's rules (background window, VoIP strikes).
    pub life: AppLife,
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
    /// APNs's clock minus this machine's, ms: each delivery's `received_ms` sets it (and a
    /// line saying the clock moved), so the phone's Live Activity timers and its apps'
    /// budgets follow the mock's clock.
    clock: std::sync::Arc<tokio::sync::watch::Sender<i64>>,
    /// The keys its web apps subscribed with (the private halves stay here).
    pub web_keys: crate::web::WebKeys,
    /// The budgets iOS holds apps to.
    pub rules: Rules,
    /// The apps' own logic, by bundle ID (or a web app's origin).
    handlers: HashMap<String, Handler>,
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
            clock: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
            web_keys: Default::default(),
            rules: Rules::default(),
            handlers: HashMap::new(),
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
                background_budget: self.rules.background_limit,
            },
            bundle_id,
            environment,
            token: None,
            activity_types: Vec::new(),
            life: AppLife::default(),
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
            if app.token.as_ref().is_some_and(|t| *t != registered.token) {
                // A new token: the app was reinstalled (or the phone erased), so iOS
                // forgets what it held against the old install.
                app.life = AppLife::default();
            }
            app.token = Some(registered.token.clone());
            out.push(registered);
        }
        Ok(out)
    }

    /// Gives an app (by bundle ID, or a web app by origin) its own logic.
    pub fn set_handler(&mut self, app: impl Into<String>, mut handler: Handler) {
        // Its budgets read APNs's clock too: a test that moves it runs them out.
        handler.follow(self.clock.subscribe());
        self.handlers.insert(app.into(), handler);
    }

    /// Whether any app has logic of its own.
    pub fn has_handlers(&self) -> bool {
        !self.handlers.is_empty()
    }

    /// Waits for the next notification on `stream`, presents it (or drops a duplicate),
    /// and acknowledges it on `acks`. `None` when the stream closed.
    pub async fn receive(&mut self, stream: &mut Notifications, acks: &mut AckSink) -> Option<Result<Received, Error>> {
        loop {
            let delivery = match stream.next().await? {
                Ok(d) => d,
                Err(e) => return Some(Err(e)),
            };
            if delivery.clock {
                self.observe_clock(delivery.received_ms);
                continue;
            }
            return Some(self.take(delivery, acks).await);
        }
    }

    /// Handles one notification already read from the stream (its apps' handlers may
    /// take their whole budget: this must not be raced against a timer, or the
    /// notification would be lost) and acknowledges it.
    pub async fn take(&mut self, delivery: Delivery, acks: &mut AckSink) -> Result<Received, Error> {
        let received = match (delivery.response.is_some(), self.handlers.is_empty()) {
            (true, _) => self.respond(delivery).await,
            (false, true) => self.handle(delivery),
            (false, false) => self.handle_with_apps(delivery).await,
        };
        acks.send(&received.ack()).map(|()| received)
    }

    /// The user responds to a notification on the lock screen (`delivery.response`): a
    /// tap, a dismissal or an action of its category. It leaves the notification center,
    /// and the app's handler gets `didReceiveResponse` (`actionIdentifier`).
    pub async fn respond(&mut self, delivery: Delivery) -> Received {
        use protocol::gateway::UserResponse;
        let action = delivery.response.as_ref().map(|r| r.action.clone()).unwrap_or_default();
        let discard = |why: String, bundle: Option<String>| Decision {
            outcome: Outcome::Discarded,
            reason: Some(why),
            shown: None,
            bundle_id: bundle,
        };
        let decision = match self.center.items.iter().position(|s| s.apns_id == delivery.apns_id) {
            None => discard("no such notification on this phone".into(), None),
            Some(at) => {
                let shown = self.center.items[at].clone();
                let custom = action != UserResponse::TAP && action != UserResponse::DISMISS;
                if custom && shown.category.is_none() {
                    let why = format!("it has no category, so no action {action}");
                    discard(why, Some(shown.bundle_id))
                } else {
                    self.center.items.remove(at);
                    let mut reason = match action.as_str() {
                        UserResponse::TAP => "tapped".to_owned(),
                        UserResponse::DISMISS => "dismissed".to_owned(),
                        a => format!("action {a}"),
                    };
                    if let Some(handler) = self.handlers.get_mut(&shown.bundle_id) {
                        let event = serde_json::json!({
                            "event": "didReceiveResponse", "udid": self.udid, "bundleId": shown.bundle_id,
                            "apnsId": delivery.apns_id, "actionIdentifier": action,
                            "categoryIdentifier": shown.category, "notification": shown,
                        });
                        match handler.call(event, self.rules.answer_time).await {
                            Ok(answer) if crate::app::is_default(&answer) => {}
                            Ok(_) => reason.push_str("; the app handled it"),
                            Err(e) => reason.push_str(&format!("; the app failed: {e}")),
                        }
                    }
                    Decision {
                        outcome: Outcome::Responded,
                        reason: Some(reason),
                        shown: None,
                        bundle_id: Some(shown.bundle_id),
                    }
                }
            }
        };
        Received { delivery, decision: Some(decision), replaced: false, activity: None }
    }

    /// Presents one notification (or recognises a duplicate) without any I/O, as apps
    /// without handlers do.
    pub fn handle(&mut self, delivery: Delivery) -> Received {
        if !self.admit(&delivery) {
            return Received { delivery, decision: None, replaced: false, activity: None };
        }
        if delivery.push_type == PushType::Liveactivity {
            return self.handle_activity(delivery);
        }
        let decision = self.decide(&delivery);
        self.record(delivery, decision)
    }

    /// [`Device::handle`], with the apps that have handlers running their own logic
    /// under iOS's rules ([`crate::app`]).
    pub async fn handle_with_apps(&mut self, delivery: Delivery) -> Received {
        if !self.admit(&delivery) {
            return Received { delivery, decision: None, replaced: false, activity: None };
        }
        if delivery.push_type == PushType::Liveactivity {
            return self.handle_activity(delivery);
        }
        let decision = match self.decide_with_handler(&delivery).await {
            Some(d) => d,
            None => self.decide(&delivery),
        };
        self.record(delivery, decision)
    }

    /// Drops a duplicate (false) and follows APNs's clock.
    fn admit(&mut self, delivery: &Delivery) -> bool {
        if !self.seen.0.insert(delivery.apns_id.clone()) {
            return false;
        }
        self.seen.1.push_back(delivery.apns_id.clone());
        if self.seen.1.len() > SEEN
            && let Some(old) = self.seen.1.pop_front()
        {
            self.seen.0.remove(&old);
        }
        self.observe_clock(delivery.received_ms);
        let (now, rules) = (self.now_secs(), self.rules);
        for app in &mut self.apps {
            // The background budget refills once its window (on the mock's clock) is over.
            if now.saturating_sub(app.life.background_window_start) >= rules.background_window_secs {
                app.life.background_window_start = now;
                app.state.background_budget = rules.background_limit;
            }
        }
        true
    }

    /// What an app without a handler does, by iOS's presentation rules.
    fn decide(&mut self, delivery: &Delivery) -> Decision {
        match delivery.push_type {
            PushType::Webpush => crate::web::present_web(delivery, &self.web_keys),
            PushType::Voip => {
                let mut d = self.present(delivery);
                // An app without its own logic is a well-behaved one: it reports the call.
                if d.outcome != Outcome::AppNotInstalled {
                    let app = d.bundle_id.clone().unwrap_or_default();
                    d = match self.apps.iter().find(|a| a.bundle_id == app).is_some_and(|a| a.life.voip_blocked) {
                        true => Decision { outcome: Outcome::VoipBlocked, reason: None, shown: None, ..d },
                        false => Decision {
                            outcome: Outcome::CallReported,
                            reason: Some("incoming call".into()),
                            shown: None,
                            ..d
                        },
                    };
                }
                d
            }
            _ => self.present(delivery),
        }
    }

    fn present(&self, delivery: &Delivery) -> Decision {
        let states: Vec<AppState> = self.apps.iter().map(|a| a.state.clone()).collect();
        present(delivery, &states)
    }

    /// The app's own logic, if it has a handler: `None` for the default.
    async fn decide_with_handler(&mut self, delivery: &Delivery) -> Option<Decision> {
        if delivery.push_type == PushType::Webpush {
            return self.decide_web(delivery).await;
        }
        let bundle = Topic::parse(&delivery.topic).map(|t| t.bundle_id().to_owned()).ok()?;
        let at = self.apps.iter().position(|a| a.bundle_id == bundle)?;
        let handler = self.handlers.get_mut(&bundle)?;
        let rules = self.rules;
        let name = |n: &str| crate::app::event(n, &self.udid, &bundle, delivery);
        if delivery.push_type == PushType::Voip {
            let event = name("didReceiveIncomingPushWith");
            return crate::app::voip(handler, &rules, &mut self.apps[at].life, event, &bundle).await;
        }
        let states: Vec<AppState> = self.apps.iter().map(|a| a.state.clone()).collect();
        let decision = present(delivery, &states);
        match (decision.outcome, decision.shown) {
            (Outcome::HandledSilently, _) => {
                crate::app::background(handler, &rules, name("didReceiveRemoteNotification"), &bundle).await
            }
            (Outcome::Presented, Some(shown)) if shown.in_foreground => {
                crate::app::will_present(handler, &rules, name("willPresent"), shown).await
            }
            (Outcome::Presented, Some(shown)) if crate::app::wants_extension(delivery) => {
                crate::app::extension(handler, &rules, name("didReceive"), shown).await
            }
            _ => None,
        }
    }

    /// A web push to a web app whose service worker is the team's: its `push` event.
    async fn decide_web(&mut self, delivery: &Delivery) -> Option<Decision> {
        let opened = match crate::web::open(delivery, &self.web_keys) {
            Ok(o) => o,
            Err(d) => return Some(*d),
        };
        // Opened (decrypted) once: without a handler of its own, or for a message Safari
        // shows itself, what was opened is shown as the default path would.
        let Some(handler) = self.handlers.get_mut(&opened.origin).filter(|_| opened.goes_to_worker()) else {
            return Some(crate::web::show(delivery, &opened, None));
        };
        let event = serde_json::json!({
            "event": "push", "udid": self.udid, "origin": opened.origin, "apnsId": delivery.apns_id,
            "data": opened.data,
        });
        let discard = |why: String| Decision {
            outcome: Outcome::Discarded,
            reason: Some(why),
            shown: None,
            bundle_id: Some(opened.origin.clone()),
        };
        Some(match handler.call(event, self.rules.answer_time).await {
            Ok(answer) if crate::app::is_default(&answer) => crate::web::show(delivery, &opened, None),
            Ok(answer) => match answer.get("showNotification").filter(|n| n.get("title").is_some_and(Value::is_string))
            {
                Some(n) => crate::web::show(delivery, &opened, Some(n)),
                None => discard("the service worker showed no notification".into()),
            },
            Err(e) => {
                handler.stop();
                discard(format!("the service worker failed: {e}"))
            }
        })
    }

    /// Counts a background push against the budget, sets the badge and adds what was
    /// shown to the notification center.
    fn record(&mut self, delivery: Delivery, decision: Decision) -> Received {
        if matches!(decision.outcome, Outcome::HandledSilently | Outcome::BackgroundFetch)
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

    /// Hands an app's new token to its handler (`didRegisterForRemoteNotifications`,
    /// `pushToStartTokenUpdates`, `pushTokenUpdates`), so it can post it to its own
    /// backend. `None` when the app has no handler.
    pub async fn hand_token(&mut self, app: &str, event: Value) -> Option<Result<(), crate::handler::Failure>> {
        let handler = self.handlers.get_mut(app)?;
        let mut event = event;
        event["udid"] = self.udid.clone().into();
        match handler.call(event, self.rules.answer_time).await {
            // Left to the built-in app: nothing of the app's own to say.
            Ok(answer) if crate::app::is_default(&answer) => None,
            Ok(_) => Some(Ok(())),
            Err(e) => Some(Err(e)),
        }
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

    /// APNs's clock minus this machine's, ms.
    pub fn clock_offset_ms(&self) -> i64 {
        *self.clock.borrow()
    }

    /// Where the phone keeps APNs's clock, for a task that reads the stream while the
    /// phone is busy: a line saying the clock moved sets it ([`offset_at`]).
    pub fn clock(&self) -> std::sync::Arc<tokio::sync::watch::Sender<i64>> {
        self.clock.clone()
    }

    /// Follows APNs's clock: `received_ms` is its time when it accepted the push, a moment ago.
    pub fn observe_clock(&mut self, received_ms: u64) {
        self.clock.send_replace(offset_at(received_ms));
    }

    /// The phone's now, on APNs's clock, UNIX seconds.
    pub fn now_secs(&self) -> u64 {
        ((local_ms() as i64 + self.clock_offset_ms()).max(0) as u64) / 1000
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

/// APNs's clock minus this machine's, given APNs's time `received_ms` (now, or a moment ago).
pub fn offset_at(received_ms: u64) -> i64 {
    received_ms as i64 - local_ms() as i64
}

fn local_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
