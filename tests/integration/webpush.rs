//! The Web Push endpoint (Apple's `web.push.apple.com`) over real TLS, driven by curl over
//! HTTP/1.1 and HTTP/2 the way a web app's server sends: a subscription issued to a
//! phone's web app, a VAPID-signed aes128gcm message, and each of Apple's checks answered
//! with its status and reason.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use mock_apns::{Config, MockApns};
use serde_json::json;

use crate::support::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An application server's VAPID key pair.
fn vapid_key() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("key")
}

/// A VAPID JWT for `aud`, as web-push signs one (exp 12 h ahead).
fn vapid_jwt(key: &EcdsaKeyPair, aud: &str, sub: &str, exp: u64) -> String {
    let header = b64(json!({"typ": "JWT", "alg": "ES256"}).to_string().as_bytes());
    let claims = b64(json!({"aud": aud, "exp": exp, "sub": sub}).to_string().as_bytes());
    let input = format!("{header}.{claims}");
    let sig = key.sign(&SystemRandom::new(), input.as_bytes()).expect("signs");
    format!("{input}.{}", b64(sig.as_ref()))
}

/// An aes128gcm body in shape (salt, rs 4096, a 65-byte key id, one record).
fn message(record: usize) -> Vec<u8> {
    let mut body = vec![1u8; 16];
    body.extend_from_slice(&4096u32.to_be_bytes());
    body.push(65);
    body.push(4);
    body.extend_from_slice(&[2u8; 64]);
    body.extend(std::iter::repeat_n(3u8, record));
    body
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("time").as_secs()
}

struct Sender {
    mock: MockApns,
    ca: tempfile::NamedTempFile,
    key: EcdsaKeyPair,
    endpoint: String,
    origin: String,
}

/// A mock, a virtual phone with a web app subscribed to `key`, and where to send.
async fn subscribed() -> Sender {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let addr = mock.admin_addr();
    admin(addr, "POST", "/api/v1/devices", Some(json!({"udid": "WEB-PHONE", "apps": []}))).await;
    let key = vapid_key();
    let (status, sub) = admin(
        addr,
        "POST",
        "/api/v1/devices/WEB-PHONE/web-apps",
        Some(json!({"origin": "https://news.example", "application_server_key": b64(key.public_key().as_ref())})),
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    assert_eq!(sub["expirationTime"], serde_json::Value::Null);
    assert_eq!(b64_len(&sub["keys"]["p256dh"]), 65, "{sub}");
    assert_eq!(b64_len(&sub["keys"]["auth"]), 16, "{sub}");
    let endpoint = sub["endpoint"].as_str().expect("endpoint").to_owned();
    assert!(endpoint.starts_with(&mock.ready().webpush), "{endpoint}");
    let origin = mock.ready().webpush.clone();
    let mut ca = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut ca, mock.ca_pem().as_bytes()).expect("CA written");
    Sender { mock, ca, key, endpoint, origin }
}

fn b64_len(v: &serde_json::Value) -> usize {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v.as_str().unwrap_or("")).map_or(0, |b| b.len())
}

