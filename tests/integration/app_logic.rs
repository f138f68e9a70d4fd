//! Apps that run the team's own logic (Rust's in-process harness): a phone whose app has a
//! function handler, a provider client sending to it, and iOS's rules seen in the
//! journeys — the three stories of the README (an end-to-end-encrypted chat whose
//! extension decrypts, a silent push that makes the app fetch from a backend, a VoIP
//! call that must be reported) and each rule's failure (extension time-out, background
//! throttling, VoIP termination and blocking, foreground presentation, handler bounds).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use device_sim::run::{AppSetup, Phone};
use device_sim::{Rules, Target};
use mock_apns::{Config, MockApns};
use protocol::{Environment, PushType};
use provider::{Auth, Client, ClientConfig, Endpoint, Notification, SharedToken};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::*;

const CHAT: &str = "com.example.chat";
const SECRET: &[u8] = b"shared-secret";

/// The chat's stand-in for end-to-end encryption: XOR with the secret the two ends
/// share, then base64 (the point is that APNs carries only what the extension can open).
fn seal(text: &str) -> String {
    let bytes: Vec<u8> = text.bytes().zip(SECRET.iter().cycle()).map(|(b, k)| b ^ k).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn open(sealed: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD.decode(sealed).unwrap_or_default();
    String::from_utf8_lossy(&bytes.iter().zip(SECRET.iter().cycle()).map(|(b, k)| b ^ k).collect::<Vec<_>>()).into()
}

/// A mock, a phone whose app runs `handler` under `rules`, a client, and the phone's words.
struct Story {
    mock: MockApns,
    client: Client,
    token: String,
    lines: mpsc::UnboundedReceiver<String>,
}

async fn story(udid: &str, handler: Target, rules: Rules, config: Config) -> Story {
    let mock = MockApns::start(config).await.expect("mock starts");
    let endpoint =
        device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned()).expect("gateway endpoint");
    let mut app = AppSetup::new(CHAT, Environment::Sandbox);
    app.handler = Some(handler);
    let (tx, lines) = mpsc::unbounded_channel();
    let phone = Phone {
        lang: protocol::Lang::En,
        udid: Some(udid.into()),
        apps: vec![app],
        web_apps: vec![],
        provider: None,
        rules,
        handler_ca: None,
    };
    tokio::spawn(device_sim::run::run_with(endpoint, phone, move |line| {
        let _ = tx.send(line);
    }));
    let token = wait_for(Duration::from_secs(10), || {
        mock.device(udid).ok().and_then(|d| d.apps.first().map(|a| a.token.clone()))
    })
    .await
    .expect("the phone registers");
    wait_for(Duration::from_secs(10), || mock.events(Some(udid), 10).iter().any(|e| e.kind == "online").then_some(()))
        .await
        .expect("online");
    let signer = signer(mock.key_p8(), mock.key_id(), mock.team_id());
    let endpoint = Endpoint::custom(&mock.ready().sandbox, Some(mock.ca_pem().to_owned())).expect("endpoint");
    let mut config = ClientConfig::new(endpoint, Auth::token(signer, SharedToken::DEFAULT_REFRESH_SECS));
    let clock = mock.clock().clone();
    config.clock = Arc::new(move || clock.unix_secs());
    let client = Client::new(config).expect("client");
    Story { mock, client, token, lines }
}

impl Story {
    async fn send(&self, payload: Value, push_type: PushType) -> String {
        let topic = if push_type == PushType::Voip { format!("{CHAT}.voip") } else { CHAT.to_owned() };
        let n = Notification::raw(self.token.clone(), payload.to_string()).topic(topic).push_type(push_type);
        let n = if push_type == PushType::Background { n.priority(protocol::Priority::PowerConsiderate) } else { n };
        self.client.send(&n).await.expect("accepted").apns_id
    }

