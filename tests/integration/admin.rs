//! The admin API over HTTP, as a test in another language uses it.

use protocol::Environment::Sandbox;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn devices_keys_capture_and_reset_over_http() {
    let lab = lab().await;
    let admin_addr = lab.mock.admin_addr();
    let (status, device) = admin(
        admin_addr,
        "POST",
        "/api/v1/devices",
        Some(json!({"udid": "UDID-ADMIN-1", "apps": [{"bundle_id": "com.example.news", "environment": "sandbox"}]})),
    )
    .await;
    assert_eq!(status, 201, "{device}");
    assert_eq!(device["udid"], "UDID-ADMIN-1");
    let token = device["apps"][0]["token"].as_str().expect("token").to_owned();
    assert_eq!(token.len(), 64);
    // The same inputs give the same token.
    let (_, again) = admin(
        admin_addr,
        "POST",
        "/api/v1/devices",
        Some(json!({"udid": "UDID-ADMIN-1", "apps": [{"bundle_id": "com.example.news"}]})),
    )
    .await;
    assert_eq!(again["apps"][0]["token"], token.as_str());

    let mut c = lab.client(Sandbox).await;
    let apns_id = "11111111-2222-3333-4444-555555555555";
    c.push(Push::new(&token, &lab.jwt()).header("apns-topic", "com.example.news").header("apns-id", apns_id))
        .await
        .assert_ok();
    c.push(Push::new(&token, &lab.jwt()).header("apns-topic", APP)).await.assert_err(400, "DeviceTokenNotForTopic");

    let (status, log) = admin(admin_addr, "GET", &format!("/api/v1/notifications?token={token}"), None).await;
    assert_eq!(status, 200);
    let log = log.as_array().expect("a list");
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["reason"], "DeviceTokenNotForTopic", "newest first");
    assert_eq!(log[1]["status"], 200);
    assert_eq!(log[1]["apns_id"], apns_id);
    assert_eq!(log[1]["payload"], json!({"aps": {"alert": "hello"}}));
    assert_eq!(log[1]["topic"], "com.example.news");
    assert!(
        log[1]["headers"].as_array().expect("headers").iter().all(|h| h[0] != "authorization"),
        "no JWT in the log"
    );
    let (_, by_id) = admin(admin_addr, "GET", &format!("/api/v1/notifications?apns_id={apns_id}"), None).await;
    assert_eq!(by_id.as_array().expect("list").len(), 1);
    let (_, by_topic) = admin(admin_addr, "GET", "/api/v1/notifications?topic=com.example.news&limit=5", None).await;
    assert_eq!(by_topic.as_array().expect("list").len(), 1);

    let (status, keys) = admin(admin_addr, "GET", "/api/v1/keys", None).await;
    assert_eq!(status, 200);
    assert_eq!(keys[0]["key_id"], lab.mock.key_id());
    let p8 = new_p8();
    let (status, key) = admin(
        admin_addr,
        "POST",
        "/api/v1/keys",
        Some(json!({"key_id": "HTTPKEY001", "team_id": lab.mock.team_id(), "private_key_p8": p8, "environment": "sandbox"})),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let jwt = signer(&p8, "HTTPKEY001", lab.mock.team_id()).sign(lab.mock.clock().unix_secs()).expect("signs");
    lab.client(Sandbox).await.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_ok();

    let (status, cert) =
        admin(admin_addr, "POST", "/api/v1/certificates", Some(json!({"topics": [APP], "environment": "both"}))).await;
    assert_eq!(status, 201);
    assert!(cert["cert_pem"].as_str().expect("pem").contains("BEGIN CERTIFICATE"));
    assert_eq!(cert["pkcs12_password"], "apns-lab");

    let (status, ca) = admin(admin_addr, "GET", "/api/v1/ca.pem", None).await;
    assert_eq!((status, ca.as_str()), (200, Some(lab.mock.ca_pem())));

    // The ready line with its files' contents: a client elsewhere signs with the
    // default key it hands out, and the mock takes the token.
    let (status, ready) = admin(admin_addr, "GET", "/api/v1/ready", None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["sandbox"], lab.mock.ready().sandbox.as_str());
    assert_eq!(ready["admin"], format!("http://{admin_addr}"));
    assert_eq!(ready["ca_pem"], lab.mock.ca_pem());
    let p8 = ready["key_p8"].as_str().expect("key_p8");
    let key_id = ready["key_id"].as_str().expect("key_id");
    assert_eq!(key_id, lab.mock.key_id());
    let jwt =
        signer(p8, key_id, ready["team_id"].as_str().expect("team")).sign(lab.mock.clock().unix_secs()).expect("signs");
    lab.client(Sandbox).await.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_ok();

    let (status, _) = admin(admin_addr, "PUT", "/api/v1/clock", Some(json!({"advance_ms": 3_600_000}))).await;
    assert_eq!(status, 200);
    let (status, _) = admin(admin_addr, "POST", "/api/v1/reset", None).await;
    assert_eq!(status, 200);
    assert_eq!(lab.mock.clock().offset_ms(), 0, "the reset put the clock back");
    let (_, devices) = admin(admin_addr, "GET", "/api/v1/devices", None).await;
    assert_eq!(devices, json!([]));
    let (_, log) = admin(admin_addr, "GET", "/api/v1/notifications", None).await;
    assert_eq!(log, json!([]));
    // After a reset the old token is unknown.
    lab.client(Sandbox)
        .await
        .push(Push::new(&token, &lab.jwt()).header("apns-topic", "com.example.news"))
        .await
        .assert_err(400, "BadDeviceToken");
}

