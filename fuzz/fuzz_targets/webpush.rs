//! Fuzz target: what a Web Push sender controls before the mock verifies anything — the
//! `Authorization: vapid t=…, k=…` header and its key, `TTL`, `Urgency`, `Topic`, the VAPID
//! subject, the aes128gcm header — and a phone decrypting a body with its keys. None may
//! panic; what is accepted must hold to the rules it was accepted by.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::webpush::{self, Urgency};

/// A phone's keys (RFC 8291's Appendix A), to decrypt whatever comes.
const UA_PRIVATE: [u8; 32] = [
    0xab, 0x57, 0x57, 0xa7, 0x0d, 0xd4, 0xa5, 0x3e, 0x55, 0x3a, 0x6b, 0xbf, 0x71, 0xff, 0xef, 0xea, 0x28, 0x74, 0xec,
    0x07, 0xa6, 0xb3, 0x79, 0xe3, 0xc4, 0x8f, 0x89, 0x5a, 0x02, 0xdc, 0x33, 0xde,
];

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(vapid) = webpush::parse_authorization(Some(text)) {
            assert!(!vapid.t.is_empty());
            if let Ok(key) = webpush::public_key(vapid.k) {
                assert_eq!((key.len(), key[0]), (65, 4));
            }
        }
        if let Ok(ttl) = webpush::ttl(Some(text)) {
            assert!(ttl <= webpush::MAX_TTL_SECS);
        }
        if let Ok(u) = Urgency::parse(Some(text)) {
            assert_eq!(Urgency::parse(Some(u.as_str())), Ok(u));
        }
        if webpush::check_topic(text).is_ok() {
            assert!(text.len() <= webpush::MAX_TOPIC && text.len() % 4 != 1);
        }
        let _ = webpush::subject_ok(text);
        let _ = webpush::content_encoding_ok(Some(text), data.len());
    }
    if let Ok(header) = webpush::aes128gcm_header(data) {
        assert_eq!((header.salt.len(), header.keyid.len()), (16, 65));
        assert!(header.record.len() <= header.rs as usize);
        let ua_public = [4u8; 65];
        let _ = protocol::ece::decrypt(data, &UA_PRIVATE, &ua_public, &[0u8; 16]);
    }
});
