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
use protocol::Environment;
use provider::server::{Clients, NotificationRequest, Provider, To, Tokens, activities};
use provider::{Auth, Client, ClientConfig, Endpoint, SharedToken, TokenSigner};
use tokio::task::JoinHandle;

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
fn phone(mock: &MockApns, name: &'static str, udid: &str, apps: &[&str], provider: &str) -> JoinHandle<()> {
    let apps = apps.iter().map(|b| device_sim::run::AppSetup::new(*b, Environment::Sandbox)).collect();
    phone_with(mock, name, udid, apps, provider)
}

/// A simulated phone with its apps set up as given.
fn phone_with(
    mock: &MockApns,
    name: &'static str,
    udid: &str,
    apps: Vec<device_sim::run::AppSetup>,
    provider: &str,
) -> JoinHandle<()> {
    let endpoint = device_sim::Endpoint::parse(&mock.ready().gateway, mock.ca_pem().to_owned())
        .expect("the gateway address is ours");
    let (udid, provider) = (udid.to_owned(), provider.to_owned());
    tokio::spawn(async move {
        let _ =
            device_sim::run::run(endpoint, Some(udid), apps, Some(provider), |line| println!("    {name} │ {line}"))
                .await;
    })
}

/// What APNs holds for an app, as the demo says it.
fn held(app: &mock_apns::AppView) -> String {
    match &app.stored {
        Some(s) => format!("apns-id {}", s.apns_id),
        None => "nothing".to_owned(),
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

/// Runs the demo; with `once`, returns when the script is done, else waits for Ctrl-C.
pub async fn run(
    once: bool,
    scope: TokenScope,
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
        ..Config::default()
    };
    let mock = MockApns::start(config).await?;
    let ready = mock.ready().clone();
    say(format!("apns-lab demo ({} tokens): APNs, a provider and two iPhones on this machine\n", scope.as_str()));
    say(format!(
        "  APNs (mock)    provider API {}  device gateway {}  admin {}",
        ready.sandbox, ready.gateway, ready.admin
    ));
    say("                 (the provider API is where providers send pushes; the device gateway is where the");
    say(
        "                 simulated iPhones connect — the stand-in for the connection every iPhone keeps open to APNs)",
    );

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
    say(format!("  provider       {provider_url}\n"));

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
                To::Token(t) => format!("token {}…", &t[..t.len().min(12)]),
                To::BundleId(b) => format!("every token of {b}"),
                To::UserId(u) => format!("every token of user {u}"),
            };
            say(format!("  provider │ [4] sends to {to}"));
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
                say("  (apns-id: the id APNs gives each notification — in its answer and in every log line about it)");
            }
            let what = match (&r.reason, r.status) {
                (None, 200) => format!("200 accepted, apns-id {}", r.apns_id.as_deref().unwrap_or("-")),
                (Some(reason), status) => {
                    format!("{status} {reason}{}", r.timestamp.map(|t| format!(" (timestamp {t})")).unwrap_or_default())
                }
                (None, status) => format!("{status}"),
            };
            say(format!("  provider │     APNs answered for {}…: {what}; token {}", &r.token[..12], r.action));
        }
    };

    say("── Steps 1–3: two iPhones register their apps and hand the tokens to the provider");
    say(match scope {
        TokenScope::PerApp => {
            "  APNs     │ [2] derives each token from the phone's UDID, the app's bundle ID and environment, and two\n\
             \x20          generations — the phone's erase counter and the app's reinstall counter: the same inputs\n\
             \x20          always give the same token, and a new generation gives a new one"
        }
        TokenScope::PerDevice => {
            "  APNs     │ [2] derives each token from the phone's UDID, the environment and the phone's generation\n\
             \x20          (its erase counter) — not the app: every app on the phone shares one token (the seed's rules)"
        }
    });
    let ann = phone(&mock, "Ann's iPhone", "ANN-IPHONE", &[CHAT, NEWS], &provider_url);
    let mut bob = phone(&mock, "Bob's iPhone", "BOB-IPHONE", &[NEWS], &provider_url);
    until("the tokens to reach the provider", || {
        let (chat, news) = (tokens_of(CHAT)(), tokens_of(NEWS)());
        async move { chat.len() == 1 && news.len() == 2 }
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(100)).await;

    say("\n── Step 4 → 5: the provider sends, APNs delivers, the phone shows it");
    show(&send(To::BundleId(CHAT.into()), alert("Bob", "Lunch at noon?")).await);
    tokio::time::sleep(Duration::from_millis(300)).await;

    say("\n── A phone that is away: APNs stores one notification per app, the latest, and delivers it on return");
    bob.abort();
    let bob_udid = "BOB-IPHONE";
    until("Bob's iPhone to go offline", || async { !mock.device(bob_udid).map(|d| d.online).unwrap_or(true) }).await?;
    say("    Bob's iPhone │ switched off");
    let bob_token = mock.device(bob_udid)?.apps[0].token.clone();
    show(&send(To::Token(bob_token.clone()), alert("News", "Morning edition")).await);
    show(&send(To::Token(bob_token.clone()), alert("News", "Evening edition")).await);
    say(format!("  APNs     │ holds for Bob's news app: {}", held(&mock.device(bob_udid)?.apps[0])));
    say("    Bob's iPhone │ switched on");
    bob = phone(&mock, "Bob's iPhone", bob_udid, &[NEWS], &provider_url);
    tokio::time::sleep(Duration::from_millis(800)).await;

    say("\n── apns-collapse-id: a newer notification replaces the one with the same id");
    let ann_chat = mock.device("ANN-IPHONE")?.apps[0].token.clone();
    for score in ["1–0", "2–0"] {
        let req = NotificationRequest {
            to: To::Token(ann_chat.clone()),
            payload: alert("Match", &format!("Score {score}")),
            push_type: None,
            priority: None,
            expiration: None,
            collapse_id: Some("match-42".into()),
        };
        show(&push(req).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    say("\n── A silent background push (content-available, priority 5): the app wakes, nothing is shown");
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

    say("\n── apns-expiration: 0 means try once: a phone that is away never gets it");
    bob.abort();
    until("Bob's iPhone to go offline", || async { !mock.device(bob_udid).map(|d| d.online).unwrap_or(true) }).await?;
    say("    Bob's iPhone │ switched off");
    let req = NotificationRequest {
        to: To::Token(bob_token.clone()),
        payload: alert("Flash sale", "Ends now"),
        push_type: None,
        priority: None,
        expiration: Some(protocol::Expiration(0)),
        collapse_id: None,
    };
    show(&push(req).await);
    say(format!(
        "  APNs     │ holds for Bob's news app: {} (discarded: try once)",
        held(&mock.device(bob_udid)?.apps[0])
    ));
    say("    Bob's iPhone │ switched on");
    bob = phone(&mock, "Bob's iPhone", bob_udid, &[NEWS], &provider_url);
    tokio::time::sleep(Duration::from_millis(500)).await;

    say("\n── Erase all content and settings: every token of the phone changes; the apps register again");
    say("  APNs     │ the phone's generation goes up by one, and it is an input of every token on it");
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
    say("  provider │ sends to every chat token it has: the new one works, the old one is pruned");
    show(&send(To::BundleId(CHAT.into()), alert("Bob", "Are you there?")).await);
    tokio::time::sleep(Duration::from_millis(300)).await;

    say("\n── Live Activities: a delivery on its way — push-to-start, three updates, an end");
    let mut food = device_sim::run::AppSetup::new(FOOD, Environment::Sandbox);
    food.activity_types = vec![DELIVERY.into()];
    let carol = phone_with(&mock, "Carol's iPhone", "CAROL-IPHONE", vec![food], &provider_url);
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
    say("  provider │ [4] starts a Live Activity on every push-to-start token of DeliveryAttributes");
    let start = activities::StartRequest {
        to: To::BundleId(FOOD.into()),
        attributes_type: DELIVERY.into(),
        attributes: json_object(serde_json::json!({"order": "A7"})),
        content_state: json_object(serde_json::json!({"status": "Order confirmed", "eta_minutes": 30})),
        alert: serde_json::json!({"title": "Your order", "body": "Confirmed — 30 min"}),
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
    for (status, eta) in [("Picked up", 20), ("Nearby", 8), ("At your door", 1)] {
        tokio::time::sleep(Duration::from_millis(300)).await;
        say(format!("  provider │ [4] updates activity {id}: {status}"));
        let change = activities::ChangeRequest {
            content_state: Some(json_object(serde_json::json!({"status": status, "eta_minutes": eta}))),
            ..Default::default()
        };
        show(&provider.change_activity(&id, change, false).await.unwrap_or_default());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    say(format!("  provider │ [4] ends activity {id}: delivered"));
    let end = activities::ChangeRequest {
        content_state: Some(json_object(serde_json::json!({"status": "Delivered", "eta_minutes": 0}))),
        ..Default::default()
    };
    show(&provider.change_activity(&id, end, true).await.unwrap_or_default());
    until("the phone to report the end to APNs", || async {
        mock.activities("CAROL-IPHONE").is_ok_and(|a| a.iter().any(|a| a.state == "ended"))
    })
    .await?;
    say("  provider │ [4] a late update: accepted once and dropped (the activity ended), then 410 and pruned");
    for _ in 0..2 {
        let late = activities::ChangeRequest {
            content_state: Some(json_object(serde_json::json!({"status": "Late", "eta_minutes": 0}))),
            ..Default::default()
        };
        show(&provider.change_activity(&id, late, false).await.unwrap_or_default());
    }
    carol.abort();

    say("\n── Broadcast (iOS 18): one request updates every phone following the match");
    let mut score = device_sim::run::AppSetup::new(SCORE, Environment::Sandbox);
    score.activity_types = vec!["MatchAttributes".into()];
    let fans = [
        phone_with(&mock, "Dan's iPhone", "DAN-IPHONE", vec![score.clone()], &provider_url),
        phone_with(&mock, "Eve's iPhone", "EVE-IPHONE", vec![score], &provider_url),
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
    say(format!("  provider │ creates a channel for the final on the channel API: {channel}"));
    let apns = client(&ready.sandbox)?;
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for t in starts() {
        say(format!(
            "  provider │ [4] starts the match on a phone, joining the channel (push-to-start {}…)",
            &t.token[..12]
        ));
        let la = provider::LiveActivity::start(
            "MatchAttributes",
            &json_object(serde_json::json!({"home": "Lyon", "away": "Porto"})),
            &json_object(serde_json::json!({"score": "0-0", "minute": 1})),
            serde_json::json!({"title": "Kick-off", "body": "Lyon – Porto"}),
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
        say(format!("  provider │ [4] one broadcast to the channel: {score} ({minute}')"));
        let sent =
            provider::broadcast::broadcast(&apns, SCORE, &channel, &la, now() + 3600, protocol::Priority::Immediate)
                .await?;
        say(format!("  provider │     APNs answered 200, apns-request-id {}, and fanned it out", sent.request_id));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for f in fans {
        f.abort();
    }

    say("\n── Uninstall: APNs learns of it only when a delivery fails on the phone");
    mock.lifecycle(bob_udid, Lifecycle::Uninstall(NEWS.into())).await?;
    say("    Bob's iPhone │ deleted the news app");
    show(&send(To::Token(bob_token.clone()), alert("News", "Breaking")).await);
    say("  provider │ (accepted: APNs did not know yet — the delivery attempt told it)");
    show(&send(To::Token(bob_token.clone()), alert("News", "Still breaking")).await);
    // Only tokens that still work count: the provider may hold one that died without a
    // push to tell it (Ann's news token before her erase).
    let live: Vec<String> = ["ANN-IPHONE", bob_udid]
        .iter()
        .filter_map(|u| mock.device(u).ok())
        .flat_map(|d| d.apps.into_iter().filter(|a| a.installed && a.bundle_id == NEWS).map(|a| a.token))
        .collect();
    let left = tokens_of(NEWS)().into_iter().filter(|t| live.contains(t)).count();
    say(format!("  provider │ news tokens that still work: {left}"));
    say("  provider │ Bob's was pruned: the 410 carries the time APNs learned the app was gone, and that is later");
    say("           │ than when the provider got the token — so it was not re-registered since, and is dead");

    if once {
        // Everything stops in a moment: no address that would be dead by the time it is opened.
        say(
            "\nThe dashboard shows all of this live while the demo runs: run `apns-lab demo` without --once and open the address it prints.",
        );
        say("Done.");
    } else {
        say(format!(
            "\nThe dashboard (all three parties, live; send pushes from its console): {}/\n\
             The admin API and the delivery log: {}/api/v1/notifications and {}/api/v1/events.",
            ready.admin, ready.admin, ready.admin
        ));
        say("Everything keeps running; press Ctrl-C to stop.");
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
