//! Web Push step 5, end to end: a phone running its web app subscribes over the gateway,
//! a sender encrypts and signs for the subscription, and the phone decrypts and shows the
//! message — now, or after being offline (TTL, one per Topic, Urgency order); a message
//! it cannot decrypt is dropped with that reason while the sender still got 201.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mock_apns::{Config, MockApns};
use protocol::webpush::Urgency;
use provider::webpush::{Options, Subscription, Vapid};
use tokio::sync::mpsc;

use crate::support::*;

const ORIGIN: &str = "https://news.example";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("time").as_secs()
}

/// A mock, and a phone running with [`ORIGIN`] on its Home Screen, subscribed to
/// `vapid`'s key: the subscription as the web app got it, and the phone's narration.
struct WebPhone {
    mock: MockApns,
    subscription: Subscription,
    lines: mpsc::UnboundedReceiver<String>,
}

async fn web_phone(udid: &str, vapid: &Vapid) -> WebPhone {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    web_phone_on(mock, udid, &vapid.public_key(), None).await
}

/// [`web_phone`] on a mock already started, handing its subscription to `provider`.
async fn web_phone_on(mock: MockApns, udid: &str, server_key: &str, provider: Option<String>) -> WebPhone {
    web_phone_with(mock, udid, server_key, provider, None).await
}

/// [`web_phone_on`], the web app's service worker being `handler`.
async fn web_phone_with(
    mock: MockApns,
    udid: &str,
    server_key: &str,
    provider: Option<String>,
    handler: Option<device_sim::Target>,
) -> WebPhone {
    let endpoint =
        device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned()).expect("gateway endpoint");
    let web = device_sim::run::WebAppSetup {
        origin: ORIGIN.into(),
        name: Some("News".into()),
        application_server_key: server_key.to_owned(),
        handler,
    };
    let (tx, mut lines) = mpsc::unbounded_channel();
    let say = move |line: String| {
        let _ = tx.send(line);
    };
    let run =
        device_sim::run::run_phone(protocol::Lang::En, endpoint, Some(udid.into()), vec![], vec![web], provider, say);
    tokio::spawn(run);
    let endpoint = until(&mut lines, "issued endpoint").await;
    until(&mut lines, "online").await;
    let path = format!("/api/v1/devices/{udid}/web-apps");
    let (status, subs) = admin(mock.admin_addr(), "GET", &path, None).await;
    assert_eq!(status, 200, "{subs}");
    let subscription: Subscription = serde_json::from_value(subs[0].clone()).expect("toJSON shape");
    assert!(endpoint.contains(&subscription.endpoint), "{endpoint}");
    WebPhone { mock, subscription, lines }
}

