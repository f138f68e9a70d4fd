//! Live Activities on the phone, as ActivityKit runs them. Pure logic on a clock the
//! caller passes in (the mock's, so tests can move it); the I/O — asking the gateway for
//! an activity's update token, telling it an activity ended — is the device's.
//!
//! Rules, in order, for a `liveactivity` push:
//! 1. The payload must be one the device can apply ([`ActivityPush::read`]); else it is
//!    dropped (`malformed: …`). APNs accepted it: it does not read `aps`.
//! 2. To a push-to-start token: `event` must be `start`, for a type the app declared;
//!    the phone creates the activity (a new id), and the app asks for its update token if
//!    `input-push-token` is 1, or joins `input-push-channel`.
//! 3. To an update token: the activity must still run (else `activity-ended`, which is
//!    how APNs learns its token is gone); a `timestamp` older than the state shown is
//!    dropped (`older-than-shown`); `update` applies the content state and `stale-date`,
//!    `end` applies the final one and schedules removal at `dismissal-date` (past: now;
//!    absent: 4 hours after the end).
//! 4. Priority-10 updates count against an hourly budget per app. Apple does not publish
//!    it; apns-lab uses [`HIGH_PRIORITY_BUDGET`] (12 an hour), small enough that a test
//!    which sends a burst sees it and documented so the test can assert it. Past it, an
//!    update is held and applied when the hour's window ends, as iOS defers it.
//!
//! And on the clock ([`Activities::tick`]): an activity is stale from its `stale-date`;
//! the system ends one that has been active for 8 hours; an ended one leaves the Lock
//! Screen at its dismissal date, at most 4 hours after it ended (12 hours in all).

use std::collections::HashMap;

use protocol::gateway::{Delivery, Outcome};
use protocol::{ActivityEvent, ActivityPush, ActivityTarget, Priority};
use serde::Serialize;
use serde_json::{Map, Value};

/// How long an activity may stay active before the system ends it, in seconds.
pub const MAX_ACTIVE_SECS: u64 = 8 * 3600;
/// How long an ended activity may stay on the Lock Screen, in seconds.
pub const MAX_ENDED_SECS: u64 = 4 * 3600;
/// Priority-10 updates an app may apply per hour before the rest are deferred.
pub const HIGH_PRIORITY_BUDGET: u32 = 12;
/// The reason a push to an activity that has ended is dropped (APNs learns from it).
pub const ACTIVITY_ENDED: &str = "activity-ended";

/// Where an activity stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivityState {
    /// Running, its content current.
    Active,
    /// Running, past its stale date.
    Stale,
    /// Ended, still on the Lock Screen until its dismissal date.
    Ended,
    /// Removed from the Lock Screen.
    Dismissed,
}

/// One Live Activity on the phone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    /// ActivityKit's `Activity.id`.
    pub id: String,
    /// The app.
    pub bundle_id: String,
    /// The `ActivityAttributes` type.
    pub attributes_type: String,
    /// The static attributes.
    pub attributes: Map<String, Value>,
    /// The content state shown.
    pub content_state: Map<String, Value>,
    /// The `timestamp` of the state shown (UNIX seconds).
    pub timestamp: u64,
    /// When it goes stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_date: Option<u64>,
    /// Ordering among the app's activities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance_score: Option<f64>,
    /// When it started (UNIX seconds).
    pub started_at: u64,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
    /// When it leaves the Lock Screen (set when it ends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dismissal_date: Option<u64>,
    /// Its update token, once APNs issued one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The broadcast channel it listens to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The last alert an update carried (it lit the screen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<Value>,
}

impl Activity {
    /// Where it stands at `now` (UNIX seconds).
    pub fn state(&self, now: u64) -> ActivityState {
        match (self.ended_at, self.dismissal_date) {
            (Some(_), Some(d)) if now >= d => ActivityState::Dismissed,
            (Some(_), _) => ActivityState::Ended,
            (None, _) if self.stale_date.is_some_and(|s| now >= s) => ActivityState::Stale,
            (None, _) => ActivityState::Active,
        }
    }
}

/// What a push or the clock did to an activity.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A push-to-start created an activity.
    Started {
        /// The new activity.
        id: String,
        /// Whether the app must ask APNs for its update token (`input-push-token`).
        wants_token: bool,
    },
    /// New content state.
    Updated {
        /// The activity.
        id: String,
        /// Whether the update carried an alert (it lit the screen).
        alert: bool,
    },
    /// It ended (by a push, the app, or the system after 8 hours).
    Ended {
        /// The activity.
        id: String,
        /// Whether the system ended it (the 8-hour limit).
        by_system: bool,
    },
    /// A priority-10 update held past the budget.
    Deferred {
        /// The activity.
        id: String,
        /// When it will be applied (UNIX seconds).
        until: u64,
    },
    /// It left the Lock Screen.
    Dismissed {
        /// The activity.
        id: String,
    },
}

