//! The dashboard: its JSON routes (console, counts, the live stream) over plain HTTP, and
//! the page itself in headless Chromium driven through WebDriver — send a push from the
//! console, see it on the phone and in the flow, erase the phone and see its token change.

use std::time::Duration;

use fantoccini::{Client, Locator};
use mock_apns::{Config, MockApns};
use protocol::Environment::Sandbox;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::page::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_console_sends_through_the_provider_api_and_the_counts_follow() {
    let (mock, token) = running_phone("CONSOLE-PHONE").await;
    let addr = mock.admin_addr();
    let (status, answer) = admin(
        addr,
        "POST",
        "/api/v1/console",
        Some(json!({"token": token, "topic": APP, "payload": r#"{"aps":{"alert":"From the console"}}"#})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], 200, "{answer}");
    let id = answer["apns_id"].as_str().expect("apns-id").to_owned();
    assert!(answer["apns_unique_id"].is_string(), "sandbox answers carry apns-unique-id");
    let curl = answer["curl"].as_str().expect("curl");
    assert!(curl.contains("--http2") && curl.contains(&format!("/3/device/{token}")), "{curl}");
    assert!(curl.contains("authorization: bearer ey") && curl.contains("apns-topic: com.example.chat"), "{curl}");

    // It went the whole way, like any push.
    assert!(presented(addr, &id).await, "the console's push is presented on the phone");
    let (_, stats) = admin(addr, "GET", "/api/v1/stats", None).await;
    assert_eq!(stats["received"], 1, "{stats}");
    assert_eq!(stats["delivered"], 1, "{stats}");
    assert_eq!(stats["presented"], 1, "{stats}");

    // The payload may be a JSON object too, as `POST /api/v1/devices/{udid}/push` takes it.
    let (status, answer) = admin(
        addr,
        "POST",
        "/api/v1/console",
        Some(json!({"token": token, "topic": APP, "payload": {"aps": {"alert": "As an object"}}})),
    )
    .await;
    assert_eq!((status, answer["status"].as_u64()), (200, Some(200)), "{answer}");
    assert!(answer["curl"].as_str().is_some_and(|c| c.contains(r#"{"aps":{"alert":"As an object"}}"#)), "{answer}");
    let object_id = answer["apns_id"].as_str().expect("apns-id").to_owned();
    assert!(presented(addr, &object_id).await, "the object payload is presented on the phone");
    let (_, bad) =
        admin(addr, "POST", "/api/v1/console", Some(json!({"token": token, "topic": APP, "payload": [1, 2]}))).await;
    assert_eq!((bad["status"].as_u64(), bad["reason"].as_str()), (Some(400), Some("PayloadEmpty")), "{bad}");

    // Bad input gets APNs's answers, not ours.
    let (_, bad) =
        admin(addr, "POST", "/api/v1/console", Some(json!({"token": token, "topic": APP, "payload": "{not json"})))
            .await;
    assert_eq!((bad["status"].as_u64(), bad["reason"].as_str()), (Some(400), Some("PayloadEmpty")), "{bad}");
    let (_, bad) =
        admin(addr, "POST", "/api/v1/console", Some(json!({"token": "abc", "topic": APP, "payload": "{}"}))).await;
    assert_eq!((bad["status"].as_u64(), bad["reason"].as_str()), (Some(400), Some("BadDeviceToken")), "{bad}");
    let (_, bad) = admin(
        addr,
        "POST",
        "/api/v1/console",
        Some(json!({"token": token, "topic": "com.other.app", "payload": "{}"})),
    )
    .await;
    assert_eq!((bad["status"].as_u64(), bad["reason"].as_str()), (Some(400), Some("DeviceTokenNotForTopic")), "{bad}");
    // Our own API's errors for what is not an APNs request at all.
    let (status, _) = admin(addr, "POST", "/api/v1/console", Some(json!({"payload": "{}"}))).await;
    assert_eq!(status, 400, "no token");
    let (status, _) =
        admin(addr, "POST", "/api/v1/console", Some(json!({"token": "a b", "topic": APP, "payload": "{}"}))).await;
    assert_eq!(status, 400, "a token that cannot be a path");
    let (_, stats) = admin(addr, "GET", "/api/v1/stats", None).await;
    assert_eq!(stats["received"], 2, "rejections are not received: {stats}");
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_tells_what_happens_as_it_happens() {
    let (mock, token) = running_phone("STREAM-PHONE").await;
    let mut sse = tokio::net::TcpStream::connect(mock.admin_addr()).await.expect("connects");
    sse.write_all(b"GET /api/v1/stream HTTP/1.1\r\nhost: localhost\r\n\r\n").await.expect("asks");
    let mut seen = String::new();
    read_until(&mut sse, &mut seen, |s| s.contains(": connected")).await;
    assert!(seen.contains("text/event-stream"), "{seen}");
    let payload = r#"{"aps":{"alert":"live"}}"#;
    admin(
        mock.admin_addr(),
        "POST",
        "/api/v1/console",
        Some(json!({"token": token, "topic": APP, "payload": payload})),
    )
    .await;
    // The request event is sent once the answer is decided, which may be after the
    // device already showed the push: wait for both, and for the last event (and its
    // HTTP chunk) to be whole — an event's lines may come in two reads.
    read_until(&mut sse, &mut seen, |s| {
        s.contains("\"state\":\"presented\"") && s.contains("event: request") && s.ends_with("\n\n\r\n")
    })
    .await;
    assert!(seen.contains("event: request") && seen.contains("\"status\":200"), "{seen}");
    assert!(seen.contains("event: journey") && seen.contains("\"state\":\"delivered\""), "{seen}");
    let at = |s: &str| seen.find(s).expect(s);
    assert!(at("\"state\":\"delivered\"") < at("\"state\":\"presented\""), "in order: {seen}");

    admin(mock.admin_addr(), "POST", "/api/v1/devices/STREAM-PHONE/offline", None).await;
    read_until(&mut sse, &mut seen, |s| s.contains("\"kind\":\"offline\"")).await;
    assert!(seen.contains("event: lifecycle"), "{seen}");
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_a_console_push_on_the_phone_and_a_new_token_after_erase() {
    let (mock, token) = running_phone("BROWSER-PHONE").await;
    // Before the page opens: two pushes with one collapse id; the second replaces the first.
    for (title, id) in
        [("Score 1-0", "00000000-0000-4000-8000-00000000000a"), ("Score 2-0", "00000000-0000-4000-8000-00000000000b")]
    {
        let payload = format!(r#"{{"aps":{{"alert":{{"title":"{title}"}}}}}}"#);
        let push = json!({"token": token, "topic": APP, "collapse_id": "score", "apns_id": id, "payload": payload});
        let (_, answer) = admin(mock.admin_addr(), "POST", "/api/v1/console", Some(push)).await;
        assert_eq!(answer["status"], 200, "{answer}");
        assert!(presented(mock.admin_addr(), id).await, "{title} is presented");
    }
    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&mock.ready().admin).await.expect("page loads");
        text_when(&c, "#live", |t| t == "live").await;
        // What happened before the page opened is there, collapsed as the phone shows it:
        // the newest on the lock screen, once.
        let phone = text_when(&c, r#".phone[data-udid="BROWSER-PHONE"]"#, |t| t.contains("Score")).await;
        assert_eq!((phone.matches("Score 2-0").count(), phone.matches("Score 1-0").count()), (1, 0), "{phone}");
        text_when(&c, "#flow", |t| t.matches("presented").count() == 2).await;
        // The token, shortened to fit under its icon, with the whole of it a click away.
        let shown = text_when(&c, r#".phone[data-udid="BROWSER-PHONE"] .app-token"#, |t| !t.is_empty()).await;
        assert_eq!(
            shown.lines().next().unwrap_or(""),
            format!("{}…{}", &token[..4], &token[60..]),
            "the phone shows its token"
        );
        let whole = c
            .find(Locator::Css(r#".phone[data-udid="BROWSER-PHONE"] .app-token"#))
            .await
            .expect("token")
            .attr("data-token")
            .await
            .expect("attr");
        assert_eq!(whole.as_deref(), Some(token.as_str()));

        // The console: the token is preselected (one phone); type a payload, send.
        let payload = c.find(Locator::Id("console-payload")).await.expect("payload box");
        payload.clear().await.expect("clears");
        payload
            .send_keys(r#"{"aps":{"alert":{"title":"Browser test","body":"Hi from Chromium"},"badge":3}}"#)
            .await
            .expect("types");
        text_when(&c, "#payload-check", |t| t.starts_with("valid JSON")).await;
        c.find(Locator::Id("console-send")).await.expect("send button").click().await.expect("clicks");
        let status = text_when(&c, "#console-status", |t| t.starts_with("200")).await;
        assert!(status.contains("accepted"), "{status}");
        text_when(&c, "#console-curl-text", |t| t.contains("curl -v --http2")).await;

        // It reaches the phone: a banner, and the badge on the app icon.
        text_when(&c, r#".phone[data-udid="BROWSER-PHONE"] .lock .banner"#, |t| t.contains("Browser test")).await;
        text_when(&c, r#".phone[data-udid="BROWSER-PHONE"] .badge"#, |t| t == "3").await;
        // And the flow shows its journey to the app.
        let note = text_when(&c, r#"#flow .note[data-state="presented"]"#, |t| t.contains("presented")).await;
        assert!(note.contains("200") && note.contains("delivered"), "{note}");
        // The counts.
        text_when(&c, r#"#counts [data-count="presented"] b"#, |t| t == "3").await;
        c.execute("window.scrollTo(0, 0)", vec![]).await.expect("scrolls");
        save_screenshot(&c, "dashboard.png").await;

        // The delivery log finds it by token.
        let q = c.find(Locator::Id("log-query")).await.expect("log search");
        q.send_keys(&token).await.expect("types");
        c.find(Locator::Css("#log-search button")).await.expect("find").click().await.expect("clicks");
        text_when(&c, "#log tbody tr", |t| t.contains("presented") && t.contains("delivered")).await;
        c.execute("window.scrollTo(0, document.body.scrollHeight)", vec![]).await.expect("scrolls");
        save_screenshot(&c, "dashboard-console-and-log.png").await;

        // Erase: the phone comes back with a new token, and the page shows it.
        c.find(Locator::Css(r#".phone[data-udid="BROWSER-PHONE"] button[data-action="erase"]"#))
            .await
            .expect("erase button")
            .click()
            .await
            .expect("clicks");
        let fresh = text_when(&c, r#".phone[data-udid="BROWSER-PHONE"] .app-token"#, |t| {
            !t.is_empty() && !t.starts_with(&token[..4])
        })
        .await;
        let fresh_token = mock.device("BROWSER-PHONE").expect("device").apps[0].token.clone();
        assert!(fresh.starts_with(&format!("{}…{}", &fresh_token[..4], &fresh_token[60..])), "{fresh}");
        text_when(&c, r#".phone[data-udid="BROWSER-PHONE"] .status"#, |t| t.contains("gen 1")).await;
    }
    .await;
    c.close().await.expect("browser closes");
    mock.shutdown().await;
    result
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_admin_token_the_page_passes_it_on() {
    let mock = MockApns::start(Config { admin_token: Some("dash-secret".into()), ..Config::default() })
        .await
        .expect("mock starts");
    let device = mock
        .create_device(mock_apns::NewDevice {
            udid: Some("TOKEN-PHONE".into()),
            apps: vec![mock_apns::NewApp { bundle_id: APP.into(), environment: Sandbox, team_id: None }],
        })
        .await
        .expect("device");
    let (_driver, c) = browser().await;
    c.goto(&format!("{}/?admin_token=dash-secret", mock.ready().admin)).await.expect("page loads");
    text_when(&c, "#live", |t| t == "live").await;
    text_when(&c, r#".phone[data-udid="TOKEN-PHONE"] .app-token"#, |t| !t.is_empty()).await;
    let token = c
        .find(Locator::Css(r#".phone[data-udid="TOKEN-PHONE"] .app-token"#))
        .await
        .expect("token")
        .attr("data-token")
        .await
        .expect("attr");
    assert_eq!(token.as_deref(), Some(device.apps[0].token.as_str()));
    c.close().await.expect("browser closes");
    mock.shutdown().await;
}

/// A phone whose app declares a Live Activity type: the console starts one on its
/// push-to-start token from the template, the page draws it on the Lock Screen and as a
/// pill, an update changes what it shows, an end marks it ended.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_draws_a_live_activity_on_the_lock_screen() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let endpoint =
        device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned()).expect("gateway endpoint");
    let mut food = device_sim::run::AppSetup::new("com.example.food", Sandbox);
    food.activity_types = vec!["DeliveryAttributes".into()];
    tokio::spawn(device_sim::run::run(endpoint, Some("LA-BROWSER".into()), vec![food], None, |_| {}));
    let start_token = wait_for(Duration::from_secs(10), || {
        let online = mock.events(Some("LA-BROWSER"), 10).iter().any(|e| e.kind == "online");
        let token = mock
            .activities("LA-BROWSER")
            .ok()?
            .into_iter()
            .find(|a| a.kind == protocol::ActivityTokenKind::PushToStart);
        token.filter(|_| online).and_then(|t| t.token)
    })
    .await
    .expect("the phone declares its type and goes online");
    let phone = r#".phone[data-udid="LA-BROWSER"]"#;
    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&mock.ready().admin).await.expect("page loads");
        text_when(&c, "#live", |t| t == "live").await;
        // The console offers the push-to-start token; choosing it fills in a start.
        let choice = format!(r#"#console-token option[value="{start_token}"]"#);
        c.find(Locator::Css(&choice)).await.expect("the push-to-start token is offered").click().await.expect("picks");
        let payload =
            c.find(Locator::Id("console-payload")).await.expect("payload").prop("value").await.expect("value");
        assert!(payload.is_some_and(|p| p.contains(r#""event":"start""#)), "a start template");
        assert_eq!(
            c.find(Locator::Id("console-topic")).await.expect("topic").prop("value").await.expect("v").as_deref(),
            Some("com.example.food.push-type.liveactivity")
        );
        c.find(Locator::Id("console-send")).await.expect("send").click().await.expect("clicks");
        text_when(&c, "#console-status", |t| t.starts_with("200")).await;
        // Drawn on the Lock Screen and as the compact pill, and its journey in the flow.
        let card = text_when(&c, &format!("{phone} .activity"), |t| t.contains("On its way")).await;
        let upper = card.to_uppercase(); // the card's header is set in capitals
        assert!(upper.contains("DELIVERYATTRIBUTES") && upper.contains("ACTIVE"), "{card}");
        text_when(&c, &format!("{phone} .pill"), |t| t.contains("food") && t.contains("On its way")).await;
        text_when(&c, "#flow", |t| t.contains("Live Activity started")).await;
        // The push-to-start token's own steps 1–2, and the update token's once the activity began.
        let reg =
            text_when(&c, r#"#flow .note.reg[data-kind="push-to-start"]"#, |t| t.contains("pushToStartTokenUpdates"))
                .await;
        assert!(reg.contains("DeliveryAttributes") && reg.contains("push-to-start token"), "{reg}");
        text_when(&c, r#"#flow .note.reg[data-kind="update"]"#, |t| t.contains("pushTokenUpdates")).await;
        c.find(Locator::Css(r#"#flow .note.reg[data-kind="push-to-start"] .arrow[data-detail$="-2"]"#))
            .await
            .expect("step 2")
            .click()
            .await
            .expect("clicks");
        let detail = text_when(&c, "#flow-detail", |t| t.contains("80 bytes")).await;
        assert!(detail.contains(&start_token) && detail.contains("attributes type"), "{detail}");

        // An update and an end, from the update token the phone got.
        let update = wait_for(Duration::from_secs(5), || {
            mock.activities("LA-BROWSER").ok()?.into_iter().find(|a| a.kind == protocol::ActivityTokenKind::Update)
        })
        .await
        .expect("the new activity's update token");
        let now = mock.clock().unix_secs();
        for (event, status) in [("update", "Nearby"), ("end", "Delivered")] {
            let payload = json!({"aps": {"event": event, "timestamp": now + 1, "content-state": {"status": status}}});
            let push = json!({"token": update.token, "topic": "com.example.food.push-type.liveactivity",
                "push_type": "liveactivity", "priority": "10", "payload": payload.to_string()});
            let (_, answer) = admin(mock.admin_addr(), "POST", "/api/v1/console", Some(push)).await;
            assert_eq!(answer["status"], 200, "{answer}");
            text_when(&c, &format!("{phone} .activity"), |t| t.contains(status)).await;
        }
        text_when(&c, &format!(r#"{phone} .activity[data-state="ended"]"#), |t| t.to_uppercase().contains("ENDED"))
            .await;
        save_screenshot(&c, "dashboard-live-activity.png").await;
    }
    .await;
    c.close().await.expect("browser closes");
    mock.shutdown().await;
    result
}

/// Broadcast channels on the page: a channel with its subscribers, and a broadcast sent
/// from the console whose fan-out shows in the flow.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_lists_channels_and_the_console_broadcasts() {
    let lab = lab_with(Config::default()).await;
    let channel = create_channel(&lab).await;
    let udid = "00008030-001A2D3C3E02802E";
    lab.mock
        .start_activity(
            udid,
            mock_apns::NewActivity {
                bundle_id: APP.into(),
                environment: Sandbox,
                attributes_type: "ScoreAttributes".into(),
                activity_id: None,
                channel: Some(channel.clone()),
            },
        )
        .await
        .expect("subscribed");
    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&lab.mock.ready().admin).await.expect("page loads");
        text_when(&c, "#live", |t| t == "live").await;
        let row = text_when(&c, &format!(r#"#channels tr[data-channel="{channel}"]"#), |t| t.contains(APP)).await;
        assert!(row.contains("nothing"), "{row}");
        text_when(&c, &format!(r#"#channels tr[data-channel="{channel}"] .subs"#), |t| t == "1").await;
        let option = format!(r#"#console-token option[data-channel="{channel}"]"#);
        c.find(Locator::Css(&option)).await.expect("a broadcast choice").click().await.expect("picks");
        c.find(Locator::Id("console-send")).await.expect("send").click().await.expect("clicks");
        text_when(&c, "#console-status", |t| t.starts_with("200")).await;
        let curl = text_when(&c, "#console-curl-text", |t| t.contains("/4/broadcasts/apps/")).await;
        assert!(curl.contains("apns-channel-id"), "{curl}");
        text_when(&c, "#flow", |t| t.contains("fanned out from a broadcast")).await;
        // The request is drawn as step 4 to the broadcast path; its fan-out as APNs's own delivery.
        text_when(&c, "#flow", |t| t.contains("POST /4/broadcasts/apps/")).await;
    }
    .await;
    c.close().await.expect("browser closes");
    lab.mock.shutdown().await;
    result
}

/// Steps 1–3 for the flow: when a phone registers its app, the mock notes the token with
/// the inputs it was derived from and, once the phone reports it, its hand-over to the
/// provider; an erase makes the next registration's token new, on the next generation.
#[tokio::test(flavor = "multi_thread")]
async fn a_registration_shows_steps_one_to_three_and_the_token_s_inputs() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let (provider, taken) = accepting_provider().await;
    let endpoint =
        device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned()).expect("gateway endpoint");
    let apps = vec![device_sim::run::AppSetup::new(APP, Sandbox)];
    tokio::spawn(device_sim::run::run(endpoint, Some("REG-PHONE".into()), apps, Some(provider.clone()), |_| {}));
    let addr = mock.admin_addr();
    let handed_over = |n: usize| async move {
        for _ in 0..250 {
            let (_, list) = admin(addr, "GET", "/api/v1/registrations?udid=REG-PHONE", None).await;
            let done = list.as_array().map_or(0, |l| l.iter().filter(|r| r["handed_over"].is_object()).count());
            if done >= n {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no {n} hand-overs reported");
    };
    let list = handed_over(1).await;
    let first = &list[0];
    let token = mock.device("REG-PHONE").expect("device").apps[0].token.clone();
    assert_eq!(first["token"], token.as_str());
    assert_eq!(
        (&first["udid"], &first["bundle_id"], &first["environment"], &first["scope"]),
        (&json!("REG-PHONE"), &json!(APP), &json!("sandbox"), &json!("per-app"))
    );
    assert_eq!((&first["device_generation"], &first["install_generation"]), (&json!(0), &json!(0)));
    assert_eq!(first["token_was"], "first");
    assert_eq!(first["handed_over"]["provider"], provider.as_str());
    assert_eq!(first["handed_over"]["accepted"], true);
    assert!(taken.load(std::sync::atomic::Ordering::SeqCst) >= 1, "the provider really got it");

    // Erase: every token changes; the phone registers again and hands over the new one.
    let (status, _) = admin(addr, "POST", "/api/v1/devices/REG-PHONE/erase", Some(json!({}))).await;
    assert_eq!(status, 200);
    let list = handed_over(2).await;
    let newest = &list[0];
    assert_eq!(newest["token_was"], "new", "{list}");
    assert_eq!(newest["device_generation"], 1);
    assert_ne!(newest["token"], first["token"]);
    assert_eq!(newest["token"], mock.device("REG-PHONE").expect("device").apps[0].token.as_str());

    // The list takes a limit, newest first.
    let (status, all) = admin(addr, "GET", "/api/v1/registrations?limit=1", None).await;
    assert_eq!((status, all.as_array().map(Vec::len)), (200, Some(1)));
}

/// The first paint is whole: the server renders phones, counts and the recent flow into
/// the page, drawn before any call. And the flow draws all five steps as the classic
/// articles do:
/// registration (1–3, step 3 as the simulator's report) and each push (4–5); a click on
/// a step shows what travelled — for step 2, the token with the inputs it came from.
#[tokio::test(flavor = "multi_thread")]
async fn the_first_paint_is_whole_and_the_flow_has_all_five_steps() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let (provider, _) = accepting_provider().await;
    spawn_phone(&mock, "PAINT-PHONE", &[APP], Some(provider.clone()));
    let addr = mock.admin_addr();
    let token = wait_for(Duration::from_secs(10), || {
        let reg = mock.device("PAINT-PHONE").ok()?.apps.first()?.token.clone();
        mock.events(Some("PAINT-PHONE"), 10).iter().any(|e| e.kind == "online").then_some(reg)
    })
    .await
    .expect("the phone is online");
    for _ in 0..250 {
        let (_, list) = admin(addr, "GET", "/api/v1/registrations", None).await;
        if list[0]["handed_over"].is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let id = console_push(&mock, &token, APP, "First paint").await;
    assert!(presented(addr, &id).await);

    let html = page_html(addr).await;
    assert!(html.contains(r#""udid":"PAINT-PHONE""#) && html.contains(&token), "the state is in the page");
    assert!(!html.contains("/*INITIAL-STATE*/"), "the placeholder is filled");

    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&mock.ready().admin).await.expect("page loads");
        // Read at once: what the page drew before any of its calls answered.
        let painted = c.execute("return document.documentElement.dataset.firstPaint", vec![]).await.expect("runs");
        let painted: serde_json::Value = serde_json::from_str(painted.as_str().expect("set")).expect("JSON");
        assert_eq!(painted["phones"], 1, "{painted}");
        assert!(painted["notes"].as_u64() >= Some(2), "a registration and a push: {painted}");
        assert!(painted["counts"].as_u64() >= Some(7), "{painted}");
        // Kept under target/screenshots only: what a screenshot right after load shows.
        let png = c.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join("dashboard-first-paint.png"), png).expect("written");

        let reg = r#"#flow .note.reg[data-udid="PAINT-PHONE"][data-steps="3"]"#;
        let text = text_when(&c, reg, |t| t.contains("token to the provider")).await;
        assert!(text.contains("registerForRemoteNotifications()") && text.contains("simulator's report"), "{text}");
        let steps: Vec<String> = {
            let mut out = Vec::new();
            for el in c.find_all(Locator::Css(&format!("{reg} .step"))).await.expect("steps") {
                out.push(el.text().await.expect("text"));
            }
            out
        };
        assert_eq!(steps, ["1", "1", "2", "2", "3"]);
        let push = format!(r#"#flow .note[data-apns-id="{id}"]"#);
        assert_eq!(c.find(Locator::Css(&format!("{push} .step"))).await.expect("step 4").text().await.expect("t"), "4");
        // Step 5 is numbered like the others (delivered, then presented).
        let numbers = text_when(&c, &push, |t| t.contains("presented")).await;
        let mut steps = Vec::new();
        for el in c.find_all(Locator::Css(&format!("{push} .step"))).await.expect("steps") {
            steps.push(el.text().await.expect("text"));
        }
        assert!(steps.len() >= 3 && steps[0] == "4" && steps[1..].iter().all(|s| s == "5"), "{steps:?}: {numbers}");

        // Step 2: the token and what it was derived from.
        c.find(Locator::Css(&format!(r#"{reg} .arrow[data-detail$="-2"]"#)))
            .await
            .expect("step 2")
            .click()
            .await
            .expect("clicks");
        let detail = text_when(&c, "#flow-detail", |t| t.contains("device generation")).await;
        for part in ["PAINT-PHONE", APP, "sandbox", "install generation", &token, "first token"] {
            assert!(detail.contains(part), "{part:?} in {detail}");
        }
        // Step 3: the simulator's report of the hand-over.
        c.find(Locator::Css(&format!(r#"{reg} .arrow[data-detail$="-3"]"#)))
            .await
            .expect("step 3")
            .click()
            .await
            .expect("clicks");
        let detail = text_when(&c, "#flow-detail", |t| t.contains("provider")).await;
        assert!(detail.contains(&provider) && detail.contains("never tells APNs"), "{detail}");
        // Step 4: the request as it travelled.
        c.find(Locator::Css(&format!(r#"{push} .arrow[data-detail]"#)))
            .await
            .expect("step 4")
            .click()
            .await
            .expect("clicks");
        let detail = text_when(&c, "#flow-detail", |t| t.contains("apns-id")).await;
        assert!(detail.contains(&format!("POST /3/device/{token}")) && detail.contains("First paint"), "{detail}");
    }
    .await;
    c.close().await.expect("browser closes");
    mock.shutdown().await;
    result
}

/// Phones that read like phones: an uninstalled app's notifications leave the screen and
/// its icon stays in line; a stored notification that a newer one replaced ends its
/// journey "replaced", not "stored".
#[tokio::test(flavor = "multi_thread")]
async fn phones_read_like_phones_and_a_replaced_notification_says_so() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    spawn_phone(&mock, "TWO-APPS", &[APP, "com.example.news"], None);
    let tokens = wait_for(Duration::from_secs(10), || {
        let d = mock.device("TWO-APPS").ok()?;
        let online = mock.events(Some("TWO-APPS"), 10).iter().any(|e| e.kind == "online");
        (online && d.apps.len() == 2).then(|| (d.apps[0].token.clone(), d.apps[1].token.clone()))
    })
    .await
    .expect("the phone is online with two apps");
    let chat = console_push(&mock, &tokens.0, APP, "Chat hello").await;
    let news = console_push(&mock, &tokens.1, "com.example.news", "News one").await;
    assert!(presented(mock.admin_addr(), &chat).await && presented(mock.admin_addr(), &news).await);
    // A phone that is away: two pushes for one app, the second replaces the first in storage.
    let (_, away) = admin(
        mock.admin_addr(),
        "POST",
        "/api/v1/devices",
        Some(json!({"udid": "AWAY", "apps": [{"bundle_id": APP}]})),
    )
    .await;
    let away_token = away["apps"][0]["token"].as_str().expect("token").to_owned();
    let (status, _) = admin(mock.admin_addr(), "POST", "/api/v1/devices/AWAY/offline", Some(json!({}))).await;
    assert_eq!(status, 200);
    let older = console_push(&mock, &away_token, APP, "Older").await;
    let newer = console_push(&mock, &away_token, APP, "Newer").await;

    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&mock.ready().admin).await.expect("page loads");
        let phone = r#".phone[data-udid="TWO-APPS"]"#;
        text_when(&c, phone, |t| t.contains("News one") && t.contains("Chat hello")).await;
        let (status, _) = admin(
            mock.admin_addr(),
            "POST",
            "/api/v1/devices/TWO-APPS/apps/com.example.news/uninstall",
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 200);
        let shown = text_when(&c, phone, |t| !t.contains("News one")).await;
        assert!(shown.contains("Chat hello") && shown.contains("removed"), "{shown}");
        let tops = c
            .execute(
                r#"return [...document.querySelectorAll('.phone[data-udid="TWO-APPS"] .app-icon .glyph')]
                     .map((g) => Math.round(g.getBoundingClientRect().top))"#,
                vec![],
            )
            .await
            .expect("runs");
        let tops: Vec<i64> = serde_json::from_value(tops).expect("numbers");
        assert_eq!(tops.len(), 2);
        assert_eq!(tops[0], tops[1], "the removed app's icon stays in line");

        let note = text_when(&c, &format!(r#"#flow .note[data-apns-id="{older}"]"#), |t| t.contains("replaced")).await;
        assert!(note.contains("stored") && note.to_lowercase().contains(&newer.to_lowercase()), "{note}");
    }
    .await;
    c.close().await.expect("browser closes");
    mock.shutdown().await;
    result
}

/// 简体中文 beside English: the page's switch changes every label and the browser
/// remembers the choice; a mock started with `lang: zh-CN` (`serve --lang zh-CN`, or a
/// Chinese locale) paints in Chinese before anyone chooses.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_speaks_simplified_chinese_and_remembers_the_choice() {
    let (mock, token) = running_phone("LANG-PHONE").await;
    let id = console_push(&mock, &token, APP, "你好").await;
    assert!(presented(mock.admin_addr(), &id).await);
    let zh = MockApns::start(Config { lang: protocol::Lang::ZhCn, ..Config::default() }).await.expect("mock starts");
    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&mock.ready().admin).await.expect("page loads");
        assert_eq!(text_when(&c, "#devices-h", |t| !t.is_empty()).await, "Devices");
        c.find(Locator::Css(r#"#lang option[value="zh-CN"]"#)).await.expect("the switch").click().await.expect("picks");
        text_when(&c, "#devices-h", |t| t == "设备").await;
        let chinese = |c: &Client| {
            let c = c.clone();
            async move {
                text_when(&c, r#".phone[data-udid="LANG-PHONE"] button[data-action="erase"]"#, |t| t == "抹掉").await;
                text_when(&c, r#"#counts [data-count="presented"] span"#, |t| t == "已呈现").await;
                text_when(&c, ".lanes", |t| t.contains("提供者服务器")).await;
                text_when(&c, "#live", |t| t == "实时").await;
                let page = c.find(Locator::Css("main")).await.expect("main").text().await.expect("text");
                for english in
                    ["Devices", "Console", "Delivery log", "Counts", "Erase", "Backup", "Payload", "presented"]
                {
                    assert!(!page.contains(english), "{english:?} left in the Chinese page:\n{page}");
                }
                let lang = c.execute("return document.documentElement.lang", vec![]).await.expect("runs");
                assert_eq!(lang, "zh-CN");
            }
        };
        chinese(&c).await;
        // Remembered: a reload stays in Chinese.
        c.refresh().await.expect("reloads");
        chinese(&c).await;
        c.execute("window.scrollTo(0, 0)", vec![]).await.expect("scrolls");
        save_screenshot(&c, "dashboard-zh-CN.png").await;
        // And back.
        c.find(Locator::Css(r#"#lang option[value="en"]"#)).await.expect("the switch").click().await.expect("picks");
        text_when(&c, "#devices-h", |t| t == "Devices").await;

        // The server's language, for a browser that has not chosen: Chinese on first paint.
        c.goto(&zh.ready().admin).await.expect("page loads");
        let lang = c.execute("return document.documentElement.lang", vec![]).await.expect("runs");
        assert_eq!(lang, "zh-CN");
        assert_eq!(c.find(Locator::Id("devices-h")).await.expect("h2").text().await.expect("text"), "设备");
    }
    .await;
    c.close().await.expect("browser closes");
    mock.shutdown().await;
    zh.shutdown().await;
    result
}
