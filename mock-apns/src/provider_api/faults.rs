//! Fault rules: a test tells the mock to have one of APNs's bad days for the requests it
//! picks — answer with any reason, 410 with a given timestamp, answer late, never
//! answer, reset the stream, GOAWAY the connection, drop it, or lower its stream limit.
//!
//! A rule matches on token, topic, push type and environment (all optional: no
//! matcher matches everything), lets its first `after` matches through, then fires on
//! each later match with `probability` (default 1), at most `count` times (default
//! unlimited). Rules are tried in the order they were added; the first that fires wins.
//! With no rules the push path pays one atomic load.
//!
//! Which pushes a rule sees depends on what it does. Rules that *answer* — `reason`,
//! `unregistered` — and `delay` act on the push itself, so they apply to every push the
//! mock accepts: the provider API's, the console's (`POST /api/v1/console`) and a
//! phone's local push (`POST /api/v1/devices/{udid}/push`, `apns-lab device push
//! FILE.apns`). Rules that act on the HTTP/2 stream or connection — `stall`, `reset`,
//! `goaway`, `close`, `max_streams` — exist only where there is one: they apply to
//! provider-API connections, and the other entry points pass them by without counting
//! a match. Broadcasts (`/4/broadcasts/…`) and the channel API have their own answers
//! and are not matched by fault rules. A Web Push (`webpush.rs`) matches as push type
//! `webpush`, by the rules that answer or delay.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use protocol::{Environment, Reason};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// `POST /api/v1/faults`: a rule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewFault {
    /// Only pushes to this device token (hex, any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Only pushes with this `apns-topic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Only pushes with this `apns-push-type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_type: Option<String>,
    /// Only this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Matching requests let through before the rule starts firing.
    #[serde(default)]
    pub after: u64,
    /// Fire at most this many times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The chance of firing on each match after `after` (0 to 1; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// What happens.
    pub action: FaultAction,
}

/// What a rule does to the request it fires on.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Answer with this reason and its status (any reason in APNs's table, including
    /// those a request cannot provoke: `TooManyRequests`, `InternalServerError`,
    /// `ServiceUnavailable`, `Shutdown`, `IdleTimeout`, `ExpiredToken`, `Forbidden`…).
    Reason {
        /// The reason string, as APNs spells it.
        reason: String,
    },
    /// 410 `Unregistered` with this timestamp (ms since the epoch; default now).
    Unregistered {
        /// When the token stopped being valid.
        #[serde(default)]
        timestamp: Option<u64>,
    },
    /// Answer as usual, this many milliseconds late.
    Delay {
        /// The delay.
        ms: u64,
    },
    /// Never answer; the stream stays open until the client gives up on it.
    Stall,
    /// Reset the stream (RST_STREAM INTERNAL_ERROR) without answering.
    Reset,
    /// Answer with this reason, then GOAWAY `{"reason":…}` and close the connection
    /// once its other streams are answered (what APNs does on `Shutdown`).
    Goaway {
        /// The reason, in the answer and in the GOAWAY's debug data.
        reason: String,
    },
    /// Drop the connection at once, without answering or GOAWAY.
    Close,
    /// Send a SETTINGS frame lowering MAX_CONCURRENT_STREAMS on the request's
    /// connection to `value`, then answer as usual.
    MaxStreams {
        /// The new limit (at least 1).
        value: u32,
    },
}

impl FaultAction {
    /// Whether the action needs an HTTP/2 stream or connection to act on, so only
    /// provider-API requests can fire it.
    pub(crate) fn needs_connection(&self) -> bool {
        matches!(
            self,
            FaultAction::Stall
                | FaultAction::Reset
                | FaultAction::Goaway { .. }
                | FaultAction::Close
                | FaultAction::MaxStreams { .. }
        )
    }

    /// The reason an answering action answers with.
    pub(crate) fn reason(&self) -> Option<Reason> {
        match self {
            FaultAction::Reason { reason } | FaultAction::Goaway { reason } => Reason::from_str(reason).ok(),
            FaultAction::Unregistered { .. } => Some(Reason::Unregistered),
            _ => None,
        }
    }

    /// A short description for the capture log.
    pub(crate) fn describe(&self) -> String {
        match self {
            FaultAction::Reason { reason } => format!("reason {reason}"),
            FaultAction::Unregistered { .. } => "unregistered".into(),
            FaultAction::Delay { ms } => format!("delay {ms} ms"),
            FaultAction::Stall => "stall".into(),
            FaultAction::Reset => "reset".into(),
            FaultAction::Goaway { reason } => format!("goaway {reason}"),
            FaultAction::Close => "close".into(),
            FaultAction::MaxStreams { value } => format!("max_streams {value}"),
        }
    }
}

