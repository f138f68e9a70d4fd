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

use mock_apns::{Config, MockApns, TokenScope};
use protocol::{Environment, Lang, t};
use provider::server::{Clients, NotificationRequest, Provider, To, Tokens};
use provider::{Auth, Client, ClientConfig, Endpoint, SharedToken, TokenSigner};
use tokio::task::JoinHandle;

use crate::common::{parse_lang, parse_scope};

mod scenes;
use scenes::*;

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
    let apps = apps
        .iter()
        .map(|b| {
            let mut app = device_sim::run::AppSetup::new(*b, Environment::Sandbox);
            // The chat app runs logic of its own (its extension, its PushKit handler), for
            // the dashboard's lessons on iOS's rules.
            if *b == CHAT {
                app.handler = Some(device_sim::sample::chat_app());
            }
            app
        })
        .collect();
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
    phone_with_web(mock, lang, name, udid, (apps, Vec::new()), provider)
}

/// A simulated phone with apps and web apps on its Home Screen.
fn phone_with_web(
    mock: &MockApns,
    lang: Lang,
    name: &'static str,
    udid: &str,
    (apps, web_apps): (Vec<device_sim::run::AppSetup>, Vec<device_sim::run::WebAppSetup>),
    provider: &str,
) -> JoinHandle<()> {
    let endpoint = device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned())
        .expect("the gateway address is ours");
    let (udid, provider) = (udid.to_owned(), provider.to_owned());
    tokio::spawn(async move {
        let print = move |line| println!("    {name} │ {line}");
        // Extensions get 3 s here (iOS: about 30), so a lesson can show one running out.
        let rules = device_sim::Rules { extension_budget: Duration::from_secs(3), ..device_sim::Rules::default() };
        let (udid, provider) = (Some(udid), Some(provider));
        let phone = device_sim::run::Phone { lang, udid, apps, web_apps, provider, rules, handler_ca: None };
        let _ = device_sim::run::run_with(endpoint, phone, print).await;
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
    /// per-app (today's iOS) or per-device (the per-device rule of early iOS).
    #[arg(long, default_value = "per-app", value_parser = parse_scope)]
    pub(crate) token_scope: TokenScope,
    /// The narration's and the dashboard's language: en or zh-CN [default: from the
    /// locale, LC_ALL / LC_MESSAGES / LANG].
    #[arg(long, value_parser = parse_lang)]
    pub(crate) lang: Option<Lang>,
}

/// Where the demo's log lines go (the terminal is the narration's): one file per run.
pub(crate) fn log_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("apns-lab-demo-{}.log", std::process::id()))
}

/// Runs the demo until Ctrl-C or SIGTERM (with `--once`, until its script is done).
pub(crate) async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let lang = args.lang.unwrap_or_else(Lang::from_env);
    play(args.once, args.token_scope, lang, async {
        crate::common::wait_for_signal().await;
    })
    .await
}

/// The demo's phones that come and go across scenes.
const ANN: &str = "ANN-IPHONE";
const BOB: &str = "BOB-IPHONE";

/// Runs the demo; with `once`, returns when the script is done, else waits for `stop`.
/// One scene after another, each a function below.
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
    let (mut stage, stop_provider) = Stage::open(mock, lang, scope).await?;
    register(&mut stage).await?;
    deliver(&stage).await;
    store_and_forward(&mut stage).await?;
    collapse(&stage).await?;
    background(&stage).await?;
    try_once(&mut stage).await?;
    erase(&stage).await?;
    live_activity(&stage).await?;
    broadcast(&stage).await?;
    web_push(&stage).await?;
    uninstall(&stage).await?;
    finale(&stage, once, stop).await;
    let kept = std::mem::take(&mut *stage.kept.lock().unwrap_or_else(|e| e.into_inner()));
    for phone in [stage.ann.take(), stage.bob.take()].into_iter().flatten().chain(kept) {
        phone.abort();
        let _ = phone.await;
    }
    let _ = stop_provider.send(());
    stage.mock.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// What every scene works with: the mock, the provider, the language, Ann's and Bob's
