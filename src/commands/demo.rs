//! `apns-lab demo`: the whole flow on one machine, narrated — the mock APNs, the provider
//! server and two simulated iPhones in one process — then the cases people get wrong:
//! a phone that is away (store and forward, one per app), collapse ids, a silent push,
//! "try once" expiry, erase (new tokens, re-registration), a Live Activity (push-to-start,
//! three updates, an end, a late update accepted once then 410), a broadcast (one
//! request updating two phones' activities on a channel), and uninstall (the first
//! push still accepted, then 410, then the provider prunes the token).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mock_apns::{Config, Lifecycle, MockApns, TokenScope};
use protocol::{Environment, Lang, t};
use provider::server::{Clients, NotificationRequest, Provider, To, Tokens, activities};
use provider::{Auth, Client, ClientConfig, Endpoint, SharedToken, TokenSigner};
use tokio::task::JoinHandle;

use crate::cli::{parse_lang, parse_scope};

const CHAT: &str = "com.example.chat";
const NEWS: &str = "com.example.news";
const FOOD: &str = "com.example.food";
const SCORE: &str = "com.example.score";
const DELIVERY: &str = "DeliveryAttributes";

/// Prints a narration line.
fn say(line: impl AsRef<str>) {
    println!("{}", line.as_ref());
}

/// Waits (at most 10 s) until `check` holds.
async fn until<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) -> Result<(), String> {
    for _ in 0..1000 {
        if check().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!("the demo waited 10 s for {what}"))
}

/// A simulated phone running in the background, printing what it shows.
fn phone(mock: &MockApns, lang: Lang, name: &'static str, udid: &str, apps: &[&str], provider: &str) -> JoinHandle<()> {
    let apps = apps.iter().map(|b| device_sim::run::AppSetup::new(*b, Environment::Sandbox)).collect();
    phone_with(mock, lang, name, udid, apps, provider)
}

/// A simulated phone with its apps set up as given.
fn phone_with(
    mock: &MockApns,
    lang: Lang,
    name: &'static str,
    udid: &str,
    apps: Vec<device_sim::run::AppSetup>,
    provider: &str,
) -> JoinHandle<()> {
    let endpoint = device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned())
        .expect("the gateway address is ours");
    let (udid, provider) = (udid.to_owned(), provider.to_owned());
    tokio::spawn(async move {
        let print = move |line| println!("    {name} │ {line}");
        let _ = device_sim::run::run_in(lang, endpoint, Some(udid), apps, Some(provider), print).await;
    })
}

/// What the provider did with a token after APNs's answer, in `lang`.
fn action(lang: Lang, action: &str) -> String {
    if lang == Lang::En {
        return action.to_owned();
    }
    match action {
        "kept" => "保留".into(),
        "deleted" => "已删除".into(),
        "marked-invalid" => "标记为无效".into(),
        "not registered" => "未登记".into(),
        other if other.starts_with("kept (") => "保留（在 APNs 的时间戳之后重新登记过）".into(),
        other => other.to_owned(),
    }
}

/// What APNs holds for an app, as the demo says it.
fn held(lang: Lang, app: &mock_apns::AppView) -> String {
    match &app.stored {
        Some(s) => format!("apns-id {}", s.apns_id),
        None => lang.pick("nothing", "无").to_owned(),
    }
}

fn json_object(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(o) => o,
        _ => serde_json::Map::new(),
    }
}

fn alert(title: &str, body: &str) -> serde_json::Value {
    serde_json::json!({"aps": {"alert": {"title": title, "body": body}, "sound": "default"}})
}

/// How the demo runs.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Run the script once and exit (instead of staying up until Ctrl-C).
    #[arg(long)]
    pub(crate) once: bool,
    /// per-app (today's iOS) or per-device (the seed's rules).
    #[arg(long, default_value = "per-app", value_parser = parse_scope)]
    pub(crate) token_scope: TokenScope,
    /// The narration's and the dashboard's language: en or zh-CN [default: from the
    /// locale, LC_ALL / LC_MESSAGES / LANG].
    #[arg(long, value_parser = parse_lang)]
    pub(crate) lang: Option<Lang>,
}

