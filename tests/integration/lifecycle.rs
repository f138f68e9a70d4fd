//! Device tokens that live like real ones: lifecycle events through the admin API, what
//! each does to tokens on the wire (200, then 410 with the right timestamp), both token
//! scopes, and state that survives a restart.

use std::time::Duration;

use mock_apns::{Config, Lifecycle, MockApns, NewApp, NewDevice, TokenScope};
use protocol::Environment::Sandbox;
use serde_json::{Value, json};

use crate::support::*;

const NEWS: &str = "com.example.news";

async fn post(lab: &Lab, path: &str, body: Option<Value>) -> Value {
    let (status, v) = admin(lab.mock.admin_addr(), "POST", path, body).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

/// A device "PHONE" with chat and news, and a connection with a valid token.
async fn phone(lab: &Lab) -> (String, String) {
    let (status, d) = admin(
        lab.mock.admin_addr(),
        "POST",
        "/api/v1/devices",
        Some(json!({"udid": "PHONE", "apps": [{"bundle_id": APP}, {"bundle_id": NEWS}]})),
    )
    .await;
    assert_eq!(status, 201, "{d}");
    (d["apps"][0]["token"].as_str().expect("token").into(), d["apps"][1]["token"].as_str().expect("token").into())
}

fn now_ms(lab: &Lab) -> u64 {
    lab.mock.clock().unix_millis()
}

#[tokio::test]
async fn uninstall_is_accepted_once_then_410_from_when_apns_learned() {
    let lab = lab().await;
    let (chat, news) = phone(&lab).await;
    let mut c = lab.client(Sandbox).await;
    let jwt = lab.jwt();
    let out = post(&lab, "/api/v1/devices/PHONE/apps/com.example.chat/uninstall", None).await;
    assert_eq!(out["event"]["kind"], "uninstall");
    assert_eq!(out["device"]["apps"][0]["installed"], false);
    lab.mock.clock().advance(Duration::from_secs(5));
    let learned = now_ms(&lab);
    // APNs does not know yet: the first push is accepted, and its delivery finds the app gone.
    c.push(Push::new(&chat, &jwt)).await.assert_ok();
    lab.mock.clock().advance(Duration::from_secs(5));
    let r = c.push(Push::new(&chat, &jwt)).await;
    r.assert_err(410, "Unregistered");
    assert_eq!(r.json()["timestamp"], learned, "the timestamp is when APNs learned");
    // The other app on the phone is unaffected.
    c.push(Push::new(&news, &jwt).header("apns-topic", NEWS)).await.assert_ok();
    let events = lab.mock.events(Some("PHONE"), 10);
    assert_eq!(events[0].kind, "unregistered");
    assert_eq!(events[1].kind, "uninstall");
    let d = lab.mock.device("PHONE").expect("device");
    assert_eq!(d.apps[0].unregistered_at, Some(learned));
    // Uninstalling again is a conflict, not a change.
    let (status, body) =
        admin(lab.mock.admin_addr(), "POST", "/api/v1/devices/PHONE/apps/com.example.chat/uninstall", None).await;
    assert_eq!(status, 409, "{body}");
    // Reinstall (per-app): a new token; the old one keeps answering 410.
    let out = post(&lab, "/api/v1/devices/PHONE/apps/com.example.chat/reinstall", None).await;
    let new = out["device"]["apps"][0]["token"].as_str().expect("token").to_owned();
    assert_ne!(new, chat);
    assert_eq!(out["event"]["tokens"][0]["old"], chat.as_str());
    assert_eq!(out["event"]["tokens"][0]["changed"], true);
    c.push(Push::new(&new, &jwt)).await.assert_ok();
    let r = c.push(Push::new(&chat, &jwt)).await;
    r.assert_err(410, "Unregistered");
    assert_eq!(r.json()["timestamp"], learned);
}

#[tokio::test]
async fn an_offline_device_reports_the_uninstall_when_it_returns() {
    let lab = lab().await;
    let (chat, _) = phone(&lab).await;
    let mut c = lab.client(Sandbox).await;
    let jwt = lab.jwt();
    post(&lab, "/api/v1/devices/PHONE/offline", None).await;
    post(&lab, "/api/v1/devices/PHONE/apps/com.example.chat/uninstall", None).await;
    c.push(Push::new(&chat, &jwt)).await.assert_ok();
    c.push(Push::new(&chat, &jwt)).await.assert_ok();
    assert_eq!(lab.mock.events(Some("PHONE"), 1)[0].kind, "undeliverable");
    lab.mock.clock().advance(Duration::from_secs(60));
    let back = now_ms(&lab);
    let out = post(&lab, "/api/v1/devices/PHONE/online", None).await;
    assert_eq!(out["device"]["online"], true);
    let r = c.push(Push::new(&chat, &jwt)).await;
    r.assert_err(410, "Unregistered");
    assert_eq!(r.json()["timestamp"], back);
}

#[tokio::test]
async fn erase_kills_every_token_and_restore_moves_to_new_ones() {
    let lab = lab().await;
    let (chat, news) = phone(&lab).await;
    let mut c = lab.client(Sandbox).await;
    let jwt = lab.jwt();
    post(&lab, "/api/v1/devices/PHONE/apps/com.example.chat/update", None).await;
    assert_eq!(lab.mock.device("PHONE").expect("device").apps[0].token, chat, "an update keeps the token");
    post(&lab, "/api/v1/devices/PHONE/backup", None).await;
    lab.mock.clock().advance(Duration::from_secs(7));
    let erased = now_ms(&lab);
    let out = post(&lab, "/api/v1/devices/PHONE/erase", None).await;
    assert_eq!(out["device"]["generation"], 1);
    let (new_chat, new_news) = (
        out["device"]["apps"][0]["token"].as_str().expect("t").to_owned(),
        out["device"]["apps"][1]["token"].as_str().expect("t").to_owned(),
    );
    for (old, new, topic) in [(&chat, &new_chat, APP), (&news, &new_news, NEWS)] {
        assert_ne!(old, new);
        let r = c.push(Push::new(old, &jwt).header("apns-topic", topic)).await;
        r.assert_err(410, "Unregistered");
        assert_eq!(r.json()["timestamp"], erased);
        c.push(Push::new(new, &jwt).header("apns-topic", topic)).await.assert_ok();
    }
    // Restore onto the same device: tokens unchanged.
    let out = post(&lab, "/api/v1/devices/PHONE/restore", None).await;
    assert_eq!(out["device"]["apps"][0]["token"], new_chat.as_str());
    // Restore onto a new phone: new tokens there; the old phone keeps its own.
    let out = post(&lab, "/api/v1/devices/PHONE/restore", Some(json!({"to_udid": "NEW-PHONE"}))).await;
    assert_eq!(out["event"]["to_udid"], "NEW-PHONE");
    let moved = lab.mock.device("NEW-PHONE").expect("new phone");
    assert_eq!(moved.apps.len(), 2);
    assert_ne!(moved.apps[0].token, new_chat);
    // Nothing runs as the new phone yet: it is off (its pushes are stored), not online
    // with nothing behind it.
    assert!(!moved.online && !moved.connected, "{moved:?}");
    c.push(Push::new(&moved.apps[0].token, &jwt)).await.assert_ok();
    c.push(Push::new(&new_chat, &jwt)).await.assert_ok();
}

#[tokio::test]
async fn per_device_tokens_follow_the_seeds_rules() {
    let lab = lab_with(Config { clock: manual_clock(), token_scope: TokenScope::PerDevice, ..Config::default() }).await;
    assert_eq!(lab.mock.ready().token_scope, TokenScope::PerDevice);
    let (chat, news) = phone(&lab).await;
    assert_eq!(chat, news, "one token for every app of the device");
    let mut c = lab.client(Sandbox).await;
    let jwt = lab.jwt();
    // APNs finds the device by token and the app by apns-topic.
    c.push(Push::new(&chat, &jwt)).await.assert_ok();
    c.push(Push::new(&chat, &jwt).header("apns-topic", NEWS)).await.assert_ok();
    c.push(Push::new(&chat, &jwt).header("apns-topic", "com.example.mail"))
        .await
        .assert_err(400, "DeviceTokenNotForTopic");
    lab.mock.lifecycle("PHONE", Lifecycle::Uninstall(APP.into())).await.expect("uninstall");
    c.push(Push::new(&chat, &jwt)).await.assert_ok();
    c.push(Push::new(&chat, &jwt)).await.assert_err(410, "Unregistered");
    c.push(Push::new(&chat, &jwt).header("apns-topic", NEWS)).await.assert_ok();
    // Reinstall keeps the device-level token, and pushes work again.
    let out = lab.mock.lifecycle("PHONE", Lifecycle::Reinstall(APP.into())).await.expect("reinstall");
    assert_eq!(out.device.apps[0].token, chat);
    c.push(Push::new(&chat, &jwt)).await.assert_ok();
    // Erase changes it.
    let out = lab.mock.lifecycle("PHONE", Lifecycle::Erase).await.expect("erase");
    assert_ne!(out.device.apps[0].token, chat);
    assert_eq!(out.device.apps[0].token, out.device.apps[1].token);
    c.push(Push::new(&chat, &jwt)).await.assert_err(410, "Unregistered");
}

#[tokio::test]
async fn state_survives_a_restart_with_the_same_data_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = || Config { clock: manual_clock(), data_dir: Some(dir.path().to_path_buf()), ..Config::default() };
    let lab = lab_with(config()).await;
    let (chat, news) = phone(&lab).await;
    let jwt = lab.jwt();
    let mut c = lab.client(Sandbox).await;
    lab.mock.lifecycle("PHONE", Lifecycle::Uninstall(APP.into())).await.expect("uninstall");
    c.push(Push::new(&chat, &jwt)).await.assert_ok();
    let first = c.push(Push::new(&chat, &jwt)).await;
    first.assert_err(410, "Unregistered");
    lab.mock.lifecycle("PHONE", Lifecycle::Backup).await.expect("backup");
    lab.mock.lifecycle("PHONE", Lifecycle::Offline).await.expect("offline");
    let before = (lab.mock.devices(None, 100), lab.mock.events(None, 100));
    let captured = lab.mock.notifications(&mock_apns::CaptureFilter::default()).len();
    let Lab { mock, .. } = lab;
    mock.shutdown().await;

    let mock = MockApns::start(config()).await.expect("restarts");
    assert_eq!(mock.devices(None, 100), before.0, "devices, apps, tokens, generations");
    assert_eq!(mock.events(None, 100), before.1, "lifecycle events");
    assert_eq!(mock.notifications(&mock_apns::CaptureFilter::default()).len(), captured, "capture log");
    let mut c = Client::connect(mock.addr(Sandbox), mock.ca_pem(), None, Alpn::H2).await;
    let again = c.push(Push::new(&chat, &jwt)).await;
    again.assert_err(410, "Unregistered");
    assert_eq!(again.json()["timestamp"], first.json()["timestamp"], "the same 410 timestamp");
    c.push(Push::new(&news, &jwt).header("apns-topic", NEWS)).await.assert_ok();
    mock.lifecycle("PHONE", Lifecycle::Restore { to_udid: Some("OTHER".into()) }).await.expect("the backup survived");
    // A data dir keeps its token scope.
    drop(mock);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let wrong = MockApns::start(Config { token_scope: TokenScope::PerDevice, ..config() }).await;
    let message = wrong.err().expect("refused").to_string();
    assert!(message.contains("--token-scope per-app"), "{message}");
}