/// A rule as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct FaultView {
    /// Its number, for removing it.
    pub id: u64,
    /// The rule as given.
    #[serde(flatten)]
    pub rule: NewFault,
    /// Matching requests seen so far.
    pub matched: u64,
    /// Times it fired.
    pub fired: u64,
}

struct Rule {
    id: u64,
    spec: NewFault,
    matched: AtomicU64,
    fired: AtomicU64,
}

/// A rule that fired on a request.
pub(crate) struct Fired {
    /// Which rule.
    pub id: u64,
    /// What to do.
    pub action: FaultAction,
}

impl Fired {
    /// The capture log's note: `#id action`.
    pub(crate) fn label(&self) -> String {
        format!("#{} {}", self.id, self.action.describe())
    }
}

/// What a rule is matched against: one push, from wherever it came.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe<'a> {
    /// The environment it was sent to.
    pub env: Environment,
    /// The device token, as hex (empty when there is none).
    pub token: &'a str,
    /// `apns-topic`, if any.
    pub topic: Option<&'a str>,
    /// `apns-push-type`, if any.
    pub push_type: Option<&'a str>,
    /// Whether it came on a provider-API connection (which connection-level actions
    /// need).
    pub connection: bool,
}

impl<'a> Probe<'a> {
    /// A provider-API request, read from its path and headers.
    pub(crate) fn request(env: Environment, parts: &'a http::request::Parts) -> Probe<'a> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        Probe {
            env,
            token: parts.uri.path().strip_prefix("/3/device/").unwrap_or(""),
            topic: header(protocol::headers::APNS_TOPIC),
            push_type: header(protocol::headers::APNS_PUSH_TYPE),
            connection: true,
        }
    }
}

/// The rules.
#[derive(Default)]
pub(crate) struct Faults {
    any: AtomicBool,
    next_id: AtomicU64,
    rules: RwLock<Vec<Arc<Rule>>>,
}

impl Faults {
    /// Adds a rule, after checking it.
    pub(crate) fn add(&self, mut spec: NewFault) -> Result<FaultView, Error> {
        let bad = |m: String| Err(Error::Invalid(m));
        match &spec.action {
            FaultAction::Reason { reason } | FaultAction::Goaway { reason } => match Reason::from_str(reason) {
                Err(_) => return bad(format!("{reason:?} is not one of APNs's reasons")),
                Ok(r) if r.status() == 200 => return bad(format!("{reason} is not an error")),
                Ok(_) => {}
            },
            FaultAction::MaxStreams { value: 0 } => return bad("max_streams must be at least 1".into()),
            FaultAction::Delay { ms } if *ms > 10 * 60 * 1000 => return bad("delay is at most 10 minutes".into()),
            _ => {}
        }
        if let Some(p) = spec.probability
            && !(0.0..=1.0).contains(&p)
        {
            return bad(format!("probability {p} is not between 0 and 1"));
        }
        if let Some(t) = &mut spec.token {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return bad(format!("token {t:?} is not hex"));
            }
            t.make_ascii_lowercase();
        }
        let rule = Arc::new(Rule {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            spec,
            matched: AtomicU64::new(0),
            fired: AtomicU64::new(0),
        });
        let view = view(&rule);
        let mut rules = self.rules.write().unwrap_or_else(|e| e.into_inner());
        rules.push(rule);
        self.any.store(true, Ordering::Release);
        Ok(view)
    }

    /// Every rule, oldest first.
    pub(crate) fn list(&self) -> Vec<FaultView> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).iter().map(|r| view(r)).collect()
    }

    /// Removes one rule.
    pub(crate) fn remove(&self, id: u64) -> Result<(), Error> {
        let mut rules = self.rules.write().unwrap_or_else(|e| e.into_inner());
        let before = rules.len();
        rules.retain(|r| r.id != id);
        self.any.store(!rules.is_empty(), Ordering::Release);
        if rules.len() == before { Err(Error::NotFound(format!("no fault rule {id}"))) } else { Ok(()) }
    }

    /// Removes them all.
    pub(crate) fn clear(&self) {
        let mut rules = self.rules.write().unwrap_or_else(|e| e.into_inner());
        rules.clear();
        self.any.store(false, Ordering::Release);
    }

    /// The rule that fires on this push, if any.
    pub(crate) fn check(&self, probe: Probe<'_>) -> Option<Fired> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let Probe { env, token, topic, push_type, connection } = probe;
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        for rule in rules.iter() {
            let s = &rule.spec;
            let matches = (connection || !s.action.needs_connection())
                && s.environment.is_none_or(|e| e == env)
                && s.token.as_deref().is_none_or(|t| t.eq_ignore_ascii_case(token))
                && s.topic.as_deref().is_none_or(|t| Some(t) == topic)
                && s.push_type.as_deref().is_none_or(|t| Some(t) == push_type);
            if !matches || rule.matched.fetch_add(1, Ordering::Relaxed) < s.after {
                continue;
            }
            if let Some(p) = s.probability
                && (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64 >= p
            {
                continue;
            }
            let limit = s.count.unwrap_or(u64::MAX);
            if rule.fired.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1)).is_err() {
                continue;
            }
            return Some(Fired { id: rule.id, action: s.action.clone() });
        }
        None
    }
}

