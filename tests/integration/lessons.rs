//! The dashboard's lessons, clicked in a real browser on live phones: each runs, narrates
//! its steps and ends with its rule; and a live phone sent offline and back from the page.

use std::time::Duration;

use fantoccini::Locator;
use mock_apns::{Config, MockApns};
use protocol::Environment::Sandbox;

use crate::page::*;
use crate::support::*;

/// The phone's "Go offline" and "Go online" buttons on a live phone: pushes meanwhile are
/// stored (the newest replacing the one before), and coming back online the phone
/// reconnects and gets the stored one.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_phone_sent_offline_and_back_gets_what_was_stored() {
    let (mock, token) = running_phone("AWAY-AND-BACK").await;
    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&mock.ready().admin).await.expect("page loads");
        let phone = r#".phone[data-udid="AWAY-AND-BACK"]"#;
        c.find(Locator::Css(&format!(r#"{phone} button[data-action="offline"]"#)))
            .await
            .expect("button")
            .click()
            .await
            .expect("clicks");
        text_when(&c, &format!("{phone} .status"), |t| t.contains("offline")).await;
        let first = console_push(&mock, &token, APP, "While away 1").await;
        let second = console_push(&mock, &token, APP, "While away 2").await;
        c.find(Locator::Css(&format!(r#"{phone} button[data-action="online"]"#)))
            .await
            .expect("button")
            .click()
            .await
            .expect("clicks");
        assert!(presented(mock.admin_addr(), &second).await, "the stored one arrives once the phone is back");
        text_when(&c, &format!("{phone} .lock"), |t| t.contains("While away 2")).await;
        let (states, _) = {
            let (_, v) = admin(mock.admin_addr(), "GET", &format!("/api/v1/notifications/{second}"), None).await;
            let s: Vec<String> = v["journey"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["state"].as_str().map(str::to_owned))
                .collect();
            (s, v)
        };
        assert_eq!(states[..3], ["received", "stored", "delivered-from-storage"], "{states:?}");
        text_when(&c, &format!(r#"#flow .note[data-apns-id="{first}"]"#), |t| t.contains("replaced")).await;
    }
    .await;
    c.close().await.expect("browser closes");
    mock.shutdown().await;
    result
}

/// The lessons: each runs with one click on the live phone, narrates its steps in the
/// page, and ends with its rule in one sentence and where it lives in the code.
#[tokio::test(flavor = "multi_thread")]
async fn every_lesson_runs_on_a_live_phone_and_ends_with_its_rule() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let (provider, _) = accepting_provider().await;
    spawn_phone(&mock, "LESSON-PHONE", &[APP, "com.example.news"], Some(provider));
    wait_for(Duration::from_secs(10), || {
        let online = mock.events(Some("LESSON-PHONE"), 10).iter().any(|e| e.kind == "online");
        (online && mock.device("LESSON-PHONE").ok()?.apps.len() == 2).then_some(())
    })
    .await
    .expect("the phone is online with two apps");
    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&mock.ready().admin).await.expect("page loads");
        text_when(&c, "#live", |t| t == "live").await;
        // (lesson, a step it must narrate, a word of its rule, a file it points to)
        let lessons = [
            ("first", "Step 5", "device token", "push.rs"),
            ("away", "delivered from storage", "the newest", "storage.rs"),
            ("collapse", "only the newer", "apns-collapse-id", "present.rs"),
            ("silent", "handled silently", "wakes the app", "present.rs"),
            ("update", "Its token is the same", "keeps the device token", "registry.rs"),
            ("restore", "NEW-LESSON-PHONE", "onto another phone", "lifecycle.rs"),
            ("erase", "410 Unregistered", "changes every token", "server.rs"),
            ("uninstall", "410 Unregistered", "first push is still accepted", "delivery.rs"),
            ("webpush", "403 BadJwtToken", "end-to-end encrypted", "web_delivery.rs"),
            ("scope", "under early iOS's per-device rule it stays", "per-device", "derive_token"),
        ];
        for (id, step, rule, code) in lessons {
            let text = run_lesson(&c, id).await;
            assert!(text.contains(step) && text.contains(rule) && text.contains(code), "{id}: {text}");
            if id == "webpush" {
                // It happened: presented on the phone, then 410 once removed.
                assert!(text.contains("presented") && text.contains("410 ExpiredToken"), "{text}");
                let (_, subs) = admin(mock.admin_addr(), "GET", "/api/v1/devices/LESSON-PHONE/web-apps", None).await;
                assert_eq!(
                    (subs[0]["origin"].as_str(), subs[0]["state"].as_str()),
                    (Some("https://lesson.example"), Some("ended"))
                );
            }
            if id == "uninstall" {
                c.execute("document.getElementById('lessons').scrollIntoView()", vec![]).await.expect("scrolls");
                save_screenshot(&c, "dashboard-lesson.png").await;
            }
        }
        // Side by side after the reinstall: the per-app token changed, the per-device one did not.
        let changed = c
            .find(Locator::Css(r#"#lesson-out li:last-child td[data-scope="per-app"]"#))
            .await
            .expect("cell")
            .text()
            .await
            .expect("text");
        let kept = c
            .find(Locator::Css(r#"#lesson-out li:last-child td[data-scope="per-device"]"#))
            .await
            .expect("cell")
            .text()
            .await
            .expect("text");
        assert!(changed.contains("(changed)") && changed.contains("in use"), "{changed}");
        assert!(kept.contains("(unchanged)"), "{kept}");
        // The phone is left whole: online, both apps installed.
        let phone = mock.device("LESSON-PHONE").expect("device");
        assert!(phone.online && phone.apps.iter().all(|a| a.installed), "{phone:?}");
    }
    .await;
    c.close().await.expect("browser closes");
    mock.shutdown().await;
    result
}

/// The Live Activity and broadcast lessons: each says what it needs when nothing live has
/// it, then runs on a phone whose app declared a type (start, update, end through the
/// tokens the phone hands over); on a channel whose only subscriber no phone runs, the
/// broadcast lesson says where its copy went and claims nothing (the demo's fans, which
/// do show it, are in `demo_page`).
#[tokio::test(flavor = "multi_thread")]
async fn the_live_activity_and_broadcast_lessons_run_and_say_what_they_need() {
    let lab = lab_with(Config::default()).await;
    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&lab.mock.ready().admin).await.expect("page loads");
        text_when(&c, "#live", |t| t == "live").await;
        for (id, needs) in [("activity", "--activity-type"), ("broadcast", "channels create")] {
            click_lesson(&c, id).await;
            let out = format!(r#"#lesson-out[data-lesson="{id}"][data-state="no-phone"]"#);
            let text = text_when(&c, &out, |t| t.contains(needs)).await;
            assert!(text.contains(needs), "{id}: {text}");
        }

        // A phone whose food app declared DeliveryAttributes; a channel with a subscriber.
        let endpoint = device_sim::Endpoint::parse(&lab.mock.ready().gateway, lab.mock.ca_pem().to_owned())
            .expect("gateway endpoint");
        let mut food = device_sim::run::AppSetup::new("com.example.food", Sandbox);
        food.activity_types = vec!["DeliveryAttributes".into()];
        tokio::spawn(device_sim::run::run(endpoint, Some("LA-LESSON".into()), vec![food], None, |_| {}));
        wait_for(Duration::from_secs(10), || {
            let online = lab.mock.events(Some("LA-LESSON"), 10).iter().any(|e| e.kind == "online");
            let start = lab
                .mock
                .activities("LA-LESSON")
                .ok()?
                .into_iter()
                .any(|a| a.kind == protocol::ActivityTokenKind::PushToStart);
            (online && start).then_some(())
        })
        .await
        .expect("the phone declares its type and goes online");
        let channel = create_channel(&lab).await;
        let fan = mock_apns::NewActivity {
            bundle_id: APP.into(),
            environment: Sandbox,
            attributes_type: "ScoreAttributes".into(),
            activity_id: None,
            channel: Some(channel.clone()),
        };
        lab.mock.start_activity("00008030-001A2D3C3E02802E", fan).await.expect("subscribed");

        let text = run_lesson(&c, "activity").await;
        assert!(text.contains("the activity ends") && text.contains("push-to-start token"), "{text}");
        // The channel's only subscriber is a virtual device: the lesson says the copy went
        // nowhere, and does not claim its rule.
        click_lesson(&c, "broadcast").await;
        let out = r#"#lesson-out[data-lesson="broadcast"][data-state="failed"]"#;
        let text = text_when(&c, out, |t| t.contains("No phone following")).await;
        assert!(text.contains("1 copies") && text.contains("Not shown: 1 × no running phone took it"), "{text}");
        assert!(!text.contains("The rule:"), "{text}");
        text_when(&c, r#".phone[data-udid="LA-LESSON"] .activity[data-state="ended"]"#, |t| !t.is_empty()).await;
    }
    .await;
    c.close().await.expect("browser closes");
    lab.mock.shutdown().await;
    result
}

/// The lessons on iOS's rules for an app's own code: on a phone with no app of its own
/// logic they say what they need; on one running the sample chat app (as the demo's Ann
/// does) the extension is modified in time and then runs out of time (the original
/// shown), and a VoIP push without a reported call terminates the app until VoIP is
/// blocked, which a reinstall clears — in English and in Chinese.
#[tokio::test(flavor = "multi_thread")]
async fn the_extension_and_voip_lessons_show_ios_rules_on_the_sample_app() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&mock.ready().admin).await.expect("page loads");
        text_when(&c, "#live", |t| t == "live").await;
        click_lesson(&c, "voip").await;
        let out = r#"#lesson-out[data-lesson="voip"][data-state="no-phone"]"#;
        assert!(text_when(&c, out, |t| t.contains("apns-lab demo")).await.contains("com.example.chat"));

        let endpoint =
            device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned()).expect("gateway endpoint");
        let mut chat = device_sim::run::AppSetup::new(APP, Sandbox);
        chat.handler = Some(device_sim::sample::chat_app());
        let phone = device_sim::run::Phone {
            lang: protocol::Lang::En,
            udid: Some("LOGIC-LESSON".into()),
            apps: vec![chat],
            web_apps: vec![],
            provider: None,
            rules: device_sim::Rules { extension_budget: Duration::from_secs(3), ..device_sim::Rules::default() },
            handler_ca: None,
        };
        tokio::spawn(device_sim::run::run_with(endpoint, phone, |_| {}));
        wait_for(Duration::from_secs(10), || {
            mock.events(Some("LOGIC-LESSON"), 10).iter().any(|e| e.kind == "online").then_some(())
        })
        .await
        .expect("online");
        let text = run_lesson(&c, "extension").await;
        assert!(text.contains("modified by extension") && text.contains("Lunch at 1?"), "{text}");
        assert!(text.contains("extension timed out: original shown"), "{text}");
        assert!(text.contains("serviceExtensionTimeWillExpire") && text.contains("mutable-content: 1"), "{text}");
        // The phone shows what the extension made of the first, and the original of the second.
        let phone = text_when(&c, r#".phone[data-udid="LOGIC-LESSON"]"#, |t| t.contains("Lunch at 1?")).await;
        assert!(phone.contains("(encrypted)"), "{phone}");
        let text = run_lesson(&c, "voip").await;
        assert!(text.contains("call reported to CallKit") && text.contains("the call from Ann"), "{text}");
        assert!(text.contains("VoIP: no call reported, app terminated") && text.contains("VoIP blocked"), "{text}");
        assert!(text.contains("Reinstalling the app clears that") && text.contains("iOS 13"), "{text}");
        // The same lesson in Chinese, on a phone whose VoIP the reinstall unblocked.
        c.find(Locator::Css(r#"#lang option[value="zh-CN"]"#)).await.expect("the switch").click().await.expect("picks");
        text_when(&c, "#devices-h", |t| t == "设备").await;
        let out = r#"#lesson-out[data-lesson="voip"]"#;
        click_lesson(&c, "voip").await;
        let text = text_when(&c, out, |t| t.contains("规则：") || t.contains("waited")).await;
        assert!(text.contains("已向 CallKit 报告来电") && text.contains("VoIP 已被停止"), "{text}");
        assert!(text.contains("重新安装 App 会清除这个状态"), "{text}");
        // The Chinese page names states and buttons in Chinese too.
        click_lesson(&c, "first").await;
        let out = r#"#lesson-out[data-lesson="first"]"#;
        let text = text_when(&c, out, |t| t.contains("规则：") || t.contains("waited")).await;
        assert!(text.contains("交给 App：已呈现") && !text.contains("presented"), "{text}");
        let buttons = text_when(&c, "#la-templates", |t| t.contains("开始")).await;
        assert!(buttons.contains("更新") && buttons.contains("结束") && !buttons.contains("start"), "{buttons}");
    }
    .await;
    c.close().await.expect("browser closes");
    mock.shutdown().await;
    result
}

/// A notification on a running phone's lock screen has an Open button: the user's tap goes
/// to the phone, the journey records `responded`, and the notification leaves the screen.
#[tokio::test(flavor = "multi_thread")]
async fn open_on_the_lock_screen_is_the_users_tap() {
    let (mock, token) = running_phone("TAP-PHONE").await;
    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&mock.ready().admin).await.expect("page loads");
        text_when(&c, "#live", |t| t == "live").await;
        let id = console_push(&mock, &token, APP, "Tap me").await;
        assert!(presented(mock.admin_addr(), &id).await);
        let button = format!(r#".phone[data-udid="TAP-PHONE"] button[data-respond="{id}"]"#);
        text_when(&c, &button, |t| t == "Open").await;
        c.find(Locator::Css(&button)).await.expect("button").click().await.expect("clicks");
        let path = format!("/api/v1/notifications/{id}");
        let mut last = String::new();
        for _ in 0..200 {
            let (_, v) = admin(mock.admin_addr(), "GET", &path, None).await;
            last = v["journey"].as_array().and_then(|j| j.last()).map(|s| s.to_string()).unwrap_or_default();
            if last.contains("responded") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(last.contains("\"responded\"") && last.contains("tapped"), "{last}");
        text_when(&c, r#".phone[data-udid="TAP-PHONE"] .lock"#, |t| !t.contains("Tap me")).await;
    }
    .await;
    c.close().await.expect("browser closes");
    mock.shutdown().await;
    result
}

/// The per-device rule is named for what it is, in both languages: the rule of early iOS
/// that the classic articles on the five steps describe, never "the seed's rules"; and the
/// Chinese page says 代次 (抹掉次数, 重装次数) for a generation, never 代数 ("algebra"),
/// and Bundle ID as Chinese developers do.
#[tokio::test(flavor = "multi_thread")]
async fn the_per_device_rule_is_named_for_what_it_is() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let (status, page) = admin(mock.admin_addr(), "GET", "/", None).await;
    assert_eq!(status, 200);
    let page = page.as_str().expect("the page's HTML").to_owned();
    for gone in ["seed's", "种子材料", "代数", "捆绑包"] {
        assert!(!page.contains(gone), "the page still says {gone:?}");
    }
    assert!(page.contains("Early iOS (per-device)") && page.contains("早期 iOS（按设备）"));
    assert!(page.contains("抹掉次数") && page.contains("重装次数") && page.contains("Bundle ID"));
    mock.shutdown().await;
}

/// A skip link to the console and one to the lessons come first in the tab order: the
/// first Tab focuses "Skip to the console", following it puts the next Tab inside the
/// console (not through hundreds of flow arrows); the links speak Chinese too.
#[tokio::test(flavor = "multi_thread")]
async fn skip_links_reach_the_console_and_the_lessons_from_the_keyboard() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&mock.ready().admin).await.expect("page loads");
        text_when(&c, "#live", |t| !t.is_empty()).await;
        let tab = "\u{E004}";
        let enter = "\u{E007}";
        c.find(Locator::Css("body")).await.expect("body").send_keys(tab).await.expect("tab");
        let focused = c.active_element().await.expect("focus");
        assert_eq!(focused.text().await.expect("text"), "Skip to the console");
        focused.send_keys(enter).await.expect("enter");
        c.active_element().await.expect("focus").send_keys(tab).await.expect("tab");
        let inside: bool = c
            .execute("return !!document.activeElement.closest('#console')", vec![])
            .await
            .expect("runs")
            .as_bool()
            .expect("bool");
        assert!(inside, "the next Tab lands in the console");
        let links = c.find_all(Locator::Css("a.skip")).await.expect("links");
        assert_eq!(links.len(), 2);
        assert_eq!(links[1].attr("href").await.expect("href").as_deref(), Some("#lessons"));
        c.find(Locator::Css(r#"#lang option[value="zh-CN"]"#)).await.expect("the switch").click().await.expect("picks");
        text_when(&c, "#devices-h", |t| t == "设备").await;
        let html: String = c
            .execute("return document.querySelector('a.skip').textContent", vec![])
            .await
            .expect("runs")
            .as_str()
            .expect("text")
            .to_owned();
        assert_eq!(html, "跳到控制台");
    }
    .await;
    c.close().await.expect("browser closes");
    mock.shutdown().await;
    result
}