/// One request with curl: status, the response headers (lowercase) and body.
async fn curl(
    s: &Sender,
    http: &str,
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let body_file = dir.path().join("body");
    std::fs::write(&body_file, body).expect("body written");
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-sS", "-i", http, "--cacert"]).arg(s.ca.path()).args(["-X", method]);
    for (name, value) in headers {
        cmd.args(["-H", &format!("{name}: {value}")]);
    }
    if !body.is_empty() {
        cmd.arg("--data-binary").arg(format!("@{}", body_file.display()));
    }
    let out = cmd.arg(url).output().await.expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    let (head, rest) = text.split_once("\n\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let head = head.to_ascii_lowercase() + &String::from_utf8_lossy(&out.stderr);
    (status, head, rest.to_owned())
}

fn good_headers(s: &Sender) -> Vec<(&'static str, String)> {
    let jwt = vapid_jwt(&s.key, &s.origin, "mailto:ops@example.com", now() + 12 * 3600);
    vec![
        ("Authorization", format!("vapid t={jwt}, k={}", b64(s.key.public_key().as_ref()))),
        ("TTL", "60".into()),
        ("Content-Encoding", "aes128gcm".into()),
        ("Urgency", "high".into()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vapid_signed_message_is_accepted_over_http1_and_http2() {
    let s = subscribed().await;
    for http in ["--http1.1", "--http2"] {
        let (status, head, body) = curl(&s, http, "POST", &s.endpoint, &good_headers(&s), &message(40)).await;
        assert_eq!(status, 201, "{http}: {head}{body}");
        assert!(head.contains("apns-id: "), "{head}");
        assert!(head.contains(&format!("location: {}/m/", s.origin)), "{head}");
        assert!(head.contains("ttl: 60"), "{head}");
    }
    // pywebpush's spelling: "," with no space, lowercase header names, TTL 0, no Urgency.
    let jwt = vapid_jwt(&s.key, &s.origin, "https://push.example.org", now() + 3600);
    let headers = [
        ("authorization", format!("vapid t={jwt},k={}", b64(s.key.public_key().as_ref()))),
        ("ttl", "0".into()),
        ("content-encoding", "aes128gcm".into()),
    ];
    let (status, head, _) = curl(&s, "--http1.1", "POST", &s.endpoint, &headers, &message(17)).await;
    assert_eq!(status, 201, "{head}");
    // A TTL beyond 30 days is kept as 30 days, and says so.
    let mut long = good_headers(&s);
    long[1].1 = "99999999".into();
    let (status, head, _) = curl(&s, "--http2", "POST", &s.endpoint, &long, &message(40)).await;
    assert_eq!((status, head.contains("ttl: 2592000")), (201, true), "{head}");
    // A fault rule for web pushes: 429 TooManyRequests once, then back to normal.
    let rule = json!({"push_type": "webpush", "count": 1, "action": {"kind": "reason", "reason": "TooManyRequests"}});
    let (status, _) = admin(s.mock.admin_addr(), "POST", "/api/v1/faults", Some(rule)).await;
    assert_eq!(status, 201);
    let (status, _, answer) = curl(&s, "--http1.1", "POST", &s.endpoint, &good_headers(&s), &message(40)).await;
    assert_eq!((status, answer.as_str()), (429, r#"{"reason":"TooManyRequests"}"#));
    let (status, _, _) = curl(&s, "--http1.1", "POST", &s.endpoint, &good_headers(&s), &message(40)).await;
    assert_eq!(status, 201);
    s.mock.shutdown().await;
}

/// A case: what it is, the headers it changes (`None`: left out), the body, and the
/// status and reason it must get.
type Case<'a> = (&'a str, Vec<(&'a str, Option<String>)>, Vec<u8>, u16, &'a str);

#[tokio::test(flavor = "multi_thread")]
async fn each_check_answers_with_apple_s_status_and_reason() {
    let s = subscribed().await;
    let key = b64(s.key.public_key().as_ref());
    let jwt = |aud: &str, sub: &str, exp: u64| vapid_jwt(&s.key, aud, sub, exp);
    let auth = |t: String| format!("vapid t={t}, k={key}");
    let other_key = b64(vapid_key().public_key().as_ref());
    let later = now() + 3600;
    let mut cases: Vec<Case> = vec![
        ("no Authorization", vec![("Authorization", None)], message(40), 403, "BadJwtToken"),
        ("Bearer", vec![("Authorization", Some("Bearer x".into()))], message(40), 400, "BadAuthorizationHeader"),
        (
            "compressed k",
            vec![(
                "Authorization",
                Some(format!("vapid t={}, k={}", jwt(&s.origin, "mailto:a@example.com", later), b64(&[2; 33]))),
            )],
            message(40),
            400,
            "BadVapidPublicKey",
        ),
        (
            "another key",
            vec![(
                "Authorization",
                Some(format!("vapid t={}, k={other_key}", jwt(&s.origin, "mailto:a@example.com", later))),
            )],
            message(40),
            400,
            "VapidPkHashMismatch",
        ),
        (
            "localhost subject",
            vec![("Authorization", Some(auth(jwt(&s.origin, "mailto:admin@localhost", later))))],
            message(40),
            403,
            "BadJwtToken",
        ),
        (
            "http aud",
            vec![("Authorization", Some(auth(jwt(&s.origin.replace("https", "http"), "mailto:a@example.com", later))))],
            message(40),
            403,
            "BadJwtToken",
        ),
        (
            "exp 25 h ahead",
            vec![("Authorization", Some(auth(jwt(&s.origin, "mailto:a@example.com", now() + 25 * 3600))))],
            message(40),
            403,
            "BadJwtToken",
        ),
        ("no TTL", vec![("TTL", None)], message(40), 400, "BadTtl"),
        ("TTL -1", vec![("TTL", Some("-1".into()))], message(40), 400, "BadTtl"),
        ("Urgency urgent", vec![("Urgency", Some("urgent".into()))], message(40), 400, "BadUrgency"),
        ("Topic of 13", vec![("Topic", Some("neue-angebote".into()))], message(40), 400, "BadWebPushTopic"),
        ("aesgcm", vec![("Content-Encoding", Some("aesgcm".into()))], message(40), 400, "BadWebPushRequest"),
        ("4097 bytes", vec![], message(4097 - 86), 413, "PayloadTooLarge"),
        ("4096 bytes", vec![], message(4096 - 86), 201, ""),
        ("a malformed header", vec![], vec![0u8; 30], 400, "BadWebPushRequest"),
    ];
    cases.push(("a topic of 12", vec![("Topic", Some("neueangebote".into()))], message(40), 201, ""));
    for (what, changes, body, want_status, want_reason) in cases {
        let mut headers: Vec<(&str, String)> = good_headers(&s);
        for (name, value) in changes {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            if let Some(v) = value {
                headers.push((name, v));
            }
        }
        let (status, head, answer) = curl(&s, "--http2", "POST", &s.endpoint, &headers, &body).await;
        assert_eq!(status, want_status, "{what}: {head}{answer}");
        if !want_reason.is_empty() {
            let reason: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
            assert_eq!(reason["reason"], want_reason, "{what}: {answer}");
            assert!(head.contains("apns-id: "), "{what}: errors carry an apns-id too");
        }
    }
    // Method, path, and an ended subscription.
    let (status, _, answer) = curl(&s, "--http1.1", "GET", &s.endpoint, &good_headers(&s), &[]).await;
    assert_eq!((status, answer.contains("MethodNotAllowed")), (405, true), "{answer}");
    let unknown = format!("{}/{}", s.origin, "A".repeat(43));
    let (status, _, answer) = curl(&s, "--http1.1", "POST", &unknown, &good_headers(&s), &message(40)).await;
    assert_eq!((status, answer.contains("BadPath")), (404, true), "{answer}");
    let (status, removed) = admin(
        s.mock.admin_addr(),
        "POST",
        "/api/v1/devices/WEB-PHONE/web-apps/remove",
        Some(json!({"origin": "https://news.example"})),
    )
    .await;
    assert_eq!((status, removed[0]["state"].as_str()), (200, Some("ended")), "{removed}");
    let (status, _, answer) = curl(&s, "--http2", "POST", &s.endpoint, &good_headers(&s), &message(40)).await;
    assert_eq!((status, answer.contains("ExpiredToken")), (410, true), "{answer}");
    s.mock.shutdown().await;
}

#[tokio::test]
async fn a_web_app_needs_a_phone_an_https_origin_and_a_p256_key() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let addr = mock.admin_addr();
    admin(addr, "POST", "/api/v1/devices", Some(json!({"udid": "WEB-PHONE", "apps": []}))).await;
    let key = b64(vapid_key().public_key().as_ref());
    for (udid, origin, server_key, want) in [
        ("NO-PHONE", "https://a.example", key.as_str(), 404),
        ("WEB-PHONE", "http://a.example", key.as_str(), 400),
        ("WEB-PHONE", "https://a.example/app", key.as_str(), 400),
        ("WEB-PHONE", "https://a.example", "not-a-key", 400),
    ] {
        let body = json!({"origin": origin, "application_server_key": server_key});
        let (status, answer) = admin(addr, "POST", &format!("/api/v1/devices/{udid}/web-apps"), Some(body)).await;
        assert_eq!(status, want, "{udid} {origin}: {answer}");
    }
    let (status, list) = admin(addr, "GET", "/api/v1/devices/WEB-PHONE/web-apps", None).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(0)));
    // Erasing the phone ends its web apps' subscriptions (their keys are gone).
    let body = json!({"origin": "https://a.example", "application_server_key": key});
    admin(addr, "POST", "/api/v1/devices/WEB-PHONE/web-apps", Some(body)).await;
    admin(addr, "POST", "/api/v1/devices/WEB-PHONE/erase", Some(json!({}))).await;
    let (_, list) = admin(addr, "GET", "/api/v1/devices/WEB-PHONE/web-apps", None).await;
    assert_eq!(list[0]["state"], "ended", "{list}");
    mock.shutdown().await;
}

/// Subscriptions live in the state database: after a restart on the same data dir, a
/// live one still takes pushes (the same endpoint id, keys and VAPID key) and an ended
/// one still answers 410.
#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = || Config { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let mock = MockApns::start(config()).await.expect("mock starts");
    let addr = mock.admin_addr();
    admin(addr, "POST", "/api/v1/devices", Some(json!({"udid": "WEB-PHONE", "apps": []}))).await;
    let key = vapid_key();
    let mut endpoints = Vec::new();
    for origin in ["https://kept.example", "https://gone.example"] {
        let body = json!({"origin": origin, "application_server_key": b64(key.public_key().as_ref())});
        let (status, sub) = admin(addr, "POST", "/api/v1/devices/WEB-PHONE/web-apps", Some(body)).await;
        assert_eq!(status, 201, "{sub}");
        endpoints.push((sub["endpoint"].as_str().expect("endpoint").to_owned(), sub["keys"].clone()));
    }
    let removed = Some(json!({"origin": "https://gone.example"}));
    admin(addr, "POST", "/api/v1/devices/WEB-PHONE/web-apps/remove", removed).await;
    mock.shutdown().await;

    let mock = MockApns::start(config()).await.expect("mock starts again");
    let (_, listed) = admin(mock.admin_addr(), "GET", "/api/v1/devices/WEB-PHONE/web-apps", None).await;
    // (Both were made within a few milliseconds: find each by its origin.)
    let find = |origin: &str| {
        listed.as_array().expect("a list").iter().find(|s| s["origin"] == origin).cloned().expect(origin)
    };
    let (kept, gone) = (find("https://kept.example"), find("https://gone.example"));
    assert_eq!((kept["state"].as_str(), gone["state"].as_str()), (Some("active"), Some("ended")));
    assert_eq!(kept["keys"], endpoints[0].1, "the same keys");
    assert_eq!(gone["ended_by"], "removed", "what ended it survives too");
    // The listener moved (a new port): the same id, at its new address.
    let origin = mock.ready().webpush.clone();
    let id_of = |endpoint: &str| endpoint.rsplit('/').next().unwrap_or("").to_owned();
    let mut ca = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut ca, mock.ca_pem().as_bytes()).expect("CA written");
    let s = Sender { mock, ca, key, endpoint: String::new(), origin: origin.clone() };
    let kept = format!("{origin}/{}", id_of(&endpoints[0].0));
    let (status, head, answer) = curl(&s, "--http2", "POST", &kept, &good_headers(&s), &message(40)).await;
    assert_eq!(status, 201, "{head}{answer}");
    let gone = format!("{origin}/{}", id_of(&endpoints[1].0));
    let (status, _, answer) = curl(&s, "--http2", "POST", &gone, &good_headers(&s), &message(40)).await;
    assert_eq!((status, answer.contains("ExpiredToken")), (410, true), "{answer}");
    s.mock.shutdown().await;
}

/// The provider crate's sender (`provider::webpush`): it encrypts for the subscription,
/// signs VAPID for the endpoint's origin and gets 201; a bad subject gets Apple's 403.
#[tokio::test(flavor = "multi_thread")]
async fn the_provider_s_sender_gets_201() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let addr = mock.admin_addr();
    admin(addr, "POST", "/api/v1/devices", Some(json!({"udid": "WEB-PHONE", "apps": []}))).await;
    let vapid = provider::webpush::Vapid::generate("mailto:ops@example.com").expect("key");
    let body = json!({"origin": "https://news.example", "application_server_key": vapid.public_key()});
    let (_, sub) = admin(addr, "POST", "/api/v1/devices/WEB-PHONE/web-apps", Some(body)).await;
    let subscription: provider::webpush::Subscription = serde_json::from_value(sub).expect("toJSON shape");
    let options = provider::webpush::Options { ttl: 60, urgency: Some(protocol::webpush::Urgency::High), topic: None };
    let answer =
        provider::webpush::send(&subscription, b"{\"title\":\"Hi\"}", &vapid, &options, Some(mock.ca_pem()), now())
            .await
            .expect("an answer");
    assert_eq!((answer.status, answer.reason), (201, None));
    assert!(answer.apns_id.is_some_and(|id| id.len() == 36));
    assert!(answer.location.is_some_and(|l| l.starts_with(&mock.ready().webpush)));
    let local = provider::webpush::Vapid::generate("mailto:admin@localhost").expect("key");
    let refused = provider::webpush::send(&subscription, b"x", &local, &options, Some(mock.ca_pem()), now()).await;
    assert_eq!(refused.expect("an answer").status, 400, "another key: VapidPkHashMismatch comes first");
    mock.shutdown().await;
}