    /// The last step of `apns_id`'s journey once the phone has acknowledged it.
    async fn outcome(&self, apns_id: &str) -> (String, String) {
        let path = format!("/api/v1/notifications/{apns_id}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, v) = admin(self.mock.admin_addr(), "GET", &path, None).await;
            let last = v["journey"].as_array().and_then(|j| j.last()).cloned().unwrap_or_default();
            let state = last["state"].as_str().unwrap_or_default().to_owned();
            if !["", "received", "delivered", "stored", "redelivered", "delivered-from-storage"]
                .contains(&state.as_str())
            {
                return (state, last["detail"].as_str().unwrap_or_default().to_owned());
            }
            assert!(tokio::time::Instant::now() < deadline, "{apns_id} was never handled: {v}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last step of `apns_id`'s journey once it is past `step` (a later step than the
    /// phone's first acknowledgement, such as the user's response).
    async fn outcome_after(&self, apns_id: &str, step: &str) -> (String, String) {
        let path = format!("/api/v1/notifications/{apns_id}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, v) = admin(self.mock.admin_addr(), "GET", &path, None).await;
            let journey = v["journey"].as_array().cloned().unwrap_or_default();
            let at = journey.iter().position(|s| s["state"] == step);
            if let Some(last) = at.filter(|&i| i + 1 < journey.len()).and(journey.last()) {
                return (
                    last["state"].as_str().unwrap_or_default().to_owned(),
                    last["detail"].as_str().unwrap_or_default().to_owned(),
                );
            }
            assert!(tokio::time::Instant::now() < deadline, "{apns_id} never went past {step}: {v}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn said(&mut self, what: &str) -> String {
        let wait = async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(what) {
                    return line;
                }
            }
            panic!("the phone stopped before saying {what:?}");
        };
        tokio::time::timeout(Duration::from_secs(10), wait).await.unwrap_or_else(|_| panic!("no {what:?} in 10 s"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn story_an_encrypted_chat_whose_extension_decrypts() {
    // The app's Notification Service Extension: open the sealed text, show it.
    let extension = Target::function(|event: Value| async move {
        match event["event"].as_str() {
            Some("didReceive") => {
                let sealed = event["payload"]["sealed"].as_str().unwrap_or_default();
                json!({"content": {"title": "Ann", "body": open(sealed)}})
            }
            _ => json!({"default": true}),
        }
    });
    let mut s = story("APP-E2E", extension, Rules::default(), Config::default()).await;
    let payload = json!({"aps": {"alert": {"title": "New message", "body": "(encrypted)"}, "mutable-content": 1},
        "sealed": seal("Lunch at 1?")});
    let id = s.send(payload, PushType::Alert).await;
    assert_eq!(s.outcome(&id).await, ("modified-by-extension".into(), "Ann — Lunch at 1?".into()));
    assert!(s.said("modified by its service extension").await.contains("Lunch at 1?"));
    // Without mutable-content the extension never runs: the text arrives as sent.
    let id = s.send(json!({"aps": {"alert": "(encrypted)"}, "sealed": seal("hi")}), PushType::Alert).await;
    assert_eq!(s.outcome(&id).await.0, "presented");
}

#[tokio::test(flavor = "multi_thread")]
async fn story_a_silent_push_makes_the_app_fetch_from_its_backend() {
    // The backend under test: counts fetches of /messages.
    let fetched = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let backend = format!("http://{}/messages", listener.local_addr().expect("addr"));
    let count = fetched.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf).await;
            count.fetch_add(1, Ordering::SeqCst);
            let body = r#"[{"from":"Ann","text":"Lunch?"}]"#;
            let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = tcp.write_all(reply.as_bytes()).await;
        }
    });
    let app = Target::function(move |event: Value| {
        let backend = backend.clone();
        async move {
            if event["event"] != "didReceiveRemoteNotification" {
                return json!({"default": true});
            }
            let got = device_sim::run::call("backend", http::Method::GET, &backend, None, None).await;
            match got.ok().and_then(|b| serde_json::from_slice::<Vec<Value>>(&b).ok()) {
                Some(new) if !new.is_empty() => json!({"result": "newData"}),
                Some(_) => json!({"result": "noData"}),
                None => json!({"result": "failed"}),
            }
        }
    });
    let rules = Rules { background_limit: 2, ..Rules::default() };
    let config = Config { clock: manual_clock(), ..Config::default() };
    let s = story("APP-FETCH", app, rules, config).await;
    let silent = json!({"aps": {"content-available": 1}});
    let id = s.send(silent.clone(), PushType::Background).await;
    assert_eq!(s.outcome(&id).await, ("background-fetch".into(), "newData".into()));
    assert_eq!(fetched.load(Ordering::SeqCst), 1, "the app fetched from its backend");
    // Beyond the budget, iOS throttles: the app is not woken.
    s.send(silent.clone(), PushType::Background).await;
    let id = s.send(silent.clone(), PushType::Background).await;
    assert_eq!(s.outcome(&id).await, ("discarded".into(), "background-budget".into()));
    assert_eq!(fetched.load(Ordering::SeqCst), 2);
    // An hour later on the mock's clock the budget is back.
    s.mock.clock().advance(Duration::from_secs(3600));
    let id = s.send(silent, PushType::Background).await;
    assert_eq!(s.outcome(&id).await.0, "background-fetch");
    assert_eq!(fetched.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn story_a_voip_call_must_be_reported() {
    // The app reports a call only while `reports` is set: then the bug ships.
    let reports = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = reports.clone();
    let app = Target::function(move |event: Value| {
        let report = flag.load(Ordering::SeqCst);
        async move {
            match (event["event"].as_str(), report) {
                (Some("didReceiveIncomingPushWith"), true) => {
                    json!({"reportNewIncomingCall": {"handle": event["payload"]["caller"], "hasVideo": false}})
                }
                (Some("didReceiveIncomingPushWith"), false) => json!({}),
                _ => json!({"default": true}),
            }
        }
    });
    let mut s = story("APP-VOIP", app, Rules::default(), Config::default()).await;
    let call = json!({"aps": {}, "caller": "Ann"});
    let id = s.send(call.clone(), PushType::Voip).await;
    assert_eq!(s.outcome(&id).await, ("call-reported".into(), "incoming call: Ann".into()));
    reports.store(false, Ordering::SeqCst);
    for strike in 1..=3 {
        let id = s.send(call.clone(), PushType::Voip).await;
        let (state, detail) = s.outcome(&id).await;
        assert_eq!(state, "voip-no-call", "strike {strike}: {detail}");
        assert!(detail.contains("app terminated"), "{detail}");
    }
    s.said("iOS terminated the app").await;
    reports.store(true, Ordering::SeqCst);
    let id = s.send(call.clone(), PushType::Voip).await;
    assert_eq!(s.outcome(&id).await.0, "voip-blocked", "blocked even though the app would report now");
    // Reinstalling gives the app a new token and iOS forgets the strikes.
    let (status, _) =
        admin(s.mock.admin_addr(), "POST", &format!("/api/v1/devices/APP-VOIP/apps/{CHAT}/reinstall"), None).await;
    assert_eq!(status, 200);
    let token = wait_for(Duration::from_secs(10), || {
        s.mock.device("APP-VOIP").ok().and_then(|d| d.apps.first().map(|a| a.token.clone())).filter(|t| *t != s.token)
    })
    .await
    .expect("a new token");
    s.said("online").await;
    s.token = token;
    let id = s.send(call, PushType::Voip).await;
    assert_eq!(s.outcome(&id).await.0, "call-reported");
    let metrics = reqwest_metrics(&s.mock).await;
    assert!(metrics.contains("apns_notifications_total{state=\"voip-no-call\"} 3"), "{metrics}");
    assert!(metrics.contains("apns_notifications_total{state=\"voip-blocked\"} 1"), "{metrics}");
}

async fn reqwest_metrics(mock: &MockApns) -> String {
    let (_, v) = admin(mock.admin_addr(), "GET", "/metrics", None).await;
    v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_extension_that_runs_out_of_time_shows_the_original() {
    let slow = Target::function(|event: Value| async move {
        if event["event"] == "didReceive" {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        json!({"default": true})
    });
    let rules = Rules { extension_budget: Duration::from_millis(300), ..Rules::default() };
    let mut s = story("APP-SLOW", slow, rules, Config::default()).await;
    let id = s.send(json!({"aps": {"alert": "(encrypted)", "mutable-content": 1}}), PushType::Alert).await;
    let (state, detail) = s.outcome(&id).await;
    assert_eq!(state, "extension-timed-out");
    assert!(detail.ends_with("original shown"), "{detail}");
    assert!(s.said("timed out").await.contains("serviceExtensionTimeWillExpire"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreground_app_chooses_how_to_present_and_tokens_reach_its_code() {
    let tokens = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = tokens.clone();
    let app = Target::function(move |event: Value| {
        if event["event"] == "didRegisterForRemoteNotifications" {
            seen.lock().expect("lock").push(event["deviceToken"].as_str().unwrap_or_default().to_owned());
        }
        async move {
            match event["event"].as_str() {
                Some("willPresent") => json!({"options": ["list", "sound"]}),
                // Posted to its backend (here: kept): the app's own hand-over.
                Some("didRegisterForRemoteNotifications") => json!({}),
                _ => json!({"default": true}),
            }
        }
    });
    let mock = MockApns::start(Config::default()).await.expect("mock");
    let endpoint = device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned()).expect("endpoint");
    let mut setup = AppSetup::new(CHAT, Environment::Sandbox);
    setup.foreground = true;
    setup.handler = Some(app);
    let phone = Phone {
        lang: protocol::Lang::En,
        udid: Some("APP-FG".into()),
        apps: vec![setup],
        web_apps: vec![],
        provider: None,
        rules: Rules::default(),
        handler_ca: None,
    };
    let (tx, mut lines) = mpsc::unbounded_channel();
    tokio::spawn(device_sim::run::run_with(endpoint, phone, move |l| {
        let _ = tx.send(l);
    }));
    let mut said = Vec::new();
    while let Some(l) = tokio::time::timeout(Duration::from_secs(10), lines.recv()).await.expect("talks") {
        let online = l.starts_with("online");
        said.push(l);
        if online {
            break;
        }
    }
    let token = mock.device("APP-FG").expect("device").apps[0].token.clone();
    assert_eq!(*tokens.lock().expect("lock"), vec![token.clone()], "didRegisterForRemoteNotifications: {said:?}");
    assert!(said.iter().any(|l| l.contains("handed its token to its own code")), "{said:?}");
    let signer = signer(mock.key_p8(), mock.key_id(), mock.team_id());
    let client = Client::new(ClientConfig::new(
        Endpoint::custom(&mock.ready().sandbox, Some(mock.ca_pem().to_owned())).expect("endpoint"),
        Auth::token(signer, SharedToken::DEFAULT_REFRESH_SECS),
    ))
    .expect("client");
    let n = Notification::raw(token, r#"{"aps":{"alert":"hi","sound":"default"}}"#).topic(CHAT);
    let id = client.send(&n).await.expect("accepted").apns_id;
    let s = Story { mock, client, token: String::new(), lines };
    assert_eq!(s.outcome(&id).await, ("presented".into(), "willPresent: list, sound".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_handler_that_misbehaves_is_the_apps_failure() {
    // A command that answers garbage: its extension failed, the original is shown, and the
    // phone goes on (the next push is handled by a fresh start of the command).
    let garbage = Target::Command("while read -r line; do echo not-json; done".into());
    let s = story("APP-BAD", garbage, Rules::default(), Config::default()).await;
    for _ in 0..2 {
        let id = s.send(json!({"aps": {"alert": "hi", "mutable-content": 1}}), PushType::Alert).await;
        let (state, detail) = s.outcome(&id).await;
        assert_eq!(state, "extension-failed");
        assert!(detail.contains("not JSON") && detail.ends_with("original shown"), "{detail}");
    }
}

/// The sample app the demo runs (its extension works `work_ms`, longer than the phone's
/// one-second clock): a handler that takes its whole budget is not lost to the clock that
/// ends Live Activities, and the extension's time-out is what the journey says.
#[tokio::test(flavor = "multi_thread")]
async fn a_handler_longer_than_the_phones_clock_tick_still_answers() {
    let rules = Rules { extension_budget: Duration::from_millis(2500), ..Rules::default() };
    let mut s = story("APP-SAMPLE", device_sim::sample::chat_app(), rules, Config::default()).await;
    let slow = json!({"aps": {"alert": "(encrypted)", "mutable-content": 1}, "secret": "Lunch?", "work_ms": 10000});
    let id = s.send(slow, PushType::Alert).await;
    assert_eq!(
        s.outcome(&id).await,
        ("extension-timed-out".into(), "no content within 2500 ms: original shown".into())
    );
    assert!(s.said("[5]").await.contains("original shown"));
    let quick = json!({"aps": {"alert": "(encrypted)", "mutable-content": 1}, "secret": "Lunch?", "work_ms": 1500});
    let id = s.send(quick, PushType::Alert).await;
    assert_eq!(s.outcome(&id).await, ("modified-by-extension".into(), "Lunch?".into()));
}

/// The user's response (admin API and `apns-lab device respond`): a tap, an action of the
/// notification's category, a dismissal — each reaches the app's `didReceiveResponse`,
/// takes the notification off the phone and is the journey's `responded` step; an action
/// on a notification without a category, or a response to one the phone does not show,
/// changes nothing; bad input is 400 and an offline phone 409.
#[tokio::test(flavor = "multi_thread")]
async fn the_users_response_reaches_the_app() {
    let heard = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = heard.clone();
    let app = Target::function(move |event: Value| {
        if event["event"] == "didReceiveResponse" {
            log.lock().expect("lock").push(event["actionIdentifier"].as_str().unwrap_or_default().to_owned());
        }
        async move {
            match event["event"].as_str() {
                Some("didReceiveResponse") => json!({}),
                _ => json!({"default": true}),
            }
        }
    });
    let mut s = story("APP-TAP", app, Rules::default(), Config::default()).await;
    let addr = s.mock.admin_addr();
    let respond = |id: &str, action: &str| {
        let path = format!("/api/v1/devices/APP-TAP/notifications/{id}/respond");
        let body = json!({ "action": action });
        async move { admin(addr, "POST", &path, Some(body)).await }
    };
    let message = s.send(json!({"aps": {"alert": "Lunch?", "category": "MESSAGE"}}), PushType::Alert).await;
    assert_eq!(s.outcome(&message).await.0, "presented");
    let (status, answer) = respond(&message, "REPLY").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        s.outcome_after(&message, "presented").await,
        ("responded".into(), "action REPLY; the app handled it".into())
    );
    s.said("chose the notification's action REPLY").await;
    // Once answered, it is no longer on the phone: a second response changes nothing.
    let (status, _) = respond(&message, "tap").await;
    assert_eq!(status, 200);
    s.said("no such notification on this phone").await;
    let plain = s.send(json!({"aps": {"alert": "hi"}}), PushType::Alert).await;
    assert_eq!(s.outcome(&plain).await.0, "presented");
    respond(&plain, "REPLY").await;
    s.said("no category").await;
    // From the command line: a tap.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_apns-lab"))
        .args(["device", "respond", "--admin", &s.mock.ready().admin, "--udid", "APP-TAP", "--apns-id", &plain])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(s.outcome_after(&plain, "presented").await, ("responded".into(), "tapped; the app handled it".into()));
    assert_eq!(
        *heard.lock().expect("lock"),
        ["REPLY", "com.apple.UNNotificationDefaultActionIdentifier"],
        "the app heard each response once"
    );
    assert_eq!(respond(&plain, "").await.0, 400);
    assert_eq!(respond(&plain, "two words").await.0, 400);
    admin(addr, "POST", "/api/v1/devices/APP-TAP/offline", None).await;
    assert_eq!(respond(&plain, "tap").await.0, 409);
    assert_eq!(admin(addr, "POST", "/api/v1/devices/NOBODY/notifications/x/respond", None).await.0, 404);
}

/// A fleet's phones run the apps' logic too (one URL or function for all of them): each
/// phone's VoIP push is reported by the handler, not by the built-in app.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleets_phones_run_the_handler() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let endpoint =
        device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned()).expect("gateway endpoint");
    let calls = Arc::new(AtomicUsize::new(0));
    let count = calls.clone();
    let handler = Target::function(move |event: Value| {
        if event["event"] == "didReceiveIncomingPushWith" {
            count.fetch_add(1, Ordering::SeqCst);
        }
        async move {
            match event["event"].as_str() {
                Some("didReceiveIncomingPushWith") => json!({"reportNewIncomingCall": {"handle": event["udid"]}}),
                _ => json!({"default": true}),
            }
        }
    });
    let apps = [(CHAT.to_owned(), Environment::Sandbox)];
    let handlers = [(CHAT.to_owned(), handler)];
    let plan = device_sim::fleet::Plan {
        count: 3,
        prefix: "LOGIC-FLEET",
        apps: &apps,
        activity_types: &[],
        channel: None,
        web_apps: &[],
        handlers: &handlers,
        rules: Rules::default(),
        handler_ca: None,
    };
    let stats = Arc::new(device_sim::fleet::FleetStats::default());
    let fleet = device_sim::fleet::start_plan(endpoint, plan, stats).await.expect("online");
    let signer = signer(mock.key_p8(), mock.key_id(), mock.team_id());
    let endpoint = Endpoint::custom(&mock.ready().sandbox, Some(mock.ca_pem().to_owned())).expect("endpoint");
    let client = Client::new(ClientConfig::new(endpoint, Auth::token(signer, SharedToken::DEFAULT_REFRESH_SECS)))
        .expect("client");
    let (_tx, lines) = mpsc::unbounded_channel();
    let s = Story { mock, client, token: String::new(), lines };
    for t in &fleet.tokens {
        let n =
            Notification::raw(t.token.clone(), r#"{"aps":{}}"#).topic(format!("{CHAT}.voip")).push_type(PushType::Voip);
        let id = s.client.send(&n).await.expect("accepted").apns_id;
        assert_eq!(s.outcome(&id).await, ("call-reported".into(), format!("incoming call: {}", t.udid)));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// Budgets read APNs's clock: under iOS's own 30 s extension budget, a test that moves the
/// mock's clock past it runs the extension out at once instead of waiting half a minute.
#[tokio::test(flavor = "multi_thread")]
async fn moving_the_mock_clock_runs_an_extensions_budget_out() {
    let started = Arc::new(tokio::sync::Notify::new());
    let called = started.clone();
    let never = Target::function(move |event: Value| {
        let called = called.clone();
        async move {
            if event["event"] == "didReceive" {
                called.notify_one();
                tokio::time::sleep(Duration::from_secs(600)).await;
            }
            json!({"default": true})
        }
    });
    let config = Config { clock: manual_clock(), ..Config::default() };
    let s = story("APP-CLOCK", never, Rules::default(), config).await;
    let id = s.send(json!({"aps": {"alert": "(encrypted)", "mutable-content": 1}}), PushType::Alert).await;
    tokio::time::timeout(Duration::from_secs(10), started.notified()).await.expect("the extension runs");
    let moved = std::time::Instant::now();
    s.mock.clock().advance(Duration::from_secs(31));
    let (state, detail) = s.outcome(&id).await;
    assert_eq!(state, "extension-timed-out", "{detail}");
    assert!(moved.elapsed() < Duration::from_secs(10), "ran out with the clock, not after 30 s of waiting");
}

/// A virtual device made through the admin API is given a handler through the admin API
/// too (`POST /api/v1/devices/{udid}/phone`): `apns-lab serve` runs it as a phone in its
/// own process, and its app's extension is the team's code at a loopback URL. A command,
/// a URL off this machine or an app the device lacks is refused; DELETE stops the phone.
#[test]
fn the_admin_api_runs_a_virtual_device_with_a_handler() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    let s = crate::serve::serve(dir.path());
    let admin = s.ready["admin"].as_str().expect("admin").to_owned();
    // The team's extension, on a loopback port: "decrypts" every didReceive.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/chat", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = vec![0u8; 65536];
            let n = conn.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let body = match request.contains(r#""event":"didReceive""#) {
                true => r#"{"content":{"body":"decrypted by the team's code"}}"#,
                false => r#"{"default":true}"#,
            };
            let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    let device = crate::serve::device_with(&admin, json!([{"bundle_id": CHAT}]));
    let udid = device["udid"].as_str().expect("udid").to_owned();
    let token = device["apps"][0]["token"].as_str().expect("token").to_owned();
    let call = |method: &str, path: &str, body: Value| -> (u16, Value) {
        let out = crate::serve::sh(
            r#"curl -s -o /dev/stdout -w '\n%{http_code}' -X "$METHOD" "$ADMIN$URLPATH" -d "$BODY""#,
            &[("METHOD", method), ("ADMIN", &admin), ("URLPATH", path), ("BODY", &body.to_string())],
        );
        let (text, code) = out.trim_end().rsplit_once('\n').expect("a status");
        (code.parse().expect("status"), serde_json::from_str(text).unwrap_or(Value::Null))
    };
    let phone = format!("/api/v1/devices/{udid}/phone");
    let (status, answer) = call("POST", &phone, json!({"handlers": {CHAT: "python3 app.py"}}));
    assert_eq!(status, 400, "a command through the admin API: {answer}");
    let (status, _) = call("POST", &phone, json!({"handlers": {CHAT: "http://192.0.2.1/x"}}));
    assert_eq!(status, 400, "not loopback");
    let (status, _) = call("POST", &phone, json!({"handlers": {"com.example.mail": url}}));
    assert_eq!(status, 400, "not installed");
    let (status, answer) = call("POST", &phone, json!({"handlers": {CHAT: url}}));
    assert_eq!(status, 200, "{answer}");
    // Once the phone's stream is open, a mutable-content push goes through the team's code.
    let deadline = Instant::now() + Duration::from_secs(10);
    let payload = json!({"aps": {"alert": "(encrypted)", "mutable-content": 1}}).to_string();
    let state = loop {
        let (_, sent) = call("POST", "/api/v1/console", json!({"token": token, "topic": CHAT, "payload": payload}));
        let id = sent["apns_id"].as_str().expect("apns-id").to_owned();
        std::thread::sleep(Duration::from_millis(300));
        let (_, n) = call("GET", &format!("/api/v1/notifications/{id}"), Value::Null);
        let last = n["journey"].as_array().and_then(|j| j.last()).cloned().unwrap_or_default();
        if last["state"] == "modified-by-extension" || Instant::now() > deadline {
            break last;
        }
    };
    assert_eq!(state["detail"], "decrypted by the team's code", "{state}");
    let (status, answer) = call("DELETE", &phone, Value::Null);
    assert_eq!((status, answer["stopped"].as_bool()), (200, Some(true)), "{answer}");
}
