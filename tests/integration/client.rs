//! The provider's APNs client against the mock: accepted and rejected answers, typed;
//! 410 timestamps; token refresh on ExpiredProviderToken; certificate auth; bulk sends
//! through the one-stream start of a token connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mock_apns::{KeyEnvironment, Lifecycle};
use protocol::{Environment::Sandbox, Reason};
use provider::{Accepted, Auth, Client, ClientConfig, Endpoint, Error, Notification, SharedToken};

use crate::support::*;

fn token_client(lab: &Lab, clock: fn() -> u64) -> Client {
    let signer = signer(lab.mock.key_p8(), lab.mock.key_id(), lab.mock.team_id());
    let endpoint = Endpoint::custom(&lab.mock.ready().sandbox, Some(lab.mock.ca_pem().to_owned())).expect("endpoint");
    let mut config = ClientConfig::new(endpoint, Auth::token(signer, SharedToken::DEFAULT_REFRESH_SECS));
    config.clock = std::sync::Arc::new(clock);
    config.backoff = Duration::from_millis(5);
    Client::new(config).expect("client")
}

/// The client's clock, set by the test (the mock's manual clock starts at 1.8e9 s).
static NOW: AtomicU64 = AtomicU64::new(1_800_000_000);
fn now() -> u64 {
    NOW.load(Ordering::SeqCst)
}