/// The phone's next line containing `what` (within 10 s).
async fn until(lines: &mut mpsc::UnboundedReceiver<String>, what: &str) -> String {
    let wait = async {
        while let Some(line) = lines.recv().await {
            if line.contains(what) {
                return line;
            }
        }
        panic!("the phone stopped before saying {what:?}");
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.unwrap_or_else(|_| panic!("no {what:?} within 10 s"))
}

async fn send(p: &WebPhone, vapid: &Vapid, text: &str, options: &Options) -> String {
    let answer =
        provider::webpush::send(&p.subscription, text.as_bytes(), vapid, options, Some(p.mock.ca_pem()), now())
            .await
            .expect("an answer");
    assert_eq!((answer.status, answer.reason.as_deref()), (201, None));
    answer.apns_id.expect("apns-id")
}

async fn states(mock: &MockApns, apns_id: &str) -> (Vec<String>, serde_json::Value) {
    let (_, v) = admin(mock.admin_addr(), "GET", &format!("/api/v1/notifications/{apns_id}"), None).await;
    let states = v["journey"].as_array().into_iter().flatten().map(|s| s["state"].as_str().unwrap_or("").to_owned());
    (states.collect(), v)
}

/// Waits until `apns_id`'s journey ends in `last`; answers the whole journey.
async fn journey_ends(mock: &MockApns, apns_id: &str, last: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (got, v) = states(mock, apns_id).await;
        if got.last().map(String::as_str) == Some(last) {
            return got;
        }
        assert!(tokio::time::Instant::now() < deadline, "journey of {apns_id} never reached {last}: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn options(ttl: u64, urgency: Urgency, topic: Option<&str>) -> Options {
    Options { ttl, urgency: Some(urgency), topic: topic.map(str::to_owned) }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_phone_decrypts_and_shows_what_a_sender_pushed() {
    let vapid = Vapid::generate("mailto:ops@example.com").expect("key");
    let mut p = web_phone("WEB-LIVE", &vapid).await;
    // A payload for the default service worker, then a Declarative Web Push message.
    let id = send(&p, &vapid, r#"{"title":"Hi","body":"from the server"}"#, &options(60, Urgency::High, None)).await;
    let line = until(&mut p.lines, "from the server").await;
    assert!(line.contains(r#"banner "Hi — from the server""#) && line.contains("service worker"), "{line}");
    assert_eq!(journey_ends(&p.mock, &id, "presented").await, ["received", "delivered", "presented"]);
    let (_, v) = states(&p.mock, &id).await;
    assert_eq!(v["journey"][2]["detail"], "Hi — from the server", "what the phone showed: {v}");
    let (_, device) = admin(p.mock.admin_addr(), "GET", "/api/v1/devices/WEB-LIVE", None).await;
    assert_eq!(device["web_apps"][0]["origin"], ORIGIN, "the device view lists its web apps: {device}");
    let declarative = r#"{"web_push":8030,"notification":{"title":"Goal","body":"2-1","navigate":"https://news.example/m"},"app_badge":2}"#;
    send(&p, &vapid, declarative, &options(60, Urgency::Normal, None)).await;
    let line = until(&mut p.lines, "Goal").await;
    assert!(line.contains("declarative Web Push") && line.contains("badge 2"), "{line}");
    assert!(line.contains("opens https://news.example/m"), "{line}");
    // The endpoint's log, the notification's record and the metrics show them.
    let addr = p.mock.admin_addr();
    let sub_id = p.subscription.endpoint.rsplit('/').next().expect("an id").to_owned();
    let (_, log) = admin(addr, "GET", &format!("/api/v1/web-pushes?subscription={sub_id}"), None).await;
    assert_eq!(log.as_array().map(Vec::len), Some(2), "{log}");
    assert_eq!((log[1]["apns_id"].as_str(), log[1]["status"].as_u64()), (Some(id.as_str()), Some(201)));
    assert_eq!(log[1]["origin"], ORIGIN);
    assert!(log[1]["body_bytes"].as_u64().is_some_and(|n| n > 86), "{log}");
    let headers = log[1]["headers"].to_string();
    assert!(headers.contains("\"ttl\",\"60\"") && !headers.contains("authorization"), "{headers}");
    let (_, n) = admin(addr, "GET", &format!("/api/v1/notifications/{id}"), None).await;
    assert_eq!(n["request"]["status"], 201, "{n}");
    let local = Vapid::generate("mailto:admin@localhost").expect("key");
    let ca = Some(p.mock.ca_pem());
    let high = options(60, Urgency::High, None);
    let refused = provider::webpush::send(&p.subscription, b"x", &local, &high, ca, now()).await.expect("an answer");
    assert_eq!(refused.reason.as_deref(), Some("VapidPkHashMismatch"));
    let metrics = metrics_text(&p.mock).await;
    assert!(metrics.contains("apns_web_push_requests_total{status=\"201\",reason=\"\"} 2"), "{metrics}");
    assert!(metrics.contains("apns_web_subscriptions{state=\"active\"} 1"), "{metrics}");
    assert!(metrics.contains(r#"apns_web_push_requests_total{status="400",reason="VapidPkHashMismatch"} 1"#));
    p.mock.shutdown().await;
}

async fn metrics_text(mock: &MockApns) -> String {
    let (_, text) = admin(mock.admin_addr(), "GET", "/metrics", None).await;
    text.as_str().unwrap_or_default().to_owned()
}

/// One [`provider::webpush::Sender`] sends many messages at once on its one connection,
/// with one JWT, and the phone shows each.
#[tokio::test(flavor = "multi_thread")]
async fn a_sender_sends_many_on_one_connection() {
    let vapid = Vapid::generate("mailto:ops@example.com").expect("key");
    let mut p = web_phone("WEB-MANY", &vapid).await;
    let sender = Arc::new(provider::webpush::Sender::new(Some(p.mock.ca_pem())).expect("sender"));
    let (vapid, options) = (Arc::new(vapid), Arc::new(options(60, Urgency::High, None)));
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (sender, sub, vapid, options) = (sender.clone(), p.subscription.clone(), vapid.clone(), options.clone());
        sends.spawn(
            async move { sender.send(&sub, format!("message {i:02}").as_bytes(), &vapid, &options, now()).await },
        );
    }
    while let Some(answer) = sends.join_next().await {
        assert_eq!(answer.expect("joins").expect("an answer").status, 201);
    }
    for _ in 0..20 {
        until(&mut p.lines, "message ").await;
    }
    p.mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_offline_phone_gets_what_ttl_topic_and_urgency_leave() {
    let vapid = Vapid::generate("mailto:ops@example.com").expect("key");
    let mut p = web_phone("WEB-AWAY", &vapid).await;
    let addr = p.mock.admin_addr();
    admin(addr, "POST", "/api/v1/devices/WEB-AWAY/offline", None).await;
    let now_only = send(&p, &vapid, "TTL 0", &options(0, Urgency::High, None)).await;
    let first = send(&p, &vapid, "score 1-0", &options(600, Urgency::Normal, Some("match-12"))).await;
    let second = send(&p, &vapid, "score 2-0", &options(600, Urgency::Normal, Some("match-12"))).await;
    let low = send(&p, &vapid, "weekly digest", &options(600, Urgency::VeryLow, None)).await;
    let high = send(&p, &vapid, "breaking", &options(600, Urgency::High, None)).await;
    let (journey, v) = states(&p.mock, &now_only).await;
    assert_eq!(journey, ["received", "discarded"], "{v}");
    assert!(v.to_string().contains("TTL 0"), "{v}");
    assert_eq!(journey_ends(&p.mock, &first, "replaced").await, ["received", "stored", "replaced"]);
    assert_eq!(journey_ends(&p.mock, &second, "stored").await, ["received", "stored"]);
    admin(addr, "POST", "/api/v1/devices/WEB-AWAY/online", None).await;
    // The phone reconnects and gets the held ones, the most urgent first.
    let shown = [
        until(&mut p.lines, "(stored while offline)").await,
        until(&mut p.lines, "(stored while offline)").await,
        until(&mut p.lines, "(stored while offline)").await,
    ];
    assert!(shown[0].contains("breaking"), "{shown:?}");
    assert!(shown[1].contains("score 2-0"), "{shown:?}");
    assert!(shown[2].contains("weekly digest"), "{shown:?}");
    for id in [&second, &low, &high] {
        let journey = journey_ends(&p.mock, id, "presented").await;
        assert_eq!(journey, ["received", "stored", "delivered-from-storage", "presented"]);
    }
    p.mock.shutdown().await;
}

/// A web app subscribed through the admin API on a running phone: the device side made
/// its keys, keeps them for the phone and decrypts as the message leaves for the stream.
#[tokio::test(flavor = "multi_thread")]
async fn keys_the_device_side_keeps_open_messages_for_a_running_phone() {
    let vapid = Vapid::generate("mailto:ops@example.com").expect("key");
    let mut p = web_phone("WEB-HOSTED", &vapid).await;
    let body = serde_json::json!({"origin": "https://shop.example", "application_server_key": vapid.public_key()});
    let (status, sub) = admin(p.mock.admin_addr(), "POST", "/api/v1/devices/WEB-HOSTED/web-apps", Some(body)).await;
    assert_eq!(status, 201, "{sub}");
    let hosted: Subscription = serde_json::from_value(sub).expect("toJSON shape");
    let answer = provider::webpush::send(
        &hosted,
        br#"{"title":"Shop","body":"opened by the device side"}"#,
        &vapid,
        &options(60, Urgency::High, None),
        Some(p.mock.ca_pem()),
        now(),
    )
    .await
    .expect("an answer");
    assert_eq!(answer.status, 201);
    let line = until(&mut p.lines, "opened by the device side").await;
    assert!(line.starts_with("[5] https://shop.example:"), "{line}");
    p.mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_the_phone_cannot_decrypt_is_dropped_after_201() {
    let vapid = Vapid::generate("mailto:ops@example.com").expect("key");
    let p = web_phone("WEB-GARBLE", &vapid).await;
    // Encrypted for another auth secret: the push service cannot tell, the phone can.
    let mut wrong = p.subscription.clone();
    wrong.keys.auth = "AAAAAAAAAAAAAAAAAAAAAA".into();
    let options = options(60, Urgency::High, None);
    let answer = provider::webpush::send(&wrong, b"secret", &vapid, &options, Some(p.mock.ca_pem()), now())
        .await
        .expect("an answer");
    assert_eq!(answer.status, 201);
    let id = answer.apns_id.expect("apns-id");
    // The phone got it, and could not read it.
    assert_eq!(journey_ends(&p.mock, &id, "discarded").await, ["received", "delivered", "discarded"]);
    let (_, v) = states(&p.mock, &id).await;
    assert!(v.to_string().contains("could not decrypt"), "{v}");
    p.mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribing_again_gives_the_same_subscription_and_revoking_ends_it() {
    let vapid = Vapid::generate("mailto:ops@example.com").expect("key");
    let p = web_phone("WEB-AGAIN", &vapid).await;
    let addr = p.mock.admin_addr();
    let body = serde_json::json!({"origin": ORIGIN, "application_server_key": vapid.public_key()});
    let (status, again) = admin(addr, "POST", "/api/v1/devices/WEB-AGAIN/web-apps", Some(body)).await;
    assert_eq!((status, again["endpoint"].as_str()), (201, Some(p.subscription.endpoint.as_str())));
    let other = Vapid::generate("mailto:ops@example.com").expect("key");
    let body = serde_json::json!({"origin": ORIGIN, "application_server_key": other.public_key()});
    let (status, refused) = admin(addr, "POST", "/api/v1/devices/WEB-AGAIN/web-apps", Some(body)).await;
    assert_eq!(status, 409, "another key while subscribed: {refused}");
    let body = serde_json::json!({"origin": ORIGIN});
    let (status, ended) = admin(addr, "POST", "/api/v1/devices/WEB-AGAIN/web-apps/revoke", Some(body)).await;
    assert_eq!(
        (status, ended[0]["state"].as_str(), ended[0]["ended_by"].as_str()),
        (200, Some("ended"), Some("revoked"))
    );
    let answer = provider::webpush::send(
        &p.subscription,
        b"x",
        &vapid,
        &options(60, Urgency::High, None),
        Some(p.mock.ca_pem()),
        now(),
    )
    .await
    .expect("an answer");
    assert_eq!((answer.status, answer.reason.as_deref()), (410, Some("ExpiredToken")), "revoked");
    // Allowed again, the web app subscribes anew: a new endpoint, with new keys.
    let body = serde_json::json!({"origin": ORIGIN, "application_server_key": vapid.public_key()});
    let (status, fresh) = admin(addr, "POST", "/api/v1/devices/WEB-AGAIN/web-apps", Some(body)).await;
    assert_eq!(status, 201);
    assert_ne!(fresh["endpoint"].as_str(), Some(p.subscription.endpoint.as_str()));
    p.mock.shutdown().await;
}

/// The provider server keeps the subscription a phone's web app handed it (step 3),
/// sends to it with its VAPID key (step 4), and deletes it on the 410 that follows the
/// web app's removal.
#[tokio::test(flavor = "multi_thread")]
async fn the_provider_server_keeps_subscriptions_and_prunes_on_410() {
    use provider::server::{Clients, Provider, Tokens, web::WebPush};
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let vapid = Vapid::generate("mailto:ops@example.com").expect("key");
    let key = vapid.public_key();
    let web = WebPush::new(vapid, Some(mock.ca_pem())).expect("a sender");
    let tokens = Tokens::open(None).expect("db");
    let state =
        std::sync::Arc::new(Provider { tokens, clients: Clients::default(), channel_clients: Clients::default(), web });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let server = listener.local_addr().expect("addr");
    tokio::spawn(provider::server::run(listener, state, std::future::pending()));
    let (status, public) = admin(server, "GET", "/v1/vapid-public-key", None).await;
    assert_eq!((status, public["public_key"].as_str()), (200, Some(key.as_str())));
    let url = format!("http://{server}/v1/registrations");
    let mut p = web_phone_on(mock, "WEB-PROVIDED", &key, Some(url)).await;
    // The phone said "[3] … sent its subscription to its server" before it went online.
    let (_, kept) = admin(server, "GET", "/v1/web-subscriptions?origin=https%3A%2F%2Fnews.example", None).await;
    assert_eq!(kept[0]["subscription"]["endpoint"].as_str(), Some(p.subscription.endpoint.as_str()), "{kept}");
    let push = serde_json::json!({"to": {"origin": ORIGIN}, "payload": {"title": "Kept", "body": "by the provider"}, "urgency": "high"});
    let (status, results) = admin(server, "POST", "/v1/web-pushes", Some(push.clone())).await;
    assert_eq!((status, results[0]["status"].as_u64(), results[0]["action"].as_str()), (200, Some(201), Some("kept")));
    until(&mut p.lines, "by the provider").await;
    let gone = serde_json::json!({"origin": ORIGIN});
    admin(p.mock.admin_addr(), "POST", "/api/v1/devices/WEB-PROVIDED/web-apps/remove", Some(gone)).await;
    let (_, results) = admin(server, "POST", "/v1/web-pushes", Some(push)).await;
    assert_eq!(
        (results[0]["status"].as_u64(), results[0]["action"].as_str()),
        (Some(410), Some("deleted")),
        "{results}"
    );
    let (_, kept) = admin(server, "GET", "/v1/web-subscriptions", None).await;
    assert_eq!(kept, serde_json::json!([]), "pruned");
    p.mock.shutdown().await;
}

/// The dashboard's console sends web pushes as a web app's server would, signed with the
/// console's VAPID key: a web app subscribed with that key shows it; Apple's answers for
/// a localhost subject, another key's subscription and a removed web app come back.
#[tokio::test(flavor = "multi_thread")]
async fn the_console_sends_web_pushes() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let addr = mock.admin_addr();
    let (status, key) = admin(addr, "GET", "/api/v1/console/vapid-key", None).await;
    assert_eq!(status, 200, "{key}");
    let key = key["public_key"].as_str().expect("a key").to_owned();
    let mut p = web_phone_on(mock, "WEB-CONSOLE", &key, None).await;
    let sub = p.subscription.endpoint.clone();
    let push = |body: serde_json::Value| admin(addr, "POST", "/api/v1/console/web-push", Some(body));
    let (status, answer) =
        push(serde_json::json!({"subscription": sub, "payload": {"title": "From", "body": "the console"}})).await;
    assert_eq!((status, answer["status"].as_u64()), (200, Some(201)), "{answer}");
    until(&mut p.lines, "the console").await;
    let (_, refused) =
        push(serde_json::json!({"subscription": sub, "payload": "x", "subject": "mailto:admin@localhost"})).await;
    assert_eq!((refused["status"].as_u64(), refused["reason"].as_str()), (Some(403), Some("BadJwtToken")));
    let (_, refused) = push(serde_json::json!({"subscription": sub, "payload": "x", "topic": "score"})).await;
    assert_eq!(refused["reason"], "BadWebPushTopic", "sent as given");
    let other = Vapid::generate("mailto:ops@example.com").expect("key");
    let body = serde_json::json!({"origin": "https://other.example", "application_server_key": other.public_key()});
    let (_, theirs) = admin(addr, "POST", "/api/v1/devices/WEB-CONSOLE/web-apps", Some(body)).await;
    let (_, refused) = push(serde_json::json!({"subscription": theirs["endpoint"], "payload": "x"})).await;
    assert_eq!(refused["reason"], "VapidPkHashMismatch");
    admin(addr, "POST", "/api/v1/devices/WEB-CONSOLE/web-apps/remove", Some(serde_json::json!({"origin": ORIGIN})))
        .await;
    let (_, gone) = push(serde_json::json!({"subscription": sub, "payload": "x"})).await;
    assert_eq!(gone["status"], 410);
    let (status, _) = push(serde_json::json!({"subscription": "nope", "payload": "x"})).await;
    assert_eq!(status, 404);
    p.mock.shutdown().await;
}

/// Erasing a running phone ends its web app's subscription (410 from then on); the phone
/// comes back, its web app subscribes again and gets a new endpoint, which works.
#[tokio::test(flavor = "multi_thread")]
async fn erasing_a_running_phone_ends_its_subscription_and_it_subscribes_anew() {
    let vapid = Vapid::generate("mailto:ops@example.com").expect("key");
    let mut p = web_phone("WEB-ERASED", &vapid).await;
    admin(p.mock.admin_addr(), "POST", "/api/v1/devices/WEB-ERASED/erase", None).await;
    let line = until(&mut p.lines, "issued endpoint").await;
    assert!(!line.contains(&p.subscription.endpoint), "a new endpoint: {line}");
    let options = options(60, Urgency::High, None);
    let old = provider::webpush::send(&p.subscription, b"x", &vapid, &options, Some(p.mock.ca_pem()), now()).await;
    assert_eq!(old.expect("an answer").status, 410);
    let (_, subs) = admin(p.mock.admin_addr(), "GET", "/api/v1/devices/WEB-ERASED/web-apps", None).await;
    let fresh: Subscription = serde_json::from_value(subs[1].clone()).expect("the new one");
    assert_eq!(subs[0]["ended_by"], "erased", "{subs}");
    until(&mut p.lines, "online").await;
    let answer = provider::webpush::send(&fresh, b"after the erase", &vapid, &options, Some(p.mock.ca_pem()), now());
    assert_eq!(answer.await.expect("an answer").status, 201);
    until(&mut p.lines, "after the erase").await;
    p.mock.shutdown().await;
}

/// A web app whose service worker is the team's: its `push` event gets the decrypted
/// text and shows what it chooses; one that shows nothing is a discard (Safari requires
/// a notification for every push), and a Declarative Web Push message never reaches it.
#[tokio::test(flavor = "multi_thread")]
async fn a_web_apps_own_service_worker_decides_what_is_shown() {
    let vapid = Vapid::generate("mailto:ops@example.com").expect("key");
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let worker = device_sim::Target::function(|event: serde_json::Value| async move {
        let data = event["data"].as_str().unwrap_or_default().to_owned();
        match data.strip_prefix("quiet:") {
            Some(_) => serde_json::json!({}),
            None => serde_json::json!({"showNotification": {"title": "News", "body": data.to_uppercase(), "tag": "t"}}),
        }
    });
    let mut p = web_phone_with(mock, "WEB-SW", &vapid.public_key(), None, Some(worker)).await;
    let high = options(60, Urgency::High, None);
    let id = send(&p, &vapid, "goal scored", &high).await;
    assert!(until(&mut p.lines, "GOAL SCORED").await.contains("service worker"));
    assert_eq!(journey_ends(&p.mock, &id, "presented").await.last().map(String::as_str), Some("presented"));
    let (_, v) = states(&p.mock, &id).await;
    assert_eq!(v["journey"][2]["detail"], "News — GOAL SCORED", "{v}");
    let quiet = send(&p, &vapid, "quiet:nothing", &high).await;
    journey_ends(&p.mock, &quiet, "discarded").await;
    let (_, v) = states(&p.mock, &quiet).await;
    assert_eq!(v["journey"][2]["detail"], "the service worker showed no notification", "{v}");
    let declarative = r#"{"web_push":8030,"notification":{"title":"Goal","navigate":"https://news.example/m"}}"#;
    send(&p, &vapid, declarative, &high).await;
    assert!(until(&mut p.lines, "Goal").await.contains("declarative Web Push"), "Safari shows it itself");
    p.mock.shutdown().await;
}
