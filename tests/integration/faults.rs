//! Fault rules over real TLS and HTTP/2: APNs's bad days on demand — any reason, 410
//! with a timestamp, a late answer, no answer, a reset stream, GOAWAY, a dropped
//! connection, a lowered stream limit — each one in the capture log.

use std::time::{Duration, Instant};

use mock_apns::{CaptureFilter, FaultAction, NewFault};
use protocol::Environment::{Production, Sandbox};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::support::*;

fn rule(action: FaultAction) -> NewFault {
    NewFault {
        token: None,
        topic: None,
        push_type: None,
        environment: None,
        after: 0,
        count: None,
        probability: None,
        action,
    }
}

fn reason(r: &str) -> FaultAction {
    FaultAction::Reason { reason: r.into() }
}

#[tokio::test]
async fn any_reason_on_the_pushes_a_rule_picks_then_back_to_normal() {
    let lab = lab().await;
    let mut c = lab.client(Sandbox).await;
    let push = || Push::new(&lab.sandbox_token, &lab.jwt());
    // Reasons a request cannot provoke, with their statuses from APNs's table.
    for (r, status) in [
        ("TooManyRequests", 429),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
        ("Shutdown", 503),
        ("IdleTimeout", 400),
        ("ExpiredToken", 410),
        ("Forbidden", 403),
    ] {
        let id = lab.mock.add_fault(NewFault { count: Some(1), ..rule(reason(r)) }).expect("rule").id;
        c.push(push()).await.assert_err(status, r);
        c.push(push()).await.assert_ok();
        lab.mock.remove_fault(id).expect("removed");
    }
    // Matchers: token, topic, environment; `after` lets the first through.
    let other = lab.mock.create_device(mock_apns::NewDevice {
        udid: None,
        apps: vec![mock_apns::NewApp { bundle_id: APP.into(), environment: Sandbox, team_id: None }],
    });
    let other = other.await.expect("device").apps[0].token.clone();
    lab.mock
        .add_fault(NewFault {
            token: Some(lab.sandbox_token.to_uppercase()),
            after: 1,
            ..rule(reason("TooManyRequests"))
        })
        .expect("rule");
    c.push(push()).await.assert_ok();
    c.push(push()).await.assert_err(429, "TooManyRequests");
    c.push(Push::new(&other, &lab.jwt())).await.assert_ok();
    lab.mock
        .add_fault(NewFault { environment: Some(Production), ..rule(reason("InternalServerError")) })
        .expect("rule");
    c.push(Push::new(&other, &lab.jwt())).await.assert_ok();
    let mut p = lab.client(Production).await;
    p.push(Push::new(&lab.production_token, &lab.jwt())).await.assert_err(500, "InternalServerError");
    let listed = lab.mock.faults();
    assert_eq!((listed[0].matched, listed[0].fired), (2, 1), "{listed:?}");

    // The capture log says which rule answered.
    let log = lab.mock.notifications(&CaptureFilter { token: Some(lab.sandbox_token.clone()), ..Default::default() });
    assert_eq!(log[0].fault.as_deref(), Some(format!("#{} reason TooManyRequests", listed[0].id).as_str()));
    assert_eq!(log[1].fault, None, "the request let through");
}

#[tokio::test]
async fn unregistered_with_a_timestamp_and_delays() {
    let lab = lab().await;
    let mut c = lab.client(Sandbox).await;
    lab.mock
        .add_fault(NewFault {
            count: Some(1),
            ..rule(FaultAction::Unregistered { timestamp: Some(1_700_000_000_000) })
        })
        .expect("rule");
    let r = c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await;
    r.assert_err(410, "Unregistered");
    assert_eq!(r.json()["timestamp"], 1_700_000_000_000u64);

    lab.mock.add_fault(NewFault { count: Some(1), ..rule(FaultAction::Delay { ms: 300 }) }).expect("rule");
    let started = Instant::now();
    c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
    assert!(started.elapsed() >= Duration::from_millis(300), "answered after the delay");
    let log = lab.mock.notifications(&CaptureFilter::default());
    assert_eq!(log[0].status, 200);
    assert!(log[0].fault.as_deref().is_some_and(|f| f.ends_with("delay 300 ms")), "{:?}", log[0].fault);
}

