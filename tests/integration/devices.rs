//! Simulated iPhones end to end: activation, step 2 over the gateway, live delivery,
//! acknowledgements, journeys, store-and-forward for a phone that is away, and no loss
//! across a dropped connection.

use std::time::Duration;

use device_sim::{Device, Endpoint};
use protocol::Environment::Sandbox;
use protocol::gateway::Outcome;

use crate::support::*;

pub(crate) async fn phone(lab: &Lab, udid: &str) -> Device {
    let endpoint = Endpoint::parse(&lab.mock.ready().gateway, lab.mock.ca_pem().to_owned()).expect("endpoint");
    let mut device = Device::activate(endpoint, Some(udid.into())).await.expect("activates");
    device.install(APP, Sandbox);
    let mut gw = device.connect().await.expect("connects");
    device.register_apps(&mut gw).await.expect("registers");
    device
}

/// A phone that was online once (its stream opened) and is away now: what is pushed to
/// it is stored.
pub(crate) async fn away_phone(lab: &Lab, udid: &str) -> Device {
    let device = phone(lab, udid).await;
    let mut gw = device.connect().await.expect("connects");
    let stream = gw.notifications().await.expect("stream");
    eventually(|| lab.mock.device(udid).expect("device").online).await;
    drop((stream, gw));
    eventually(|| !lab.mock.device(udid).expect("device").online).await;
    device
}

/// Waits until the device is seen offline (its stream dropped), then connects it again.
async fn reconnect(lab: &Lab, device: &Device) -> device_sim::Gateway {
    eventually(|| !lab.mock.device(&device.udid).expect("device").online).await;
    device.connect().await.expect("reconnects")
}

/// The apns-ids a stream brings until it has been quiet for half a second.
async fn drain(stream: &mut device_sim::Notifications) -> Vec<String> {
    let mut ids = Vec::new();
    while let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(500), stream.next()).await {
        ids.push(d.expect("ok").apns_id);
    }
    ids
}

/// The states of a notification's journey, as `GET /api/v1/notifications/{id}` shows it
/// (empty when it has none).
pub(crate) async fn journey_states(lab: &Lab, apns_id: &str) -> (Vec<String>, serde_json::Value) {
    let (_, v) = admin(lab.mock.admin_addr(), "GET", &format!("/api/v1/notifications/{apns_id}"), None).await;
    let states = v["journey"].as_array().into_iter().flatten().map(|s| s["state"].as_str().unwrap_or("").to_owned());
    (states.collect(), v)
}

