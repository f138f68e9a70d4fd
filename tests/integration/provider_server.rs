//! The provider server over HTTP: registrations (step 3), sends (step 4), and Apple's
//! rules for what a 410 or a bad token does to a stored token — with both orders of
//! events for the 410 rule.

use std::sync::Arc;

use mock_apns::{Config, Lifecycle};
use protocol::Environment::Sandbox;
use provider::server::{Clients, Provider, Tokens};
use provider::{Auth, Client, ClientConfig, Endpoint, SharedToken};
use serde_json::{Value, json};

use crate::support::*;

const UDID: &str = "00008030-001A2D3C3E02802E";

pub(crate) fn client_for(lab: &Lab, url: &str) -> Client {
    let signer = signer(lab.mock.key_p8(), lab.mock.key_id(), lab.mock.team_id());
    let endpoint = Endpoint::custom(url, Some(lab.mock.ca_pem().to_owned())).expect("endpoint");
    Client::new(ClientConfig::new(endpoint, Auth::token(signer, SharedToken::DEFAULT_REFRESH_SECS))).expect("client")
}

pub(crate) async fn provider_for(lab: &Lab) -> std::net::SocketAddr {
    let both = Clients {
        sandbox: Some(client_for(lab, &lab.mock.ready().sandbox)),
        production: Some(client_for(lab, &lab.mock.ready().production)),
    };
    provider_with(both).await
}