#[tokio::test]
async fn stall_reset_and_close_leave_the_request_unanswered() {
    let lab = lab().await;
    // Stall: no answer until the client gives up.
    lab.mock.add_fault(NewFault { count: Some(1), ..rule(FaultAction::Stall) }).expect("rule");
    let mut c = lab.client(Sandbox).await;
    let stalled = tokio::time::timeout(Duration::from_millis(500), c.send(Push::new(&lab.sandbox_token, &lab.jwt())));
    assert!(stalled.await.is_err(), "a stalled request is not answered");
    // The connection still serves other streams.
    let mut c = lab.client(Sandbox).await;
    c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();

    // Reset: RST_STREAM, connection kept.
    lab.mock.add_fault(NewFault { count: Some(1), ..rule(FaultAction::Reset) }).expect("rule");
    let err = c.send(Push::new(&lab.sandbox_token, &lab.jwt())).await.expect_err("reset");
    assert!(err.contains("internal error"), "RST_STREAM INTERNAL_ERROR: {err}");
    c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();

    // Close: the connection is gone; a new one works.
    lab.mock.add_fault(NewFault { count: Some(1), ..rule(FaultAction::Close) }).expect("rule");
    assert!(c.send(Push::new(&lab.sandbox_token, &lab.jwt())).await.is_err(), "connection dropped");
    assert!(c.send(Push::new(&lab.sandbox_token, &lab.jwt())).await.is_err(), "and stays dropped");
    lab.client(Sandbox).await.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();

    let log = lab.mock.notifications(&CaptureFilter::default());
    let faults: Vec<(u16, String)> = log
        .iter()
        .filter_map(|r| r.fault.as_ref().map(|f| (r.status, f.split(' ').nth(1).unwrap_or("").to_owned())))
        .collect();
    assert_eq!(faults, [(0, "close".to_owned()), (0, "reset".to_owned()), (0, "stall".to_owned())]);
}

#[tokio::test]
async fn goaway_with_a_reason_after_n_streams() {
    let lab = lab().await;
    lab.mock
        .add_fault(NewFault { after: 2, count: Some(1), ..rule(FaultAction::Goaway { reason: "Shutdown".into() }) })
        .expect("rule");
    let mut tls = tls_connect(lab.mock.addr(Sandbox), lab.mock.ca_pem(), None, Alpn::H2).await;
    raw_start(&mut tls).await;
    let bearer = format!("bearer {}", lab.jwt());
    let path = format!("/3/device/{}", lab.sandbox_token);
    let mut seen = Vec::new();
    for stream in [1u32, 3, 5] {
        let block = hpack(&[
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "api.sandbox.push.apple.com"),
            (":path", &path),
            ("authorization", &bearer),
            ("apns-topic", APP),
        ]);
        tls.write_all(&frame(0x1, 0x4, stream, &block)).await.expect("writes");
        tls.write_all(&frame(0x0, 0x1, stream, br#"{"aps":{"alert":"hi"}}"#)).await.expect("writes");
        // One at a time: a token connection allows one stream until it is authenticated.
        let frames = read_frames(&mut tls, |f| f.stream == stream && f.flags & 0x1 != 0).await;
        assert!(frames.iter().any(|f| f.kind == 0x1 && f.stream == stream), "stream {stream} answered");
        seen.extend(frames);
    }
    if !seen.iter().any(|f| f.kind == 0x7) {
        seen.extend(read_frames(&mut tls, |f| f.kind == 0x7).await);
    }
    let goaway = seen.iter().find(|f| f.kind == 0x7).expect("a GOAWAY");
    assert_eq!(&goaway.payload[4..8], &[0; 4], "NO_ERROR");
    assert_eq!(&goaway.payload[8..], br#"{"reason":"Shutdown"}"#);
    // The third stream got 503 Shutdown; the first two 200.
    let log = lab.mock.notifications(&CaptureFilter::default());
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 200, 200]);
    assert_eq!(log[0].reason.map(|r| r.as_str()), Some("Shutdown"));
    // The connection closes; a new one is served.
    let rest = read_frames(&mut tls, |_| false).await;
    assert!(rest.iter().all(|f| f.kind != 0x1), "no more answers: {rest:?}");
    lab.client(Sandbox).await.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
}

#[tokio::test]
async fn a_rule_can_lower_the_stream_limit_of_the_connection_it_fires_on() {
    let lab = lab().await;
    let mut c = lab.client(Sandbox).await;
    c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
    let _ = c.drive(tokio::time::sleep(Duration::from_millis(30))).await;
    assert_eq!(c.max_streams(), 1000);
    lab.mock.add_fault(NewFault { count: Some(1), ..rule(FaultAction::MaxStreams { value: 3 }) }).expect("rule");
    c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
    let _ = c.drive(tokio::time::sleep(Duration::from_millis(50))).await;
    assert_eq!(c.max_streams(), 3, "SETTINGS lowered the limit");
}

