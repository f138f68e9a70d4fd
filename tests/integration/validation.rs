//! Every reason a device-push request can provoke, each asserted on status, body and
//! apns-id, over real TLS + HTTP/2 (the order of checks is in mock-apns/src/provider_api/push.rs).

use protocol::Environment::{Production, Sandbox};

use crate::support::*;

#[tokio::test]
async fn a_valid_push_is_accepted_with_apples_headers() {
    let lab = lab().await;
    let mut c = lab.client(Sandbox).await;
    let r = c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await;
    r.assert_ok();
    let id = r.apns_id.expect("apns-id");
    assert_eq!(id, id.to_lowercase(), "generated ids are lowercase");
    assert!(protocol::ApnsId::parse(&id).is_ok());
    assert!(r.unique_id.is_some(), "sandbox adds apns-unique-id");

    // apns-id is echoed exactly as sent, case included.
    let sent = "123E4567-E89B-12D3-A456-4266554400A0";
    let r = c.push(Push::new(&lab.sandbox_token, &lab.jwt()).header("apns-id", sent)).await;
    r.assert_ok();
    assert_eq!(r.apns_id.as_deref(), Some(sent));

    // Production has no apns-unique-id.
    let mut p = lab.client(Production).await;
    let r = p.push(Push::new(&lab.production_token, &lab.jwt())).await;
    r.assert_ok();
    assert_eq!(r.unique_id, None);
}