/// The capture log is saved in batches: across restarts it keeps the newest
/// `capture_limit` requests and the database does not grow past them; a database of the
/// earlier schema (one row per request) is read and converted.
#[tokio::test]
async fn the_capture_log_survives_restarts_bounded_and_from_the_older_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("state.sqlite3");
    let config = || Config { capture_limit: 3, data_dir: Some(dir.path().to_path_buf()), ..Config::default() };
    let ids = |mock: &MockApns| -> Vec<String> {
        mock.notifications(&mock_apns::CaptureFilter::default()).into_iter().map(|e| e.apns_id).collect()
    };
    let batches = || -> i64 {
        rusqlite::Connection::open(&db)
            .expect("db")
            .query_row("SELECT count(*) FROM capture_batches", [], |r| r.get(0))
            .expect("count")
    };
    let mut sent = Vec::new();
    let mut token = None;
    for run in 0..4 {
        let lab = lab_with(config()).await;
        let chat = match token.clone() {
            Some(t) => t,
            None => phone(&lab).await.0,
        };
        token = Some(chat.clone());
        assert_eq!(ids(&lab.mock), sent.iter().rev().take(3).cloned().collect::<Vec<_>>(), "run {run}: before");
        let mut c = lab.client(Sandbox).await;
        for _ in 0..2 {
            let id = format!("00000000-0000-4000-8000-{:012}", sent.len());
            c.push(Push::new(&chat, &lab.jwt()).header("apns-id", &id)).await.assert_ok();
            sent.push(id);
        }
        let Lab { mock, .. } = lab;
        mock.shutdown().await;
        assert!(batches() <= 2, "run {run}: only the batches that hold the newest 3 are kept");
    }
    // The same database as the earlier schema wrote it: one row per request in `capture`.
    {
        let conn = rusqlite::Connection::open(&db).expect("db");
        let mut rows: Vec<(i64, Vec<u8>)> = Vec::new();
        let blobs: Vec<Vec<u8>> = conn
            .prepare("SELECT body FROM capture_batches ORDER BY newest_seq")
            .expect("select")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("blobs");
        for blob in blobs {
            let mut b = &blob[..];
            while !b.is_empty() {
                let seq = u64::from_le_bytes(b[..8].try_into().expect("seq"));
                let len = u32::from_le_bytes(b[8..12].try_into().expect("len")) as usize;
                rows.push((seq as i64, b[12..12 + len].to_vec()));
                b = &b[12 + len..];
            }
        }
        conn.execute("DELETE FROM capture_batches", []).expect("delete");
        for (seq, body) in &rows {
            conn.execute("INSERT INTO capture (seq, body) VALUES (?1, ?2)", rusqlite::params![seq, body])
                .expect("insert");
        }
        // And its Web Push subscriptions as schema 4 kept them: no `ended_by`.
        conn.execute_batch(
            "DROP TABLE web_subscriptions;
             CREATE TABLE web_subscriptions (id TEXT PRIMARY KEY, udid TEXT NOT NULL, origin TEXT NOT NULL,
               name TEXT NOT NULL, application_server_key BLOB NOT NULL, p256dh BLOB NOT NULL, auth BLOB NOT NULL,
               phone_key BLOB NOT NULL, created_at INTEGER NOT NULL, ended_at INTEGER NOT NULL) WITHOUT ROWID;
             PRAGMA user_version = 1;",
        )
        .expect("version");
    }
    let mock = MockApns::start(config()).await.expect("reads the older schema");
    assert_eq!(ids(&mock), sent.iter().rev().take(3).cloned().collect::<Vec<_>>(), "converted");
    mock.shutdown().await;
    let conn = rusqlite::Connection::open(&db).expect("db");
    let legacy: i64 = conn.query_row("SELECT count(*) FROM capture", [], |r| r.get(0)).expect("count");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
    let ended_by: i64 = conn
        .query_row("SELECT count(*) FROM pragma_table_info('web_subscriptions') WHERE name = 'ended_by'", [], |r| {
            r.get(0)
        })
        .expect("columns");
    assert_eq!((legacy, version, ended_by), (0, 5, 1), "converted, and written at the current schema");
}

