//! APNs's clock under the test's control: `GET/PUT /api/v1/clock` on a mock that runs on
//! the real time. A client's token made "now" is an hour old to a mock moved an hour
//! ahead (clock skew, as real APNs shows it); a stored notification outlives its
//! `apns-expiration` only on paper; and a provider client handed the same clock refreshes
//! its token inside APNs's 20–60 minute window.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mock_apns::Config;
use protocol::Environment::Sandbox;
use provider::{Auth, Client, ClientConfig, Endpoint, Notification, SharedToken};
use serde_json::json;

use crate::devices::{away_phone, eventually, journey_states};
use crate::support::*;

fn real_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as u64
}

#[tokio::test]
async fn the_clock_is_read_moved_and_set_back_over_the_admin_api() {
    let lab = lab_with(Config::default()).await;
    let addr = lab.mock.admin_addr();
    let (status, c) = admin(addr, "GET", "/api/v1/clock", None).await;
    assert_eq!((status, c["offset_ms"].as_i64(), c["manual"].as_bool()), (200, Some(0), Some(false)), "{c}");
    assert!(c["now_ms"].as_u64().expect("now_ms").abs_diff(real_ms()) < 2000, "{c}");

    let (status, c) = admin(addr, "PUT", "/api/v1/clock", Some(json!({"advance_ms": 3_600_000}))).await;
    assert_eq!((status, c["offset_ms"].as_i64()), (200, Some(3_600_000)), "{c}");
    let (_, c) = admin(addr, "PUT", "/api/v1/clock", Some(json!({"advance_ms": 60_000}))).await;
    assert_eq!(c["offset_ms"], 3_660_000, "advances add up");
    assert!(c["now_ms"].as_u64().expect("now_ms").abs_diff(real_ms() + 3_660_000) < 2000, "{c}");
    let target = real_ms() + 86_400_000;
    let (_, c) = admin(addr, "PUT", "/api/v1/clock", Some(json!({"now_ms": target}))).await;
    assert!(c["now_ms"].as_u64().expect("now_ms").abs_diff(target) < 2000, "{c}");
    assert_eq!(lab.mock.clock().offset_ms(), c["offset_ms"].as_i64().expect("offset"), "one clock for both surfaces");
    let (_, c) = admin(addr, "PUT", "/api/v1/clock", Some(json!({"offset_ms": 0}))).await;
    assert_eq!(c["offset_ms"], 0, "{c}");

    for bad in [json!({}), json!({"advance_ms": 1, "offset_ms": 2}), json!({"advance_ms": -5}), json!({"hours": 1})] {
        let (status, e) = admin(addr, "PUT", "/api/v1/clock", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad} -> {e}");
        assert!(e["error"].is_string(), "{e}");
    }
    assert_eq!(lab.mock.clock().offset_ms(), 0, "a refused change changes nothing");
}

/// A provider token the client made at its "now" is 61 minutes old to a mock moved 61
/// minutes ahead, and good again once the mock's clock is set back.
#[tokio::test]
async fn a_mock_moved_ahead_sees_the_clients_token_expire() {
    let lab = lab_with(Config::default()).await;
    let addr = lab.mock.admin_addr();
    let jwt = lab.jwt_at(real_ms() / 1000);
    let mut c = lab.client(Sandbox).await;
    c.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_ok();
    admin(addr, "PUT", "/api/v1/clock", Some(json!({"advance_ms": 61 * 60 * 1000}))).await;
    c.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_err(403, "ExpiredProviderToken");
    admin(addr, "PUT", "/api/v1/clock", Some(json!({"offset_ms": 0}))).await;
    c.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_ok();
}

/// A notification stored with a one-day expiration is gone when its phone returns two
/// days later (by the mock's clock): journey `discarded: expired`, nothing delivered.
#[tokio::test(flavor = "multi_thread")]
async fn a_stored_notification_expires_when_the_clock_moves_past_it() {
    let lab = lab_with(Config::default()).await;
    let device = away_phone(&lab, "PHONE-AWAY").await;
    let token = device.apps[0].token.clone().expect("token");
    let now = lab.mock.clock().unix_secs();
    let id = "00000000-0000-4000-8000-00000000d1d1";
    let mut c = lab.client(Sandbox).await;
    let day = (now + 86_400).to_string();
    c.push(Push::new(&token, &lab.jwt()).header("apns-id", id).header("apns-expiration", &day)).await.assert_ok();
    let (states, v) = journey_states(&lab, id).await;
    assert_eq!(states, ["received", "stored"], "{v}");

    let (status, _) =
        admin(lab.mock.admin_addr(), "PUT", "/api/v1/clock", Some(json!({"advance_ms": 2 * 86_400_000u64}))).await;
    assert_eq!(status, 200);
    let mut gw = device.connect().await.expect("the phone returns");
    let mut stream = gw.notifications().await.expect("stream");
    eventually(|| lab.mock.device("PHONE-AWAY").expect("device").online).await;
    let mut discarded = None;
    for _ in 0..200 {
        let (states, v) = journey_states(&lab, id).await;
        if states.len() == 3 {
            discarded = Some(v);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let v = discarded.expect("the journey ends");
    assert_eq!(v["journey"][2]["state"], "discarded", "{v}");
    assert_eq!(v["journey"][2]["detail"], "expired", "{v}");
    let two_days_on = v["journey"][2]["time_ms"].as_u64().expect("time");
    assert!(two_days_on >= real_ms() + 2 * 86_400_000 - 60_000, "journeys read the mock's clock: {v}");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), stream.next()).await.is_err(),
        "nothing reaches the phone"
    );
}

/// The provider crate's client on the mock's clock: moving both, the client signs a new
/// token only once its refresh period (50 minutes, inside APNs's 20–60) has passed, and
/// APNs never sees a token too old or a refresh too soon.
#[tokio::test]
async fn a_client_on_the_mocks_clock_refreshes_inside_the_window() {
    let lab = lab_with(Config::default()).await;
    let signer = signer(lab.mock.key_p8(), lab.mock.key_id(), lab.mock.team_id());
    let endpoint = Endpoint::custom(&lab.mock.ready().sandbox, Some(lab.mock.ca_pem().to_owned())).expect("endpoint");
    let mut config = ClientConfig::new(endpoint, Auth::token(signer, SharedToken::DEFAULT_REFRESH_SECS));
    let clock = lab.mock.clock().clone();
    config.clock = Arc::new(move || clock.unix_secs());
    let client = Client::new(config).expect("client");
    let hello = Notification::raw(lab.sandbox_token.clone(), r#"{"aps":{"alert":"hi"}}"#).topic(APP);
    client.send(&hello).await.expect("accepted");
    let (first, _) = lab.mock.token_stats();
    let minute = Duration::from_secs(60);
    let mut new_tokens_at = Vec::new();
    for at in 1..=130 {
        lab.mock.clock().advance(minute);
        if let Err(e) = client.send(&hello).await {
            panic!("minute {at}: {e}");
        }
        if lab.mock.token_stats().0 > first + new_tokens_at.len() as u64 {
            new_tokens_at.push(at);
        }
    }
    assert_eq!(new_tokens_at, [50, 100], "a new token every 50 minutes, no sooner and no later");
    let refused = lab.mock.notifications(&mock_apns::CaptureFilter { limit: Some(1000), ..Default::default() });
    assert!(refused.iter().all(|n| n.status == 200), "no ExpiredProviderToken, no TooManyProviderTokenUpdates");
}
