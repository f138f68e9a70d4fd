//! Live Activities at APNs: push-to-start and update tokens issued through the admin API
//! (so no phone is needed), the `liveactivity` checks over real TLS + HTTP/2, and the
//! tokens' lifecycle — 200-then-410 after an activity ends, erase, uninstall, reinstall —
//! kept across a restart.

use std::time::Duration;

use mock_apns::{Config, MockApns, NewActivity, NewActivityType};
use protocol::Environment::{Production, Sandbox};
use serde_json::{Value, json};

use crate::support::*;

const UDID: &str = "00008030-001A2D3C3E02802E";
const TOPIC: &str = "com.example.chat.push-type.liveactivity";
const TYPE: &str = "DeliveryAttributes";

/// A Live Activity push to `token`: an update with a content state, priority 10.
fn activity_push(token: &str, jwt: &str) -> Push {
    Push::new(token, jwt)
        .header("apns-push-type", "liveactivity")
        .header("apns-topic", TOPIC)
        .header("apns-priority", "10")
        .body(r#"{"aps":{"event":"update","timestamp":1800000000,"content-state":{"eta":5}}}"#)
}

async fn post(lab: &Lab, path: &str, body: Value, want: u16) -> Value {
    let (status, v) = admin(lab.mock.admin_addr(), "POST", path, Some(body)).await;
    assert_eq!(status, want, "{path}: {v}");
    v
}

/// The app's push-to-start token for [`TYPE`] and a running activity "A1"'s update token.
async fn tokens(lab: &Lab) -> (String, String) {
    let start = post(
        lab,
        &format!("/api/v1/devices/{UDID}/activity-types"),
        json!({"bundle_id": APP, "attributes_type": TYPE}),
        201,
    )
    .await;
    let update = post(
        lab,
        &format!("/api/v1/devices/{UDID}/activities"),
        json!({"bundle_id": APP, "attributes_type": TYPE, "activity_id": "A1"}),
        201,
    )
    .await;
    assert_eq!(start["kind"], "push-to-start");
    assert_eq!(update["kind"], "update");
    assert_eq!((update["activity_id"].as_str(), update["state"].as_str()), (Some("A1"), Some("active")));
    (start["token"].as_str().expect("token").into(), update["token"].as_str().expect("token").into())
}

#[tokio::test]
async fn activity_tokens_are_derived_longer_and_listed_on_the_device() {
    let lab = lab().await;
    let (start, update) = tokens(&lab).await;
    assert_eq!((start.len(), update.len()), (160, 160), "80 bytes, longer than a 32-byte device token");
    assert!(start.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_ne!(start, update);
    assert_ne!(start, lab.sandbox_token);
    // Asking again is the same token (derived, not random), and logs nothing new.
    let again = lab
        .mock
        .declare_activity_type(
            UDID,
            NewActivityType { bundle_id: APP.into(), environment: Sandbox, attributes_type: TYPE.into() },
        )
        .await
        .expect("declared");
    assert_eq!(again.token.as_deref(), Some(start.as_str()));
    let events = lab.mock.events(Some(UDID), 10);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds[..2], ["activity-start", "push-to-start-token"]);
    assert_eq!(events[0].activity_id.as_deref(), Some("A1"));
    assert_eq!(events[0].tokens[0].new.as_deref(), Some(update.as_str()));
    // The device lists both, with their state.
    let (status, d) = admin(lab.mock.admin_addr(), "GET", &format!("/api/v1/devices/{UDID}"), None).await;
    assert_eq!(status, 200);
    let listed: Vec<(&str, &str)> = d["activities"]
        .as_array()
        .expect("activities")
        .iter()
        .map(|a| (a["token"].as_str().expect("token"), a["state"].as_str().expect("state")))
        .collect();
    assert_eq!(listed, [(start.as_str(), "active"), (update.as_str(), "active")]);
    // Another environment's app gets other tokens; an app that is not installed, none.
    let prod = lab
        .mock
        .start_activity(
            UDID,
            NewActivity {
                bundle_id: APP.into(),
                environment: Production,
                attributes_type: TYPE.into(),
                activity_id: Some("A1".into()),
                channel: None,
            },
        )
        .await
        .expect("started");
    assert_ne!(prod.token.as_deref(), Some(update.as_str()));
    let (status, body) = admin(
        lab.mock.admin_addr(),
        "POST",
        &format!("/api/v1/devices/{UDID}/activities"),
        Some(json!({"bundle_id": "com.example.absent", "attributes_type": TYPE})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = admin(
        lab.mock.admin_addr(),
        "POST",
        &format!("/api/v1/devices/{UDID}/activity-types"),
        Some(json!({"bundle_id": APP, "attributes_type": ""})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) =
        admin(lab.mock.admin_addr(), "POST", &format!("/api/v1/devices/{UDID}/activities/NOPE/end"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn liveactivity_pushes_are_checked_as_apns_checks_them() {
    let lab = lab().await;
    let (start, update) = tokens(&lab).await;
    let jwt = lab.jwt();
    let mut c = lab.client(Sandbox).await;
    c.push(activity_push(&update, &jwt)).await.assert_ok();
    c.push(activity_push(&update, &jwt).header("apns-priority", "5")).await.assert_ok();
    c.push(activity_push(&start, &jwt)).await.assert_ok();
    // Priority 1 is not for Live Activities.
    c.push(activity_push(&update, &jwt).header("apns-priority", "1")).await.assert_err(400, "BadPriority");
    // The topic needs its suffix; an activity token is not the app's plain topic's.
    c.push(activity_push(&update, &jwt).header("apns-topic", APP)).await.assert_err(400, "DeviceTokenNotForTopic");
    c.push(Push::new(&update, &jwt)).await.assert_err(400, "DeviceTokenNotForTopic");
    // Another app's topic; another environment; a token APNs never issued.
    c.push(activity_push(&update, &jwt).header("apns-topic", "com.example.news.push-type.liveactivity"))
        .await
        .assert_err(400, "DeviceTokenNotForTopic");
    let mut prod = lab.client(Production).await;
    prod.push(activity_push(&update, &jwt)).await.assert_err(400, "BadDeviceToken");
    c.push(activity_push(&"ab".repeat(80), &jwt)).await.assert_err(400, "BadDeviceToken");
    // 4096 bytes, as any device push.
    let big = format!(r#"{{"aps":{{"event":"update","timestamp":1,"content-state":{{"x":"{}"}}}}}}"#, "x".repeat(4096));
    c.push(activity_push(&update, &jwt).body(big)).await.assert_err(413, "PayloadTooLarge");
    // What APNs does not read: a malformed aps is accepted (the device drops it).
    c.push(activity_push(&update, &jwt).body(r#"{"aps":{"event":"pause"}}"#)).await.assert_ok();
}

#[tokio::test]
async fn an_ended_activity_is_accepted_once_then_410_from_when_apns_learned() {
    let lab = lab().await;
    let (start, update) = tokens(&lab).await;
    let jwt = lab.jwt();
    let mut c = lab.client(Sandbox).await;
    let ended = lab.mock.end_activity(UDID, "A1").await.expect("ended");
    assert_eq!(ended.state, "ended");
    lab.mock.clock().advance(Duration::from_secs(5));
    let learned = lab.mock.clock().unix_millis();
    // APNs does not know yet: accepted, and the device drops it.
    let first = c.push(activity_push(&update, &jwt)).await;
    first.assert_ok();
    let apns_id = first.apns_id.clone().expect("apns-id");
    let (_, n) = admin(lab.mock.admin_addr(), "GET", &format!("/api/v1/notifications/{apns_id}"), None).await;
    let last = n["journey"].as_array().and_then(|j| j.last()).cloned().expect("a journey");
    assert_eq!((last["state"].as_str(), last["detail"].as_str()), (Some("discarded"), Some("activity ended")), "{n}");
    lab.mock.clock().advance(Duration::from_secs(5));
    let r = c.push(activity_push(&update, &jwt)).await;
    r.assert_err(410, "Unregistered");
    assert_eq!(r.json()["timestamp"], learned, "the timestamp is when APNs learned");
    // The push-to-start token and the device token are unaffected.
    c.push(activity_push(&start, &jwt)).await.assert_ok();
    c.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_ok();
    let a = lab.mock.activities(UDID).expect("activities");
    assert_eq!((a[1].state, a[1].unregistered_at), ("gone", Some(learned)));
    assert_eq!(lab.mock.events(Some(UDID), 1)[0].kind, "activity-unregistered");
    // An ended activity's id does not start again.
    let again = lab
        .mock
        .start_activity(
            UDID,
            NewActivity {
                bundle_id: APP.into(),
                environment: Sandbox,
                attributes_type: TYPE.into(),
                activity_id: Some("A1".into()),
                channel: None,
            },
        )
        .await;
    assert!(matches!(again, Err(mock_apns::Error::Conflict(_))), "{again:?}");
}

#[tokio::test]
async fn erase_kills_activity_tokens_at_once_and_uninstall_after_one_push() {
    let lab = lab().await;
    let jwt = lab.jwt();
    let mut c = lab.client(Sandbox).await;
    // Uninstall: the activity ended with the app; the first push is accepted, then 410.
    let (start, update) = tokens(&lab).await;
    post(&lab, &format!("/api/v1/devices/{UDID}/apps/{APP}/uninstall"), json!({}), 200).await;
    c.push(activity_push(&update, &jwt)).await.assert_ok();
    c.push(activity_push(&update, &jwt)).await.assert_err(410, "Unregistered");
    c.push(activity_push(&start, &jwt)).await.assert_ok();
    c.push(activity_push(&start, &jwt)).await.assert_err(410, "Unregistered");
    // Reinstall (per-app): a new push-to-start token when the type is declared again.
    post(&lab, &format!("/api/v1/devices/{UDID}/apps/{APP}/reinstall"), json!({}), 200).await;
    let (start2, update2) = {
        let s = post(
            &lab,
            &format!("/api/v1/devices/{UDID}/activity-types"),
            json!({"bundle_id": APP, "attributes_type": TYPE}),
            201,
        )
        .await;
        let u = post(
            &lab,
            &format!("/api/v1/devices/{UDID}/activities"),
            json!({"bundle_id": APP, "attributes_type": TYPE, "activity_id": "A2"}),
            201,
        )
        .await;
        (s["token"].as_str().expect("token").to_owned(), u["token"].as_str().expect("token").to_owned())
    };
    assert_ne!(start2, start);
    c.push(activity_push(&start2, &jwt)).await.assert_ok();
    // Erase: every activity token dies now, no push needed to learn it.
    lab.mock.clock().advance(Duration::from_secs(1));
    let erased_at = lab.mock.clock().unix_millis();
    post(&lab, &format!("/api/v1/devices/{UDID}/erase"), json!({}), 200).await;
    for token in [&start2, &update2] {
        let r = c.push(activity_push(token, &jwt)).await;
        r.assert_err(410, "Unregistered");
        assert_eq!(r.json()["timestamp"], erased_at);
    }
}

#[tokio::test]
async fn activity_tokens_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let config = || Config { data_dir: Some(dir.path().to_path_buf()), clock: manual_clock(), ..Config::default() };
    let lab = lab_with(config()).await;
    let (start, update) = tokens(&lab).await;
    lab.mock.end_activity(UDID, "A1").await.expect("ended");
    let before = lab.mock.activities(UDID).expect("activities");
    let (sandbox_token, jwt) = (lab.sandbox_token.clone(), lab.jwt());
    lab.mock.shutdown().await;
    let mock = MockApns::start(config()).await.expect("restarts");
    assert_eq!(mock.activities(UDID).expect("activities"), before);
    let mut c = Client::connect(mock.addr(Sandbox), mock.ca_pem(), None, Alpn::H2).await;
    c.push(activity_push(&start, &jwt)).await.assert_ok();
    c.push(activity_push(&update, &jwt)).await.assert_ok();
    c.push(activity_push(&update, &jwt)).await.assert_err(410, "Unregistered");
    c.push(Push::new(&sandbox_token, &jwt)).await.assert_ok();
    mock.shutdown().await;
}

#[tokio::test]
async fn activity_answers_match_the_documented_shapes() {
    let lab = lab().await;
    let addr = lab.mock.admin_addr();
    let (_, doc) = admin(addr, "GET", "/api/v1/openapi.json", None).await;
    let (_, update) = tokens(&lab).await;
    let ended = post(&lab, &format!("/api/v1/devices/{UDID}/activities/A1/end"), json!({}), 200).await;
    crate::shapes::check(&doc, "Activity", &ended, "POST …/activities/{id}/end");
    let mut c = lab.client(Sandbox).await;
    c.push(activity_push(&update, &lab.jwt())).await.assert_ok();
    let (_, device) = admin(addr, "GET", &format!("/api/v1/devices/{UDID}"), None).await;
    crate::shapes::check(&doc, "Device", &device, "GET /api/v1/devices/{udid} with activities");
    let (_, list) = admin(addr, "GET", &format!("/api/v1/devices/{UDID}/activities"), None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    let (_, events) = admin(addr, "GET", &format!("/api/v1/events?udid={UDID}"), None).await;
    for event in events.as_array().expect("events") {
        crate::shapes::check(&doc, "LifecycleEvent", event, "GET /api/v1/events");
    }
    assert_eq!(events[0]["kind"], "activity-unregistered", "{events}");
}

/// Waits until a notification's journey has `n` steps, and answers its states and details.
async fn journey(lab: &Lab, apns_id: &str, n: usize) -> Vec<(String, Option<String>)> {
    for _ in 0..200 {
        let (_, v) = admin(lab.mock.admin_addr(), "GET", &format!("/api/v1/notifications/{apns_id}"), None).await;
        let steps: Vec<(String, Option<String>)> = v["journey"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| (s["state"].as_str().unwrap_or("").to_owned(), s["detail"].as_str().map(str::to_owned)))
            .collect();
        if steps.len() >= n {
            return steps;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the journey of {apns_id} did not reach {n} steps");
}

/// A phone with the app declaring [`TYPE`]: push-to-start, updates in timestamp order, an
/// update older than the state shown, an end — each as the phone shows it and as APNs's
/// journey says — then the ended activity's token: 200 once, then 410.
#[tokio::test(flavor = "multi_thread")]
async fn a_phone_runs_an_activity_started_by_push_to_its_end() {
    let lab = lab().await;
    let mut phone = crate::devices::phone(&lab, "LA-PHONE").await;
    let mut gw = phone.connect().await.expect("connects");
    let start_token = phone.declare_activity_type(&mut gw, APP, TYPE).await.expect("push-to-start token");
    assert_eq!(start_token.token.len(), 160);
    let mut stream = gw.notifications().await.expect("stream");
    let mut acks = gw.ack_sink().await.expect("acks");
    let jwt = lab.jwt();
    let mut c = lab.client(Sandbox).await;
    let t0 = lab.mock.clock().unix_secs();
    let mut receive = async |phone: &mut device_sim::Device| {
        tokio::time::timeout(Duration::from_secs(5), phone.receive(&mut stream, &mut acks))
            .await
            .expect("arrives")
            .expect("open")
            .expect("ok")
    };

    // Push-to-start: the phone creates the activity and asks APNs for its update token.
    let start = activity_push(&start_token.token, &jwt).body(
        json!({"aps": {"event": "start", "timestamp": t0, "content-state": {"eta": 20}, "attributes-type": TYPE,
            "attributes": {"order": "A1"}, "alert": {"title": "On its way"}, "input-push-token": 1}})
        .to_string(),
    );
    let r = c.push(start).await;
    r.assert_ok();
    let got = receive(&mut phone).await;
    let change = got.activity.clone().expect("a change");
    let device_sim::activity::Change::Started { id, wants_token: true } = &change else { panic!("{change:?}") };
    let id = id.clone();
    let update_token = phone.settle(&mut gw, &change).await.expect("settles").expect("an update token");
    assert_eq!(update_token.activity_id.as_deref(), Some(id.as_str()));
    assert_eq!(journey(&lab, r.apns_id.as_deref().expect("id"), 3).await[2].0, "activity-started");
    let listed = lab.mock.activities("LA-PHONE").expect("activities");
    assert_eq!(listed[1].activity_id.as_deref(), Some(id.as_str()));

    // Updates apply in timestamp order; an older one is dropped.
    let update = |ts: u64, eta: u64| {
        activity_push(&update_token.token, &jwt)
            .body(json!({"aps": {"event": "update", "timestamp": ts, "content-state": {"eta": eta}}}).to_string())
    };
    for (ts, eta, state, detail) in [
        (t0 + 60, 15, "activity-updated", None),
        (t0 + 30, 18, "discarded", Some("older-than-shown")),
        (t0 + 90, 10, "activity-updated", None),
    ] {
        let r = c.push(update(ts, eta)).await;
        r.assert_ok();
        receive(&mut phone).await;
        let steps = journey(&lab, r.apns_id.as_deref().expect("id"), 3).await;
        assert_eq!((steps[2].0.as_str(), steps[2].1.as_deref()), (state, detail));
    }
    assert_eq!(phone.activities.get(&id).expect("runs").content_state["eta"], 10);

    // The end: the phone applies the final state and tells APNs.
    let end = activity_push(&update_token.token, &jwt).body(
        json!({"aps": {"event": "end", "timestamp": t0 + 120, "content-state": {"eta": 0}, "dismissal-date": t0 + 600}})
            .to_string(),
    );
    let r = c.push(end).await;
    r.assert_ok();
    let got = receive(&mut phone).await;
    phone.settle(&mut gw, got.activity.as_ref().expect("ended")).await.expect("reports the end");
    assert_eq!(journey(&lab, r.apns_id.as_deref().expect("id"), 3).await[2].0, "activity-ended");
    assert_eq!(phone.activities.get(&id).expect("shown").state(t0 + 130), device_sim::ActivityState::Ended);
    assert_eq!(lab.mock.activities("LA-PHONE").expect("activities")[1].state, "ended");
    // Accepted once (the device drops it), then 410.
    let r = c.push(update(t0 + 150, 1)).await;
    r.assert_ok();
    let steps = journey(&lab, r.apns_id.as_deref().expect("id"), 2).await;
    assert_eq!(steps.last().map(|s| (s.0.as_str(), s.1.as_deref())), Some(("discarded", Some("activity ended"))));
    c.push(update(t0 + 160, 1)).await.assert_err(410, "Unregistered");

    // The metrics count activity events and tokens.
    let (_, text) = admin(lab.mock.admin_addr(), "GET", "/metrics", None).await;
    let text = text.as_str().expect("text");
    for line in [
        r#"apns_notifications_total{state="activity-started"} 1"#,
        r#"apns_notifications_total{state="activity-updated"} 2"#,
        r#"apns_notifications_total{state="activity-ended"} 1"#,
        r#"apns_live_activity_tokens{kind="push-to-start",state="active"} 1"#,
        r#"apns_live_activity_tokens{kind="update",state="gone"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

/// The provider's side, every party real: a phone hands its push-to-start token to the
/// provider server (step 3 for activities); the provider starts an activity for the app,
/// the phone reports the new activity's update token, the provider updates and ends it;
/// after the end the token is accepted once, then 410 — and the provider deletes it.
#[tokio::test(flavor = "multi_thread")]
async fn the_provider_starts_updates_and_ends_an_activity() {
    use device_sim::run::{ActivityRegistration, post_json};
    // The provider compares 410 timestamps with its own clock: both use the system's.
    let lab = lab_with(Config::default()).await;
    let p = crate::provider_server::provider_for(&lab).await;
    let registrations = format!("http://{p}/v1/registrations");
    let mut phone = crate::devices::phone(&lab, "LA-PROVIDER").await;
    let mut gw = phone.connect().await.expect("connects");
    let start_token = phone.declare_activity_type(&mut gw, APP, TYPE).await.expect("push-to-start token");
    post_json("provider", &registrations, &ActivityRegistration::of(&phone.udid, &start_token)).await.expect("step 3");
    let mut stream = gw.notifications().await.expect("stream");
    let mut acks = gw.ack_sink().await.expect("acks");
    let mut receive = async |phone: &mut device_sim::Device| {
        tokio::time::timeout(Duration::from_secs(5), phone.receive(&mut stream, &mut acks))
            .await
            .expect("arrives")
            .expect("open")
            .expect("ok")
    };

    let start = json!({"to": {"bundle_id": APP}, "attributes_type": TYPE, "attributes": {"order": "A7"},
        "content_state": {"eta": 30}, "alert": {"title": "Order confirmed"}});
    let (status, results) = admin(p, "POST", "/v1/activities", Some(start)).await;
    assert_eq!((status, results[0]["status"].as_u64()), (200, Some(200)), "{results}");
    let got = receive(&mut phone).await;
    let update_token =
        phone.settle(&mut gw, got.activity.as_ref().expect("started")).await.expect("settles").expect("a token");
    let id = update_token.activity_id.clone().expect("an activity id");
    post_json("provider", &registrations, &ActivityRegistration::of(&phone.udid, &update_token)).await.expect("step 3");
    let (_, kept) = admin(p, "GET", &format!("/v1/activities?bundle_id={APP}"), None).await;
    assert_eq!(kept.as_array().map(Vec::len), Some(2), "{kept}");

    let (status, results) =
        admin(p, "PATCH", &format!("/v1/activities/{id}"), Some(json!({"content_state": {"eta": 12}}))).await;
    assert_eq!((status, results[0]["status"].as_u64()), (200, Some(200)), "{results}");
    receive(&mut phone).await;
    assert_eq!(phone.activities.get(&id).expect("runs").content_state["eta"], 12);
    let (_, results) = admin(
        p,
        "DELETE",
        &format!("/v1/activities/{id}"),
        Some(json!({"content_state": {"eta": 0}, "dismissal_date": 1})),
    )
    .await;
    assert_eq!(results[0]["status"], 200, "{results}");
    let got = receive(&mut phone).await;
    phone.settle(&mut gw, got.activity.as_ref().expect("ended")).await.expect("reports the end");
    assert_eq!(
        phone.activities.get(&id).map(|a| a.state(phone.now_secs())),
        Some(device_sim::ActivityState::Dismissed)
    );

    // After the end: accepted once (the device drops it), then 410, and the provider
    // deletes the token (APNs learned after it was registered).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let path = format!("/v1/activities/{id}");
    let patch = || admin(p, "PATCH", &path, Some(json!({"content_state": {"eta": 1}})));
    let (_, results) = patch().await;
    assert_eq!((results[0]["status"].as_u64(), results[0]["action"].as_str()), (Some(200), Some("kept")), "{results}");
    let (_, results) = patch().await;
    assert_eq!((results[0]["status"].as_u64(), results[0]["reason"].as_str()), (Some(410), Some("Unregistered")));
    assert_eq!(results[0]["action"], "deleted", "{results}");
    let (status, body) = patch().await;
    assert_eq!(status, 400, "no update token left: {body}");
}

/// A fleet whose phones each run one activity: every update token takes an update, and
/// every phone applies it (the journeys say so).
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_runs_one_activity_per_phone() {
    let lab = lab().await;
    let endpoint =
        device_sim::Endpoint::parse(&lab.mock.ready().gateway, lab.mock.ca_pem().to_owned()).expect("endpoint");
    let stats = std::sync::Arc::new(device_sim::fleet::FleetStats::default());
    let types = [(APP.to_owned(), TYPE.to_owned())];
    let tokens = device_sim::fleet::start_with_activities(
        endpoint,
        10,
        "LAF",
        &[(APP.to_owned(), Sandbox)],
        &types,
        None,
        stats.clone(),
    )
    .await
    .expect("fleet");
    let updates: Vec<&str> = tokens
        .iter()
        .filter(|t| t.kind == Some(protocol::ActivityTokenKind::Update))
        .map(|t| t.token.as_str())
        .collect();
    assert_eq!((tokens.len(), updates.len()), (20, 10), "a device token and an update token per phone");
    let mut c = lab.client(Sandbox).await;
    let jwt = lab.jwt();
    let mut ids = Vec::new();
    for token in &updates {
        let r = c.push(activity_push(token, &jwt).header("apns-priority", "5")).await;
        r.assert_ok();
        ids.push(r.apns_id.clone().expect("id"));
    }
    crate::devices::eventually(|| stats.delivered.load(std::sync::atomic::Ordering::Relaxed) == 10).await;
    for id in &ids {
        assert_eq!(journey(&lab, id, 3).await[2].0, "activity-updated");
    }
}

/// The phone's activity timers run on APNs's clock: move it 8 hours and the system ends
/// the activity (and the phone tells APNs); 4 hours more and it leaves the Lock Screen.
#[tokio::test(flavor = "multi_thread")]
async fn the_eight_hour_limit_runs_on_apns_clock() {
    let lab = lab().await;
    let mut phone = crate::devices::phone(&lab, "LA-CLOCK").await;
    let mut gw = phone.connect().await.expect("connects");
    let mut stream = gw.notifications().await.expect("stream");
    let mut acks = gw.ack_sink().await.expect("acks");
    let token = phone.apps[0].token.clone().expect("token");
    let mut tell_the_time = async |phone: &mut device_sim::Device| {
        // Any delivery carries APNs's time; the phone follows it. (A fresh connection
        // for each fresh provider token: one connection may not change it that often.)
        lab.client(Sandbox).await.push(Push::new(&token, &lab.jwt())).await.assert_ok();
        tokio::time::timeout(Duration::from_secs(5), phone.receive(&mut stream, &mut acks))
            .await
            .expect("arrives")
            .expect("open")
            .expect("ok");
    };
    tell_the_time(&mut phone).await;
    assert!(phone.now_secs().abs_diff(lab.mock.clock().unix_secs()) <= 1, "the phone's now is APNs's");
    let t = phone.start_activity(&mut gw, APP, TYPE, Default::default(), Default::default()).await.expect("starts");
    let id = t.activity_id.clone().expect("id");
    lab.mock.clock().advance(Duration::from_secs(8 * 3600 - 60));
    tell_the_time(&mut phone).await;
    assert!(phone.activities.tick(phone.now_secs()).is_empty(), "not yet");
    lab.mock.clock().advance(Duration::from_secs(60));
    tell_the_time(&mut phone).await;
    let changes = phone.activities.tick(phone.now_secs());
    assert_eq!(changes, [device_sim::activity::Change::Ended { id: id.clone(), by_system: true }]);
    phone.settle(&mut gw, &changes[0]).await.expect("tells APNs");
    assert_eq!(lab.mock.activities("LA-CLOCK").expect("activities")[0].state, "ended");
    lab.mock.clock().advance(Duration::from_secs(4 * 3600));
    tell_the_time(&mut phone).await;
    assert_eq!(phone.activities.tick(phone.now_secs()), [device_sim::activity::Change::Dismissed { id }]);
}

/// A phone that is away: an update is stored (one per activity, beside the app's own
/// held notification) and applied when the phone returns.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_for_a_phone_that_is_away_is_stored_and_applied_on_return() {
    let lab = lab().await;
    let mut phone = crate::devices::phone(&lab, "LA-AWAY").await;
    let mut gw = phone.connect().await.expect("connects");
    let t = phone.start_activity(&mut gw, APP, TYPE, Default::default(), Default::default()).await.expect("starts");
    let id = t.activity_id.clone().expect("id");
    let alert_token = phone.apps[0].token.clone().expect("token");
    let stream = gw.notifications().await.expect("stream");
    crate::devices::eventually(|| lab.mock.device("LA-AWAY").expect("device").online).await;
    drop((stream, gw));
    crate::devices::eventually(|| !lab.mock.device("LA-AWAY").expect("device").online).await;

    let jwt = lab.jwt();
    let mut c = lab.client(Sandbox).await;
    let ts = lab.mock.clock().unix_secs();
    let update = activity_push(&t.token, &jwt)
        .body(json!({"aps": {"event": "update", "timestamp": ts, "content-state": {"eta": 7}}}).to_string());
    let r = c.push(update).await;
    r.assert_ok();
    let id_update = r.apns_id.clone().expect("id");
    c.push(Push::new(&alert_token, &jwt)).await.assert_ok();
    assert_eq!(journey(&lab, &id_update, 2).await[1].0, "stored");
    // The app's alert is held too: one per app, one per activity.
    let d = lab.mock.device("LA-AWAY").expect("device");
    assert!(d.apps[0].stored.is_some(), "the alert is held beside the update");

    let mut gw = phone.connect().await.expect("reconnects");
    let mut stream = gw.notifications().await.expect("stream");
    let mut acks = gw.ack_sink().await.expect("acks");
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(5), phone.receive(&mut stream, &mut acks))
            .await
            .expect("arrives")
            .expect("open")
            .expect("ok");
    }
    assert_eq!(phone.activities.get(&id).expect("runs").content_state["eta"], 7);
    let steps = journey(&lab, &id_update, 4).await;
    let states: Vec<&str> = steps.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(states, ["received", "stored", "delivered-from-storage", "activity-updated"]);
}

/// Per-device scope (the rule of early iOS): a reinstall keeps the push-to-start token, as it
/// keeps the device token.
#[tokio::test]
async fn per_device_scope_keeps_the_push_to_start_token_across_a_reinstall() {
    let lab =
        lab_with(Config { clock: manual_clock(), token_scope: mock_apns::TokenScope::PerDevice, ..Config::default() })
            .await;
    let (start, _) = tokens(&lab).await;
    post(&lab, &format!("/api/v1/devices/{UDID}/apps/{APP}/reinstall"), json!({}), 200).await;
    let again = post(
        &lab,
        &format!("/api/v1/devices/{UDID}/activity-types"),
        json!({"bundle_id": APP, "attributes_type": TYPE}),
        201,
    )
    .await;
    assert_eq!(again["token"].as_str(), Some(start.as_str()));
    let mut c = lab.client(Sandbox).await;
    c.push(activity_push(&start, &lab.jwt())).await.assert_ok();
}

/// The admin API's activity calls are for virtual devices: on a running phone an activity
/// made in APNs's books alone would never be on its Lock Screen, so the calls refuse and
/// say to use a push-to-start (or an end push) instead.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_phone_s_activities_start_and_end_on_the_phone_not_through_the_admin_api() {
    let (mock, _) = running_phone("LA-RUNNING").await;
    let addr = mock.admin_addr();
    let start = json!({"bundle_id": APP, "attributes_type": TYPE, "activity_id": "ADMIN-1"});
    let (status, answer) = admin(addr, "POST", "/api/v1/devices/LA-RUNNING/activities", Some(start.clone())).await;
    assert_eq!(status, 409, "{answer}");
    let message = answer["error"].as_str().expect("a message");
    assert!(message.contains("running phone") && message.contains("push-to-start"), "{message}");
    let (status, answer) = admin(addr, "POST", "/api/v1/devices/LA-RUNNING/activities/ADMIN-1/end", None).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|m| m.contains("\"event\": \"end\"")), "{answer}");
    assert!(mock.activities("LA-RUNNING").expect("device").is_empty(), "nothing was made");
    // A virtual device (no phone running) takes both.
    admin(addr, "POST", "/api/v1/devices", Some(json!({"udid": "LA-VIRTUAL", "apps": [{"bundle_id": APP}]}))).await;
    let (status, made) = admin(addr, "POST", "/api/v1/devices/LA-VIRTUAL/activities", Some(start)).await;
    assert_eq!((status, made["state"].as_str()), (201, Some("active")), "{made}");
    let (status, _) = admin(addr, "POST", "/api/v1/devices/LA-VIRTUAL/activities/ADMIN-1/end", None).await;
    assert_eq!(status, 200);
}