#[tokio::test]
async fn bad_lifecycle_calls_get_clear_errors() {
    let lab = lab().await;
    phone(&lab).await;
    let a = lab.mock.admin_addr();
    for (path, body, status) in [
        ("/api/v1/devices/NOPE/erase", None, 404),
        ("/api/v1/devices/NOPE/apps/com.example.chat/uninstall", None, 404),
        ("/api/v1/devices/PHONE/apps/com.example.mail/uninstall", None, 404),
        ("/api/v1/devices/PHONE/apps/com.example.chat/dance", None, 404),
        ("/api/v1/devices/PHONE/explode", None, 404),
        ("/api/v1/devices/PHONE/restore", None, 409),
        ("/api/v1/devices/PHONE/restore", Some(json!({"to_udid": "bad udid"})), 400),
        ("/api/v1/devices/PHONE/restore", Some(json!({"nope": 1})), 400),
    ] {
        let (got, v) = admin(a, "POST", path, body).await;
        assert_eq!(got, status, "{path}: {v}");
        assert!(v["error"].is_string(), "{v}");
    }
    let (got, _) = admin(a, "GET", "/api/v1/devices/NOPE", None).await;
    assert_eq!(got, 404);
    let (got, _) = admin(a, "DELETE", "/api/v1/devices/PHONE", None).await;
    assert_eq!(got, 405);
    // Nothing changed.
    assert_eq!(lab.mock.device("PHONE").expect("device").generation, 0);
    assert!(lab.mock.device("PHONE").expect("device").apps.iter().all(|a| a.installed));
}