#[tokio::test]
async fn bad_admin_requests_get_clear_errors() {
    let lab = lab().await;
    let a = lab.mock.admin_addr();
    for (method, path, body, status) in [
        ("POST", "/api/v1/devices", Some(json!({"apps": [{"bundle_id": "has space"}]})), 400),
        ("POST", "/api/v1/devices", Some(json!({"apps": [{"bundle_id": "x.y", "environment": "staging"}]})), 400),
        ("POST", "/api/v1/devices", Some(json!({"apps": [{"bundle_id": APP, "team_id": "OTHERTEAM1"}]})), 409),
        ("POST", "/api/v1/devices", Some(json!({"udid": "bad udid"})), 400),
        ("POST", "/api/v1/devices", Some(json!({"nope": 1})), 400),
        ("POST", "/api/v1/keys", Some(json!({"key_id": "K", "team_id": "T", "public_key_pem": "not pem"})), 400),
        ("POST", "/api/v1/keys", Some(json!({"key_id": "K", "team_id": "T"})), 400),
        ("POST", "/api/v1/certificates", Some(json!({"topics": []})), 400),
        ("GET", "/api/v1/notifications?limit=lots", None, 400),
        ("DELETE", "/api/v1/devices", None, 405),
        ("GET", "/nope", None, 404),
    ] {
        let (got, body) = admin(a, method, path, body).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    // Malformed JSON.
    let (got, body) = admin(a, "POST", "/api/v1/devices", Some(json!("{"))).await;
    assert_eq!(got, 400, "{body}");
}

/// With an admin token, every admin call (the dashboard too) must present it; beyond
/// loopback the admin API refuses to start without one.
#[tokio::test]
async fn the_admin_token_guards_every_route() {
    let mock = mock_apns::MockApns::start(mock_apns::Config {
        admin_token: Some("s3cret-token".into()),
        ..mock_apns::Config::default()
    })
    .await
    .expect("starts");
    let addr = mock.admin_addr();
    for (method, path) in [
        ("GET", "/api/v1/health"),
        ("GET", "/"),
        ("GET", "/api/v1/stream"),
        ("POST", "/api/v1/reset"),
        ("GET", "/nope"),
    ] {
        let (status, body) = admin(addr, method, path, None).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains("token")), "{body}");
        let (status, _) = admin(addr, method, &format!("{path}?admin_token=wrong"), None).await;
        assert_eq!(status, 401, "{method} {path} with a wrong token");
    }
    let (status, _) = admin(addr, "GET", "/api/v1/health?admin_token=s3cret-token", None).await;
    assert_eq!(status, 200, "query token");
    // The token parameter does not disturb the route's own parameters.
    let (status, body) = admin(addr, "GET", "/api/v1/notifications?limit=1&admin_token=s3cret-token", None).await;
    assert_eq!((status, body), (200, serde_json::json!([])));
    // A bearer header.
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.expect("handshake");
    tokio::spawn(conn);
    let req = http::Request::get("/api/v1/health")
        .header("host", "localhost")
        .header("authorization", "Bearer s3cret-token")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    assert_eq!(send.send_request(req).await.expect("answers").status(), 200, "bearer token");
    mock.shutdown().await;

    // Beyond loopback: refused without a token, allowed with one.
    let wide: std::net::SocketAddr = "0.0.0.0:0".parse().expect("addr");
    let refused =
        mock_apns::MockApns::start(mock_apns::Config { admin_addr: wide, ..mock_apns::Config::default() }).await;
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("beyond loopback") && message.contains("--admin-token"), "{message}");
    let allowed = mock_apns::MockApns::start(mock_apns::Config {
        admin_addr: wide,
        admin_token: Some("t".into()),
        ..mock_apns::Config::default()
    })
    .await
    .expect("starts with a token");
    allowed.shutdown().await;
}