/// Waits (bounded) until the capture or journey shows what the test waits for.
pub(crate) async fn eventually(mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 2 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_reaches_the_phone_and_its_journey_is_logged() {
    let lab = lab().await;
    let mut device = phone(&lab, "PHONE-A").await;
    let token = device.apps[0].token.clone().expect("token");
    assert_eq!(lab.mock.device("PHONE-A").expect("registered").apps[0].token, token, "step 2 over the gateway");
    let mut gw = device.connect().await.expect("connects");
    let mut stream = gw.notifications().await.expect("stream");
    let mut acks = gw.ack_sink().await.expect("ack stream");
    let mut c = lab.client(Sandbox).await;
    let id = "00000000-0000-4000-8000-000000000001";
    // Pretty-printed, line breaks and all, as a provider may send it.
    let push = Push::new(&token, &lab.jwt()).header("apns-id", id).body(
        "{\n  \"aps\": {\n    \"alert\": {\"title\": \"Ann\", \"body\": \"Lunch?\"},\r\n    \"badge\": 2,\n    \"sound\": \"default\"\n  }\n}\n",
    );
    c.push(push).await.assert_ok();
    let got = tokio::time::timeout(Duration::from_secs(5), device.receive(&mut stream, &mut acks))
        .await
        .expect("arrives")
        .expect("stream open")
        .expect("ok");
    assert_eq!(got.delivery.apns_id, id);
    let decision = got.decision.expect("not a duplicate");
    assert_eq!(decision.outcome, Outcome::Presented);
    assert_eq!(device.center.items[0].title.as_deref(), Some("Ann"));
    assert_eq!(device.badges[APP], 2);
    let admin_addr = lab.mock.admin_addr();
    let path = format!("/api/v1/notifications/{id}");
    let mut journey = Vec::new();
    for _ in 0..200 {
        let (_, v) = admin(admin_addr, "GET", &path, None).await;
        journey = v["journey"].as_array().cloned().unwrap_or_default();
        if journey.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let states: Vec<&str> = journey.iter().map(|s| s["state"].as_str().unwrap_or("")).collect();
    assert_eq!(states, ["received", "delivered", "presented"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_cannot_read_another_devices_notifications() {
    let lab = lab().await;
    let a = phone(&lab, "PHONE-A").await;
    let b = phone(&lab, "PHONE-B").await;
    let mut gw_b = b.connect().await.expect("connects");
    let mut stream_b = gw_b.notifications().await.expect("B's own stream");
    let mut c = lab.client(Sandbox).await;
    c.push(Push::new(a.apps[0].token.as_ref().expect("token"), &lab.jwt())).await.assert_ok();
    let nothing = tokio::time::timeout(Duration::from_millis(300), stream_b.next()).await;
    assert!(nothing.is_err(), "B saw nothing of A's");
    // Without a device certificate there is no stream at all, and A's certificate is A's.
    let endpoint = Endpoint::parse(&lab.mock.ready().gateway, lab.mock.ca_pem().to_owned()).expect("endpoint");
    let mut anonymous = device_sim::Gateway::connect(&endpoint, None).await.expect("connects");
    let refused = anonymous.notifications().await.err().expect("refused");
    assert!(matches!(refused, device_sim::Error::Refused { status: 401, .. }), "{refused}");
    // A provider's APNs certificate is not a device identity.
    let cert = lab
        .mock
        .issue_certificate(mock_apns::NewCertificate {
            topics: vec![APP.into()],
            environment: mock_apns::KeyEnvironment::Both,
            pkcs12_password: None,
        })
        .expect("cert");
    let provider = device_sim::Identity { cert_pem: cert.cert_pem, key_pem: cert.key_pem };
    let mut wrong = device_sim::Gateway::connect(&endpoint, Some(&provider)).await.expect("connects");
    assert!(matches!(wrong.notifications().await, Err(device_sim::Error::Refused { status: 401, .. })));
}

#[tokio::test(flavor = "multi_thread")]
async fn unacknowledged_notifications_come_back_exactly_once_after_a_drop() {
    let lab = lab().await;
    let mut device = phone(&lab, "PHONE-A").await;
    let token = device.apps[0].token.clone().expect("token");
    let mut gw = device.connect().await.expect("connects");
    let mut stream = gw.notifications().await.expect("stream");
    let mut c = lab.client(Sandbox).await;
    let ids: Vec<String> = (0..5).map(|i| format!("00000000-0000-4000-8000-00000000000{i}")).collect();
    for id in &ids {
        c.push(Push::new(&token, &lab.jwt()).header("apns-id", id)).await.assert_ok();
    }
    // Read all five, acknowledge only the first two, then lose the connection.
    let mut first = Vec::new();
    for _ in 0..5 {
        let d = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("arrives")
            .expect("open")
            .expect("ok");
        first.push(d.clone());
        let received = device.handle(d);
        if first.len() <= 2 {
            let decision = received.decision.expect("new");
            gw.ack(&[protocol::gateway::Ack {
                apns_id: received.delivery.apns_id,
                outcome: decision.outcome,
                reason: None,
                shown: None,
            }])
            .await
            .expect("ack");
        }
    }
    drop(stream);
    drop(gw);
    // Back: the three unacknowledged come again, flagged; the phone shows none twice.
    let mut gw = reconnect(&lab, &device).await;
    let mut stream = gw.notifications().await.expect("stream");
    let mut acks = gw.ack_sink().await.expect("ack stream");
    let mut again = Vec::new();
    for _ in 0..3 {
        let r = tokio::time::timeout(Duration::from_secs(5), device.receive(&mut stream, &mut acks))
            .await
            .expect("arrives")
            .expect("open")
            .expect("ok");
        assert!(r.delivery.redelivered);
        assert!(r.decision.is_none(), "the phone had them already: dropped as duplicates");
        again.push(r.delivery.apns_id);
    }
    again.sort();
    assert_eq!(again, ids[2..].to_vec());
    assert_eq!(device.center.items.len(), 5, "each presented exactly once");
    assert!(tokio::time::timeout(Duration::from_millis(200), stream.next()).await.is_err(), "nothing more");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phone_that_was_away_gets_what_was_stored_and_nothing_expired() {
    let lab = lab().await;
    let mut device = phone(&lab, "PHONE-A").await;
    device.install("com.example.news", Sandbox);
    let mut gw = device.connect().await.expect("connects");
    device.register_apps(&mut gw).await.expect("registers");
    let (chat, news) = (device.apps[0].token.clone().expect("t"), device.apps[1].token.clone().expect("t"));
    // Connect once and leave: the phone is offline now.
    let stream = gw.notifications().await.expect("stream");
    eventually(|| lab.mock.device("PHONE-A").expect("device").online).await;
    drop(stream);
    drop(gw);
    eventually(|| !lab.mock.device("PHONE-A").expect("device").online).await;
    let mut c = lab.client(Sandbox).await;
    let now = lab.mock.clock().unix_secs();
    c.push(Push::new(&chat, &lab.jwt()).header("apns-id", "00000000-0000-4000-8000-000000000001")).await.assert_ok();
    c.push(Push::new(&chat, &lab.jwt()).header("apns-id", "00000000-0000-4000-8000-000000000002")).await.assert_ok();
    c.push(
        Push::new(&news, &lab.jwt())
            .header("apns-topic", "com.example.news")
            .header("apns-id", "00000000-0000-4000-8000-000000000003")
            .header("apns-expiration", &(now + 60).to_string()),
    )
    .await
    .assert_ok();
    // The news one expires while the phone is away.
    lab.mock.clock().advance(Duration::from_secs(120));
    let mut gw = device.connect().await.expect("reconnects");
    let mut stream = gw.notifications().await.expect("stream");
    let mut acks = gw.ack_sink().await.expect("ack stream");
    let r = tokio::time::timeout(Duration::from_secs(5), device.receive(&mut stream, &mut acks))
        .await
        .expect("arrives")
        .expect("open")
        .expect("ok");
    assert_eq!(r.delivery.apns_id, "00000000-0000-4000-8000-000000000002", "one per app: the latest");
    assert!(r.delivery.from_storage);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), stream.next()).await.is_err(),
        "the expired one is not delivered"
    );
    let (states, v) = journey_states(&lab, "00000000-0000-4000-8000-000000000003").await;
    assert_eq!(states, ["received", "stored", "discarded"], "{v}");
    // The first chat one was replaced in storage by the second: its journey says so.
    let (states, v) = journey_states(&lab, "00000000-0000-4000-8000-000000000001").await;
    assert_eq!(states, ["received", "stored", "replaced"], "{v}");
    assert_eq!(v["journey"][2]["detail"], "by 00000000-0000-4000-8000-000000000002", "{v}");
    // Once acknowledged, nothing is held any more.
    eventually(|| lab.mock.device("PHONE-A").expect("device").apps.iter().all(|a| a.stored.is_none())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn low_priority_pushes_arrive_in_a_batch_and_the_unacked_queue_is_bounded() {
    let lab = lab().await;
    let device = phone(&lab, "PHONE-A").await;
    let token = device.apps[0].token.clone().expect("token");
    let mut gw = device.connect().await.expect("connects");
    let mut stream = gw.notifications().await.expect("stream");
    let mut c = lab.client(Sandbox).await;
    // Priority 5 and 1 wait for the batch window, then come.
    for (i, p) in ["5", "1"].iter().enumerate() {
        let id = format!("00000000-0000-4000-8000-00000000000{i}");
        c.push(Push::new(&token, &lab.jwt()).header("apns-priority", p).header("apns-id", &id)).await.assert_ok();
    }
    for _ in 0..2 {
        let d = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("arrives")
            .expect("open")
            .expect("ok");
        assert_ne!(d.priority, protocol::Priority::Immediate);
    }
    // Never acknowledge: past MAX_UNACKED the oldest is dropped from redelivery.
    let max = mock_apns::MAX_UNACKED;
    let ids: Vec<String> = (0..=max).map(|i| format!("00000000-0000-4000-9000-{i:012}")).collect();
    for id in &ids {
        c.push(Push::new(&token, &lab.jwt()).header("apns-id", id)).await.assert_ok();
    }
    let mut got = 0;
    while got < ids.len() {
        tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("arrives").expect("open").expect("ok");
        got += 1;
    }
    // The two batched ones and the first of these were pushed out of the bound.
    let (_, v) = admin(lab.mock.admin_addr(), "GET", &format!("/api/v1/notifications/{}", ids[0]), None).await;
    let last = v["journey"].as_array().expect("journey").last().cloned().expect("a step");
    assert_eq!((last["state"].as_str(), last["detail"].as_str()), (Some("discarded"), Some("queue-full")), "{v}");
    // Reconnecting brings back exactly the newest MAX_UNACKED.
    drop(stream);
    drop(gw);
    let mut gw = reconnect(&lab, &device).await;
    let mut stream = gw.notifications().await.expect("stream");
    assert_eq!(drain(&mut stream).await.len(), max);
}

/// A phone that reads its stream but never acknowledges gets at most MAX_IN_FLIGHT
/// notifications down it; the rest wait, and come when it reconnects.
#[tokio::test(flavor = "multi_thread")]
async fn notifications_in_flight_to_a_phone_are_bounded() {
    let lab = lab().await;
    let device = phone(&lab, "PHONE-A").await;
    let token = device.apps[0].token.clone().expect("token");
    let mut gw = device.connect().await.expect("connects");
    let mut stream = gw.notifications().await.expect("stream");
    let mut c = lab.client(Sandbox).await;
    let bound = mock_apns::MAX_IN_FLIGHT;
    let ids: Vec<String> = (0..bound + 6).map(|i| format!("00000000-0000-4000-9000-{i:012}")).collect();
    for id in &ids {
        c.push(Push::new(&token, &lab.jwt()).header("apns-id", id)).await.assert_ok();
    }
    assert_eq!(drain(&mut stream).await, ids[..bound], "exactly the first MAX_IN_FLIGHT, in order");
    let (states, v) = journey_states(&lab, &ids[bound]).await;
    assert!(!states.iter().any(|s| s == "delivered"), "the one past the bound waits: {v}");
    // Reconnecting sends what waited (within the newest MAX_UNACKED).
    drop(stream);
    drop(gw);
    let mut gw = reconnect(&lab, &device).await;
    let mut stream = gw.notifications().await.expect("stream");
    let back = drain(&mut stream).await;
    assert_eq!(back.len(), mock_apns::MAX_UNACKED);
    assert_eq!(back.last(), ids.last(), "the newest, never sent before, comes now");
    // What never went down a stream is delivered, not redelivered.
    let (states, v) = journey_states(&lab, ids.last().expect("ids")).await;
    assert_eq!(states, ["received", "delivered"], "{v}");
    let (states, v) = journey_states(&lab, &ids[bound - 1]).await;
    assert_eq!(states, ["received", "delivered", "redelivered"], "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_of_phones_comes_online_and_receives() {
    let lab = lab().await;
    let endpoint = Endpoint::parse(&lab.mock.ready().gateway, lab.mock.ca_pem().to_owned()).expect("endpoint");
    let stats = std::sync::Arc::new(device_sim::fleet::FleetStats::default());
    let tokens =
        device_sim::fleet::start(endpoint, 20, "F", &[(APP.to_owned(), Sandbox)], stats.clone()).await.expect("fleet");
    assert_eq!(tokens.len(), 20);
    let mut c = lab.client(Sandbox).await;
    for (_, _, token) in &tokens {
        c.push(Push::new(token, &lab.jwt())).await.assert_ok();
    }
    eventually(|| stats.delivered.load(std::sync::atomic::Ordering::Relaxed) == 20).await;
    assert_eq!(stats.take_latencies().len(), 20);
}

/// A phone that does not have the app answers "not installed", and from then on APNs
/// answers 410 for its token, with the time it learned.
#[tokio::test(flavor = "multi_thread")]
async fn a_phone_without_the_app_makes_apns_learn_it_is_gone() {
    let lab = lab().await;
    let mut device = phone(&lab, "PHONE-A").await;
    let token = device.apps[0].token.clone().expect("token");
    device.apps.clear(); // deleted on the phone, without telling anyone
    let mut gw = device.connect().await.expect("connects");
    let mut stream = gw.notifications().await.expect("stream");
    let mut acks = gw.ack_sink().await.expect("acks");
    let mut c = lab.client(Sandbox).await;
    c.push(Push::new(&token, &lab.jwt())).await.assert_ok();
    let r = tokio::time::timeout(Duration::from_secs(5), device.receive(&mut stream, &mut acks))
        .await
        .expect("arrives")
        .expect("open")
        .expect("ok");
    assert_eq!(r.decision.expect("decided").outcome, Outcome::AppNotInstalled);
    eventually(|| lab.mock.device("PHONE-A").expect("device").apps[0].unregistered_at.is_some()).await;
    let learned = lab.mock.device("PHONE-A").expect("device").apps[0].unregistered_at.expect("learned");
    let r = c.push(Push::new(&token, &lab.jwt())).await;
    r.assert_err(410, "Unregistered");
    assert_eq!(r.json()["timestamp"], learned);
}

/// The gateway's bounds for a peer without a device certificate: a few concurrent
/// streams (the 5th is refused), a body that must arrive in time (408), and an HTTP/2
/// handshake that must start in time.
#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_bounds_a_peer_without_a_device_certificate() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lab = lab_with(mock_apns::Config {
        clock: manual_clock(),
        body_timeout: Duration::from_millis(300),
        handshake_timeout: Duration::from_millis(300),
        ..mock_apns::Config::default()
    })
    .await;
    let gateway: std::net::SocketAddr =
        lab.mock.ready().gateway.trim_start_matches("https://").parse().expect("an address");
    let mut tls = tls_connect(gateway, lab.mock.ca_pem(), None, Alpn::H2).await;
    raw_start(&mut tls).await;
    let frames = read_frames(&mut tls, |f| f.kind == 0x4 && f.flags & 1 == 0).await;
    let server = frames.iter().find(|f| f.kind == 0x4 && f.flags & 1 == 0).expect("the server's SETTINGS");
    let advertised = settings(server);
    assert!(advertised.contains(&(0x3, 4)), "MAX_CONCURRENT_STREAMS 4: {advertised:?}");
    assert!(advertised.contains(&(0x6, 8192)), "MAX_HEADER_LIST_SIZE 8 KiB: {advertised:?}");
    // Five activations whose bodies never come: the fifth is refused, the others answered 408.
    let block = hpack(&[(":method", "POST"), (":scheme", "https"), (":path", "/gateway/v1/activate")]);
    for stream in [1u32, 3, 5, 7, 9] {
        tls.write_all(&frame(0x1, 0x4, stream, &block)).await.expect("writes");
    }
    // Read until the four others are answered (in whatever order) after the body timeout.
    let mut frames = Vec::new();
    let mut answered = std::collections::BTreeSet::new();
    while answered.len() < 4 {
        let f = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut tls))
            .await
            .expect("frames keep coming")
            .expect("the connection stays open");
        if f.kind == 0x1 {
            answered.insert(f.stream);
        }
        frames.push(f);
    }
    assert_eq!(answered.into_iter().collect::<Vec<_>>(), [1, 3, 5, 7], "{frames:?}");
    let refused =
        frames.iter().any(|f| f.kind == 0x3 && f.stream == 9 && f.payload.get(..4) == Some(&7u32.to_be_bytes()[..]));
    assert!(refused, "the fifth stream is REFUSED_STREAM: {frames:?}");
    // TLS done, no HTTP/2 preface: the gateway closes the connection.
    let mut idle = tls_connect(gateway, lab.mock.ca_pem(), None, Alpn::H2).await;
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match idle.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a connection that never starts HTTP/2 is closed");
}
