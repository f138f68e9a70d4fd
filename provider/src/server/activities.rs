//! Live Activities at the provider: the tokens phones report (step 3 again — an app's
//! push-to-start token per attributes type, each running activity's update token), and
//! the routes a backend calls to start, update and end activities, each fanned out to
//! the right tokens with the same 410 rule as device tokens.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/registrations` `{token, bundle_id, environment, kind, attributes_type, activity_id?, user_id?}` | a Live Activity token (`kind`: `push-to-start` or `update`) |
//! | `GET /v1/activities?bundle_id=&user_id=` | the activity tokens kept |
//! | `POST /v1/activities` `{to, attributes_type, attributes, content_state, alert, stale_date?, relevance_score?}` | push-to-start to every push-to-start token of that type `to` names; each new activity's update token comes back from its phone |
//! | `PATCH /v1/activities/{activity_id}` `{content_state, alert?, stale_date?, relevance_score?, priority?}` | update |
//! | `DELETE /v1/activities/{activity_id}` `{content_state?, dismissal_date?}` | end (the body is optional) |

use protocol::{ActivityTokenKind, DeviceToken, Environment, Priority, Topic};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Provider, SendResult, Table, To, Tokens};
use crate::{Error, LiveActivity};

/// A Live Activity token as a phone reports it (`POST /v1/registrations` with `kind`).
#[derive(Debug, Clone, Deserialize)]
pub struct RegisterActivity {
    /// The token, hex.
    pub token: String,
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// `push-to-start` or `update`.
    pub kind: ActivityTokenKind,
    /// The `ActivityAttributes` type.
    pub attributes_type: String,
    /// For an update token: the activity.
    #[serde(default)]
    pub activity_id: Option<String>,
    /// The user, if known.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The device (sent by simulated phones; not kept).
    #[serde(default)]
    pub udid: Option<String>,
}

/// A Live Activity token as the provider keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityRegistration {
    /// The token, lowercase hex.
    pub token: String,
    /// The app.
    pub bundle_id: String,
    /// Its environment.
    pub environment: Environment,
    /// `push-to-start` or `update`.
    pub kind: ActivityTokenKind,
    /// The `ActivityAttributes` type.
    pub attributes_type: String,
    /// For an update token: the activity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<String>,
    /// The user, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// When it was last registered, ms since the epoch.
    pub registered_at: u64,
    /// `valid` or `invalid`.
    pub state: String,
}

/// `POST /v1/activities`: start an activity by push-to-start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// Whose push-to-start tokens: `{user_id}`, `{bundle_id}` or `{token}`.
    pub to: To,
    /// The `ActivityAttributes` type.
    pub attributes_type: String,
    /// The static attributes.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// The first content state.
    pub content_state: Map<String, Value>,
    /// The alert that announces it.
    pub alert: Value,
    /// When the content goes stale (UNIX seconds).
    #[serde(default)]
    pub stale_date: Option<u64>,
    /// Ordering among the app's activities.
    #[serde(default)]
    pub relevance_score: Option<f64>,
}

/// `PATCH` / `DELETE /v1/activities/{activity_id}`: update or end.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    /// The new (or final) content state (an end without one keeps `{}`).
    #[serde(default)]
    pub content_state: Option<Map<String, Value>>,
    /// An alert that lights the screen.
    #[serde(default)]
    pub alert: Option<Value>,
    /// When the content goes stale.
    #[serde(default)]
    pub stale_date: Option<u64>,
    /// Ordering among the app's activities.
    #[serde(default)]
    pub relevance_score: Option<f64>,
    /// End: when to remove it from the Lock Screen (UNIX seconds).
    #[serde(default)]
    pub dismissal_date: Option<u64>,
    /// `apns-priority` (10 by default; 5 does not count against the phone's budget).
    #[serde(default)]
    pub priority: Option<Priority>,
}

fn kind_str(kind: ActivityTokenKind) -> &'static str {
    match kind {
        ActivityTokenKind::PushToStart => "push-to-start",
        ActivityTokenKind::Update => "update",
    }
}

impl Tokens {
    /// Step 3 for activities: keeps (or refreshes) a Live Activity token. A new
    /// push-to-start token replaces the app's earlier one for the same type and user.
    pub fn register_activity(&self, r: &RegisterActivity, now_ms: u64) -> Result<ActivityRegistration, Error> {
        let token = DeviceToken::parse_hex(&r.token).map_err(|e| Error::Invalid(format!("token: {e}")))?.to_hex();
        Topic::parse(&r.bundle_id).map_err(|e| Error::Invalid(format!("bundle_id: {e}")))?;
        if r.kind == ActivityTokenKind::Update && r.activity_id.is_none() {
            return Err(Error::Invalid("an update token needs its activity_id".into()));
        }
        let db = self.db();
        let map = |e: rusqlite::Error| Error::Config(format!("token database: {e}"));
        db.execute(
            "INSERT OR REPLACE INTO activity_tokens
             (token, bundle_id, environment, kind, attributes_type, activity_id, user_id, registered_at, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'valid')",
            params![
                token,
                r.bundle_id,
                r.environment.as_str(),
                kind_str(r.kind),
                r.attributes_type,
                r.activity_id,
                r.user_id,
                now_ms as i64
            ],
        )
        .map_err(map)?;
        Ok(ActivityRegistration {
            token,
            bundle_id: r.bundle_id.clone(),
            environment: r.environment,
            kind: r.kind,
            attributes_type: r.attributes_type.clone(),
            activity_id: r.activity_id.clone(),
            user_id: r.user_id.clone(),
            registered_at: now_ms,
            state: "valid".into(),
        })
    }