/// What the phone does with one `liveactivity` push: the ack, and what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// For the ack.
    pub outcome: Outcome,
    /// Why it was dropped, or a note on how it was applied.
    pub reason: Option<String>,
    /// What changed, if anything.
    pub change: Option<Change>,
}

impl Applied {
    fn dropped(why: impl Into<String>) -> Applied {
        Applied { outcome: Outcome::Discarded, reason: Some(why.into()), change: None }
    }
}

/// An update held past the priority-10 budget.
#[derive(Debug, Clone)]
struct Deferred {
    activity: String,
    until: u64,
    push: ActivityPush,
}

/// The phone's Live Activities: the attribute types each app declares, and the
/// activities running (or ended and still shown).
#[derive(Debug, Default)]
pub struct Activities {
    /// Activities, in the order they started.
    pub list: Vec<Activity>,
    /// Per app: the `ActivityAttributes` types it declares.
    pub declared: HashMap<String, Vec<String>>,
    /// Per app: the start of the current budget hour and the priority-10 updates in it.
    budget: HashMap<String, (u64, u32)>,
    deferred: Vec<Deferred>,
    next_id: u64,
}

impl Activities {
    /// Declares an attributes type for an app (it can then be started by push).
    pub fn declare(&mut self, bundle_id: &str, attributes_type: &str) {
        let types = self.declared.entry(bundle_id.to_owned()).or_default();
        if !types.iter().any(|t| t == attributes_type) {
            types.push(attributes_type.to_owned());
        }
    }

    /// One activity, by id.
    pub fn get(&self, id: &str) -> Option<&Activity> {
        self.list.iter().find(|a| a.id == id)
    }

    fn new_id(&mut self, now: u64) -> String {
        use std::hash::{BuildHasher, Hasher};
        self.next_id += 1;
        let n = self.next_id;
        // The shape of ActivityKit's ids: an uppercase UUID, random (the process's hash
        // keys mixed with the clock), with a counter that keeps it unique on this phone.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(now ^ n);
        let r = h.finish();
        format!("{:08X}-{:04X}-4{:03X}-8{:03X}-{:012X}", r as u32, (r >> 32) as u16, (r >> 48) & 0xfff, n & 0xfff, n)
    }

    /// Starts an activity from the app (ActivityKit's `Activity.request`): answers its id.
    pub fn start_local(
        &mut self,
        bundle_id: &str,
        attributes_type: &str,
        attributes: Map<String, Value>,
        content_state: Map<String, Value>,
        now: u64,
    ) -> String {
        self.declare(bundle_id, attributes_type);
        let id = self.new_id(now);
        self.list.push(Activity {
            id: id.clone(),
            bundle_id: bundle_id.to_owned(),
            attributes_type: attributes_type.to_owned(),
            attributes,
            content_state,
            timestamp: now,
            stale_date: None,
            relevance_score: None,
            started_at: now,
            ended_at: None,
            dismissal_date: None,
            token: None,
            channel: None,
            alert: None,
        });
        id
    }

    /// Applies one `liveactivity` delivery at `now` (UNIX seconds), by the rules above.
    pub fn apply(&mut self, d: &Delivery, bundle_id: &str, now: u64) -> Applied {
        let push = match ActivityPush::read(d.payload.get().as_bytes()) {
            Ok(p) => p,
            Err(why) => return Applied::dropped(format!("malformed: {why}")),
        };
        match &d.activity {
            None => Applied::dropped("not a Live Activity token: no activity on this phone has it"),
            Some(ActivityTarget::PushToStart { attributes_type }) => {
                self.start_by_push(bundle_id, attributes_type, push, now)
            }
            Some(ActivityTarget::Update { activity_id }) => {
                let high = d.priority == Priority::Immediate;
                self.update_by_push(activity_id, push, high, now)
            }
        }
    }

