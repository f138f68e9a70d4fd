//! Broadcast push over real TLS + HTTP/2: the channel management API on its own
//! listeners (create, read, delete, list, and each reason), broadcasts on the provider
//! API fanned out to every subscribed activity — on a running phone, on virtual devices,
//! stored for a phone that is away when the channel keeps its latest message — and
//! channels kept across a restart.

use std::time::Duration;

use mock_apns::{Config, MockApns, NewActivity};
use protocol::Environment::{Production, Sandbox};
use serde_json::{Value, json};

use crate::support::*;

const UDID: &str = "00008030-001A2D3C3E02802E";
const TYPE: &str = "ScoreAttributes";

async fn channels_client(lab: &Lab, env: protocol::Environment) -> Client {
    let url = match env {
        Sandbox => &lab.mock.ready().channels_sandbox,
        Production => &lab.mock.ready().channels_production,
    };
    let addr = url.trim_start_matches("https://").parse().expect("an address");
    Client::connect(addr, lab.mock.ca_pem(), None, Alpn::H2).await
}

fn call(method: &'static str, path: &str, jwt: &str) -> Push {
    Push::new("x", jwt).method(method).path(path).without("apns-topic").without("apns-push-type").body(Vec::new())
}

fn create(jwt: &str, policy: u8) -> Push {
    call("POST", &format!("/1/apps/{APP}/channels"), jwt)
        .body(json!({"message-storage-policy": policy, "push-type": "LiveActivity"}).to_string())
}

fn header(r: &Reply, name: &str) -> Option<String> {
    r.headers.get(name).map(|v| v.to_str().expect("ASCII").to_owned())
}

fn body(r: &Reply) -> Value {
    serde_json::from_slice(&r.chunks.concat()).expect("a JSON body")
}

#[track_caller]
fn assert_reason(r: &Reply, status: u16, reason: &str) {
    assert_eq!((r.status, body(r)["reason"].as_str()), (status, Some(reason)), "{r:?}");
    assert!(header(r, "apns-request-id").is_some(), "errors carry apns-request-id");
}

