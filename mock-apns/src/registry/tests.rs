//! The registry's rules, one test per row of the lifecycle table and per answer.

use protocol::Reason;

use super::*;
use Environment::{Production, Sandbox};

const CHAT: &str = "com.example.chat";
const NEWS: &str = "com.example.news";

fn install(r: &Registry, udid: &str, bundle: &str) -> DeviceToken {
    r.register_app(udid, bundle, Sandbox, "TEAM", 1).expect("installs").0.token
}

fn route(r: &Registry, token: &DeviceToken, bundle: &str, now: u64) -> Result<(), (Reason, Option<u64>)> {
    r.route(Sandbox, token, bundle, now).map(|_| ())
}

#[test]
fn tokens_are_derived_deterministically_and_per_input() {
    let r = Registry::new(b"secret", TokenScope::PerApp);
    let a = r.derive_token(Sandbox, "UDID-1", Some(CHAT), 0, 0);
    assert_eq!(a, Registry::new(b"secret", TokenScope::PerDevice).derive_token(Sandbox, "UDID-1", Some(CHAT), 0, 0));
    for other in [
        r.derive_token(Production, "UDID-1", Some(CHAT), 0, 0),
        r.derive_token(Sandbox, "UDID-2", Some(CHAT), 0, 0),
        r.derive_token(Sandbox, "UDID-1", Some(NEWS), 0, 0),
        r.derive_token(Sandbox, "UDID-1", None, 0, 0),
        r.derive_token(Sandbox, "UDID-1", Some(CHAT), 1, 0),
        r.derive_token(Sandbox, "UDID-1", Some(CHAT), 0, 1),
        Registry::new(b"other", TokenScope::PerApp).derive_token(Sandbox, "UDID-1", Some(CHAT), 0, 0),
        // Length prefixes keep field boundaries apart.
        r.derive_token(Sandbox, "UDID-1com.example", Some(".chat"), 0, 0),
    ] {
        assert_ne!(a, other);
    }
}

/// The design's lifecycle table, row by row, for both policies.
#[test]
fn the_lifecycle_table_per_app_and_per_device() {
    for scope in [TokenScope::PerApp, TokenScope::PerDevice] {
        let per_device = scope == TokenScope::PerDevice;
        let r = Registry::new(b"secret", scope);
        let chat = install(&r, "U1", CHAT);
        let news = install(&r, "U1", NEWS);
        // Two apps on one device.
        assert_eq!(chat == news, per_device, "{scope:?}: two apps");
        // App update: unchanged.
        r.update("U1", CHAT).expect("update");
        assert_eq!(r.device("U1").expect("device").apps[0].token, chat, "{scope:?}: update");
        // Restore onto the same device: unchanged.
        r.backup("U1").expect("backup");
        r.restore("U1", None, 5).expect("restore");
        let d = r.device("U1").expect("device");
        assert_eq!((&d.apps[0].token, &d.apps[1].token), (&chat, &news), "{scope:?}: restore same");
        // Restore onto a new device: new tokens; the old device keeps its own.
        r.restore("U1", Some("U2"), 6).expect("restore elsewhere");
        let moved = r.device("U2").expect("new device");
        assert_ne!(moved.apps[0].token, chat, "{scope:?}: restore new");
        assert_eq!(route(&r, &chat, CHAT, 7), Ok(()), "{scope:?}: the old device's token still works");
        assert_eq!(route(&r, &moved.apps[0].token, CHAT, 7), Ok(()));
        // Uninstall: accepted once (APNs learns on the failed delivery), then 410.
        r.uninstall("U1", CHAT, 10).expect("uninstall");
        assert_eq!(route(&r, &chat, CHAT, 11), Ok(()), "{scope:?}: first push after uninstall");
        assert_eq!(route(&r, &chat, CHAT, 12), Err((Reason::Unregistered, Some(11))), "{scope:?}");
        if per_device {
            assert_eq!(route(&r, &news, NEWS, 12), Ok(()), "the other app keeps the shared token");
        }
        // Reinstall: per-app a new token (the old one stays 410); per-device the same.
        r.reinstall("U1", CHAT, 20).expect("reinstall");
        let again = r.device("U1").expect("device").apps[0].token.clone();
        assert_eq!(again == chat, per_device, "{scope:?}: reinstall");
        assert_eq!(route(&r, &again, CHAT, 21), Ok(()));
        if !per_device {
            assert_eq!(route(&r, &chat, CHAT, 21), Err((Reason::Unregistered, Some(11))));
        }
        // Erase: every token of the device changes; the old ones answer 410 with the
        // erase time.
        r.erase("U1", 30).expect("erase");
        let d = r.device("U1").expect("device");
        assert_eq!(d.generation, 1);
        for (app, old) in d.apps.iter().zip([&again, &news]) {
            assert_ne!(&app.token, old, "{scope:?}: erase");
            assert_eq!(route(&r, old, &app.bundle_id, 31), Err((Reason::Unregistered, Some(30))));
            assert_eq!(route(&r, &app.token, &app.bundle_id, 31), Ok(()));
        }
        // The restored device was not touched by the erase.
        assert_eq!(route(&r, &moved.apps[0].token, CHAT, 32), Ok(()));
    }
}