#[tokio::test]
async fn unusable_data_dirs_are_refused_and_left_alone() {
    // A newer schema.
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("state.sqlite3");
    rusqlite::Connection::open(&db)
        .expect("db")
        .execute_batch("PRAGMA user_version = 99; CREATE TABLE future (x);")
        .expect("schema");
    let err = MockApns::start(Config { data_dir: Some(dir.path().into()), ..Config::default() })
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("newer apns-lab"), "{err}");
    let still: i64 = rusqlite::Connection::open(&db)
        .expect("db")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(still, 99, "left untouched");
    // A file that is not a database.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("state.sqlite3"),
        b"this is not sqlite, just some bytes that are long enough to look like a header",
    )
    .expect("writes");
    let err = MockApns::start(Config { data_dir: Some(dir.path().into()), ..Config::default() })
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("not an apns-lab state database"), "{err}");
    // A data dir that is a file.
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let err = MockApns::start(Config { data_dir: Some(file.path().into()), ..Config::default() })
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains(&file.path().display().to_string()), "{err}");
}

#[tokio::test]
async fn install_events_show_each_new_token() {
    let lab = lab().await;
    let d = lab
        .mock
        .create_device(NewDevice {
            udid: Some("EVENTS".into()),
            apps: vec![NewApp { bundle_id: NEWS.into(), environment: Sandbox, team_id: None }],
        })
        .await
        .expect("device");
    let (status, events) = admin(lab.mock.admin_addr(), "GET", "/api/v1/events?udid=EVENTS", None).await;
    assert_eq!(status, 200);
    assert_eq!(events[0]["kind"], "install");
    assert_eq!(events[0]["tokens"][0]["new"], d.apps[0].token.as_str());
    assert!(events[0]["tokens"][0].get("old").is_none());
}