/// phones.
struct Stage {
    mock: MockApns,
    lang: Lang,
    scope: TokenScope,
    provider: Arc<Provider>,
    provider_url: String,
    /// Whether the narration has said what an apns-id is.
    apns_id_told: std::sync::atomic::AtomicBool,
    ann: Option<JoinHandle<()>>,
    bob: Option<JoinHandle<()>>,
    /// The phones of the later scenes (Carol's, the fans', Fay's), kept running until
    /// the demo stops, so the dashboard's lessons find phones that really receive.
    kept: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Stage {
    /// Says where everything is, and starts the provider: its server, and its client to
    /// APNs (the team's .p8, a JWT), one per environment, since a token is only known to
    /// its own. Answers the stage and what stops the provider.
    async fn open(
        mock: MockApns,
        lang: Lang,
        scope: TokenScope,
    ) -> Result<(Stage, tokio::sync::oneshot::Sender<()>), Box<dyn std::error::Error>> {
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
        let client = |url: &str| client_of(&mock, url);
        let clients = Clients { sandbox: Some(client(&ready.sandbox)?), production: Some(client(&ready.production)?) };
        let channel_clients = Clients {
            sandbox: Some(client(&ready.channels_sandbox)?),
            production: Some(client(&ready.channels_production)?),
        };
        // The provider's VAPID key, for the web apps it sends Web Push to.
        let vapid = provider::webpush::Vapid::generate("mailto:demo@example.com")?;
        let web = provider::server::web::WebPush::new(vapid, Some(mock.ca_pem()))?;
        let provider = Arc::new(Provider { tokens: Tokens::open(None)?, clients, channel_clients, web });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let provider_url = format!("http://{}/v1/registrations", listener.local_addr()?);
        let (stop_provider, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(provider::server::run(listener, provider.clone(), async {
            let _ = stopped.await;
        }));
        say(t!(lang, "  provider       {provider_url}", "  提供者服务器   {provider_url}"));
        let log = log_path();
        let log = log.display();
        say(t!(
            lang,
            "  log            {log} (every party's log lines; this terminal tells the story)\n",
            "  日志           {log}（各方的日志行；这个终端只讲述过程）\n"
        ));
        let stage = Stage {
            mock,
            lang,
            scope,
            provider,
            provider_url,
            apns_id_told: Default::default(),
            ann: None,
            bob: None,
            kept: Default::default(),
        };
        Ok((stage, stop_provider))
    }

    fn names(&self) -> (&'static str, &'static str) {
        (self.lang.pick("Ann's iPhone", "Ann 的 iPhone"), self.lang.pick("Bob's iPhone", "Bob 的 iPhone"))
    }

    /// The provider's valid tokens for an app.
    fn tokens_of(&self, bundle: &str) -> Vec<String> {
        let list = self.provider.tokens.list(None, Some(bundle), None).unwrap_or_default();
        list.into_iter().filter(|r| r.state == "valid").map(|r| r.token).collect()
    }

    /// Step 4, said before the request goes out, so it reads before the phone's step 5
    /// even when the phone shows the notification before APNs's answer is back.
    async fn push(&self, req: NotificationRequest) -> Vec<provider::server::SendResult> {
        let lang = self.lang;
        let to = match &req.to {
            To::Token(token) => {
                let token = &token[..token.len().min(12)];
                t!(lang, "token {token}…", "设备令牌 {token}…")
            }
            To::BundleId(b) => t!(lang, "every token of {b}", "{b} 的每个设备令牌"),
            To::UserId(u) => t!(lang, "every token of user {u}", "用户 {u} 的每个设备令牌"),
        };
        say(t!(lang, "  provider │ [4] sends to {to}", "  提供者   │ [4] 发送给：{to}"));
        self.provider.send(req).await.unwrap_or_default()
    }

    /// A push with APNs's defaults.
    async fn send(&self, to: To, payload: serde_json::Value) -> Vec<provider::server::SendResult> {
        self.push(NotificationRequest {
            to,
            payload,
            push_type: None,
            priority: None,
            expiration: None,
            collapse_id: None,
        })
        .await
    }

    /// What APNs answered, and what the provider did with each token.
    fn show(&self, results: &[provider::server::SendResult]) {
        let lang = self.lang;
        for r in results {
            if r.apns_id.is_some() && !self.apns_id_told.swap(true, std::sync::atomic::Ordering::Relaxed) {
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
    }

    /// Keeps a phone running until the demo stops.
    fn keep(&self, phone: JoinHandle<()>) {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).push(phone);
    }

    /// Bob's phone goes away (switched off), once APNs sees it offline.
    async fn bob_off(&mut self) -> Result<(), String> {
        if let Some(bob) = self.bob.take() {
            bob.abort();
        }
        let mock = &self.mock;
        until("Bob's iPhone to go offline", || async { !mock.device(BOB).map(|d| d.online).unwrap_or(true) }).await?;
        let bob_name = self.names().1;
        say(t!(self.lang, "    {bob_name} │ switched off", "    {bob_name} │ 已关机"));
        Ok(())
    }

    /// Bob's phone comes back.
    fn bob_on(&mut self) {
        let bob_name = self.names().1;
        say(t!(self.lang, "    {bob_name} │ switched on", "    {bob_name} │ 已开机"));
        self.bob = Some(phone(&self.mock, self.lang, bob_name, BOB, &[NEWS], &self.provider_url));
    }
}

/// A provider client for one of the mock's listeners, with its default key.
fn client_of(mock: &MockApns, url: &str) -> Result<Client, Box<dyn std::error::Error>> {
    let signer = TokenSigner::new(mock.key_p8().as_bytes(), mock.key_id(), mock.team_id())?;
    let endpoint = Endpoint::custom(url, Some(mock.ca_pem().to_owned()))?;
    Ok(Client::new(ClientConfig::new(endpoint, Auth::token(signer, SharedToken::DEFAULT_REFRESH_SECS)))?)
}