    /// Activity tokens, filtered (each filter `None`: any).
    pub fn activity_tokens(
        &self,
        bundle_id: Option<&str>,
        user_id: Option<&str>,
        token: Option<&str>,
        activity_id: Option<&str>,
    ) -> Result<Vec<ActivityRegistration>, Error> {
        let db = self.db();
        let map = |e: rusqlite::Error| Error::Config(e.to_string());
        let mut stmt = db
            .prepare(
                "SELECT token, bundle_id, environment, kind, attributes_type, activity_id, user_id, registered_at, state
                 FROM activity_tokens WHERE (?1 IS NULL OR bundle_id = ?1) AND (?2 IS NULL OR user_id = ?2)
                 AND (?3 IS NULL OR token = ?3) AND (?4 IS NULL OR activity_id = ?4) ORDER BY registered_at",
            )
            .map_err(map)?;
        let rows = stmt
            .query_map(params![bundle_id, user_id, token.map(str::to_lowercase), activity_id], |r| {
                let env: String = r.get(2)?;
                let kind: String = r.get(3)?;
                Ok(ActivityRegistration {
                    token: r.get(0)?,
                    bundle_id: r.get(1)?,
                    environment: env.parse().unwrap_or(Environment::Sandbox),
                    kind: if kind == "update" { ActivityTokenKind::Update } else { ActivityTokenKind::PushToStart },
                    attributes_type: r.get(4)?,
                    activity_id: r.get(5)?,
                    user_id: r.get(6)?,
                    registered_at: r.get::<_, i64>(7)? as u64,
                    state: r.get(8)?,
                })
            })
            .map_err(map)?;
        rows.collect::<Result<_, _>>().map_err(map)
    }
}

fn now_secs() -> u64 {
    super::now_ms() / 1000
}

impl Provider {
    /// Sends `la` to each valid token, deciding each token's fate by APNs's answer.
    async fn to_activity_tokens(
        &self,
        targets: Vec<ActivityRegistration>,
        la: &LiveActivity,
        priority: Option<Priority>,
    ) -> Result<Vec<SendResult>, Error> {
        la.check()?;
        let mut out = Vec::new();
        for t in targets.into_iter().filter(|t| t.state == "valid") {
            let mut n = la.notification(t.token.clone(), &t.bundle_id);
            if priority.is_some() {
                n.priority = priority;
            }
            out.push(self.deliver(&t.bundle_id, t.environment, n, Table::Activities).await?);
        }
        Ok(out)
    }

    /// Starts an activity by push-to-start on every push-to-start token of the type that
    /// `req.to` names (with `input-push-token`, so each phone reports the new activity's
    /// update token).
    pub async fn start_activity(&self, req: StartRequest) -> Result<Vec<SendResult>, Error> {
        let (bundle, user, token) = match &req.to {
            To::BundleId(b) => (Some(b.as_str()), None, None),
            To::UserId(u) => (None, Some(u.as_str()), None),
            To::Token(t) => (None, None, Some(t.as_str())),
        };
        let targets: Vec<ActivityRegistration> = self
            .tokens
            .activity_tokens(bundle, user, token, None)?
            .into_iter()
            .filter(|t| t.kind == ActivityTokenKind::PushToStart && t.attributes_type == req.attributes_type)
            .collect();
        let mut la =
            LiveActivity::start(&req.attributes_type, &req.attributes, &req.content_state, req.alert, now_secs())?
                .input_push_token();
        if let Some(d) = req.stale_date {
            la = la.stale_date(d);
        }
        if let Some(r) = req.relevance_score {
            la = la.relevance_score(r);
        }
        self.to_activity_tokens(targets, &la, None).await
    }

    /// Updates (or, with `end`, ends) an activity on its update token(s).
    pub async fn change_activity(
        &self,
        activity_id: &str,
        req: ChangeRequest,
        end: bool,
    ) -> Result<Vec<SendResult>, Error> {
        let targets: Vec<ActivityRegistration> = self
            .tokens
            .activity_tokens(None, None, None, Some(activity_id))?
            .into_iter()
            .filter(|t| t.kind == ActivityTokenKind::Update)
            .collect();
        if targets.is_empty() {
            return Err(Error::Invalid(format!("no update token for activity {activity_id}")));
        }
        let state = req.content_state.unwrap_or_default();
        let mut la = match end {
            true => LiveActivity::end(&state, now_secs())?,
            false => LiveActivity::update(&state, now_secs())?,
        };
        if let Some(a) = req.alert {
            la = la.alert(a);
        }
        if let Some(d) = req.stale_date {
            la = la.stale_date(d);
        }
        if let Some(r) = req.relevance_score {
            la = la.relevance_score(r);
        }
        if let Some(d) = req.dismissal_date {
            la = la.dismissal_date(d);
        }
        self.to_activity_tokens(targets, &la, req.priority).await
    }
}