#[tokio::test]
async fn offline_devices_get_one_stored_notification_per_app() {
    let lab = lab().await;
    let (chat, news) = phone(&lab).await;
    let mut c = lab.client(Sandbox).await;
    let jwt = lab.jwt();
    post(&lab, "/api/v1/devices/PHONE/offline", None).await;
    let now = lab.mock.clock().unix_secs();
    let id = |n: u32| format!("00000000-0000-4000-8000-{n:012}");
    // "Try once" pushes are accepted but not stored.
    c.push(Push::new(&chat, &jwt).header("apns-id", &id(1)).header("apns-expiration", "0")).await.assert_ok();
    c.push(Push::new(&chat, &jwt).header("apns-id", &id(2)).header("apns-expiration", &(now - 1).to_string()))
        .await
        .assert_ok();
    assert!(lab.mock.device("PHONE").expect("device").apps[0].stored.is_none());
    // One per app: the latest replaces the earlier one.
    c.push(Push::new(&chat, &jwt).header("apns-id", &id(3))).await.assert_ok();
    c.push(Push::new(&chat, &jwt).header("apns-id", &id(4)).header("apns-expiration", &(now + 600).to_string()))
        .await
        .assert_ok();
    c.push(Push::new(&news, &jwt).header("apns-topic", NEWS).header("apns-id", &id(5)).header("apns-collapse-id", "c"))
        .await
        .assert_ok();
    let d = lab.mock.device("PHONE").expect("device");
    let chat_held = d.apps[0].stored.as_ref().expect("held for chat");
    assert_eq!((chat_held.apns_id.as_str(), chat_held.expires_at), (id(4).as_str(), now + 600));
    assert_eq!(chat_held.payload, json!({"aps": {"alert": "hello"}}));
    let news_held = d.apps[1].stored.as_ref().expect("held for news");
    assert_eq!(news_held.apns_id, id(5));
    assert_eq!(news_held.collapse_id.as_deref(), Some("c"));
    assert_eq!(news_held.expires_at, now + 30 * 24 * 3600, "at most 30 days");
    // Expired ones are not shown as held.
    lab.mock.clock().advance(Duration::from_secs(601));
    assert!(lab.mock.device("PHONE").expect("device").apps[0].stored.is_none());
    // Online devices get nothing stored; an erase drops what was held.
    post(&lab, "/api/v1/devices/PHONE/erase", None).await;
    assert!(lab.mock.device("PHONE").expect("device").apps.iter().all(|a| a.stored.is_none()));
}
