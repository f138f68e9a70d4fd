//! Web Push on the dashboard, in headless Chromium: a web app added to a running phone's
//! Home Screen (subscribed with the console's VAPID key), a web push sent from the console
//! and shown on the phone and in the flow, Apple's 403 for a localhost subject, and the
//! web app's notifications turned off — in English and in Chinese.

use fantoccini::{Client, Locator};
use mock_apns::{Config, MockApns};

use crate::page::*;
use crate::support::*;

async fn fill(c: &Client, css: &str, text: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("{css}"));
    field.clear().await.expect("clears");
    field.send_keys(text).await.expect("types");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("{css}")).click().await.expect("clicks");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_app_gets_a_web_push_from_the_console() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    spawn_phone(&mock, "WEB-BROWSER", &[APP], None);
    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&mock.ready().admin).await.expect("page loads");
        text_when(&c, "#live", |t| t == "live").await;
        let phone = r#".phone[data-udid="WEB-BROWSER"]"#;
        text_when(&c, &format!("{phone} .status"), |t| t.contains("online")).await;
        // Add a web app to the Home Screen: it subscribes with the console's key.
        fill(&c, &format!("{phone} form.add-web input"), "https://news.example").await;
        click(&c, &format!("{phone} form.add-web button")).await;
        text_when(&c, &format!("{phone} .app-icon.web"), |t| t.contains("news.example") && t.contains("web app")).await;
        // The console sends to it.
        let chosen = c
            .execute(
                r##"const s = document.querySelector("#console-token");
                   const o = [...s.options].find((o) => o.value.startsWith("web:"));
                   s.value = o.value; s.dispatchEvent(new Event("change")); return o.textContent;"##,
                vec![],
            )
            .await
            .expect("a web subscription to choose");
        assert!(chosen.as_str().is_some_and(|t| t.contains("https://news.example")), "{chosen}");
        fill(&c, "#console-payload", r#"{"title":"Web test","body":"Hi from the console"}"#).await;
        click(&c, "#console-send").await;
        text_when(&c, "#console-status", |t| t.starts_with("201")).await;
        // The phone shows it, and the flow draws its step 4 and journey.
        text_when(&c, &format!("{phone} .lock .banner"), |t| {
            t.contains("Web test") && t.to_lowercase().contains("news.example")
        })
        .await;
        let note = text_when(&c, r#"#flow .note[data-state="presented"]"#, |t| t.contains("Web Push")).await;
        assert!(note.contains("201") && note.contains("Hi from the console"), "{note}");
        // Apple refuses a subject it cannot reach.
        fill(&c, "#console-subject", "mailto:admin@localhost").await;
        click(&c, "#console-send").await;
        let refused = text_when(&c, "#console-status", |t| t.starts_with("403")).await;
        assert!(refused.contains("BadJwtToken"), "{refused}");
        save_screenshot(&c, "dashboard-web-push.png").await;
        // The delivery log finds them by the web app's origin, with their journeys.
        fill(&c, "#log-query", "https://news.example").await;
        click(&c, "#log-search button").await;
        let log = text_when(&c, "#log tbody", |t| t.contains("presented") && t.contains("BadJwtToken")).await;
        assert!(log.contains("201") && log.contains("403"), "{log}");
        // Notifications off: the subscription ends.
        click(&c, &format!("{phone} button[data-web-action=\"revoke\"]")).await;
        text_when(&c, &format!("{phone} .app-icon.web"), |t| t.contains("notifications off")).await;
        // And in Chinese.
        c.execute(r#"localStorage.setItem("apns-lab-lang", "zh-CN"); location.reload();"#, vec![])
            .await
            .expect("switches language");
        text_when(&c, &format!("{phone} .app-icon.web"), |t| t.contains("通知已关闭")).await;
        text_when(&c, "#flow", |t| t.contains("Web 推送")).await;
    }
    .await;
    c.close().await.expect("browser closes");
    mock.shutdown().await;
    result
}