fn view(rule: &Rule) -> FaultView {
    FaultView {
        id: rule.id,
        rule: rule.spec.clone(),
        matched: rule.matched.load(Ordering::Relaxed),
        fired: rule.fired.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(token: &str, topic: &str) -> http::request::Parts {
        let req = http::Request::post(format!("/3/device/{token}")).header("apns-topic", topic).body(()).expect("req");
        req.into_parts().0
    }

    fn check(f: &Faults, env: Environment, parts: &http::request::Parts) -> Option<Fired> {
        f.check(Probe::request(env, parts))
    }

    fn rule(json: serde_json::Value) -> NewFault {
        serde_json::from_value(json).expect("rule parses")
    }

    #[test]
    fn after_count_and_matchers() {
        let f = Faults::default();
        assert!(check(&f, Environment::Sandbox, &parts("ab", "t")).is_none(), "no rules");
        f.add(rule(serde_json::json!({"token": "AB", "after": 1, "count": 2,
            "action": {"kind": "reason", "reason": "TooManyRequests"}})))
            .expect("added");
        let fired: Vec<bool> = (0..5).map(|_| check(&f, Environment::Sandbox, &parts("ab", "t")).is_some()).collect();
        assert_eq!(fired, [false, true, true, false, false]);
        assert!(check(&f, Environment::Sandbox, &parts("cd", "t")).is_none(), "other token");
        let listed = &f.list()[0];
        assert_eq!((listed.matched, listed.fired), (5, 2));
        f.remove(listed.id).expect("removed");
        assert!(f.remove(listed.id).is_err());
    }

    #[test]
    fn probability_is_roughly_honoured() {
        let f = Faults::default();
        f.add(rule(serde_json::json!({"probability": 0.25, "action": {"kind": "reset"}}))).expect("added");
        let n = (0..4000).filter(|_| check(&f, Environment::Production, &parts("ab", "t")).is_some()).count();
        assert!((800..1200).contains(&n), "{n} of 4000");
    }

    #[test]
    fn connection_actions_pass_by_pushes_without_a_connection() {
        let f = Faults::default();
        f.add(rule(serde_json::json!({"count": 1, "action": {"kind": "reset"}}))).expect("added");
        f.add(rule(serde_json::json!({"count": 1, "action": {"kind": "reason", "reason": "TooManyRequests"}})))
            .expect("added");
        let local =
            Probe { env: Environment::Sandbox, token: "ab", topic: Some("t"), push_type: None, connection: false };
        let fired = f.check(local).expect("the answering rule fires");
        assert_eq!(fired.id, 2, "the reset rule is passed by");
        let listed = f.list();
        assert_eq!((listed[0].matched, listed[0].fired), (0, 0), "not even counted as a match");
        assert!(check(&f, Environment::Sandbox, &parts("ab", "t")).is_some_and(|f| f.id == 1), "a provider request");
    }

    #[test]
    fn bad_rules_are_refused() {
        let f = Faults::default();
        for bad in [
            serde_json::json!({"action": {"kind": "reason", "reason": "Nope"}}),
            serde_json::json!({"action": {"kind": "max_streams", "value": 0}}),
            serde_json::json!({"probability": 2.0, "action": {"kind": "stall"}}),
            serde_json::json!({"token": "xyz", "action": {"kind": "stall"}}),
        ] {
            assert!(f.add(rule(bad.clone())).is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<NewFault>(serde_json::json!({"action": {"kind": "explode"}})).is_err());
    }
}