/// `apns-lab send --web-push`: the subscription file a web app hands over, the server's
/// VAPID key as PEM, the mock's CA from its ready line.
#[tokio::test(flavor = "multi_thread")]
async fn apns_lab_send_web_push_sends_one_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mock = MockApns::start(Config { data_dir: Some(dir.path().join("data")), ..Default::default() })
        .await
        .expect("mock starts");
    let ready_file = dir.path().join("ready.json");
    std::fs::write(&ready_file, serde_json::to_string(mock.ready()).expect("JSON")).expect("ready written");
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).expect("key");
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("key");
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
    );
    let key_file = dir.path().join("vapid.pem");
    std::fs::write(&key_file, pem).expect("key written");
    let addr = mock.admin_addr();
    admin(addr, "POST", "/api/v1/devices", Some(json!({"udid": "WEB-PHONE", "apps": []}))).await;
    let body = json!({"origin": "https://news.example", "application_server_key": b64(key.public_key().as_ref())});
    let (_, sub) = admin(addr, "POST", "/api/v1/devices/WEB-PHONE/web-apps", Some(body)).await;
    let sub_file = dir.path().join("subscription.json");
    std::fs::write(&sub_file, sub.to_string()).expect("subscription written");
    let send = move |subject: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_apns-lab"))
            .args(["send", "--mock-ready"])
            .arg(&ready_file)
            .arg("--web-push")
            .arg(&sub_file)
            .arg("--vapid-key")
            .arg(&key_file)
            .args(["--vapid-subject", subject, "--ttl", "60", "--urgency", "high", "--payload", r#"{"title":"Hi"}"#])
            .env("RUST_LOG", "warn")
            .output()
            .expect("apns-lab runs")
    };
    let out = tokio::task::spawn_blocking(move || (send("mailto:ops@example.com"), send("mailto:admin@localhost")));
    let (ok, refused) = out.await.expect("joins");
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success() && text.contains(": 201 apns-id "), "{text}{}", String::from_utf8_lossy(&ok.stderr));
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success() && text.contains(": 403 BadJwtToken"), "{text}");
    mock.shutdown().await;
}