#[test]
fn offline_devices_report_uninstalls_when_they_return() {
    let r = Registry::new(b"secret", TokenScope::PerApp);
    let chat = install(&r, "U1", CHAT);
    r.set_online("U1", false, 1).expect("offline");
    r.uninstall("U1", CHAT, 2).expect("uninstall");
    assert_eq!(route(&r, &chat, CHAT, 3), Ok(()));
    assert_eq!(route(&r, &chat, CHAT, 4), Ok(()), "APNs still does not know");
    r.set_online("U1", true, 50).expect("online");
    assert_eq!(route(&r, &chat, CHAT, 51), Err((Reason::Unregistered, Some(50))));
}

#[test]
fn routing_answers_like_apns() {
    let r = Registry::new(b"secret", TokenScope::PerApp);
    let (chat, _) = r.register_app("U1", CHAT, Sandbox, "TEAM", 1).expect("register");
    assert_eq!(r.register_app("U1", CHAT, Sandbox, "TEAM", 2).expect("again").0, chat);
    assert_eq!(r.route(Production, &chat.token, CHAT, 3).map(|_| ()), Err((Reason::BadDeviceToken, None)));
    assert_eq!(route(&r, &chat.token, NEWS, 3), Err((Reason::DeviceTokenNotForTopic, None)));
    let unknown = DeviceToken::parse_hex(&"ab".repeat(32)).expect("hex");
    assert_eq!(route(&r, &unknown, CHAT, 3), Err((Reason::BadDeviceToken, None)));
    let short = DeviceToken::parse_hex("abcd").expect("hex");
    assert_eq!(route(&r, &short, CHAT, 3), Err((Reason::BadDeviceToken, None)));
    assert!(matches!(r.register_app("U2", CHAT, Sandbox, "OTHER", 1), Err(Error::Conflict(_))));
    assert!(r.owned_by_other_team(CHAT, "OTHER"));
    assert!(!r.owned_by_other_team(CHAT, "TEAM"));
    assert!(!r.owned_by_other_team("com.example.unknown", "TEAM"));
}

#[test]
fn bad_lifecycle_calls_are_errors_not_changes() {
    let r = Registry::new(b"secret", TokenScope::PerApp);
    install(&r, "U1", CHAT);
    assert!(matches!(r.erase("NOPE", 1), Err(Error::NotFound(_))));
    assert!(matches!(r.uninstall("U1", NEWS, 1), Err(Error::NotFound(_))));
    r.uninstall("U1", CHAT, 1).expect("uninstall");
    assert!(matches!(r.uninstall("U1", CHAT, 2), Err(Error::Conflict(_))), "double uninstall");
    assert!(matches!(r.update("U1", CHAT), Err(Error::Conflict(_))));
    assert!(matches!(r.restore("U1", None, 3), Err(Error::Conflict(_))), "no backup");
    assert!(matches!(r.set_online("NOPE", true, 1), Err(Error::NotFound(_))));
}

#[test]
fn state_round_trips_through_its_stored_form() {
    for scope in [TokenScope::PerApp, TokenScope::PerDevice] {
        let r = Registry::new(b"secret", scope);
        let chat = install(&r, "U1", CHAT);
        install(&r, "U1", NEWS);
        r.backup("U1").expect("backup");
        r.uninstall("U1", CHAT, 5).expect("uninstall");
        route(&r, &chat, CHAT, 6).expect("accepted once");
        r.erase("U1", 9).expect("erase");
        let loaded = Registry::new(b"secret", scope);
        loaded.load_device(r.stored_device("U1").expect("stored"));
        for token in r.stored_tokens("U1") {
            loaded.load_token(token);
        }
        assert_eq!(loaded.device("U1"), r.device("U1"), "{scope:?}");
        assert_eq!(route(&loaded, &chat, CHAT, 10), route(&r, &chat, CHAT, 10), "{scope:?}");
        assert_eq!(loaded.counts(), r.counts());
    }
}

#[test]
fn a_channel_activity_has_no_token_and_nothing_routes_to_it() {
    let r = Registry::new(b"secret", TokenScope::PerApp);
    install(&r, "U1", CHAT);
    let (plain, _) = r.start_activity("U1", CHAT, Sandbox, ("Score", "A1"), None, 2).expect("starts");
    let (listening, new) = r.start_activity("U1", CHAT, Sandbox, ("Score", "A2"), Some("ch"), 3).expect("starts");
    assert!(plain.token.is_some() && new);
    assert_eq!((&listening.token, listening.channel.as_deref(), listening.state()), (&None, Some("ch"), "active"));
    // The identity the registry keeps it under is no token a push can use.
    let stored = r.stored_activities("U1");
    let kept = stored.iter().find(|s| s.activity_id.as_deref() == Some("A2")).expect("kept");
    let kept = DeviceToken::from_bytes(&kept.token).expect("80 bytes");
    assert!(!r.is_activity_token(Sandbox, kept.as_bytes()));
    let routed = r.route_activity(Sandbox, &kept, CHAT, 4).map(|_| ());
    assert_eq!(routed, Err((Reason::BadDeviceToken, None)));
    // Started again (the phone reconnecting), it is the same activity, still tokenless.
    let (again, new) = r.start_activity("U1", CHAT, Sandbox, ("Score", "A2"), Some("ch"), 5).expect("starts");
    assert_eq!((again.token, new), (None, false));
    assert_eq!(r.subscribers("ch").len(), 1);
}
