//! The demo's scenes, in the order they play: steps 1–3, step 4 → 5, a phone that is
//! away, collapse ids, a silent push, "try once", erase, a Live Activity, a broadcast,
//! uninstall, and the end.

use std::future::Future;
use std::time::Duration;

use mock_apns::{Lifecycle, TokenScope};
use protocol::{Environment, Lang, t};
use provider::server::{NotificationRequest, To, activities};

use super::{
    ANN, BOB, CHAT, DELIVERY, FOOD, NEWS, SCORE, Stage, alert, client_of, held, json_object, phone, phone_with, say,
    until,
};

/// Steps 1–3: two iPhones register their apps and hand the tokens to the provider.
pub(super) async fn register(stage: &mut Stage) -> Result<(), Box<dyn std::error::Error>> {
    let lang = stage.lang;
    say(lang.pick(
        "── Steps 1–3: two iPhones register their apps and hand the tokens to the provider",
        "── 第 1–3 步：两台 iPhone 为它们的 App 注册，并把设备令牌交给提供者服务器",
    ));
    say(match (stage.scope, lang) {
        (TokenScope::PerApp, Lang::En) => {
            "  APNs     │ [2] derives each token from the phone's UDID, the app's bundle ID and environment, and two\n\
             \x20          generations — the phone's erase counter and the app's reinstall counter: the same inputs\n\
             \x20          always give the same token, and a new generation gives a new one"
        }
        (TokenScope::PerApp, Lang::ZhCn) => {
            "  APNs     │ [2] 用手机的 UDID、App 的 Bundle ID 和环境，以及两个代次——手机的抹掉计数和 App 的\n\
             \x20          重新安装计数——推导出每个设备令牌：相同的输入总是得到相同的令牌，新的代次得到新的令牌"
        }
        (TokenScope::PerDevice, Lang::En) => {
            "  APNs     │ [2] derives each token from the phone's UDID, the environment and the phone's generation\n\
             \x20          (its erase counter) — not the app: every app on the phone shares one token (early iOS's per-device rule)"
        }
        (TokenScope::PerDevice, Lang::ZhCn) => {
            "  APNs     │ [2] 用手机的 UDID、环境和手机的代次（抹掉计数）推导出设备令牌——与 App 无关：\n\
             \x20          手机上的所有 App 共用一个令牌（早期 iOS 的按设备规则）"
        }
    });
    let (ann_name, bob_name) = stage.names();
    stage.ann = Some(phone(&stage.mock, lang, ann_name, ANN, &[CHAT, NEWS], &stage.provider_url));
    stage.bob = Some(phone(&stage.mock, lang, bob_name, BOB, &[NEWS], &stage.provider_url));
    until("the tokens to reach the provider", || {
        let (chat, news) = (stage.tokens_of(CHAT), stage.tokens_of(NEWS));
        async move { chat.len() == 1 && news.len() == 2 }
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}

/// Step 4 → 5: the provider sends, APNs delivers, the phone shows it.
pub(super) async fn deliver(stage: &Stage) {
    let lang = stage.lang;
    say(lang.pick(
        "\n── Step 4 → 5: the provider sends, APNs delivers, the phone shows it",
        "\n── 第 4 → 5 步：提供者服务器发送，APNs 送达，手机显示",
    ));
    stage.show(
        &stage.send(To::BundleId(CHAT.into()), alert("Bob", lang.pick("Lunch at noon?", "中午一起吃饭？"))).await,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// A phone that is away: APNs stores one notification per app, the latest, and
/// delivers it on return.
pub(super) async fn store_and_forward(stage: &mut Stage) -> Result<(), Box<dyn std::error::Error>> {
    let lang = stage.lang;
    say(lang.pick(
        "\n── A phone that is away: APNs stores one notification per app, the latest, and delivers it on return",
        "\n── 手机不在线：APNs 为每个 App 存储一条通知（最新的那条），手机回来时再送达",
    ));
    stage.bob_off().await?;
    let bob_token = stage.mock.device(BOB)?.apps[0].token.clone();
    let news = lang.pick("News", "新闻");
    stage.show(&stage.send(To::Token(bob_token.clone()), alert(news, lang.pick("Morning edition", "早间版"))).await);
    stage.show(&stage.send(To::Token(bob_token), alert(news, lang.pick("Evening edition", "晚间版"))).await);
    let holds = held(lang, &stage.mock.device(BOB)?.apps[0]);
    say(t!(lang, "  APNs     │ holds for Bob's news app: {holds}", "  APNs     │ 为 Bob 的新闻 App 存储着：{holds}"));
    stage.bob_on();
    tokio::time::sleep(Duration::from_millis(800)).await;
    Ok(())
}

/// apns-collapse-id: a newer notification replaces the one with the same id.
pub(super) async fn collapse(stage: &Stage) -> Result<(), Box<dyn std::error::Error>> {
    let lang = stage.lang;
    say(lang.pick(
        "\n── apns-collapse-id: a newer notification replaces the one with the same id",
        "\n── apns-collapse-id（折叠 ID）：较新的通知替换折叠 ID 相同的那条",
    ));
    let ann_chat = stage.mock.device(ANN)?.apps[0].token.clone();
    for score in ["1–0", "2–0"] {
        let req = NotificationRequest {
            to: To::Token(ann_chat.clone()),
            payload: alert(lang.pick("Match", "比赛"), &t!(lang, "Score {score}", "比分 {score}")),
            push_type: None,
            priority: None,
            expiration: None,
            collapse_id: Some("match-42".into()),
        };
        stage.show(&stage.push(req).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

/// A silent background push (content-available, priority 5): the app wakes, nothing is
/// shown.
pub(super) async fn background(stage: &Stage) -> Result<(), Box<dyn std::error::Error>> {
    let lang = stage.lang;
    say(lang.pick(
        "\n── A silent background push (content-available, priority 5): the app wakes, nothing is shown",
        "\n── 静默的后台推送（content-available，优先级 5）：App 被唤醒，不显示任何内容",
    ));
    let req = NotificationRequest {
        to: To::Token(stage.mock.device(ANN)?.apps[0].token.clone()),
        payload: serde_json::json!({"aps": {"content-available": 1}, "sync": "inbox"}),
        push_type: Some(protocol::PushType::Background),
        priority: Some(protocol::Priority::PowerConsiderate),
        expiration: None,
        collapse_id: None,
    };
    stage.show(&stage.push(req).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

/// apns-expiration: 0 means try once: a phone that is away never gets it.
pub(super) async fn try_once(stage: &mut Stage) -> Result<(), Box<dyn std::error::Error>> {
    let lang = stage.lang;
    say(lang.pick(
        "\n── apns-expiration: 0 means try once: a phone that is away never gets it",
        "\n── apns-expiration: 0 表示只尝试一次：不在线的手机永远收不到",
    ));
    stage.bob_off().await?;
    let req = NotificationRequest {
        to: To::Token(stage.mock.device(BOB)?.apps[0].token.clone()),
        payload: alert(lang.pick("Flash sale", "限时抢购"), lang.pick("Ends now", "马上结束")),
        push_type: None,
        priority: None,
        expiration: Some(protocol::Expiration(0)),
        collapse_id: None,
    };
    stage.show(&stage.push(req).await);
    let holds = held(lang, &stage.mock.device(BOB)?.apps[0]);
    say(t!(
        lang,
        "  APNs     │ holds for Bob's news app: {holds} (discarded: try once)",
        "  APNs     │ 为 Bob 的新闻 App 存储着：{holds}（已丢弃：只尝试一次）"
    ));
    stage.bob_on();
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

/// Erase all content and settings: every token of the phone changes; the apps register
/// again, and the provider prunes the old token on its first 410.
pub(super) async fn erase(stage: &Stage) -> Result<(), Box<dyn std::error::Error>> {
    let lang = stage.lang;
    say(lang.pick(
        "\n── Erase all content and settings: every token of the phone changes; the apps register again",
        "\n── 抹掉所有内容和设置：这台手机的每个设备令牌都会改变；各 App 重新注册",
    ));
    say(lang.pick(
        "  APNs     │ the phone's generation goes up by one, and it is an input of every token on it",
        "  APNs     │ 手机的代次加一，而它是这台手机上每个设备令牌的输入",
    ));
    let before = stage.tokens_of(CHAT);
    let out = stage.mock.lifecycle(ANN, Lifecycle::Erase).await?;
    for t in &out.event.tokens {
        say(format!(
            "  APNs     │ {} {}… → {}…",
            t.bundle_id,
            &t.old.clone().unwrap_or_default()[..12],
            &t.new.clone().unwrap_or_default()[..12]
        ));
    }
    until("the new chat token to reach the provider", || {
        let now = stage.tokens_of(CHAT);
        let before = before.clone();
        async move { now.iter().any(|t| !before.contains(t)) }
    })
    .await?;
    say(lang.pick(
        "  provider │ sends to every chat token it has: the new one works, the old one is pruned",
        "  提供者   │ 发送给它保存的每个聊天设备令牌：新的有效，旧的被清除",
    ));
    stage.show(&stage.send(To::BundleId(CHAT.into()), alert("Bob", lang.pick("Are you there?", "你在吗？"))).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

/// Live Activities: a delivery on its way — push-to-start, three updates, an end, and a
/// late update accepted once then 410.
pub(super) async fn live_activity(stage: &Stage) -> Result<(), Box<dyn std::error::Error>> {
    let (lang, mock, provider) = (stage.lang, &stage.mock, &stage.provider);
    say(lang.pick(
        "\n── Live Activities: a delivery on its way — push-to-start, three updates, an end",
        "\n── 实时活动：一份外卖在路上——推送启动、三次更新、一次结束",
    ));
    let mut food = device_sim::run::AppSetup::new(FOOD, Environment::Sandbox);
    food.activity_types = vec![DELIVERY.into()];
    let carol_name = lang.pick("Carol's iPhone", "Carol 的 iPhone");
    let carol = phone_with(mock, lang, carol_name, "CAROL-IPHONE", vec![food], &stage.provider_url);
    let activity_tokens = |kind: protocol::ActivityTokenKind| {
        let provider = provider.clone();
        move || {
            let list = provider.tokens.activity_tokens(Some(FOOD), None, None, None).unwrap_or_default();
            list.into_iter().filter(|t| t.kind == kind && t.state == "valid").collect::<Vec<_>>()
        }
    };
    until("the push-to-start token to reach the provider", || {
        let got = activity_tokens(protocol::ActivityTokenKind::PushToStart)();
        async move { !got.is_empty() }
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    say(lang.pick(
        "  provider │ [4] starts a Live Activity on every push-to-start token of DeliveryAttributes",
        "  提供者   │ [4] 在 DeliveryAttributes 的每个推送启动令牌上启动一个实时活动",
    ));
    let start = activities::StartRequest {
        to: To::BundleId(FOOD.into()),
        attributes_type: DELIVERY.into(),
        attributes: json_object(serde_json::json!({"order": "A7"})),
        content_state: json_object(
            serde_json::json!({"status": lang.pick("Order confirmed", "订单已确认"), "eta_minutes": 30}),
        ),
        alert: serde_json::json!({"title": lang.pick("Your order", "你的订单"), "body": lang.pick("Confirmed — 30 min", "已确认——30 分钟")}),
        stale_date: None,
        relevance_score: None,
    };
    stage.show(&provider.start_activity(start).await.unwrap_or_default());
    until("the new activity's update token to reach the provider", || {
        let got = activity_tokens(protocol::ActivityTokenKind::Update)();
        async move { !got.is_empty() }
    })
    .await?;
    let activity = activity_tokens(protocol::ActivityTokenKind::Update)().remove(0);
    let id = activity.activity_id.clone().unwrap_or_default();
    let steps = [
        (lang.pick("Picked up", "已取餐"), 20),
        (lang.pick("Nearby", "就在附近"), 8),
        (lang.pick("At your door", "已到门口"), 1),
    ];
    for (status, eta) in steps {
        tokio::time::sleep(Duration::from_millis(300)).await;
        say(t!(
            lang,
            "  provider │ [4] updates activity {id}: {status}",
            "  提供者   │ [4] 更新实时活动 {id}：{status}"
        ));
        let change = activities::ChangeRequest {
            content_state: Some(json_object(serde_json::json!({"status": status, "eta_minutes": eta}))),
            ..Default::default()
        };
        stage.show(&provider.change_activity(&id, change, false).await.unwrap_or_default());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    say(t!(lang, "  provider │ [4] ends activity {id}: delivered", "  提供者   │ [4] 结束实时活动 {id}：已送达"));
    let end = activities::ChangeRequest {
        content_state: Some(json_object(
            serde_json::json!({"status": lang.pick("Delivered", "已送达"), "eta_minutes": 0}),
        )),
        ..Default::default()
    };
    stage.show(&provider.change_activity(&id, end, true).await.unwrap_or_default());
    until("the phone to report the end to APNs", || async {
        mock.activities("CAROL-IPHONE").is_ok_and(|a| a.iter().any(|a| a.state == "ended"))
    })
    .await?;
    say(lang.pick(
        "  provider │ [4] a late update: accepted once and dropped (the activity ended), then 410 and pruned",
        "  提供者   │ [4] 一次迟到的更新：先被接受一次并丢弃（实时活动已结束），然后 410 并被清除",
    ));
    for _ in 0..2 {
        let late = activities::ChangeRequest {
            content_state: Some(json_object(
                serde_json::json!({"status": lang.pick("Late", "迟到"), "eta_minutes": 0}),
            )),
            ..Default::default()
        };
        stage.show(&provider.change_activity(&id, late, false).await.unwrap_or_default());
    }
    // Carol's phone stays on, for the dashboard's Live Activity lesson.
    stage.keep(carol);

    Ok(())
}

/// Broadcast (iOS 18): one request updates every phone following the match.
pub(super) async fn broadcast(stage: &Stage) -> Result<(), Box<dyn std::error::Error>> {
    let (lang, mock, provider) = (stage.lang, &stage.mock, &stage.provider);
    let ready = mock.ready();
    say(lang.pick(
        "\n── Broadcast (iOS 18): one request updates every phone following the match",
        "\n── 广播（iOS 18）：一个请求更新所有关注这场比赛的手机",
    ));
    let mut score = device_sim::run::AppSetup::new(SCORE, Environment::Sandbox);
    score.activity_types = vec!["MatchAttributes".into()];
    let (dan, eve) = (lang.pick("Dan's iPhone", "Dan 的 iPhone"), lang.pick("Eve's iPhone", "Eve 的 iPhone"));
    let fans = [
        phone_with(mock, lang, dan, "DAN-IPHONE", vec![score.clone()], &stage.provider_url),
        phone_with(mock, lang, eve, "EVE-IPHONE", vec![score], &stage.provider_url),
    ];
    let starts = {
        let provider = provider.clone();
        move || {
            let list = provider.tokens.activity_tokens(Some(SCORE), None, None, None).unwrap_or_default();
            list.into_iter().filter(|t| t.kind == protocol::ActivityTokenKind::PushToStart).collect::<Vec<_>>()
        }
    };
    until("both fans' push-to-start tokens to reach the provider", || {
        let n = starts().len();
        async move { n == 2 }
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let manage = client_of(mock, &ready.channels_sandbox)?;
    let channel = provider::broadcast::Channels::new(&manage, SCORE)
        .create(provider::broadcast::StoragePolicy::MostRecent)
        .await?;
    say(t!(
        lang,
        "  provider │ creates a channel for the final on the channel API: {channel}",
        "  提供者   │ 在频道管理 API 上为决赛创建一个频道：{channel}"
    ));
    let apns = client_of(mock, &ready.sandbox)?;
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for t in starts() {
        let token = &t.token[..12];
        say(t!(
            lang,
            "  provider │ [4] starts the match on a phone, joining the channel (push-to-start {token}…)",
            "  提供者   │ [4] 在一台手机上启动比赛并加入频道（推送启动令牌 {token}…）"
        ));
        let la = provider::LiveActivity::start(
            "MatchAttributes",
            &json_object(serde_json::json!({"home": "Lyon", "away": "Porto"})),
            &json_object(serde_json::json!({"score": "0-0", "minute": 1})),
            serde_json::json!({"title": lang.pick("Kick-off", "开球"), "body": "Lyon – Porto"}),
            now(),
        )?
        .input_push_channel(&channel);
        apns.send(&la.notification(t.token.clone(), SCORE)).await?;
    }
    until("both activities to join the channel", || async {
        ["DAN-IPHONE", "EVE-IPHONE"]
            .iter()
            .all(|u| mock.activities(u).is_ok_and(|a| a.iter().any(|a| a.channel.as_deref() == Some(channel.as_str()))))
    })
    .await?;
    for (score, minute) in [("1-0", 23), ("1-1", 58), ("2-1", 87)] {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let la =
            provider::LiveActivity::update(&json_object(serde_json::json!({"score": score, "minute": minute})), now())?;
        say(t!(
            lang,
            "  provider │ [4] one broadcast to the channel: {score} ({minute}')",
            "  提供者   │ [4] 向频道发出一次广播：{score}（第 {minute} 分钟）"
        ));
        let sent =
            provider::broadcast::broadcast(&apns, SCORE, &channel, &la, now() + 3600, protocol::Priority::Immediate)
                .await?;
        let request_id = sent.request_id;
        say(t!(
            lang,
            "  provider │     APNs answered 200, apns-request-id {request_id}, and fanned it out",
            "  提供者   │     APNs 回答 200，apns-request-id {request_id}，并把它分发出去"
        ));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The fans' phones stay on, for the dashboard's broadcast lesson.
    for f in fans {
        stage.keep(f);
    }

    Ok(())
}

/// Web Push (Safari, Home Screen web apps): the same five steps with no device token — a
/// subscription instead, messages encrypted for the phone and signed with VAPID.
pub(super) async fn web_push(stage: &Stage) -> Result<(), Box<dyn std::error::Error>> {
    use provider::server::web::{WebPushRequest, WebTo};
    let (lang, mock, provider) = (stage.lang, &stage.mock, &stage.provider);
    let origin = "https://news.example";
    say(lang.pick(
        "\n── Web Push (Safari, Home Screen web apps): the same five steps, with a subscription instead of a token",
        "\n── Web 推送（Safari、主屏幕网页应用）：同样的五步，只是用订阅代替了设备令牌",
    ));
    let key = provider.web.public_key().ok_or("the demo's provider has a VAPID key")?;
    let web = device_sim::run::WebAppSetup {
        origin: origin.into(),
        name: Some("News".into()),
        application_server_key: key,
        handler: None,
    };
    let fay_name = lang.pick("Fay's iPhone", "Fay 的 iPhone");
    let fay = super::phone_with_web(mock, lang, fay_name, "FAY-IPHONE", (Vec::new(), vec![web]), &stage.provider_url);
    let subscriptions = || provider.tokens.web_subscriptions(Some(origin), None, None).unwrap_or_default();
    until("Fay's web app to hand its subscription to the provider", || {
        let n = subscriptions().len();
        async move { n == 1 }
    })
    .await?;
    until("Fay's iPhone to come online", || async { mock.device("FAY-IPHONE").is_ok_and(|d| d.online) }).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let send = |title: &'static str| WebPushRequest {
        to: WebTo::Origin(origin.into()),
        payload: serde_json::json!({"title": lang.pick("News", "新闻"), "body": title}),
        ttl: Some(3600),
        urgency: Some("high".into()),
        topic: None,
    };
    let show = |results: Vec<provider::server::web::WebSendResult>| {
        for r in results {
            let what = match (&r.reason, r.status) {
                (None, status) => format!("{status} apns-id {}", r.apns_id.as_deref().unwrap_or("-")),
                (Some(reason), status) => format!("{status} {reason}"),
            };
            let done = match (lang, r.action) {
                (Lang::En, action) => action,
                (_, "deleted") => "已删除",
                _ => "保留",
            };
            say(t!(
                lang,
                "  provider │     Apple's Web Push service answered: {what}; subscription {done}",
                "  提供者   │     Apple 的 Web 推送服务回答：{what}；订阅：{done}"
            ));
        }
    };
    say(t!(
        lang,
        "  provider │ [4] sends a web push to {origin}'s subscriptions: encrypted for each phone (aes128gcm), signed with VAPID",
        "  提供者   │ [4] 向 {origin} 的订阅发送 Web 推送：为每台手机加密（aes128gcm），用 VAPID 签名"
    ));
    show(provider.send_web(send(lang.pick("Evening edition online", "晚间版已上线"))).await?);
    tokio::time::sleep(Duration::from_millis(300)).await;
    mock.remove_web_app("FAY-IPHONE", origin).await?;
    say(t!(
        lang,
        "    {fay_name} │ removed the web app from the Home Screen",
        "    {fay_name} │ 把网页应用从主屏幕上移除了"
    ));
    say(lang.pick("  provider │ [4] sends again", "  提供者   │ [4] 再次发送"));
    show(provider.send_web(send(lang.pick("Late edition", "深夜版"))).await?);
    let left = subscriptions().len();
    say(t!(lang, "  provider │ web subscriptions left: {left}", "  提供者   │ 剩下的网页订阅：{left} 个"));
    stage.keep(fay);
    Ok(())
}

/// Uninstall: APNs learns of it only when a delivery fails on the phone; the provider
/// prunes the token on the 410 that follows.
pub(super) async fn uninstall(stage: &Stage) -> Result<(), Box<dyn std::error::Error>> {
    let (lang, mock) = (stage.lang, &stage.mock);
    let (bob_name, news) = (stage.names().1, lang.pick("News", "新闻"));
    let bob_token = mock.device(BOB)?.apps[0].token.clone();
    say(lang.pick(
        "\n── Uninstall: APNs learns of it only when a delivery fails on the phone",
        "\n── 卸载：只有当一次送达在手机上失败时，APNs 才知道",
    ));
    mock.lifecycle(BOB, Lifecycle::Uninstall(NEWS.into())).await?;
    say(t!(lang, "    {bob_name} │ deleted the news app", "    {bob_name} │ 删除了新闻 App"));
    stage.show(&stage.send(To::Token(bob_token.clone()), alert(news, lang.pick("Breaking", "突发"))).await);
    say(lang.pick(
        "  provider │ (accepted: APNs did not know yet — the delivery attempt told it)",
        "  提供者   │ （已接受：APNs 当时还不知道——是这次送达尝试告诉了它）",
    ));
    stage.show(&stage.send(To::Token(bob_token.clone()), alert(news, lang.pick("Still breaking", "仍在突发"))).await);
    // Only tokens that still work count: the provider may hold one that died without a
    // push to tell it (Ann's news token before her erase).
    let live: Vec<String> = [ANN, BOB]
        .iter()
        .filter_map(|u| mock.device(u).ok())
        .flat_map(|d| d.apps.into_iter().filter(|a| a.installed && a.bundle_id == NEWS).map(|a| a.token))
        .collect();
    let left = stage.tokens_of(NEWS).into_iter().filter(|t| live.contains(t)).count();
    say(t!(lang, "  provider │ news tokens that still work: {left}", "  提供者   │ 仍然有效的新闻设备令牌：{left} 个"));
    say(lang.pick(
        "  provider │ Bob's was pruned: the 410 carries the time APNs learned the app was gone, and that is later\n\
         \x20          │ than when the provider got the token — so it was not re-registered since, and is dead",
        "  提供者   │ Bob 的令牌被清除了：410 带有 APNs 得知 App 已不在的时间，它晚于提供者服务器收到该令牌的\n\
         \x20          │ 时间——所以此后没有重新注册过，这个令牌已经失效",
    ));

    Ok(())
}

/// The end: with `once`, done; else where to look, and everything keeps running until
/// `stop`.
pub(super) async fn finale(stage: &Stage, once: bool, stop: impl Future<Output = ()>) {
    let lang = stage.lang;
    if once {
        // Everything stops in a moment: no address that would be dead by the time it is opened.
        say(lang.pick(
            "\nThe dashboard shows all of this live while the demo runs: run `apns-lab demo` without --once and open the address it prints.",
            "\n演示运行时，仪表板会实时显示这一切：不带 --once 运行 `apns-lab demo`，然后打开它打印的地址。",
        ));
        say(lang.pick("Done.", "完成。"));
    } else {
        let admin = &stage.mock.ready().admin;
        say(t!(
            lang,
            "\nThe dashboard (all three parties, live; send pushes from its console): {admin}/\n\
             The admin API and the delivery log: {admin}/api/v1/notifications and {admin}/api/v1/events.",
            "\n仪表板（三方都在，实时；可从它的控制台发送推送）：{admin}/\n\
             管理 API 和送达日志：{admin}/api/v1/notifications 和 {admin}/api/v1/events。"
        ));
        say(lang.pick("Everything keeps running; press Ctrl-C to stop.", "一切保持运行；按 Ctrl-C 停止。"));
        stop.await;
    }
}