/// The OpenAPI document and the router agree: every documented operation is routed
/// (never "no route", never 405), every other method on a documented path is 405, and
/// paths it does not document are 404.
#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let lab = lab().await;
    let addr = lab.mock.admin_addr();
    let (status, doc) = admin(addr, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 30, "{} paths", paths.len());
    let concrete = |p: &str| {
        p.replace("{udid}", "NO-SUCH-UDID")
            .replace("{bundle_id}", "com.example.none")
            .replace("{apns_id}", "00000000-0000-4000-8000-000000000000")
            .replace("{id}", "424242")
            .replace("{activity_id}", "NO-SUCH-ACTIVITY")
            .replace("{request_id}", "00000000-0000-4000-8000-000000000000")
    };
    let not_routed = |status: u16, body: &serde_json::Value| {
        status == 405 || (status == 404 && body["error"].as_str().is_some_and(|e| e.starts_with("no route")))
    };
    for (path, ops) in paths {
        let ops = ops.as_object().expect("operations");
        let url = concrete(path);
        for method in ["get", "post", "put", "delete"] {
            let upper = method.to_uppercase();
            let documented = ops.contains_key(method);
            if documented && path == "/api/v1/stream" {
                continue; // endless; the dashboard tests read it
            }
            let body = (method == "post" || method == "put").then(|| serde_json::json!({}));
            let (status, answer) = admin(addr, &upper, &url, body).await;
            if documented {
                assert!(!not_routed(status, &answer), "{upper} {path} is documented but answers {status} {answer}");
                assert!(ops[method]["responses"].is_object(), "{upper} {path} documents its responses");
            } else if upper == "GET" && path == "/api/v1/devices/batch" {
                // GET /api/v1/devices/{udid} with the UDID "batch": no such device.
                assert_eq!(status, 404, "{answer}");
            } else {
                assert_eq!(status, 405, "{upper} {path} is not documented but answers {status} {answer}");
            }
        }
    }
    for undocumented in ["/api/v1/nope", "/api/v2/health", "/api/v1/devices/U/apps", "/metrics/x"] {
        let (status, answer) = admin(addr, "GET", undocumented, None).await;
        assert!(not_routed(status, &answer), "{undocumented} answers {status} {answer} but is not documented");
    }
}