#[tokio::test]
async fn every_header_rule() {
    let lab = lab().await;
    let mut c = lab.client(Sandbox).await;
    let jwt = lab.jwt();
    let t = lab.sandbox_token.clone();
    let base = || Push::new(&t, &jwt);
    let cases: Vec<(Push, u16, &str)> = vec![
        (base().path("/3/devices/abc"), 404, "BadPath"),
        (base().path("/2/device/abc"), 404, "BadPath"),
        (base().path("/"), 404, "BadPath"),
        (base().method("GET"), 405, "MethodNotAllowed"),
        (base().method("PUT"), 405, "MethodNotAllowed"),
        (base().also("apns-topic", APP), 400, "DuplicateHeaders"),
        (base().also("apns-priority", "10").also("apns-priority", "5"), 400, "DuplicateHeaders"),
        (base().header("apns-id", "not-a-uuid"), 400, "BadMessageId"),
        (base().header("apns-id", "123e4567e89b12d3a4564266554400a0"), 400, "BadMessageId"),
        (base().path("/3/device/"), 400, "MissingDeviceToken"),
        (base().path("/3/device/xyz"), 400, "BadDeviceToken"),
        (base().path("/3/device/abc"), 400, "BadDeviceToken"),
        (base().path(format!("/3/device/{}", "ab".repeat(101))), 400, "BadDeviceToken"),
        (base().path(format!("/3/device/{}", "ab".repeat(32))), 400, "BadDeviceToken"),
        (base().without("apns-topic"), 400, "MissingTopic"),
        (base().header("apns-topic", "com.example.chat."), 400, "BadTopic"),
        (base().header("apns-push-type", "banner"), 400, "InvalidPushType"),
        (base().header("apns-push-type", "Alert"), 400, "InvalidPushType"),
        (base().header("apns-priority", "7"), 400, "BadPriority"),
        (base().header("apns-priority", "high"), 400, "BadPriority"),
        (base().header("apns-expiration", "-1"), 400, "BadExpirationDate"),
        (base().header("apns-expiration", "tomorrow"), 400, "BadExpirationDate"),
        (base().header("apns-collapse-id", &"c".repeat(65)), 400, "BadCollapseId"),
        (base().body(""), 400, "PayloadEmpty"),
        (base().body("not json"), 400, "PayloadEmpty"),
        (base().body("[1,2]"), 400, "PayloadEmpty"),
        (base().body(r#"{"aps":"#), 400, "PayloadEmpty"),
        (base().body(format!(r#"{{"aps":{{"alert":"{}"}}}}"#, "x".repeat(4096))), 413, "PayloadTooLarge"),
        (base().header("apns-topic", "com.example.news"), 400, "DeviceTokenNotForTopic"),
        // A VoIP push needs the .voip topic; the app's plain topic names no app this token serves.
        (base().header("apns-push-type", "voip"), 400, "DeviceTokenNotForTopic"),
        // A sandbox token sent to production is a bad token there (checked below on production).
    ];
    for (push, status, reason) in cases {
        let r = c.push(push.clone()).await;
        assert_eq!(
            (r.status, r.reason().as_deref()),
            (status, Some(reason)),
            "{} {} {:?}",
            push.method,
            push.path,
            push.headers.iter().filter(|(n, _)| n != "authorization").collect::<Vec<_>>()
        );
        r.assert_err(status, reason);
    }
    // And the connection is still good for valid pushes after all of that.
    c.push(base()).await.assert_ok();

    let mut p = lab.client(Production).await;
    p.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_err(400, "BadDeviceToken");
    let mut s = lab.client(Sandbox).await;
    s.push(Push::new(&lab.production_token, &jwt)).await.assert_err(400, "BadDeviceToken");
}

#[tokio::test]
async fn values_at_the_limits_are_accepted() {
    let lab = lab().await;
    let mut c = lab.client(Sandbox).await;
    let jwt = lab.jwt();
    let t = &lab.sandbox_token;
    let exact = |n: usize| {
        let pad = n - r#"{"aps":{"alert":""}}"#.len();
        format!(r#"{{"aps":{{"alert":"{}"}}}}"#, "x".repeat(pad))
    };
    for push in [
        Push::new(t, &jwt).body(exact(4096)),
        Push::new(t, &jwt).header("apns-collapse-id", &"c".repeat(64)),
        Push::new(t, &jwt).header("apns-priority", "5"),
        Push::new(t, &jwt).header("apns-priority", "1"),
        Push::new(t, &jwt).header("apns-expiration", "0"),
        Push::new(t, &jwt).header("apns-expiration", "1893456000"),
        Push::new(t, &jwt)
            .header("apns-push-type", "background")
            .header("apns-priority", "5")
            .body(r#"{"aps":{"content-available":1}}"#),
        Push::new(t, &jwt).without("apns-push-type"),
        Push::new(&t.to_uppercase(), &jwt),
        Push::new(t, &jwt).header("content-type", "application/json; charset=utf-8"),
        Push::new(t, &jwt).body(r#"  {"aps":{}, "custom": [1, {"k": null}]}"#),
    ] {
        c.push(push).await.assert_ok();
    }
    // VoIP allows 5120 bytes, on the .voip topic.
    let voip = |n| {
        Push::new(t, &jwt).header("apns-push-type", "voip").header("apns-topic", "com.example.chat.voip").body(exact(n))
    };
    c.push(voip(5120)).await.assert_ok();
    c.push(voip(5121)).await.assert_err(413, "PayloadTooLarge");
    c.push(Push::new(t, &jwt).body(exact(4097))).await.assert_err(413, "PayloadTooLarge");
    // Each push type on its own topic suffix reaches the app.
    for (kind, topic) in [
        ("liveactivity", "com.example.chat.push-type.liveactivity"),
        ("complication", "com.example.chat.complication"),
        ("fileprovider", "com.example.chat.pushkit.fileprovider"),
        ("location", "com.example.chat.location-query"),
        ("pushtotalk", "com.example.chat.voip-ptt"),
        ("widgets", "com.example.chat.push-type.widgets"),
        ("controls", "com.example.chat.push-type.controls"),
    ] {
        let r = c.push(Push::new(t, &jwt).header("apns-push-type", kind).header("apns-topic", topic)).await;
        assert_eq!(r.status, 200, "{kind}: {:?}", r.reason());
    }
}

#[tokio::test]
async fn a_huge_body_is_refused_without_harm() {
    let lab = lab().await;
    let mut c = lab.client(Sandbox).await;
    let r = c.push(Push::new(&lab.sandbox_token, &lab.jwt()).body(vec![b'{'; 200_000])).await;
    r.assert_err(413, "PayloadTooLarge");
    c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
}

/// Every answer to a request carrying exactly one valid `apns-id` echoes it, the answers
/// to the first checks (path, method, duplicate headers) included; two apns-id fields, or
/// one that is not a UUID, get an apns-id of the mock's own.
#[tokio::test]
async fn every_answer_echoes_the_one_valid_apns_id() {
    let lab = lab().await;
    let mut c = lab.client(Sandbox).await;
    let jwt = lab.jwt();
    let id = "8E4B2C1A-5F3D-4E6A-9B7C-0D1E2F3A4B5C";
    let with_id = || Push::new(&lab.sandbox_token, &jwt).header("apns-id", id);
    for (push, status, reason) in [
        (with_id().path("/3/devices/abc"), 404, "BadPath"),
        (with_id().method("GET"), 405, "MethodNotAllowed"),
        (with_id().also("apns-topic", APP), 400, "DuplicateHeaders"),
        (with_id().header("apns-topic", "com.example.chat."), 400, "BadTopic"),
        (with_id().path("/3/device/xyz"), 400, "BadDeviceToken"),
        (with_id().body(""), 400, "PayloadEmpty"),
    ] {
        let r = c.push(push).await;
        r.assert_err(status, reason);
        assert_eq!(r.apns_id.as_deref(), Some(id), "{reason} echoes the apns-id");
    }
    let r = c.push(with_id().also("apns-id", id)).await;
    r.assert_err(400, "DuplicateHeaders");
    assert!(r.apns_id.as_deref().is_some_and(|got| got != id), "two apns-ids: neither is echoed");
    let r = c.push(Push::new(&lab.sandbox_token, &jwt).header("apns-id", "not-a-uuid")).await;
    r.assert_err(400, "BadMessageId");
    assert!(r.apns_id.as_deref().is_some_and(|got| got != "not-a-uuid"));
}