/// Runs the demo until Ctrl-C or SIGTERM (with `--once`, until its script is done).
pub(crate) async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let lang = args.lang.unwrap_or_else(Lang::from_env);
    play(args.once, args.token_scope, lang, async {
        crate::cli::wait_for_signal().await;
    })
    .await
}

/// Runs the demo; with `once`, returns when the script is done, else waits for `stop`.
async fn play(
    once: bool,
    scope: TokenScope,
    lang: Lang,
    stop: impl Future<Output = ()>,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("apns-lab-demo-{}-{}", std::process::id(), scope.as_str()));
    let _ = std::fs::remove_dir_all(&dir);
    let any = "127.0.0.1:0".parse()?;
    let config = Config {
        data_dir: Some(dir.clone()),
        sandbox_addr: any,
        production_addr: any,
        admin_addr: any,
        gateway_addr: any,
        token_scope: scope,
        lang,
        ..Config::default()
    };
    let mock = MockApns::start(config).await?;
    let ready = mock.ready().clone();
    let scope_name = scope.as_str();
    say(t!(
        lang,
        "apns-lab demo ({scope_name} tokens): APNs, a provider and two iPhones on this machine\n",
        "apns-lab 演示（{scope_name} 令牌）：APNs、一个提供者服务器和两台 iPhone，都在这台机器上\n"
    ));
    let (sandbox, gateway, admin) = (&ready.sandbox, &ready.gateway, &ready.admin);
    say(t!(
        lang,
        "  APNs (mock)    provider API {sandbox}  device gateway {gateway}  admin {admin}",
        "  APNs（模拟）   提供者 API {sandbox}  设备网关 {gateway}  管理 {admin}"
    ));
    say(lang.pick(
        "                 (the provider API is where providers send pushes; the device gateway is where the\n\
         \x20                simulated iPhones connect — the stand-in for the connection every iPhone keeps open to APNs)",
        "                 （提供者 API：提供者服务器在这里发送推送；设备网关：模拟的 iPhone 在这里连接——\n\
         \x20                代替每台 iPhone 与 APNs 之间一直保持的那条连接）",
    ));

    // The provider: its server, and its client to APNs (the team's .p8, a JWT).
    // One client per environment: a token is only known to its own.
    let client = |url: &str| -> Result<Client, Box<dyn std::error::Error>> {
        let signer = TokenSigner::new(mock.key_p8().as_bytes(), mock.key_id(), mock.team_id())?;
        let endpoint = Endpoint::custom(url, Some(mock.ca_pem().to_owned()))?;
        Ok(Client::new(ClientConfig::new(endpoint, Auth::token(signer, SharedToken::DEFAULT_REFRESH_SECS)))?)
    };
    let clients = Clients { sandbox: Some(client(&ready.sandbox)?), production: Some(client(&ready.production)?) };
    let channel_clients = Clients {
        sandbox: Some(client(&ready.channels_sandbox)?),
        production: Some(client(&ready.channels_production)?),
    };
    let provider = Arc::new(Provider { tokens: Tokens::open(None)?, clients, channel_clients });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let provider_url = format!("http://{}/v1/registrations", listener.local_addr()?);
    let (stop_provider, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(provider::server::run(listener, provider.clone(), async {
        let _ = stopped.await;
    }));
    say(t!(lang, "  provider       {provider_url}\n", "  提供者服务器   {provider_url}\n"));

    let tokens_of = |bundle: &'static str| {
        let provider = provider.clone();
        move || {
            let list = provider.tokens.list(None, Some(bundle), None).unwrap_or_default();
            list.into_iter().filter(|r| r.state == "valid").map(|r| r.token).collect::<Vec<_>>()
        }
    };
    // Step 4 is said before the request goes out, so it reads before the phone's step 5
    // even when the phone shows the notification before APNs's answer is back.
    let push = |req: NotificationRequest| {
        let provider = provider.clone();
        async move {
            let to = match &req.to {
                To::Token(token) => {
                    let token = &token[..token.len().min(12)];
                    t!(lang, "token {token}…", "设备令牌 {token}…")
                }
                To::BundleId(b) => t!(lang, "every token of {b}", "{b} 的每个设备令牌"),
                To::UserId(u) => t!(lang, "every token of user {u}", "用户 {u} 的每个设备令牌"),
            };
            say(t!(lang, "  provider │ [4] sends to {to}", "  提供者   │ [4] 发送给：{to}"));
            provider.send(req).await.unwrap_or_default()
        }
    };
    let send = |to: To, payload: serde_json::Value| {
        push(NotificationRequest { to, payload, push_type: None, priority: None, expiration: None, collapse_id: None })
    };
    let apns_id_told = std::sync::atomic::AtomicBool::new(false);
    let show = |results: &[provider::server::SendResult]| {
        for r in results {
            if r.apns_id.is_some() && !apns_id_told.swap(true, std::sync::atomic::Ordering::Relaxed) {
                say(lang.pick(
                    "  (apns-id: the id APNs gives each notification — in its answer and in every log line about it)",
                    "  （apns-id：APNs 给每条通知的 ID——出现在它的回答和每一行相关日志里）",
                ));
            }
            let what = match (&r.reason, r.status) {
                (None, 200) => {
                    let id = r.apns_id.as_deref().unwrap_or("-");
                    t!(lang, "200 accepted, apns-id {id}", "200 已接受，apns-id {id}")
                }
                (Some(reason), status) => {
                    let when =
                        r.timestamp.map(|ts| t!(lang, " (timestamp {ts})", "（时间戳 {ts}）")).unwrap_or_default();
                    format!("{status} {reason}{when}")
                }
                (None, status) => format!("{status}"),
            };
            let (token, done) = (&r.token[..12], action(lang, &r.action));
            say(t!(
                lang,
                "  provider │     APNs answered for {token}…: {what}; token {done}",
                "  提供者   │     APNs 对 {token}… 的回答：{what}；设备令牌：{done}"
            ));
        }
    };

    say(lang.pick(
        "── Steps 1–3: two iPhones register their apps and hand the tokens to the provider",
        "── 第 1–3 步：两台 iPhone 为它们的 App 注册，并把设备令牌交给提供者服务器",
    ));
    say(match (scope, lang) {
        (TokenScope::PerApp, Lang::En) => {
            "  APNs     │ [2] derives each token from the phone's UDID, the app's bundle ID and environment, and two\n\
             \x20          generations — the phone's erase counter and the app's reinstall counter: the same inputs\n\
             \x20          always give the same token, and a new generation gives a new one"
        }
        (TokenScope::PerApp, Lang::ZhCn) => {
            "  APNs     │ [2] 用手机的 UDID、App 的捆绑包 ID 和环境，以及两个代数——手机的抹掉计数和 App 的\n\
             \x20          重新安装计数——推导出每个设备令牌：相同的输入总是得到相同的令牌，新的代数得到新的令牌"
        }
        (TokenScope::PerDevice, Lang::En) => {
            "  APNs     │ [2] derives each token from the phone's UDID, the environment and the phone's generation\n\
             \x20          (its erase counter) — not the app: every app on the phone shares one token (the seed's rules)"
        }
        (TokenScope::PerDevice, Lang::ZhCn) => {
            "  APNs     │ [2] 用手机的 UDID、环境和手机的代数（抹掉计数）推导出设备令牌——与 App 无关：\n\
             \x20          手机上的所有 App 共用一个令牌（种子材料里的规则）"
        }
    });
    let (ann_name, bob_name) = (lang.pick("Ann's iPhone", "Ann 的 iPhone"), lang.pick("Bob's iPhone", "Bob 的 iPhone"));
    let ann = phone(&mock, lang, ann_name, "ANN-IPHONE", &[CHAT, NEWS], &provider_url);
    let mut bob = phone(&mock, lang, bob_name, "BOB-IPHONE", &[NEWS], &provider_url);
    until("the tokens to reach the provider", || {
        let (chat, news) = (tokens_of(CHAT)(), tokens_of(NEWS)());
        async move { chat.len() == 1 && news.len() == 2 }
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(100)).await;

    say(lang.pick(
        "\n── Step 4 → 5: the provider sends, APNs delivers, the phone shows it",
        "\n── 第 4 → 5 步：提供者服务器发送，APNs 送达，手机显示",
    ));
    show(&send(To::BundleId(CHAT.into()), alert("Bob", lang.pick("Lunch at noon?", "中午一起吃饭？"))).await);
    tokio::time::sleep(Duration::from_millis(300)).await;

    say(lang.pick(
        "\n── A phone that is away: APNs stores one notification per app, the latest, and delivers it on return",
        "\n── 手机不在线：APNs 为每个 App 存储一条通知（最新的那条），手机回来时再送达",
    ));
    bob.abort();
    let bob_udid = "BOB-IPHONE";
    until("Bob's iPhone to go offline", || async { !mock.device(bob_udid).map(|d| d.online).unwrap_or(true) }).await?;
    say(t!(lang, "    {bob_name} │ switched off", "    {bob_name} │ 已关机"));
    let bob_token = mock.device(bob_udid)?.apps[0].token.clone();
    let news = lang.pick("News", "新闻");
    show(&send(To::Token(bob_token.clone()), alert(news, lang.pick("Morning edition", "早间版"))).await);
    show(&send(To::Token(bob_token.clone()), alert(news, lang.pick("Evening edition", "晚间版"))).await);
    let holds = held(lang, &mock.device(bob_udid)?.apps[0]);
    say(t!(lang, "  APNs     │ holds for Bob's news app: {holds}", "  APNs     │ 为 Bob 的新闻 App 存储着：{holds}"));
    say(t!(lang, "    {bob_name} │ switched on", "    {bob_name} │ 已开机"));
    bob = phone(&mock, lang, bob_name, bob_udid, &[NEWS], &provider_url);
    tokio::time::sleep(Duration::from_millis(800)).await;

    say(lang.pick(
        "\n── apns-collapse-id: a newer notification replaces the one with the same id",
        "\n── apns-collapse-id（折叠 ID）：较新的通知替换折叠 ID 相同的那条",
    ));
    let ann_chat = mock.device("ANN-IPHONE")?.apps[0].token.clone();
    for score in ["1–0", "2–0"] {
        let req = NotificationRequest {
            to: To::Token(ann_chat.clone()),
            payload: alert(lang.pick("Match", "比赛"), &t!(lang, "Score {score}", "比分 {score}")),
            push_type: None,
            priority: None,
            expiration: None,
            collapse_id: Some("match-42".into()),
        };
        show(&push(req).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    say(lang.pick(
        "\n── A silent background push (content-available, priority 5): the app wakes, nothing is shown",
        "\n── 静默的后台推送（content-available，优先级 5）：App 被唤醒，不显示任何内容",
    ));
    let req = NotificationRequest {
        to: To::Token(ann_chat.clone()),
        payload: serde_json::json!({"aps": {"content-available": 1}, "sync": "inbox"}),
        push_type: Some(protocol::PushType::Background),
        priority: Some(protocol::Priority::PowerConsiderate),
        expiration: None,
        collapse_id: None,
    };
    show(&push(req).await);
    tokio::time::sleep(Duration::from_millis(300)).await;

    say(lang.pick(
        "\n── apns-expiration: 0 means try once: a phone that is away never gets it",
        "\n── apns-expiration: 0 表示只尝试一次：不在线的手机永远收不到",
    ));
    bob.abort();
    until("Bob's iPhone to go offline", || async { !mock.device(bob_udid).map(|d| d.online).unwrap_or(true) }).await?;
    say(t!(lang, "    {bob_name} │ switched off", "    {bob_name} │ 已关机"));
    let req = NotificationRequest {
        to: To::Token(bob_token.clone()),
        payload: alert(lang.pick("Flash sale", "限时抢购"), lang.pick("Ends now", "马上结束")),
        push_type: None,
        priority: None,
        expiration: Some(protocol::Expiration(0)),
        collapse_id: None,
    };
    show(&push(req).await);
    let holds = held(lang, &mock.device(bob_udid)?.apps[0]);
    say(t!(
        lang,
        "  APNs     │ holds for Bob's news app: {holds} (discarded: try once)",
        "  APNs     │ 为 Bob 的新闻 App 存储着：{holds}（已丢弃：只尝试一次）"
    ));
    say(t!(lang, "    {bob_name} │ switched on", "    {bob_name} │ 已开机"));
    bob = phone(&mock, lang, bob_name, bob_udid, &[NEWS], &provider_url);
    tokio::time::sleep(Duration::from_millis(500)).await;

    say(lang.pick(
        "\n── Erase all content and settings: every token of the phone changes; the apps register again",
        "\n── 抹掉所有内容和设置：这台手机的每个设备令牌都会改变；各 App 重新注册",
    ));
    say(lang.pick(
        "  APNs     │ the phone's generation goes up by one, and it is an input of every token on it",
        "  APNs     │ 手机的代数加一，而它是这台手机上每个设备令牌的输入",
    ));
    let before = tokens_of(CHAT)();
    let out = mock.lifecycle("ANN-IPHONE", Lifecycle::Erase).await?;
    for t in &out.event.tokens {
        say(format!(
            "  APNs     │ {} {}… → {}…",
            t.bundle_id,
            &t.old.clone().unwrap_or_default()[..12],
            &t.new.clone().unwrap_or_default()[..12]
        ));
    }
    until("the new chat token to reach the provider", || {
        let now = tokens_of(CHAT)();
        let before = before.clone();
        async move { now.iter().any(|t| !before.contains(t)) }
    })
    .await?;
    say(lang.pick(
        "  provider │ sends to every chat token it has: the new one works, the old one is pruned",
        "  提供者   │ 发送给它保存的每个聊天设备令牌：新的有效，旧的被清除",
    ));
    show(&send(To::BundleId(CHAT.into()), alert("Bob", lang.pick("Are you there?", "你在吗？"))).await);
    tokio::time::sleep(Duration::from_millis(300)).await;

    say(lang.pick(
        "\n── Live Activities: a delivery on its way — push-to-start, three updates, an end",
        "\n── 实时活动：一份外卖在路上——推送启动、三次更新、一次结束",
    ));
    let mut food = device_sim::run::AppSetup::new(FOOD, Environment::Sandbox);
    food.activity_types = vec![DELIVERY.into()];
    let carol_name = lang.pick("Carol's iPhone", "Carol 的 iPhone");
    let carol = phone_with(&mock, lang, carol_name, "CAROL-IPHONE", vec![food], &provider_url);
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
    show(&provider.start_activity(start).await.unwrap_or_default());
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
        show(&provider.change_activity(&id, change, false).await.unwrap_or_default());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    say(t!(lang, "  provider │ [4] ends activity {id}: delivered", "  提供者   │ [4] 结束实时活动 {id}：已送达"));
    let end = activities::ChangeRequest {
        content_state: Some(json_object(
            serde_json::json!({"status": lang.pick("Delivered", "已送达"), "eta_minutes": 0}),
        )),
        ..Default::default()
    };
    show(&provider.change_activity(&id, end, true).await.unwrap_or_default());
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
        show(&provider.change_activity(&id, late, false).await.unwrap_or_default());
    }
    carol.abort();

    say(lang.pick(
        "\n── Broadcast (iOS 18): one request updates every phone following the match",
        "\n── 广播（iOS 18）：一个请求更新所有关注这场比赛的手机",
    ));
    let mut score = device_sim::run::AppSetup::new(SCORE, Environment::Sandbox);
    score.activity_types = vec!["MatchAttributes".into()];
    let (dan, eve) = (lang.pick("Dan's iPhone", "Dan 的 iPhone"), lang.pick("Eve's iPhone", "Eve 的 iPhone"));
    let fans = [
        phone_with(&mock, lang, dan, "DAN-IPHONE", vec![score.clone()], &provider_url),
        phone_with(&mock, lang, eve, "EVE-IPHONE", vec![score], &provider_url),
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
    let manage = client(&ready.channels_sandbox)?;
    let channel = provider::broadcast::Channels::new(&manage, SCORE)
        .create(provider::broadcast::StoragePolicy::MostRecent)
        .await?;
    say(t!(
        lang,
        "  provider │ creates a channel for the final on the channel API: {channel}",
        "  提供者   │ 在频道管理 API 上为决赛创建一个频道：{channel}"
    ));
    let apns = client(&ready.sandbox)?;
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
    for f in fans {
        f.abort();
    }

    say(lang.pick(
        "\n── Uninstall: APNs learns of it only when a delivery fails on the phone",
        "\n── 卸载：只有当一次送达在手机上失败时，APNs 才知道",
    ));
    mock.lifecycle(bob_udid, Lifecycle::Uninstall(NEWS.into())).await?;
    say(t!(lang, "    {bob_name} │ deleted the news app", "    {bob_name} │ 删除了新闻 App"));
    show(&send(To::Token(bob_token.clone()), alert(news, lang.pick("Breaking", "突发"))).await);
    say(lang.pick(
        "  provider │ (accepted: APNs did not know yet — the delivery attempt told it)",
        "  提供者   │ （已接受：APNs 当时还不知道——是这次送达尝试告诉了它）",
    ));
    show(&send(To::Token(bob_token.clone()), alert(news, lang.pick("Still breaking", "仍在突发"))).await);
    // Only tokens that still work count: the provider may hold one that died without a
    // push to tell it (Ann's news token before her erase).
    let live: Vec<String> = ["ANN-IPHONE", bob_udid]
        .iter()
        .filter_map(|u| mock.device(u).ok())
        .flat_map(|d| d.apps.into_iter().filter(|a| a.installed && a.bundle_id == NEWS).map(|a| a.token))
        .collect();
    let left = tokens_of(NEWS)().into_iter().filter(|t| live.contains(t)).count();
    say(t!(lang, "  provider │ news tokens that still work: {left}", "  提供者   │ 仍然有效的新闻设备令牌：{left} 个"));
    say(lang.pick(
        "  provider │ Bob's was pruned: the 410 carries the time APNs learned the app was gone, and that is later\n\
         \x20          │ than when the provider got the token — so it was not re-registered since, and is dead",
        "  提供者   │ Bob 的令牌被清除了：410 带有 APNs 得知 App 已不在的时间，它晚于提供者服务器收到该令牌的\n\
         \x20          │ 时间——所以此后没有重新注册过，这个令牌已经失效",
    ));

    if once {
        // Everything stops in a moment: no address that would be dead by the time it is opened.
        say(lang.pick(
            "\nThe dashboard shows all of this live while the demo runs: run `apns-lab demo` without --once and open the address it prints.",
            "\n演示运行时，仪表板会实时显示这一切：不带 --once 运行 `apns-lab demo`，然后打开它打印的地址。",
        ));
        say(lang.pick("Done.", "完成。"));
    } else {
        let admin = &ready.admin;
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
    ann.abort();
    bob.abort();
    let _ = stop_provider.send(());
    let _ = (ann.await, bob.await);
    mock.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