/// The admin API holds at most `admin_body_budget` bytes of request bodies at once, all
/// requests together: a body that would go past it is answered 503 at once, and the
/// budget comes back when the bodies it held are done.
#[tokio::test]
async fn admin_bodies_share_a_bounded_budget() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lab =
        lab_with(mock_apns::Config { clock: manual_clock(), admin_body_budget: 64 << 10, ..Default::default() }).await;
    let addr = lab.mock.admin_addr();
    // A JSON body of exactly `len` bytes (whitespace is JSON too), and its request head.
    let request = |udid: &str, len: usize| {
        let open = format!(r#"{{"udid":"{udid}""#);
        let body = format!("{open}{}}}", " ".repeat(len - open.len() - 1));
        assert_eq!(body.len(), len);
        let head = format!("POST /api/v1/devices HTTP/1.1\r\nhost: localhost\r\ncontent-length: {len}\r\n\r\n");
        (head, body)
    };
    let send = |head: String, body: String| async move {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connects");
        tcp.write_all(head.as_bytes()).await.expect("writes");
        tcp.write_all(body.as_bytes()).await.expect("writes");
        let mut status = [0u8; 12];
        tcp.read_exact(&mut status).await.expect("an answer");
        String::from_utf8_lossy(&status).into_owned()
    };
    // A slow upload: 60 000 bytes announced, 40 000 sent so far, held by the server.
    let (head, body) = request("BIG-BODY", 60_000);
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connects");
    slow.write_all(head.as_bytes()).await.expect("writes");
    slow.write_all(&body.as_bytes()[..40_000]).await.expect("writes");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Another 30 000 bytes now would go past 64 KiB: refused at once.
    let started = std::time::Instant::now();
    let (other_head, other_body) = request("OTHER", 30_000);
    assert_eq!(send(other_head.clone(), other_body.clone()).await, "HTTP/1.1 503");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused at once");
    // The slow upload finishes and is served; then the budget is whole again.
    slow.write_all(&body.as_bytes()[40_000..]).await.expect("writes");
    let mut status = [0u8; 12];
    slow.read_exact(&mut status).await.expect("an answer");
    assert_eq!(&status, b"HTTP/1.1 201", "{}", String::from_utf8_lossy(&status));
    assert_eq!(send(other_head, other_body).await, "HTTP/1.1 201");
}

/// The batch route reads its body entry by entry: what it holds against the budget is
/// the devices read and the entry being read, never the body's text. A batch of 4 MiB
/// that is mostly whitespace goes through a 64 KiB budget; one whose devices alone are
/// over it does not; an entry over 1 MiB is refused by itself.
#[tokio::test]
async fn the_batch_route_streams_its_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lab =
        lab_with(mock_apns::Config { clock: manual_clock(), admin_body_budget: 64 << 10, ..Default::default() }).await;
    let addr = lab.mock.admin_addr();
    let post = |body: Vec<u8>| async move {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connects");
        let head = format!(
            "POST /api/v1/devices/batch HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        tcp.write_all(head.as_bytes()).await.expect("writes");
        // The server may answer (and close) before the whole body is sent.
        let _ = tcp.write_all(&body).await;
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    };
    let device = |n: usize| format!(r#"{{"udid":"STREAM-{n}","apps":[{{"bundle_id":"com.example.stream"}}]}}"#);
    // Three devices, 4 MiB of whitespace between them.
    let gap = " ".repeat(2 << 20);
    let body = format!(r#"{{"devices":[{}{gap},{gap}{}, {}]}}"#, device(1), device(2), device(3));
    let answer = post(body.into_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(lab.mock.device("STREAM-3").is_ok());
    // 2 000 devices are ~140 KiB of entries: past the budget, 503.
    let many: Vec<String> = (10..2010).map(device).collect();
    let answer = post(format!(r#"{{"devices":[{}]}}"#, many.join(",")).into_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{}", &answer[..answer.len().min(200)]);
    assert!(lab.mock.device("STREAM-10").is_err(), "a refused batch creates nothing");
    // A bad entry is named by its index.
    let answer = post(format!(r#"{{"devices":[{},{{"udid":7}}]}}"#, device(4)).into_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("device 1"), "{answer}");
    assert!(lab.mock.device("STREAM-4").is_err(), "a refused batch creates nothing");
    // Other routes hold their whole body, in a buffer made its announced size: a body
    // announced past the budget is refused before a byte of it is sent.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connects");
    tcp.write_all(b"POST /api/v1/devices HTTP/1.1\r\nhost: localhost\r\ncontent-length: 100000\r\n\r\n")
        .await
        .expect("writes");
    let mut status = [0u8; 12];
    tcp.read_exact(&mut status).await.expect("an answer before the body");
    assert_eq!(&status, b"HTTP/1.1 503");
}