#[tokio::test]
async fn channels_are_created_read_listed_and_deleted_as_apple_documents() {
    let lab = lab().await;
    let jwt = lab.jwt();
    let mut c = channels_client(&lab, Sandbox).await;
    let request_id = "5A4B3C2D-1E0F-4A9B-8C7D-6E5F4A3B2C1D";
    let r = c.push(create(&jwt, 1).header("apns-request-id", request_id)).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.end_on_headers && r.chunks.is_empty(), "201 carries no body");
    assert_eq!(header(&r, "apns-request-id").as_deref(), Some(request_id.to_lowercase().as_str()), "echoed, lowercase");
    let id = header(&r, "apns-channel-id").expect("apns-channel-id");
    assert_eq!(id.len(), 24, "16 bytes in standard base64");
    // node-apn's spelling, and no request id: one is made.
    let r = c
        .push(
            call("POST", &format!("/1/apps/{APP}/channels"), &jwt)
                .body(r#"{"message-storage-policy":0,"push-type":"liveactivity"}"#),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(header(&r, "apns-request-id").is_some_and(|id| protocol::ApnsId::parse(&id).is_ok()));
    let other = header(&r, "apns-channel-id").expect("id");

    let read = |id: &str| call("GET", &format!("/1/apps/{APP}/channels"), &jwt).header("apns-channel-id", id);
    let r = c.push(read(&id)).await;
    assert_eq!((r.status, body(&r)), (200, json!({"message-storage-policy": 1, "push-type": "LiveActivity"})));
    let r = c.push(call("GET", &format!("/1/apps/{APP}/all-channels"), &jwt)).await;
    assert_eq!((r.status, body(&r)), (200, json!({"channels": [id.clone(), other.clone()]})));
    // Per environment: the production API has none of them.
    let mut p = channels_client(&lab, Production).await;
    assert_reason(&p.push(read(&id)).await, 400, "ChannelNotRegistered");

    let delete = |id: &str| call("DELETE", &format!("/1/apps/{APP}/channels"), &jwt).header("apns-channel-id", id);
    let r = c.push(delete(&other)).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert!(r.end_on_headers, "204 carries no body");
    assert_reason(&c.push(read(&other)).await, 400, "ChannelNotRegistered");
    assert_reason(&c.push(delete(&other)).await, 404, "BadPath");
    assert_reason(&c.push(delete("AAAAAAAAAAAAAAAAAAAAAA==")).await, 404, "BadPath");
    let r = c.push(call("GET", &format!("/1/apps/{APP}/all-channels"), &jwt)).await;
    assert_eq!(body(&r), json!({"channels": [id.clone()]}));

    // The reasons, in order.
    assert_reason(&c.push(call("GET", &format!("/1/apps/{APP}/channels"), &jwt)).await, 400, "MissingChannelId");
    assert_reason(&c.push(read("not base64!")).await, 400, "BadChannelId");
    assert_reason(&c.push(read("AAAAAAAAAAAAAAAAAAAAAA==")).await, 400, "BadChannelId");
    assert_reason(&c.push(read(&id).header("apns-request-id", "nope")).await, 400, "BadMessageId");
    assert_reason(&c.push(read(&id).without("authorization")).await, 403, "MissingProviderToken");
    let suffixed = call("GET", &format!("/1/apps/{APP}.push-type.liveactivity/all-channels"), &jwt);
    assert_reason(&c.push(suffixed).await, 400, "TopicDisallowed");
    assert_reason(&c.push(call("GET", &format!("/1/apps/{APP}/nope"), &jwt)).await, 404, "BadPath");
    assert_reason(&c.push(call("POST", &format!("/1/apps/{APP}/all-channels"), &jwt)).await, 404, "BadPath");
    assert_reason(&c.push(call("PUT", &format!("/1/apps/{APP}/channels"), &jwt)).await, 405, "MethodNotAllowed");
    let made = |b: &str| call("POST", &format!("/1/apps/{APP}/channels"), &jwt).body(b.to_owned());
    for (b, reason) in [
        ("{not json", "BadRequestPayload"),
        (r#"{"message-storage-policy":1,"push-type":"LiveActivity","x":1}"#, "BadRequestParams"),
        (r#"{"push-type":"LiveActivity"}"#, "MissingChannelQueueSize"),
        (r#"{"message-storage-policy":7,"push-type":"LiveActivity"}"#, "MissingChannelQueueSize"),
        (r#"{"message-storage-policy":1}"#, "MissingPushType"),
        (r#"{"message-storage-policy":1,"push-type":"alert"}"#, "InvalidPushType"),
    ] {
        assert_reason(&c.push(made(b)).await, 400, reason);
    }
}

/// A client that keeps Apple's host names and resolves them to the mock (curl's
/// `--resolve`, as an /etc/hosts entry would) verifies the channel listeners'
/// certificate by those names, in both environments; a name the certificate does not
/// cover still fails.
#[tokio::test]
async fn a_client_that_keeps_apples_channel_hosts_verifies_the_certificate() {
    let lab = lab().await;
    let jwt = lab.jwt();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, lab.mock.ca_pem()).expect("writes the CA");
    let curl = async |host: &str, url: &str| {
        let port = url.rsplit(':').next().expect("a port");
        tokio::process::Command::new("curl")
            .args(["-sS", "--http2", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca)
            .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
            .args(["-H", &format!("authorization: bearer {jwt}")])
            .arg(format!("https://{host}:{port}/1/apps/{APP}/all-channels"))
            .output()
            .await
            .expect("curl runs")
    };
    let ready = lab.mock.ready();
    for (host, url) in [
        ("api-manage-broadcast.sandbox.push.apple.com", &ready.channels_sandbox),
        ("api-manage-broadcast.push.apple.com", &ready.channels_production),
    ] {
        let out = curl(host, url).await;
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{host}: {said}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{host}");
    }
    let out = curl("api-manage-broadcast.example.com", &ready.channels_sandbox).await;
    assert_eq!(out.status.code(), Some(60), "curl refuses a name the certificate does not cover");
}

#[tokio::test]
async fn a_bodiless_call_may_end_with_an_empty_data_frame() {
    let lab = lab().await;
    let mut c = channels_client(&lab, Sandbox).await;
    let request =
        http::Request::get(format!("https://api-manage-broadcast.sandbox.push.apple.com/1/apps/{APP}/all-channels"))
            .header("authorization", format!("bearer {}", lab.jwt()))
            .body(())
            .expect("request");
    let (response, mut stream) = c.drive_send(request).await;
    stream.send_data(bytes::Bytes::new(), true).expect("an empty DATA frame ends it");
    let response = c.drive(response).await.expect("answered").expect("a response");
    assert_eq!(response.status(), 200);
}

/// Subscribers: a running phone whose activity listens to the channel, and two virtual
/// devices' activities. One broadcast reaches them all, each delivery a journey under
/// the broadcast's request id.
#[tokio::test(flavor = "multi_thread")]
async fn one_broadcast_reaches_every_subscriber() {
    let lab = lab().await;
    let jwt = lab.jwt();
    let mut m = channels_client(&lab, Sandbox).await;
    let id = header(&m.push(create(&jwt, 0)).await, "apns-channel-id").expect("a channel");

    let mut phone = crate::devices::phone(&lab, "BC-PHONE").await;
    let mut gw = phone.connect().await.expect("connects");
    // The phone's activity joins the channel when it starts (pushType: .channel(id)).
    let joined = phone.start_channel_activity(&mut gw, APP, TYPE, &id).await.expect("starts, subscribed");
    // One with a channel that is not the app's fails to start, as on iOS.
    assert!(phone.start_channel_activity(&mut gw, APP, TYPE, "AAAAAAAAAAAAAAAAAAAAAA==").await.is_err());
    assert_eq!(phone.activities.list.len(), 1);
    let mut stream = gw.notifications().await.expect("stream");
    let mut acks = gw.ack_sink().await.expect("acks");
    for n in 0..2 {
        let started = lab
            .mock
            .start_activity(
                UDID,
                NewActivity {
                    bundle_id: APP.into(),
                    environment: Sandbox,
                    attributes_type: TYPE.into(),
                    activity_id: Some(format!("V{n}")),
                    channel: Some(id.clone()),
                },
            )
            .await
            .expect("a virtual device subscribes");
        assert_eq!(started.channel.as_deref(), Some(id.as_str()));
        // As on iOS, an activity that listens to a channel has no push token: broadcasts
        // update it. The admin API shows none and its start event lists none.
        assert_eq!(started.token, None);
    }
    let (_, listed) = admin(lab.mock.admin_addr(), "GET", &format!("/api/v1/devices/{UDID}/activities"), None).await;
    let channel_ones: Vec<&serde_json::Value> =
        listed.as_array().expect("a list").iter().filter(|a| a["channel"] == id.as_str()).collect();
    assert_eq!(channel_ones.len(), 2, "the two virtual ones: {listed}");
    assert!(channel_ones.iter().all(|a| a.get("token").is_none()), "{listed}");
    let started = lab.mock.events(Some(UDID), 10);
    let started: Vec<_> = started.iter().filter(|e| e.kind == "activity-start").collect();
    assert!(started.iter().all(|e| e.tokens.is_empty()), "{started:?}");
    // The phone keeps no token for its own, and hands none to a provider.
    assert_eq!(phone.activities.get(&joined).expect("runs").token, None);
    // A start with a channel that is not the app's fails.
    let (status, bad) = admin(
        lab.mock.admin_addr(),
        "POST",
        &format!("/api/v1/devices/{UDID}/activities"),
        Some(json!({"bundle_id": APP, "attributes_type": TYPE, "channel": "AAAAAAAAAAAAAAAAAAAAAA=="})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");

    let ts = lab.mock.clock().unix_secs();
    let broadcast = Push::new("x", &jwt)
        .path(format!("/4/broadcasts/apps/{APP}"))
        .without("apns-topic")
        .header("apns-push-type", "LiveActivity")
        .header("apns-channel-id", &id)
        .header("apns-expiration", "0")
        .header("apns-priority", "10")
        .body(json!({"aps": {"event": "update", "timestamp": ts, "content-state": {"score": "2-1"}}}).to_string());
    let mut c = lab.client(Sandbox).await;
    let r = c.push(broadcast.clone()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.end_on_headers);
    assert!(header(&r, "apns-unique-id").is_some());
    let request_id = header(&r, "apns-request-id").expect("apns-request-id");
    let got = tokio::time::timeout(Duration::from_secs(5), phone.receive(&mut stream, &mut acks))
        .await
        .expect("arrives")
        .expect("open")
        .expect("ok");
    assert_eq!(got.decision.expect("applied").outcome, protocol::gateway::Outcome::ActivityUpdated);
    assert_eq!(phone.activities.get(&joined).expect("runs").content_state["score"], "2-1");
    let (status, fan) = admin(lab.mock.admin_addr(), "GET", &format!("/api/v1/broadcasts/{request_id}"), None).await;
    assert_eq!(status, 200, "{fan}");
    let deliveries = fan["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 3, "the phone and two virtual devices: {fan}");
    // The capture log has the broadcast, under its request id, as it has pushes.
    let (_, log) =
        admin(lab.mock.admin_addr(), "GET", &format!("/api/v1/notifications?apns_id={request_id}"), None).await;
    assert_eq!(
        (log[0]["path"].as_str(), log[0]["status"].as_u64()),
        (Some("/4/broadcasts/apps/com.example.chat"), Some(200)),
        "{log}"
    );
    assert_eq!(log[0]["auth"]["kind"], "token", "{log}");
    for d in deliveries {
        assert_eq!(d["journey"][1]["state"], "broadcast", "{d}");
        assert!(d["journey"][1]["detail"].as_str().is_some_and(|s| s.contains(&request_id)), "{d}");
    }

    // The broadcast's own checks, in order.
    let with = |name: &str, value: &str| broadcast.clone().header(name, value);
    for (push, status, reason) in [
        (broadcast.clone().without("apns-channel-id"), 400, "MissingChannelId"),
        (with("apns-channel-id", "AAAAAAAAAAAAAAAAAAAAAA=="), 400, "BadChannelId"),
        (broadcast.clone().without("apns-push-type"), 400, "MissingPushType"),
        (with("apns-push-type", "alert"), 400, "InvalidPushType"),
        (broadcast.clone().without("apns-expiration"), 400, "BadExpirationDate"),
        (with("apns-expiration", "1900000000"), 400, "BadExpirationDate"),
        (broadcast.clone().without("apns-priority"), 400, "BadPriority"),
        (broadcast.clone().body(Vec::new()), 400, "PayloadEmpty"),
        (
            broadcast.clone().body(format!(r#"{{"aps":{{"event":"update","x":"{}"}}}}"#, "x".repeat(5120))),
            413,
            "PayloadTooLarge",
        ),
        (broadcast.clone().body(r#"{"aps":{"event":"start","timestamp":1}}"#), 400, "BadRequestPayload"),
        (broadcast.clone().path(format!("/4/broadcasts/apps/{APP}.push-type.liveactivity")), 400, "TopicDisallowed"),
        (broadcast.clone().without("authorization"), 403, "MissingProviderToken"),
    ] {
        let r = c.push(push).await;
        assert_reason(&r, status, reason);
    }
    // 5120 bytes is allowed; a deleted channel is not registered.
    let pad = 5120 - json!({"aps": {"event": "update", "timestamp": ts, "content-state": {"x": ""}}}).to_string().len();
    let full =
        json!({"aps": {"event": "update", "timestamp": ts, "content-state": {"x": "y".repeat(pad)}}}).to_string();
    assert_eq!(full.len(), 5120);
    assert_eq!(c.push(broadcast.clone().body(full)).await.status, 200);
    let r = m.push(call("DELETE", &format!("/1/apps/{APP}/channels"), &jwt).header("apns-channel-id", &id)).await;
    assert_eq!(r.status, 204);
    assert_reason(&c.push(broadcast.clone()).await, 400, "ChannelNotRegistered");
    let (_, text) = admin(lab.mock.admin_addr(), "GET", "/metrics", None).await;
    let text = text.as_str().expect("text");
    assert!(text.contains("apns_broadcast_deliveries_total 6"), "{text}");
    assert!(text.contains(r#"apns_channel_calls_total{call="create"} 1"#), "{text}");
}

/// A phone that is away when a broadcast comes: a channel that keeps its latest message
/// delivers it on return (even once the channel is deleted); one that keeps nothing does not.
#[tokio::test(flavor = "multi_thread")]
async fn the_storage_policy_decides_what_a_phone_that_is_away_gets() {
    let lab = lab().await;
    let jwt = lab.jwt();
    let mut m = channels_client(&lab, Sandbox).await;
    let keeps = header(&m.push(create(&jwt, 1)).await, "apns-channel-id").expect("a channel");
    let forgets = header(&m.push(create(&jwt, 0)).await, "apns-channel-id").expect("a channel");
    let mut phone = crate::devices::phone(&lab, "BC-AWAY").await;
    let mut gw = phone.connect().await.expect("connects");
    let mut ids = Vec::new();
    for channel in [&keeps, &forgets] {
        ids.push(phone.start_channel_activity(&mut gw, APP, TYPE, channel).await.expect("starts, subscribed"));
    }
    let stream = gw.notifications().await.expect("online once");
    crate::devices::eventually(|| lab.mock.device("BC-AWAY").expect("device").online).await;
    drop((stream, gw));
    crate::devices::eventually(|| !lab.mock.device("BC-AWAY").expect("device").online).await;
    let ts = lab.mock.clock().unix_secs();
    let mut c = lab.client(Sandbox).await;
    for (channel, expiration) in [(&keeps, ts + 3600), (&forgets, 0)] {
        let r = c
            .push(
                Push::new("x", &jwt)
                    .path(format!("/4/broadcasts/apps/{APP}"))
                    .without("apns-topic")
                    .header("apns-push-type", "liveactivity")
                    .header("apns-channel-id", channel)
                    .header("apns-expiration", &expiration.to_string())
                    .header("apns-priority", "5")
                    .body(
                        json!({"aps": {"event": "update", "timestamp": ts, "content-state": {"score": "3-1"}}})
                            .to_string(),
                    ),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    // Deleted meanwhile: what it queued may still arrive, as Apple says.
    let r = m.push(call("DELETE", &format!("/1/apps/{APP}/channels"), &jwt).header("apns-channel-id", &keeps)).await;
    assert_eq!(r.status, 204);
    let mut gw = phone.connect().await.expect("back");
    let mut stream = gw.notifications().await.expect("stream");
    let mut acks = gw.ack_sink().await.expect("acks");
    let got = tokio::time::timeout(Duration::from_secs(5), phone.receive(&mut stream, &mut acks))
        .await
        .expect("the stored one arrives")
        .expect("open")
        .expect("ok");
    assert!(got.delivery.from_storage);
    assert_eq!(phone.activities.get(&ids[0]).expect("runs").content_state["score"], "3-1");
    let nothing = tokio::time::timeout(Duration::from_millis(300), phone.receive(&mut stream, &mut acks)).await;
    assert!(nothing.is_err(), "the channel that keeps nothing delivered nothing");
    assert!(phone.activities.get(&ids[1]).expect("runs").content_state.is_empty());
}

#[tokio::test]
async fn channels_survive_a_restart_and_deleted_ids_stay_deleted() {
    let dir = tempfile::tempdir().expect("dir");
    let config = || Config { data_dir: Some(dir.path().to_path_buf()), clock: manual_clock(), ..Config::default() };
    let lab = lab_with(config()).await;
    let jwt = lab.jwt();
    let mut m = channels_client(&lab, Sandbox).await;
    let kept = header(&m.push(create(&jwt, 1)).await, "apns-channel-id").expect("a channel");
    let gone = header(&m.push(create(&jwt, 0)).await, "apns-channel-id").expect("a channel");
    m.push(call("DELETE", &format!("/1/apps/{APP}/channels"), &jwt).header("apns-channel-id", &gone)).await;
    lab.mock.shutdown().await;
    let mock = MockApns::start(config()).await.expect("restarts");
    let addr = mock.ready().channels_sandbox.trim_start_matches("https://").parse().expect("addr");
    let mut m = Client::connect(addr, mock.ca_pem(), None, Alpn::H2).await;
    let r = m.push(call("GET", &format!("/1/apps/{APP}/all-channels"), &jwt)).await;
    assert_eq!(body(&r), json!({"channels": [kept.clone()]}));
    let read = |id: &str| call("GET", &format!("/1/apps/{APP}/channels"), &jwt).header("apns-channel-id", id);
    assert_eq!(body(&m.push(read(&kept)).await)["message-storage-policy"], 1);
    assert_reason(&m.push(read(&gone)).await, 400, "ChannelNotRegistered");
    mock.shutdown().await;
}

/// The README's broadcast recipe (Apple's command-line recipe with the host and CA
/// changed) runs as printed.
#[test]
fn the_readme_broadcast_recipe_runs_as_printed() {
    let stdout = crate::book::run_readme_block("<!-- broadcast recipe -->", None, &[]);
    let channel = stdout.lines().find_map(|l| l.strip_prefix("channel ")).expect("a channel id");
    assert_eq!(channel.len(), 24, "{stdout}");
    assert!(stdout.contains("HTTP/2 200") && stdout.to_lowercase().contains("apns-request-id:"), "{stdout}");
    assert_eq!(stdout.lines().last().map(str::trim), Some("2"), "two subscribers reached: {stdout}");
}

/// The README's Live Activity and channel command lines run as printed, against a mock
/// started as the README's recipe starts it.
#[test]
fn the_readme_live_activity_and_channel_commands_run_as_printed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = crate::serve::serve(dir.path());
    let ready = crate::serve::ready_file(dir.path(), &s);
    let admin = s.ready["admin"].as_str().expect("admin");
    let out = crate::book::run_readme_block("<!-- live activity recipe -->", Some(&ready), &[("ADMIN", admin)]);
    assert_eq!(out.matches("200 accepted").count(), 2, "{out}");
    assert!(out.contains("ended\n") && out.contains(r#"{"kind":"update","state":"ended"}"#), "{out}");
    let out = crate::book::run_readme_block("<!-- channels recipe -->", Some(&ready), &[]);
    assert!(out.contains("message-storage-policy 1") && out.contains("accepted, apns-request-id"), "{out}");
    assert!(out.contains("deleted "), "{out}");
}

/// The App ID's broadcast capability: switched off, its channels are gone and channel
/// calls and broadcasts answer FeatureNotEnabled; on again, channels can be made anew.
#[tokio::test]
async fn without_the_broadcast_capability_calls_answer_feature_not_enabled() {
    let lab = lab().await;
    let jwt = lab.jwt();
    let mut m = channels_client(&lab, Sandbox).await;
    let id = header(&m.push(create(&jwt, 1)).await, "apns-channel-id").expect("a channel");
    let path = format!("/api/v1/broadcast-capability/{APP}");
    let switch = |on: bool| admin(lab.mock.admin_addr(), "PUT", &path, Some(json!({"enabled": on})));
    let (status, off) = switch(false).await;
    assert_eq!((status, off["channels_deleted"].clone()), (200, json!([id.clone()])), "{off}");
    assert_reason(&m.push(create(&jwt, 1)).await, 400, "FeatureNotEnabled");
    assert_reason(&m.push(call("GET", &format!("/1/apps/{APP}/all-channels"), &jwt)).await, 400, "FeatureNotEnabled");
    let mut c = lab.client(Sandbox).await;
    let broadcast = Push::new("x", &jwt)
        .path(format!("/4/broadcasts/apps/{APP}"))
        .without("apns-topic")
        .header("apns-push-type", "liveactivity")
        .header("apns-channel-id", &id)
        .header("apns-expiration", "0")
        .header("apns-priority", "10")
        .body(r#"{"aps":{"event":"update","timestamp":1,"content-state":{}}}"#);
    assert_reason(&c.push(broadcast).await, 400, "FeatureNotEnabled");
    switch(true).await;
    assert_eq!(m.push(create(&jwt, 1)).await.status, 201);
    let r = m.push(call("GET", &format!("/1/apps/{APP}/channels"), &jwt).header("apns-channel-id", &id)).await;
    assert_reason(&r, 400, "ChannelNotRegistered");
}

/// The provider server makes a channel for an event and broadcasts to it; APNs's answer
/// comes back as a result.
#[tokio::test(flavor = "multi_thread")]
async fn the_provider_server_creates_a_channel_and_broadcasts() {
    use std::sync::Arc;

    use provider::server::{Clients, Provider, Tokens};
    let lab = lab_with(Config::default()).await;
    let client = |url: &str| crate::provider_server::client_for(&lab, url);
    let state = Arc::new(Provider {
        tokens: Tokens::open(None).expect("db"),
        clients: Clients { sandbox: Some(client(&lab.mock.ready().sandbox)), production: None },
        channel_clients: Clients { sandbox: Some(client(&lab.mock.ready().channels_sandbox)), production: None },
        web: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let p = listener.local_addr().expect("addr");
    tokio::spawn(provider::server::run(listener, state, std::future::pending()));

    let (status, made) = admin(p, "POST", "/v1/channels", Some(json!({"bundle_id": APP, "storage_policy": 1}))).await;
    assert_eq!(status, 201, "{made}");
    let id = made["channel_id"].as_str().expect("id").to_owned();
    lab.mock
        .start_activity(
            UDID,
            NewActivity {
                bundle_id: APP.into(),
                environment: Sandbox,
                attributes_type: TYPE.into(),
                activity_id: None,
                channel: Some(id.clone()),
            },
        )
        .await
        .expect("subscribed");
    let (_, list) = admin(p, "GET", &format!("/v1/channels?bundle_id={APP}"), None).await;
    assert_eq!(list, json!([id.clone()]));
    let send = json!({"bundle_id": APP, "channel_id": id, "content_state": {"score": "1-0"}, "expiration": 0});
    let (status, sent) = admin(p, "POST", "/v1/broadcasts", Some(send.clone())).await;
    assert_eq!((status, sent["status"].as_u64()), (200, Some(200)), "{sent}");
    let request_id = sent["request_id"].as_str().expect("request id");
    let (_, fan) = admin(lab.mock.admin_addr(), "GET", &format!("/api/v1/broadcasts/{request_id}"), None).await;
    assert_eq!(fan["deliveries"].as_array().map(Vec::len), Some(1), "{fan}");
    let encoded = id.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let (status, _) = admin(p, "DELETE", &format!("/v1/channels/{encoded}?bundle_id={APP}"), None).await;
    assert_eq!(status, 204);
    let (_, refused) = admin(p, "POST", "/v1/broadcasts", Some(send)).await;
    assert_eq!((refused["status"].as_u64(), refused["reason"].as_str()), (Some(400), Some("ChannelNotRegistered")));
}

/// The channel listeners are served as the provider API's are, with its bounds: one
/// stream until a valid provider token, header lists of 8000 bytes, bodies kept up to
/// 5121 bytes.
#[tokio::test]
async fn the_channel_listeners_have_the_provider_apis_bounds() {
    let lab = lab().await;
    let addr = lab.mock.ready().channels_sandbox.trim_start_matches("https://").parse().expect("addr");
    let mut tls = tls_connect(addr, lab.mock.ca_pem(), None, Alpn::H2).await;
    raw_start(&mut tls).await;
    let frames = read_frames(&mut tls, |f| f.kind == 0x4 && f.flags & 1 == 0).await;
    let server = frames.iter().find(|f| f.kind == 0x4 && f.flags & 1 == 0).expect("the server's SETTINGS");
    let advertised = settings(server);
    assert!(advertised.contains(&(0x3, 1)), "one stream before a valid token: {advertised:?}");
    assert!(advertised.contains(&(0x6, 8000)), "MAX_HEADER_LIST_SIZE 8000: {advertised:?}");
    // A create body far over what a create needs is cut, not buffered: it is not JSON then.
    let mut c = channels_client(&lab, Sandbox).await;
    let huge = format!(r#"{{"message-storage-policy":1,"push-type":"LiveActivity","x":"{}"}}"#, "y".repeat(1 << 20));
    let r = c.push(call("POST", &format!("/1/apps/{APP}/channels"), &lab.jwt()).body(huge)).await;
    assert_reason(&r, 400, "BadRequestPayload");
}