async fn provider_with(clients: Clients) -> std::net::SocketAddr {
    let state = Arc::new(Provider {
        tokens: Tokens::open(None).expect("db"),
        clients,
        channel_clients: Clients::default(),
        web: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(provider::server::run(listener, state, std::future::pending()));
    addr
}

async fn call(addr: std::net::SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    admin(addr, method, path, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn register_send_and_prune_like_apple_says() {
    // The provider compares APNs's 410 timestamps with its own clock: both use the system's.
    let lab = lab_with(Config::default()).await;
    let p = provider_for(&lab).await;
    let (status, reg) = call(
        p,
        "POST",
        "/v1/registrations",
        Some(json!({"token": lab.sandbox_token, "bundle_id": APP, "environment": "sandbox", "user_id": "ann"})),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    let send = json!({"to": {"user_id": "ann"}, "payload": {"aps": {"alert": "hi"}}});
    let (status, results) = call(p, "POST", "/v1/notifications", Some(send.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(results[0]["status"], 200);
    assert_eq!(results[0]["action"], "kept");

    // Uninstall: the first push is accepted, the next gets 410 with a timestamp later
    // than the registration, and the token is deleted.
    lab.mock.lifecycle(UDID, Lifecycle::Uninstall(APP.into())).await.expect("uninstall");
    let (_, results) = call(p, "POST", "/v1/notifications", Some(send.clone())).await;
    assert_eq!(results[0]["status"], 200);
    let (_, results) = call(p, "POST", "/v1/notifications", Some(send.clone())).await;
    assert_eq!((results[0]["status"].as_u64(), results[0]["reason"].as_str()), (Some(410), Some("Unregistered")));
    assert_eq!(results[0]["action"], "deleted");
    let (_, list) = call(p, "GET", "/v1/registrations?user_id=ann", None).await;
    assert_eq!(list, json!([]));
}

/// Each token goes to its own environment: a production token to production, a sandbox
/// one to the sandbox. A provider without a client for an environment does not send its
/// tokens anywhere else, so it never earns a BadDeviceToken that would mark a good token
/// invalid.
#[tokio::test(flavor = "multi_thread")]
async fn every_token_goes_to_its_own_environment() {
    let lab = lab_with(Config::default()).await;
    let register =
        |token: &str, env: &str| json!({"token": token, "bundle_id": APP, "environment": env, "user_id": "ann"});
    let send = json!({"to": {"user_id": "ann"}, "payload": {"aps": {"alert": "hi"}}});
    let p = provider_for(&lab).await;
    for (token, env) in [(&lab.sandbox_token, "sandbox"), (&lab.production_token, "production")] {
        let (status, reg) = call(p, "POST", "/v1/registrations", Some(register(token, env))).await;
        assert_eq!(status, 201, "{reg}");
    }
    let (_, results) = call(p, "POST", "/v1/notifications", Some(send.clone())).await;
    let mut got: Vec<(String, u64, String)> = results
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["environment"].as_str().unwrap_or("").into(),
                r["status"].as_u64().unwrap_or(0),
                r["action"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, [("production".into(), 200, "kept".into()), ("sandbox".into(), 200, "kept".into())], "{results}");
    let captured = lab.mock.notifications(&mock_apns::CaptureFilter::default());
    assert_eq!(captured.len(), 2);
    assert!(captured.iter().all(|c| c.status == 200), "both accepted by their own environment");

    // Only a sandbox client: the production token is not sent, and stays valid.
    let p =
        provider_with(Clients { sandbox: Some(client_for(&lab, &lab.mock.ready().sandbox)), production: None }).await;
    for (token, env) in [(&lab.sandbox_token, "sandbox"), (&lab.production_token, "production")] {
        call(p, "POST", "/v1/registrations", Some(register(token, env))).await;
    }
    let (_, results) = call(p, "POST", "/v1/notifications", Some(send)).await;
    let production =
        results.as_array().expect("results").iter().find(|r| r["environment"] == "production").expect("one");
    assert_eq!((production["status"].as_u64(), production["action"].as_str()), (Some(0), Some("kept")), "{results}");
    assert!(production["reason"].as_str().is_some_and(|r| r.contains("no APNs endpoint for production")), "{results}");
    let (_, list) = call(p, "GET", "/v1/registrations?user_id=ann", None).await;
    assert!(list.as_array().expect("list").iter().all(|r| r["state"] == "valid"), "nothing marked invalid: {list}");
    assert_eq!(lab.mock.notifications(&mock_apns::CaptureFilter::default()).len(), 3, "one more push, to the sandbox");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_registered_again_after_the_410_timestamp_stays() {
    let lab = lab_with(Config::default()).await;
    let p = provider_for(&lab).await;
    // APNs learns of the uninstall first…
    lab.mock.lifecycle(UDID, Lifecycle::Uninstall(APP.into())).await.expect("uninstall");
    lab.client(Sandbox).await.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // …then the token is registered (again) with the provider.
    let reg = json!({"token": lab.sandbox_token, "bundle_id": APP, "environment": "sandbox", "user_id": "bob"});
    let (status, _) = call(p, "POST", "/v1/registrations", Some(reg)).await;
    assert_eq!(status, 201);
    let (_, results) =
        call(p, "POST", "/v1/notifications", Some(json!({"to": {"user_id": "bob"}, "payload": {"aps": {}}}))).await;
    assert_eq!(results[0]["status"], 410);
    assert_eq!(results[0]["action"], "kept (registered again after APNs's timestamp)");
    let (_, list) = call(p, "GET", "/v1/registrations?user_id=bob", None).await;
    assert_eq!(list.as_array().expect("list").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tokens_are_marked_invalid_and_bad_requests_refused() {
    let lab = lab_with(Config::default()).await;
    let p = provider_for(&lab).await;
    // A token APNs never issued: BadDeviceToken.
    let reg = json!({"token": "ab".repeat(32), "bundle_id": APP, "environment": "sandbox", "user_id": "cy"});
    call(p, "POST", "/v1/registrations", Some(reg)).await;
    let send = json!({"to": {"user_id": "cy"}, "payload": {"aps": {}}});
    let (_, results) = call(p, "POST", "/v1/notifications", Some(send.clone())).await;
    assert_eq!(
        (results[0]["reason"].as_str(), results[0]["action"].as_str()),
        (Some("BadDeviceToken"), Some("marked-invalid"))
    );
    let (_, list) = call(p, "GET", "/v1/registrations?user_id=cy", None).await;
    assert_eq!(list[0]["state"], "invalid");
    let (_, results) = call(p, "POST", "/v1/notifications", Some(send)).await;
    assert_eq!(results, json!([]), "invalid tokens are not sent to again");
    for (method, path, body, status) in [
        ("POST", "/v1/registrations", json!({"token": "xyz", "bundle_id": APP, "environment": "sandbox"}), 400),
        ("POST", "/v1/registrations", json!({"token": "ab"}), 400),
        ("POST", "/v1/notifications", json!({"to": {"nobody": 1}, "payload": {}}), 400),
    ] {
        let (got, v) = call(p, method, path, Some(body)).await;
        assert_eq!(got, status, "{v}");
        assert!(v["error"].is_string());
    }
    let (got, _) = call(p, "DELETE", &format!("/v1/registrations/{}", "ef".repeat(32)), None).await;
    assert_eq!(got, 404);
}

/// Steps 1–5 with every party real: a simulated phone registers with APNs and hands its
/// token to the provider server, the provider sends, the phone presents it.
#[tokio::test(flavor = "multi_thread")]
async fn the_whole_flow() {
    let lab = lab_with(Config::default()).await;
    let p = provider_for(&lab).await;
    let endpoint =
        device_sim::Endpoint::parse(&lab.mock.ready().gateway, lab.mock.ca_pem().to_owned()).expect("endpoint");
    let mut phone = device_sim::Device::activate(endpoint, Some("FLOW-PHONE".into())).await.expect("step 1");
    phone.install(APP, Sandbox);
    let mut gw = phone.connect().await.expect("connects");
    let registered = phone.register_apps(&mut gw).await.expect("step 2");
    let reg = device_sim::run::TokenRegistration {
        udid: phone.udid.clone(),
        bundle_id: APP.into(),
        environment: Sandbox,
        token: registered[0].token.clone(),
    };
    device_sim::run::send_token(&format!("http://{p}/v1/registrations"), &reg).await.expect("step 3");
    let mut stream = gw.notifications().await.expect("online");
    let mut acks = gw.ack_sink().await.expect("acks");
    let (_, results) = call(
        p,
        "POST",
        "/v1/notifications",
        Some(json!({"to": {"bundle_id": APP}, "payload": {"aps": {"alert": {"title": "Flow", "body": "all five steps"}}}})),
    )
    .await;
    assert_eq!(results[0]["status"], 200, "step 4: {results}");
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), phone.receive(&mut stream, &mut acks))
        .await
        .expect("step 5")
        .expect("open")
        .expect("ok");
    assert_eq!(phone.center.items[0].body.as_deref(), Some("all five steps"));
    assert_eq!(got.decision.expect("new").outcome, protocol::gateway::Outcome::Presented);
}