/// HTTP/1.1 with no ALPN at all, three requests pipelined in one write: three answers,
/// in order (405 for a GET, 404 for an unknown path, 201 for a good push).
#[tokio::test(flavor = "multi_thread")]
async fn pipelined_http1_requests_are_answered_in_order() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = subscribed().await;
    let addr: std::net::SocketAddr = s.origin.trim_start_matches("https://").parse().expect("an address");
    let mut tls = tls_connect(addr, s.mock.ca_pem(), None, Alpn::None).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), None, "no ALPN: HTTP/1.1");
    let path = s.endpoint.trim_start_matches(&s.origin).to_owned();
    let body = message(40);
    let mut good = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in good_headers(&s) {
        good.push_str(&format!("{name}: {value}\r\n"));
    }
    let mut wire = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    wire.extend_from_slice(format!("POST /nope HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    wire.extend_from_slice(format!("{good}Connection: close\r\n\r\n").as_bytes());
    wire.extend_from_slice(&body);
    tls.write_all(&wire).await.expect("written");
    let mut answers = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), tls.read_to_end(&mut answers))
        .await
        .expect("answered within 10 s")
        .ok();
    let text = String::from_utf8_lossy(&answers);
    // Bodies carry no newline: a status line may follow one on the same line.
    let statuses: Vec<&str> = text.match_indices("HTTP/1.1 ").map(|(at, _)| &text[at + 9..at + 12]).collect();
    assert_eq!(statuses, ["405", "404", "201"], "{text}");
    s.mock.shutdown().await;
}