#[tokio::test]
async fn the_admin_api_adds_lists_and_removes_rules_and_refuses_bad_ones() {
    let lab = lab().await;
    let addr = lab.mock.admin_addr();
    let (status, added) = admin(
        addr,
        "POST",
        "/api/v1/faults",
        Some(json!({"topic": APP, "probability": 1.0, "action": {"kind": "reason", "reason": "TooManyRequests"}})),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    let mut c = lab.client(Sandbox).await;
    c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_err(429, "TooManyRequests");
    let (_, listed) = admin(addr, "GET", "/api/v1/faults", None).await;
    assert_eq!(listed[0]["fired"], 1, "{listed}");
    assert_eq!(listed[0]["action"]["kind"], "reason");
    let (status, _) = admin(addr, "DELETE", &format!("/api/v1/faults/{}", added["id"]), None).await;
    assert_eq!(status, 200);
    let (status, _) = admin(addr, "DELETE", &format!("/api/v1/faults/{}", added["id"]), None).await;
    assert_eq!(status, 404);
    c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
    for bad in [
        json!({"action": {"kind": "reason", "reason": "Success"}}),
        json!({"action": {"kind": "reason", "reason": "NotAReason"}}),
        json!({"action": {"kind": "explode"}}),
        json!({"probability": -1, "action": {"kind": "stall"}}),
        json!({"nope": 1, "action": {"kind": "stall"}}),
    ] {
        let (status, body) = admin(addr, "POST", "/api/v1/faults", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad} -> {body}");
        assert!(body["error"].is_string());
    }
    // Reset forgets rules too.
    admin(addr, "POST", "/api/v1/faults", Some(json!({"action": {"kind": "stall"}}))).await;
    admin(addr, "POST", "/api/v1/reset", None).await;
    let (_, listed) = admin(addr, "GET", "/api/v1/faults", None).await;
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn rate_limits_answer_too_many_requests_per_token_and_overall() {
    let lab = lab().await;
    let mut c = lab.client(Sandbox).await;
    let push = || Push::new(&lab.sandbox_token, &lab.jwt());
    // Off by default: a burst goes through.
    for _ in 0..50 {
        c.push(push()).await.assert_ok();
    }
    let (status, set) = admin(
        lab.mock.admin_addr(),
        "PUT",
        "/api/v1/rate-limits",
        Some(json!({"per_token": {"max": 2, "per_ms": 1000}})),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    c.push(push()).await.assert_ok();
    c.push(push()).await.assert_ok();
    c.push(push()).await.assert_err(429, "TooManyRequests");
    // A request that is wrong anyway gets its own answer, not 429.
    c.push(push().header("apns-push-type", "nonsense")).await.assert_err(400, "InvalidPushType");
    // Another device is not throttled.
    let other = lab
        .mock
        .create_device(mock_apns::NewDevice {
            udid: None,
            apps: vec![mock_apns::NewApp { bundle_id: APP.into(), environment: Sandbox, team_id: None }],
        })
        .await
        .expect("device")
        .apps[0]
        .token
        .clone();
    c.push(Push::new(&other, &lab.jwt())).await.assert_ok();
    // Half the window refills one push (the mock's clock).
    lab.mock.clock().advance(Duration::from_millis(500));
    c.push(push()).await.assert_ok();
    c.push(push()).await.assert_err(429, "TooManyRequests");

    // A global limit counts every token.
    lab.mock
        .set_rate_limits(mock_apns::RateLimits {
            per_token: None,
            global: Some(mock_apns::Rate { max: 1, per_ms: 60_000 }),
        })
        .expect("set");
    c.push(Push::new(&other, &lab.jwt())).await.assert_ok();
    c.push(push()).await.assert_err(429, "TooManyRequests");
    let (status, _) =
        admin(lab.mock.admin_addr(), "PUT", "/api/v1/rate-limits", Some(json!({"global": {"max": 0, "per_ms": 1}})))
            .await;
    assert_eq!(status, 400, "a zero rate is refused");
    // Reset turns them off.
    admin(lab.mock.admin_addr(), "POST", "/api/v1/reset", None).await;
    let (_, limits) = admin(lab.mock.admin_addr(), "GET", "/api/v1/rate-limits", None).await;
    assert_eq!(limits, json!({"per_token": null, "global": null}));
}

#[tokio::test]
async fn idle_connections_get_goaway_idle_timeout() {
    let lab = lab().await;
    // A connection that is idle already when the timeout is set counts from the setting.
    let mut tls = tls_connect(lab.mock.addr(Sandbox), lab.mock.ca_pem(), None, Alpn::H2).await;
    raw_start(&mut tls).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = admin(lab.mock.admin_addr(), "PUT", "/api/v1/idle-timeout", Some(json!({"ms": 300}))).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    let frames = read_frames(&mut tls, |f| f.kind == 0x7).await;
    let goaway = frames.iter().find(|f| f.kind == 0x7).expect("a GOAWAY");
    assert!(started.elapsed() >= Duration::from_millis(250), "not before the timeout");
    assert_eq!(&goaway.payload[8..], br#"{"reason":"IdleTimeout"}"#);
    // A connection in use is not idle.
    let mut c = lab.client(Sandbox).await;
    for _ in 0..5 {
        c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
        let _ = c.drive(tokio::time::sleep(Duration::from_millis(100))).await;
    }
    let (status, _) = admin(lab.mock.admin_addr(), "PUT", "/api/v1/idle-timeout", Some(json!({"ms": 0}))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn metrics_are_prometheus_text_that_adds_up() {
    let lab = lab().await;
    let jwt = lab.jwt();
    let mut c = lab.client(Sandbox).await;
    for _ in 0..3 {
        c.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_ok();
    }
    c.push(Push::new("00", &jwt)).await.assert_err(400, "BadDeviceToken");
    lab.mock.add_fault(NewFault { count: Some(2), ..rule(reason("ServiceUnavailable")) }).expect("rule");
    for _ in 0..2 {
        c.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_err(503, "ServiceUnavailable");
    }
    let mut p = lab.client(Production).await;
    p.push(Push::new(&lab.production_token, &jwt)).await.assert_ok();

    let (status, text) = admin(lab.mock.admin_addr(), "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    let text = text.as_str().expect("text").to_owned();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    let req = "apns_requests_total";
    assert_eq!(value(req, &[("environment", "sandbox"), ("status", "200")]), 3.0, "{text}");
    assert_eq!(value(req, &[("environment", "sandbox"), ("reason", "BadDeviceToken"), ("status", "400")]), 1.0);
    assert_eq!(value(req, &[("environment", "sandbox"), ("reason", "ServiceUnavailable")]), 2.0);
    assert_eq!(value(req, &[("environment", "production"), ("status", "200")]), 1.0);
    assert_eq!(value("apns_notifications_total", &[("state", "received")]), 4.0);
    assert_eq!(value("apns_open_connections", &[("kind", "provider")]), 2.0);
    assert_eq!(value("apns_jwt_verifications_total", &[]), 1.0, "one token, verified once");
    assert!(value("apns_jwt_cache_hits_total", &[]) >= 1.0, "the production connection hit the cache");
    // The histogram counts every answered request.
    let count = scrape
        .samples
        .iter()
        .find(|s| s.metric == "apns_request_duration_seconds" && s.labels.get("environment") == Some("sandbox"));
    match count.map(|s| &s.value) {
        Some(prometheus_parse::Value::Histogram(buckets)) => {
            let total = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
            assert_eq!(total, 6.0, "{text}");
        }
        other => panic!("no sandbox histogram: {other:?}\n{text}"),
    }
}

/// Rules that answer or delay act on every push the mock accepts — the provider API's,
/// the console's and a phone's local push (`.apns` files) — while rules that act on a
/// stream or connection pass by the two that have none, without counting a match.
#[tokio::test(flavor = "multi_thread")]
async fn answering_rules_apply_to_every_entry_point_and_connection_rules_to_provider_connections_only() {
    let (mock, token) = running_phone("FAULT-PHONE").await;
    let addr = mock.admin_addr();
    let console = |payload: &str| json!({"token": token, "topic": APP, "payload": payload});
    let local = json!({"bundle_id": APP, "payload": {"aps": {"alert": "local"}}});
    let local_path = "/api/v1/devices/FAULT-PHONE/push";

    // Connection-level actions first: the console and the local push pass them by.
    for action in [
        json!({"kind": "reset"}),
        json!({"kind": "stall"}),
        json!({"kind": "close"}),
        json!({"kind": "goaway", "reason": "Shutdown"}),
        json!({"kind": "max_streams", "value": 1}),
    ] {
        let (status, rule) = admin(addr, "POST", "/api/v1/faults", Some(json!({"count": 1, "action": action}))).await;
        assert_eq!(status, 201, "{rule}");
        let (_, answer) = admin(addr, "POST", "/api/v1/console", Some(console(r#"{"aps":{"alert":"hi"}}"#))).await;
        assert_eq!(answer["status"], 200, "{action}: {answer}");
        let (status, answer) = admin(addr, "POST", local_path, Some(local.clone())).await;
        assert_eq!(status, 200, "{action}: {answer}");
        let (_, listed) = admin(addr, "GET", "/api/v1/faults", None).await;
        assert_eq!((listed[0]["matched"].as_u64(), listed[0]["fired"].as_u64()), (Some(0), Some(0)), "{listed}");
        admin(addr, "DELETE", "/api/v1/faults", None).await;
    }

    // A reason: the console answers it as the provider API would, once (count 1).
    admin(
        addr,
        "POST",
        "/api/v1/faults",
        Some(json!({"count": 1, "action": {"kind": "reason", "reason": "TooManyRequests"}})),
    )
    .await;
    let (_, answer) = admin(addr, "POST", "/api/v1/console", Some(console("{}"))).await;
    assert_eq!(
        (answer["status"].as_u64(), answer["reason"].as_str()),
        (Some(429), Some("TooManyRequests")),
        "{answer}"
    );
    let (_, answer) = admin(addr, "POST", "/api/v1/console", Some(console("{}"))).await;
    assert_eq!(answer["status"], 200, "the rule fired once: {answer}");
    let log = mock.notifications(&CaptureFilter { token: Some(token.clone()), ..Default::default() });
    assert!(log[1].fault.as_deref().is_some_and(|f| f.ends_with("reason TooManyRequests")), "{:?}", log[1].fault);

    // Unregistered with its timestamp, through the console and the local push.
    for _ in 0..2 {
        admin(
            addr,
            "POST",
            "/api/v1/faults",
            Some(json!({"topic": APP, "count": 1, "action": {"kind": "unregistered", "timestamp": 1_700_000_000_000u64}})),
        )
        .await;
    }
    let (_, answer) = admin(addr, "POST", "/api/v1/console", Some(console("{}"))).await;
    assert_eq!((answer["status"].as_u64(), answer["timestamp"].as_u64()), (Some(410), Some(1_700_000_000_000)));
    let (status, answer) = admin(addr, "POST", local_path, Some(local.clone())).await;
    assert_eq!(status, 410, "{answer}");
    assert_eq!(
        (answer["reason"].as_str(), answer["timestamp"].as_u64()),
        (Some("Unregistered"), Some(1_700_000_000_000))
    );
    assert!(answer["by"].as_str().is_some_and(|b| b.starts_with("fault rule #")), "{answer}");

    // A reason matched on the app's token refuses the local push with APNs's status.
    admin(
        addr,
        "POST",
        "/api/v1/faults",
        Some(json!({"token": token, "count": 1, "action": {"kind": "reason", "reason": "ServiceUnavailable"}})),
    )
    .await;
    let (status, answer) = admin(addr, "POST", local_path, Some(local.clone())).await;
    assert_eq!((status, answer["reason"].as_str()), (503, Some("ServiceUnavailable")), "{answer}");
    let (status, _) = admin(addr, "POST", local_path, Some(local.clone())).await;
    assert_eq!(status, 200, "the rule fired once");

    // A delay holds the local push's answer, then delivers it.
    admin(addr, "POST", "/api/v1/faults", Some(json!({"count": 1, "action": {"kind": "delay", "ms": 300}}))).await;
    let started = Instant::now();
    let (status, answer) = admin(addr, "POST", local_path, Some(local.clone())).await;
    assert_eq!(status, 200, "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(300), "answered after the delay");

    // Rate limits answer the local push too.
    admin(addr, "PUT", "/api/v1/rate-limits", Some(json!({"per_token": {"max": 1, "per_ms": 60_000}}))).await;
    let (first, _) = admin(addr, "POST", local_path, Some(local.clone())).await;
    let (second, answer) = admin(addr, "POST", local_path, Some(local.clone())).await;
    assert_eq!((first, second, answer["reason"].as_str()), (200, 429, Some("TooManyRequests")), "{answer}");
}