    fn start_by_push(&mut self, bundle_id: &str, attributes_type: &str, push: ActivityPush, now: u64) -> Applied {
        if push.event != ActivityEvent::Start {
            return Applied::dropped(format!("{} to a push-to-start token: only start starts", push.event.as_str()));
        }
        if push.attributes_type.as_deref() != Some(attributes_type) {
            return Applied::dropped(format!(
                "attributes-type {:?} is not this token's {attributes_type}",
                push.attributes_type.unwrap_or_default()
            ));
        }
        if !self.declared.get(bundle_id).is_some_and(|t| t.iter().any(|t| t == attributes_type)) {
            return Applied::dropped(format!("{bundle_id} does not declare {attributes_type}"));
        }
        let id = self.new_id(now);
        let wants_token = push.input_push_token;
        self.list.push(Activity {
            id: id.clone(),
            bundle_id: bundle_id.to_owned(),
            attributes_type: attributes_type.to_owned(),
            attributes: push.attributes.unwrap_or_default(),
            content_state: push.content_state,
            timestamp: push.timestamp,
            stale_date: push.stale_date,
            relevance_score: push.relevance_score,
            started_at: now,
            ended_at: None,
            dismissal_date: None,
            token: None,
            channel: push.input_push_channel,
            alert: push.alert,
        });
        Applied { outcome: Outcome::ActivityStarted, reason: None, change: Some(Change::Started { id, wants_token }) }
    }

    fn update_by_push(&mut self, id: &str, push: ActivityPush, high: bool, now: u64) -> Applied {
        let Some(at) = self.list.iter().position(|a| a.id == id) else {
            return Applied::dropped(ACTIVITY_ENDED);
        };
        let a = &self.list[at];
        if a.ended_at.is_some() {
            return Applied::dropped(ACTIVITY_ENDED);
        }
        if push.event == ActivityEvent::Start {
            return Applied::dropped("start to an update token: the activity already runs");
        }
        if push.timestamp < a.timestamp {
            return Applied::dropped("older-than-shown");
        }
        if high && push.event == ActivityEvent::Update {
            let bundle = a.bundle_id.clone();
            let (window, used) = self.budget.entry(bundle).or_insert((now, 0));
            if now >= *window + 3600 {
                (*window, *used) = (now, 0);
            }
            if *used >= HIGH_PRIORITY_BUDGET {
                let until = *window + 3600;
                self.deferred.push(Deferred { activity: id.to_owned(), until, push });
                return Applied {
                    outcome: Outcome::ActivityUpdated,
                    reason: Some(format!(
                        "deferred: the app's {HIGH_PRIORITY_BUDGET} priority-10 updates this hour are spent"
                    )),
                    change: Some(Change::Deferred { id: id.to_owned(), until }),
                };
            }
            *used += 1;
        }
        let a = &mut self.list[at];
        apply_content(a, &push);
        match push.event {
            ActivityEvent::End => {
                end(a, push.dismissal_date, now);
                Applied {
                    outcome: Outcome::ActivityEnded,
                    reason: None,
                    change: Some(Change::Ended { id: id.to_owned(), by_system: false }),
                }
            }
            _ => Applied {
                outcome: Outcome::ActivityUpdated,
                reason: None,
                change: Some(Change::Updated { id: id.to_owned(), alert: push.alert.is_some() }),
            },
        }
    }

    /// What the clock does at `now`: deferred updates applied when their hour ends,
    /// activities ended after 8 hours, ended ones dismissed at their date.
    pub fn tick(&mut self, now: u64) -> Vec<Change> {
        let mut changes = Vec::new();
        let (due, later): (Vec<Deferred>, Vec<Deferred>) =
            std::mem::take(&mut self.deferred).into_iter().partition(|d| now >= d.until);
        self.deferred = later;
        for d in due {
            if let Some(a) = self.list.iter_mut().find(|a| a.id == d.activity && a.ended_at.is_none())
                && d.push.timestamp >= a.timestamp
            {
                apply_content(a, &d.push);
                changes.push(Change::Updated { id: a.id.clone(), alert: d.push.alert.is_some() });
            }
        }
        for a in &mut self.list {
            if a.ended_at.is_none() && now >= a.started_at + MAX_ACTIVE_SECS {
                end(a, None, a.started_at + MAX_ACTIVE_SECS);
                changes.push(Change::Ended { id: a.id.clone(), by_system: true });
            }
        }
        let mut dismissed = Vec::new();
        self.list.retain(|a| {
            let gone = a.state(now) == ActivityState::Dismissed;
            if gone {
                dismissed.push(Change::Dismissed { id: a.id.clone() });
            }
            !gone
        });
        changes.extend(dismissed);
        changes
    }

    /// Forgets everything of an app (it was uninstalled), or of the phone (erased).
    pub fn forget(&mut self, bundle_id: Option<&str>) {
        let keep = |b: &str| bundle_id.is_some_and(|x| x != b);
        self.list.retain(|a| keep(&a.bundle_id));
        self.declared.retain(|b, _| keep(b));
        self.budget.retain(|b, _| keep(b));
        let ids: Vec<String> = self.list.iter().map(|a| a.id.clone()).collect();
        self.deferred.retain(|d| ids.contains(&d.activity));
    }
}