/// The provider API's header bounds hold here too: an HTTP/2 header list over 8000 bytes
/// (431, or the stream reset), or more than 100 HTTP/1.1 headers (431), is refused before
/// any check, and never logged as a push; the listener then answers the next request.
#[tokio::test(flavor = "multi_thread")]
async fn header_lists_are_bounded() {
    let s = subscribed().await;
    let mut big = good_headers(&s);
    big.push(("X-Padding", "p".repeat(9000)));
    // h2 answers 431 and resets the stream, or only resets it, as the frames race: either
    // way the request is refused before any check.
    let (status, head, _) = curl(&s, "--http2", "POST", &s.endpoint, &big, &message(40)).await;
    assert!(status == 431 || (status == 0 && head.contains("PROTOCOL_ERROR")), "{status} {head}");
    let mut many = good_headers(&s);
    for i in 0..120 {
        many.push(("X-Many", format!("{i}")));
    }
    let (status, head, _) = curl(&s, "--http1.1", "POST", &s.endpoint, &many, &message(40)).await;
    assert_eq!(status, 431, "{head}");
    let (status, head, _) = curl(&s, "--http1.1", "POST", &s.endpoint, &good_headers(&s), &message(40)).await;
    assert_eq!(status, 201, "{head}");
    let (_, log) = admin(s.mock.admin_addr(), "GET", "/api/v1/web-pushes", None).await;
    assert_eq!(log.as_array().map(Vec::len), Some(1), "only the good one reached the checks: {log}");
    s.mock.shutdown().await;
}
