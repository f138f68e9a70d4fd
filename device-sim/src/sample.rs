//! A sample app's own logic, for the demo's chat app and the dashboard's lessons: its
//! service extension "decrypts" (`secret` becomes the body) after working `work_ms`, and
//! its PushKit handler reports a call unless the push says `"report": false`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::Target;

/// The sample chat app's handler.
pub fn chat_app() -> Target {
    Target::function(|event: Value| async move {
        let payload = &event["payload"];
        match event["event"].as_str() {
            Some("didReceive") => {
                let work = payload["work_ms"].as_u64().unwrap_or(0).min(60_000);
                tokio::time::sleep(Duration::from_millis(work)).await;
                match payload["secret"].as_str() {
                    Some(secret) => json!({"content": {"body": secret}}),
                    None => json!({"default": true}),
                }
            }
            Some("didReceiveIncomingPushWith") if payload["report"] == false => json!({}),
            Some("didReceiveIncomingPushWith") => {
                json!({"reportNewIncomingCall": {"handle": payload["caller"].as_str().unwrap_or("unknown caller")}})
            }
            _ => json!({"default": true}),
        }
    })
}