fn rejected(r: Result<Accepted, Error>) -> provider::Rejection {
    match r {
        Err(Error::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn accepted_and_rejected_answers_are_typed() {
    let lab = lab().await;
    let client = token_client(&lab, now);
    let hello = || Notification::raw(lab.sandbox_token.clone(), r#"{"aps":{"alert":"hi"}}"#).topic(APP);
    let ok = client.send(&hello().apns_id("11111111-2222-3333-4444-555555555555")).await.expect("accepted");
    assert_eq!(ok.apns_id, "11111111-2222-3333-4444-555555555555");
    assert!(ok.apns_unique_id.is_some());
    let r = rejected(client.send(&Notification::raw("ab".repeat(32), "{}").topic(APP)).await);
    assert_eq!((r.status, r.reason.known()), (400, Some(Reason::BadDeviceToken)));
    let r = rejected(client.send(&hello().topic("com.example.news")).await);
    assert_eq!(r.reason.known(), Some(Reason::DeviceTokenNotForTopic));
    // Too large is refused before sending.
    let big = format!(r#"{{"aps":{{"alert":"{}"}}}}"#, "x".repeat(5000));
    assert!(matches!(
        client.send(&Notification::raw(lab.sandbox_token.clone(), big).topic(APP)).await,
        Err(Error::Invalid(_))
    ));
    // 410 with APNs's timestamp.
    lab.mock.lifecycle("00008030-001A2D3C3E02802E", Lifecycle::Uninstall(APP.into())).await.expect("uninstall");
    client.send(&hello()).await.expect("the first push after an uninstall is accepted");
    let r = rejected(client.send(&hello()).await);
    assert_eq!((r.status, r.reason.known()), (410, Some(Reason::Unregistered)));
    assert_eq!(r.timestamp, Some(lab.mock.clock().unix_millis()));
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_push_sent_again() {
    let lab = lab().await;
    static CLIENT_NOW: AtomicU64 = AtomicU64::new(1_800_000_000);
    fn client_now() -> u64 {
        CLIENT_NOW.load(Ordering::SeqCst)
    }
    let client = token_client(&lab, client_now);
    let hello = Notification::raw(lab.sandbox_token.clone(), r#"{"aps":{"alert":"hi"}}"#).topic(APP);
    client.send(&hello).await.expect("accepted");
    let (verified, _) = lab.mock.token_stats();
    // 61 minutes later on the mock, 49 on the client's clock (it lags): by its schedule the
    // token is not due, APNs says ExpiredProviderToken, the client re-signs once.
    lab.mock.clock().advance(Duration::from_secs(61 * 60));
    CLIENT_NOW.store(1_800_000_000 + 49 * 60, Ordering::SeqCst);
    client.send(&hello).await.expect("accepted after one refresh");
    assert_eq!(lab.mock.token_stats().0, verified + 1, "exactly one new token");
    // If even the fresh token is too old for APNs, the answer comes back: no loop.
    lab.mock.clock().advance(Duration::from_secs(2 * 3600));
    let r = rejected(client.send(&hello).await);
    assert_eq!(r.reason.known(), Some(Reason::ExpiredProviderToken));
    assert_eq!(lab.mock.token_stats().0, verified + 2, "one more refresh, then it gave up");
}

#[tokio::test]
async fn certificate_auth_from_pem_and_pkcs12() {
    use base64::Engine as _;
    let lab = lab().await;
    let cert = lab.certificate(&[APP], KeyEnvironment::Sandbox);
    let endpoint = Endpoint::custom(&lab.mock.ready().sandbox, Some(lab.mock.ca_pem().to_owned())).expect("endpoint");
    let pem = Client::new(ClientConfig::new(
        endpoint.clone(),
        Auth::Certificate { cert_pem: cert.cert_pem.clone(), key_pem: cert.key_pem.clone() },
    ))
    .expect("client");
    let hello = Notification::raw(lab.sandbox_token.clone(), r#"{"aps":{"alert":"hi"}}"#);
    pem.send(&hello).await.expect("accepted without a topic: the certificate has one");
    let p12 = base64::engine::general_purpose::STANDARD.decode(&cert.pkcs12_base64).expect("base64");
    let auth = Auth::pkcs12(&p12, &cert.pkcs12_password).expect("PKCS#12 opens");
    let client = Client::new(ClientConfig::new(endpoint, auth)).expect("client");
    client.send(&hello).await.expect("accepted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_send_gets_one_result_per_notification() {
    let lab = lab().await;
    let client = token_client(&lab, now);
    let mut batch: Vec<Notification> = (0..300)
        .map(|_| Notification::raw(lab.sandbox_token.clone(), r#"{"aps":{"alert":"hi"}}"#).topic(APP))
        .collect();
    batch.push(Notification::raw("cd".repeat(32), "{}").topic(APP));
    let results = client.send_all(batch, 200).await;
    assert_eq!(results.len(), 301);
    assert!(results[..300].iter().all(|r| r.is_ok()), "{:?}", results.iter().find(|r| r.is_err()));
    assert!(matches!(&results[300], Err(Error::Rejected(r)) if r.reason.known() == Some(Reason::BadDeviceToken)));
    let accepted = lab.mock.notifications(&mock_apns::CaptureFilter { limit: Some(1000), ..Default::default() });
    assert_eq!(accepted.iter().filter(|n| n.status == 200).count(), 300, "each sent exactly once");
    let _ = Sandbox;
}

#[tokio::test]
async fn the_reasons_a_well_formed_client_can_meet() {
    let lab = lab().await;
    let client = token_client(&lab, now);
    let hello = || Notification::raw(lab.sandbox_token.clone(), r#"{"aps":{"alert":"hi"}}"#);
    let check = |r: Result<Accepted, Error>, status: u16, reason: Reason| {
        let r = rejected(r);
        assert_eq!((r.status, r.reason.known()), (status, Some(reason)), "{r}");
        assert!(r.apns_id.is_some());
    };
    check(client.send(&hello()).await, 400, Reason::MissingTopic);
    check(
        client.send(&hello().topic("com.example.chat.voip").push_type(protocol::PushType::Alert)).await,
        400,
        Reason::DeviceTokenNotForTopic,
    );
    check(
        client.send(&hello().topic(APP).push_type(protocol::PushType::Voip)).await,
        400,
        Reason::DeviceTokenNotForTopic,
    );
    check(client.send(&Notification::raw("ab".repeat(32), "{}").topic(APP)).await, 400, Reason::BadDeviceToken);
    check(
        client.send(&Notification::raw(lab.production_token.clone(), "{}").topic(APP)).await,
        400,
        Reason::BadDeviceToken,
    );
    check(client.send(&hello().topic(APP).payload_text("[1]")).await, 400, Reason::PayloadEmpty);
    // A key of another team may not push to this team's app.
    let other = new_p8();
    lab.mock
        .register_key(mock_apns::NewKey {
            key_id: "OTHERKEY01".into(),
            team_id: "OTHERTEAM1".into(),
            public_key_pem: None,
            private_key_p8: Some(other.clone()),
            environment: KeyEnvironment::Both,
            topics: None,
            related_key_id: None,
        })
        .await
        .expect("key");
    let endpoint = Endpoint::custom(&lab.mock.ready().sandbox, Some(lab.mock.ca_pem().to_owned())).expect("endpoint");
    let mut config = ClientConfig::new(endpoint, Auth::token(signer(&other, "OTHERKEY01", "OTHERTEAM1"), 3000));
    config.clock = std::sync::Arc::new(now);
    let theirs = Client::new(config).expect("client");
    check(theirs.send(&hello().topic(APP)).await, 400, Reason::TopicDisallowed);
}

/// APNs lowers MAX_CONCURRENT_STREAMS mid-batch: the client keeps to the new limit, the
/// streams refused meanwhile are sent again, and each notification is accepted once.
#[tokio::test(flavor = "multi_thread")]
async fn the_server_lowers_the_stream_limit_mid_batch() {
    let lab = lab().await;
    let client = token_client(&lab, now);
    let batch: Vec<Notification> = (0..400)
        .map(|_| Notification::raw(lab.sandbox_token.clone(), r#"{"aps":{"alert":"hi"}}"#).topic(APP))
        .collect();
    let sending = tokio::spawn({
        let client = client.clone();
        async move { client.send_all(batch, 200).await }
    });
    let filter = mock_apns::CaptureFilter { limit: Some(10_000), ..Default::default() };
    while lab.mock.notifications(&filter).len() < 50 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(lab.mock.set_max_streams(2), 1, "one open connection told");
    let results = sending.await.expect("batch");
    assert_eq!(results.len(), 400);
    assert!(results.iter().all(|r| r.is_ok()), "{:?}", results.iter().find(|r| r.is_err()));
    let answered = lab.mock.notifications(&filter);
    assert_eq!(answered.iter().filter(|n| n.status == 200).count(), 400, "each accepted exactly once");
}
