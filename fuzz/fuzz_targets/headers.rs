//! Fuzz target: every header value a provider sends, parsed as the mock parses it — the
//! device token in the path, the topic, push type, priority, expiration, collapse id,
//! apns-id and reason strings. None may panic; what parses must print back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{ApnsId, CollapseId, DeviceToken, Expiration, Priority, PushType, Reason, Topic};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(token) = DeviceToken::parse_hex(text) {
        assert_eq!(DeviceToken::parse_hex(&token.to_hex()).ok().as_ref(), Some(&token));
    }
    if let Ok(topic) = Topic::parse(text) {
        assert_eq!(topic.as_str(), text);
        let _ = PushType::implied_by(&topic);
    }
    let _ = text.parse::<PushType>();
    if let Ok(p) = text.parse::<Priority>() {
        assert_eq!(p.to_string().parse::<Priority>().ok(), Some(p));
    }
    let _ = text.parse::<Expiration>();
    let _ = CollapseId::new(text);
    if let Ok(id) = ApnsId::parse(text) {
        assert_eq!(id.as_str(), text);
    }
    if let Ok(r) = text.parse::<Reason>() {
        assert_eq!(r.as_str(), text);
    }
});
