//! The shapes of the admin API's answers that tests assert on — a device, a lifecycle
//! event with its token changes, the capture log, a notification's journey — are
//! written down once, as schemas in the OpenAPI document. Live answers are checked
//! against them, and so is every example the README shows, so neither can drift.

use std::time::Duration;

use mock_apns::{Config, Lifecycle};
use protocol::Environment::Sandbox;
use serde_json::{Value, json};

use crate::devices::{away_phone, journey_states};
use crate::support::*;

/// Checks `value` against `#/components/schemas/{name}` of `doc`.
pub(crate) fn check(doc: &Value, name: &str, value: &Value, what: &str) {
    let schema = json!({ "$ref": format!("#/components/schemas/{name}"), "components": doc["components"] });
    let validator = jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("schema {name}: {e}"));
    let errors: Vec<String> = validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not match {name}:\n{}\n{value:#}", errors.join("\n"));
}

fn array_of(doc: &Value, name: &str, value: &Value, what: &str) {
    let items = value.as_array().unwrap_or_else(|| panic!("{what} is not an array: {value}"));
    assert!(!items.is_empty(), "{what} is empty");
    for item in items {
        check(doc, name, item, what);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn live_answers_match_the_documented_shapes() {
    let lab = lab_with(Config::default()).await;
    let addr = lab.mock.admin_addr();
    let (_, doc) = admin(addr, "GET", "/api/v1/openapi.json", None).await;

    let (status, device) =
        admin(addr, "POST", "/api/v1/devices", Some(json!({"udid": "SHAPE-1", "apps": [{"bundle_id": APP}]}))).await;
    assert_eq!(status, 201);
    check(&doc, "Device", &device, "POST /api/v1/devices");

    // A real phone, away when the push comes: stored, then delivered from storage and presented.
    let mut device = away_phone(&lab, "SHAPE-PHONE").await;
    let token = device.apps[0].token.clone().expect("token");
    let mut c = lab.client(Sandbox).await;
    // One provider token for the connection: a new one every second would be refused.
    let jwt = lab.jwt();
    let id = "5A4B3C2D-1E0F-4A9B-8C7D-6E5F4A3B2C1D";
    c.push(Push::new(&token, &jwt).header("apns-id", id).header("apns-collapse-id", "score")).await.assert_ok();
    let (_, away) = admin(addr, "GET", "/api/v1/devices/SHAPE-PHONE", None).await;
    check(&doc, "Device", &away, "GET /api/v1/devices/{udid} with a stored notification");
    assert!(away["apps"][0]["stored"].is_object(), "{away}");
    let mut gw = device.connect().await.expect("connects");
    let mut stream = gw.notifications().await.expect("stream");
    let mut acks = gw.ack_sink().await.expect("acks");
    tokio::time::timeout(Duration::from_secs(5), device.receive(&mut stream, &mut acks))
        .await
        .expect("arrives")
        .expect("open")
        .expect("ok");
    let mut states = Vec::new();
    for _ in 0..200 {
        states = journey_states(&lab, id).await.0;
        if states.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(states, ["received", "stored", "delivered-from-storage", "presented"]);
    let (_, journey) = admin(addr, "GET", &format!("/api/v1/notifications/{id}"), None).await;
    check(&doc, "Notification", &journey, "GET /api/v1/notifications/{apns_id}");

    // A rejection and a 410 in the capture log, next to the accepted one.
    c.push(Push::new(&token, &jwt).header("apns-topic", "com.example.other"))
        .await
        .assert_err(400, "DeviceTokenNotForTopic");
    let (_, uninstall) = admin(addr, "POST", "/api/v1/devices/SHAPE-1/apps/com.example.chat/uninstall", None).await;
    check(&doc, "LifecycleOutcome", &uninstall, "POST …/uninstall");
    let (_, erase) = admin(addr, "POST", "/api/v1/devices/SHAPE-PHONE/erase", None).await;
    check(&doc, "LifecycleOutcome", &erase, "POST …/erase");
    assert_eq!(erase["event"]["tokens"][0]["changed"], true, "{erase}");
    c.push(Push::new(&token, &jwt)).await.assert_err(410, "Unregistered");
    let (_, log) = admin(addr, "GET", "/api/v1/notifications", None).await;
    array_of(&doc, "CapturedRequest", &log, "GET /api/v1/notifications");
    assert!(log[0]["timestamp"].is_u64() && log[0]["headers"][0].is_array(), "{log}");
    let (_, events) = admin(addr, "GET", "/api/v1/events", None).await;
    array_of(&doc, "LifecycleEvent", &events, "GET /api/v1/events");
    let outcome = lab.mock.lifecycle("SHAPE-1", Lifecycle::Reinstall(APP.into())).await.expect("reinstall");
    check(&doc, "LifecycleOutcome", &serde_json::to_value(outcome).expect("JSON"), "MockApns::lifecycle");
}

/// Every `<!-- shape: Name -->` example in the book (`docs/src/reference/answers.md`) matches the schema it names, and
/// the four shapes tests assert on most are all shown.
#[tokio::test]
async fn the_readme_examples_match_the_documented_shapes() {
    let lab = lab().await;
    let (_, doc) = admin(lab.mock.admin_addr(), "GET", "/api/v1/openapi.json", None).await;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/reference/answers.md"))
        .expect("the answers' shapes page");
    let mut shown = Vec::new();
    for (at, _) in readme.match_indices("<!-- shape: ") {
        let rest = &readme[at + "<!-- shape: ".len()..];
        let name = rest.split_once(" -->").expect("marker ends").0.trim();
        let block = rest.split_once("```json\n").expect("a json block follows").1;
        let text = block.split_once("\n```").expect("block ends").0;
        let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("the {name} example: {e}"));
        let (schema, array) = match name.strip_suffix("[]") {
            Some(item) => (item, true),
            None => (name, false),
        };
        if array {
            array_of(&doc, schema, &value, &format!("the book's {name} example"));
        } else {
            check(&doc, schema, &value, &format!("the book's {name} example"));
        }
        shown.push(schema.to_owned());
    }
    for needed in ["Device", "LifecycleOutcome", "CapturedRequest", "Notification"] {
        assert!(shown.iter().any(|s| s == needed), "the book shows no {needed} example ({shown:?})");
    }
}