fn apply_content(a: &mut Activity, push: &ActivityPush) {
    a.content_state = push.content_state.clone();
    a.timestamp = push.timestamp;
    if push.stale_date.is_some() {
        a.stale_date = push.stale_date;
    }
    if push.relevance_score.is_some() {
        a.relevance_score = push.relevance_score;
    }
    if push.alert.is_some() {
        a.alert = push.alert.clone();
    }
}

fn end(a: &mut Activity, dismissal_date: Option<u64>, now: u64) {
    a.ended_at = Some(now);
    let latest = now + MAX_ENDED_SECS;
    a.dismissal_date = Some(match dismissal_date {
        Some(d) if d <= now => now,
        Some(d) => d.min(latest),
        None => latest,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: u64 = 1_800_000_000;

    fn delivery(target: Option<ActivityTarget>, priority: Priority, aps: Value) -> Delivery {
        serde_json::from_value(json!({
            "apns_id": "00000000-0000-4000-8000-000000000001", "topic": "com.example.food.push-type.liveactivity",
            "push_type": "liveactivity", "priority": priority.as_u8(), "environment": "sandbox",
            "payload": {"aps": aps}, "received_ms": T0 * 1000,
            "activity": target,
        }))
        .expect("a delivery")
    }

    fn start_target() -> Option<ActivityTarget> {
        Some(ActivityTarget::PushToStart { attributes_type: "Delivery".into() })
    }

    fn update(id: &str, ts: u64, eta: u64) -> Delivery {
        delivery(
            Some(ActivityTarget::Update { activity_id: id.into() }),
            Priority::PowerConsiderate,
            json!({"event": "update", "timestamp": ts, "content-state": {"eta": eta}}),
        )
    }

    fn started(acts: &mut Activities) -> String {
        acts.declare("com.example.food", "Delivery");
        let start = delivery(
            start_target(),
            Priority::Immediate,
            json!({"event": "start", "timestamp": T0, "content-state": {"eta": 20}, "attributes-type": "Delivery",
                   "attributes": {"order": "A1"}, "alert": {"title": "Order on its way"}, "input-push-token": 1}),
        );
        let applied = acts.apply(&start, "com.example.food", T0);
        assert_eq!(applied.outcome, Outcome::ActivityStarted);
        match applied.change {
            Some(Change::Started { id, wants_token: true }) => id,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn push_to_start_then_updates_in_timestamp_order_then_end() {
        let mut acts = Activities::default();
        let id = started(&mut acts);
        assert_eq!(acts.get(&id).expect("runs").content_state["eta"], 20);
        assert_eq!(
            acts.apply(&update(&id, T0 + 60, 15), "com.example.food", T0 + 60).outcome,
            Outcome::ActivityUpdated
        );
        let old = acts.apply(&update(&id, T0 + 30, 18), "com.example.food", T0 + 61);
        assert_eq!((old.outcome, old.reason.as_deref()), (Outcome::Discarded, Some("older-than-shown")));
        assert_eq!(acts.get(&id).expect("runs").content_state["eta"], 15, "the older one changed nothing");
        let end = delivery(
            Some(ActivityTarget::Update { activity_id: id.clone() }),
            Priority::Immediate,
            json!({"event": "end", "timestamp": T0 + 90, "content-state": {"eta": 0}, "dismissal-date": T0 + 600}),
        );
        assert_eq!(acts.apply(&end, "com.example.food", T0 + 90).outcome, Outcome::ActivityEnded);
        assert_eq!(acts.get(&id).expect("shown").state(T0 + 100), ActivityState::Ended);
        let after = acts.apply(&update(&id, T0 + 120, 1), "com.example.food", T0 + 120);
        assert_eq!(after.reason.as_deref(), Some(ACTIVITY_ENDED));
        assert_eq!(acts.tick(T0 + 600), vec![Change::Dismissed { id: id.clone() }]);
        assert!(acts.get(&id).is_none());
    }

    #[test]
    fn what_the_phone_drops() {
        let mut acts = Activities::default();
        let undeclared = delivery(
            start_target(),
            Priority::Immediate,
            json!({"event": "start", "timestamp": T0, "content-state": {}, "attributes-type": "Delivery",
                   "attributes": {}, "alert": "x"}),
        );
        assert_eq!(
            acts.apply(&undeclared, "com.example.food", T0).reason.as_deref(),
            Some("com.example.food does not declare Delivery")
        );
        let id = started(&mut acts);
        let malformed = delivery(
            Some(ActivityTarget::Update { activity_id: id.clone() }),
            Priority::Immediate,
            json!({"event": "update", "content-state": {}}),
        );
        assert_eq!(acts.apply(&malformed, "com.example.food", T0).reason.as_deref(), Some("malformed: no timestamp"));
        let to_device_token =
            delivery(None, Priority::Immediate, json!({"event": "update", "timestamp": T0, "content-state": {}}));
        assert_eq!(acts.apply(&to_device_token, "com.example.food", T0).outcome, Outcome::Discarded);
        let update_to_start = delivery(
            start_target(),
            Priority::Immediate,
            json!({"event": "update", "timestamp": T0, "content-state": {}}),
        );
        assert_eq!(
            acts.apply(&update_to_start, "com.example.food", T0).reason.as_deref(),
            Some("update to a push-to-start token: only start starts")
        );
    }

    #[test]
    fn stale_dismissal_and_the_eight_hour_limit_on_the_clock() {
        let mut acts = Activities::default();
        let id = started(&mut acts);
        let with_stale = delivery(
            Some(ActivityTarget::Update { activity_id: id.clone() }),
            Priority::PowerConsiderate,
            json!({"event": "update", "timestamp": T0 + 1, "content-state": {"eta": 9}, "stale-date": T0 + 300}),
        );
        acts.apply(&with_stale, "com.example.food", T0 + 1);
        assert_eq!(acts.get(&id).expect("runs").state(T0 + 299), ActivityState::Active);
        assert_eq!(acts.get(&id).expect("runs").state(T0 + 300), ActivityState::Stale);
        assert!(acts.tick(T0 + MAX_ACTIVE_SECS - 1).is_empty());
        assert_eq!(acts.tick(T0 + MAX_ACTIVE_SECS), vec![Change::Ended { id: id.clone(), by_system: true }]);
        // Ended by the system without a dismissal date: 4 hours more on the Lock Screen.
        assert!(acts.tick(T0 + MAX_ACTIVE_SECS + MAX_ENDED_SECS - 1).is_empty());
        assert_eq!(acts.tick(T0 + MAX_ACTIVE_SECS + MAX_ENDED_SECS), vec![Change::Dismissed { id }]);
        // An end with a past dismissal date leaves at once.
        let id = started(&mut acts);
        let end = delivery(
            Some(ActivityTarget::Update { activity_id: id.clone() }),
            Priority::PowerConsiderate,
            json!({"event": "end", "timestamp": T0 + 5, "content-state": {}, "dismissal-date": T0 - 1}),
        );
        acts.apply(&end, "com.example.food", T0 + 5);
        assert_eq!(acts.get(&id).expect("listed").state(T0 + 5), ActivityState::Dismissed);
    }

    #[test]
    fn priority_ten_updates_past_the_budget_wait_for_the_hour() {
        for newer_meanwhile in [false, true] {
            let mut acts = Activities::default();
            let id = started(&mut acts);
            let high = |ts: u64| {
                delivery(
                    Some(ActivityTarget::Update { activity_id: id.clone() }),
                    Priority::Immediate,
                    json!({"event": "update", "timestamp": ts, "content-state": {"n": ts - T0}}),
                )
            };
            for n in 1..=HIGH_PRIORITY_BUDGET as u64 {
                let a = acts.apply(&high(T0 + n), "com.example.food", T0 + n);
                assert_eq!((a.outcome, a.reason), (Outcome::ActivityUpdated, None), "update {n}");
            }
            let over = acts.apply(&high(T0 + 100), "com.example.food", T0 + 100);
            assert_eq!(over.change, Some(Change::Deferred { id: id.clone(), until: T0 + 1 + 3600 }));
            assert!(over.reason.as_deref().is_some_and(|r| r.starts_with("deferred")), "{over:?}");
            assert_eq!(acts.get(&id).expect("runs").content_state["n"], HIGH_PRIORITY_BUDGET);
            if newer_meanwhile {
                // Priority 5 does not count against the budget, and is newer.
                acts.apply(&update(&id, T0 + 200, 3), "com.example.food", T0 + 200);
                assert_eq!(acts.get(&id).expect("runs").content_state["eta"], 3);
            }
            assert_eq!(acts.tick(T0 + 3600), vec![], "not before the hour ends");
            let changes = acts.tick(T0 + 3601);
            if newer_meanwhile {
                assert_eq!(changes, vec![], "older than the state shown by then");
            } else {
                assert_eq!(changes, vec![Change::Updated { id: id.clone(), alert: false }]);
                assert_eq!(acts.get(&id).expect("runs").content_state["n"], 100);
            }
        }
    }
}
