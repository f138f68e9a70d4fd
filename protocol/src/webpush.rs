//! Web Push as Apple's push service (`web.push.apple.com`) reads a request: the reasons
//! it answers with and their statuses, and the pure parts of its checks — the VAPID
//! `Authorization` header (RFC 8292), `TTL`, `Urgency` and `Topic` (RFC 8030), the VAPID
//! subject Apple refuses, and the aes128gcm header (RFC 8188). What each rule rests on,
//! documented, observed or chosen, is written beside it.

use std::fmt;

use base64::Engine as _;

/// The longest Apple keeps a message: 30 days, in seconds. A larger `TTL` is cut to it
/// (RFC 8030 §5.2: the answer then carries the `TTL` used).
pub const MAX_TTL_SECS: u64 = 30 * 24 * 60 * 60;

/// The largest request body Apple takes (RFC 8030 §7.2: 4096 bytes must be accepted;
/// Apple refuses "over the limit of 4 KB").
pub const MAX_BODY: usize = 4096;

/// The most characters a `Topic` may have (RFC 8030 §5.4).
pub const MAX_TOPIC: usize = 32;

/// A Web Push error, as Apple names it, with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebPushReason {
    /// 403: no `Authorization`, or the VAPID JWT is malformed, not ES256 with a raw
    /// signature, does not verify with `k`, or its `aud`, `exp` or `sub` is refused.
    BadJwtToken,
    /// 400: an `Authorization` scheme other than `vapid` (status chosen: Apple gives none).
    BadAuthorizationHeader,
    /// 400: `k` missing, not base64url, or not a 65-byte uncompressed P-256 point (status
    /// chosen, as for `VapidPkHashMismatch`).
    BadVapidPublicKey,
    /// 400 (observed): `k` is not the key the subscription was made with.
    VapidPkHashMismatch,
    /// 400: `TTL` missing or not a number of seconds.
    BadTtl,
    /// 400: `Urgency` is not `very-low`, `low`, `normal` or `high`.
    BadUrgency,
    /// 400 (observed): `Topic` longer than 32, outside base64url, or of a length ≡ 1 mod 4.
    BadWebPushTopic,
    /// 400: a body without `Content-Encoding: aes128gcm`, or whose aes128gcm header is
    /// malformed.
    BadWebPushRequest,
    /// 404: no push resource at this path.
    BadPath,
    /// 405: a method other than POST.
    MethodNotAllowed,
    /// 410: the subscription ended. Apple names no reason; APNs's reason with the same
    /// wording ("The device token has expired") is used.
    ExpiredToken,
    /// 413: a body over 4096 bytes.
    PayloadTooLarge,
    /// 429: too many requests to one subscription.
    TooManyRequests,
    /// 500.
    InternalServerError,
    /// 503.
    ServiceUnavailable,
}

impl WebPushReason {
    /// Every reason.
    pub const ALL: [WebPushReason; 15] = [
        WebPushReason::BadJwtToken,
        WebPushReason::BadAuthorizationHeader,
        WebPushReason::BadVapidPublicKey,
        WebPushReason::VapidPkHashMismatch,
        WebPushReason::BadTtl,
        WebPushReason::BadUrgency,
        WebPushReason::BadWebPushTopic,
        WebPushReason::BadWebPushRequest,
        WebPushReason::BadPath,
        WebPushReason::MethodNotAllowed,
        WebPushReason::ExpiredToken,
        WebPushReason::PayloadTooLarge,
        WebPushReason::TooManyRequests,
        WebPushReason::InternalServerError,
        WebPushReason::ServiceUnavailable,
    ];

    /// The reason as Apple spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            WebPushReason::BadJwtToken => "BadJwtToken",
            WebPushReason::BadAuthorizationHeader => "BadAuthorizationHeader",
            WebPushReason::BadVapidPublicKey => "BadVapidPublicKey",
            WebPushReason::VapidPkHashMismatch => "VapidPkHashMismatch",
            WebPushReason::BadTtl => "BadTtl",
            WebPushReason::BadUrgency => "BadUrgency",
            WebPushReason::BadWebPushTopic => "BadWebPushTopic",
            WebPushReason::BadWebPushRequest => "BadWebPushRequest",
            WebPushReason::BadPath => "BadPath",
            WebPushReason::MethodNotAllowed => "MethodNotAllowed",
            WebPushReason::ExpiredToken => "ExpiredToken",
            WebPushReason::PayloadTooLarge => "PayloadTooLarge",
            WebPushReason::TooManyRequests => "TooManyRequests",
            WebPushReason::InternalServerError => "InternalServerError",
            WebPushReason::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    /// The HTTP status it is answered with.
    pub const fn status(self) -> u16 {
        match self {
            WebPushReason::BadJwtToken => 403,
            WebPushReason::BadAuthorizationHeader
            | WebPushReason::BadVapidPublicKey
            | WebPushReason::VapidPkHashMismatch
            | WebPushReason::BadTtl
            | WebPushReason::BadUrgency
            | WebPushReason::BadWebPushTopic
            | WebPushReason::BadWebPushRequest => 400,
            WebPushReason::BadPath => 404,
            WebPushReason::MethodNotAllowed => 405,
            WebPushReason::ExpiredToken => 410,
            WebPushReason::PayloadTooLarge => 413,
            WebPushReason::TooManyRequests => 429,
            WebPushReason::InternalServerError => 500,
            WebPushReason::ServiceUnavailable => 503,
        }
    }

    /// The answer's body: `{"reason":…}`.
    pub fn to_json(self) -> String {
        format!(r#"{{"reason":"{}"}}"#, self.as_str())
    }
}

impl fmt::Display for WebPushReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Authorization: vapid t=<JWT>, k=<key>` as a sender signs it (RFC 8292): an ES256 JWT
/// with a raw signature for pushes to `aud` (the endpoint's origin) until `exp`, from
/// `sub`. `None` if the key cannot sign.
pub fn vapid_authorization(key: &aws_lc_rs::signature::EcdsaKeyPair, aud: &str, exp: u64, sub: &str) -> Option<String> {
    use aws_lc_rs::signature::KeyPair as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let claims = serde_json::json!({"aud": aud, "exp": exp, "sub": sub});
    let input = format!("{}.{}", b64(br#"{"typ":"JWT","alg":"ES256"}"#), b64(claims.to_string().as_bytes()));
    let signature = key.sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes()).ok()?;
    Some(format!("vapid t={input}.{}, k={}", b64(signature.as_ref()), b64(key.public_key().as_ref())))
}

/// The parameters of `Authorization: vapid t=<JWT>, k=<key>` (RFC 8292 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vapid<'a> {
    /// The JWT.
    pub t: &'a str,
    /// The application server's public key, base64url (checked by [`public_key`]).
    pub k: &'a str,
}

/// Reads the `Authorization` header. web-push separates the parameters with ", " and
/// pywebpush with ","; the order of the parameters and the case of the scheme do not
/// matter (RFC 9110). `None` (no header) is BadJwtToken, "the JWT is missing" (observed
/// status 403); another scheme — `Bearer`, the legacy `WebPush <jwt>` — is
/// BadAuthorizationHeader; a missing `t` is BadJwtToken and a missing `k`
/// BadVapidPublicKey, as for a bad one of each.
pub fn parse_authorization(header: Option<&str>) -> Result<Vapid<'_>, WebPushReason> {
    let header = header.ok_or(WebPushReason::BadJwtToken)?.trim();
    let (scheme, params) = header.split_once([' ', '\t']).unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("vapid") {
        return Err(WebPushReason::BadAuthorizationHeader);
    }
    let (mut t, mut k) = (None, None);
    for param in params.split(',') {
        let Some((name, value)) = param.split_once('=') else {
            if param.trim().is_empty() {
                continue;
            }
            return Err(WebPushReason::BadAuthorizationHeader);
        };
        let value = value.trim().trim_matches('"');
        match name.trim().to_ascii_lowercase().as_str() {
            "t" => t = Some(value),
            "k" => k = Some(value),
            _ => {} // unknown parameters are ignored (RFC 9110 auth-params)
        }
    }
    let k = k.ok_or(WebPushReason::BadVapidPublicKey)?;
    let t = t.filter(|t| !t.is_empty()).ok_or(WebPushReason::BadJwtToken)?;
    Ok(Vapid { t, k })
}

/// base64url without padding (padding is tolerated), as VAPID and the subscription's
/// keys are written.
pub fn base64url(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// `k` as a 65-byte uncompressed P-256 point (`04 ‖ x ‖ y`); whether it is on the curve is
/// checked when the JWT's signature is verified with it.
pub fn public_key(k: &str) -> Result<Vec<u8>, WebPushReason> {
    let key = base64url(k).ok_or(WebPushReason::BadVapidPublicKey)?;
    if key.len() != 65 || key[0] != 4 {
        return Err(WebPushReason::BadVapidPublicKey);
    }
    Ok(key)
}

/// `TTL`: required, 1*DIGIT seconds (RFC 8030 §5.2); a larger value than Apple keeps is
/// cut to 30 days. `0` is accepted — RFC 8030 allows it and pywebpush sends it by
/// default — although Apple's text says "positive number" (chosen).
pub fn ttl(value: Option<&str>) -> Result<u64, WebPushReason> {
    let value = value.map(str::trim).filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
    let value = value.ok_or(WebPushReason::BadTtl)?;
    // Digits only: a value too long for u64 is a very long time, cut like the others.
    Ok(value.parse::<u64>().unwrap_or(u64::MAX).min(MAX_TTL_SECS))
}

/// `Urgency` (RFC 8030 §5.3), in the order a device delivers pending messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Urgency {
    /// `very-low`.
    VeryLow,
    /// `low`.
    Low,
    /// `normal`, the default.
    #[default]
    Normal,
    /// `high`.
    High,
}

impl Urgency {
    /// The header's value, absent meaning `normal`. ABNF strings are case-insensitive,
    /// so `HIGH` is accepted (chosen; Apple's behaviour is unknown).
    pub fn parse(value: Option<&str>) -> Result<Urgency, WebPushReason> {
        let Some(value) = value else { return Ok(Urgency::Normal) };
        match value.trim().to_ascii_lowercase().as_str() {
            "very-low" => Ok(Urgency::VeryLow),
            "low" => Ok(Urgency::Low),
            "normal" => Ok(Urgency::Normal),
            "high" => Ok(Urgency::High),
            _ => Err(WebPushReason::BadUrgency),
        }
    }

    /// The header's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// `Topic` (RFC 8030 §5.4): at most 32 characters of the base64url alphabet. Apple also
/// refuses a length ≡ 1 (mod 4) — it seems to decode the value as base64url, and no
/// base64 text has such a length (observed: 5 and 13 refused, 12 accepted). Other
/// lengths that are not a multiple of 4 are accepted (chosen: not observed).
pub fn check_topic(topic: &str) -> Result<(), WebPushReason> {
    let ok = !topic.is_empty()
        && topic.len() <= MAX_TOPIC
        && topic.len() % 4 != 1
        && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(WebPushReason::BadWebPushTopic) }
}

/// Whether `Content-Encoding` says aes128gcm (case-insensitive); required with a body.
pub fn content_encoding_ok(value: Option<&str>, body_len: usize) -> bool {
    match value {
        Some(v) => v.trim().eq_ignore_ascii_case("aes128gcm"),
        None => body_len == 0,
    }
}

/// A VAPID `sub` Apple accepts: `mailto:` an address, or an `https:` URL, whose host can
/// be reached from the internet. Refused (observed, all BadJwtToken): no `sub`, another
/// scheme, `mailto: <addr>` with a space, and hosts `localhost` (or `*.localhost`),
/// `*.local`, `*.invalid`; by the same reasoning (chosen) `*.test`, `*.example` and a
/// host without a dot. `example.com` is accepted.
pub fn subject_ok(sub: &str) -> bool {
    if sub.contains([' ', '<', '>']) {
        return false;
    }
    let host = if let Some(address) = sub.strip_prefix("mailto:") {
        match address.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() => domain,
            _ => return false,
        }
    } else if let Some(rest) = sub.strip_prefix("https://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        host.split(':').next().unwrap_or("")
    } else {
        return false;
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let refused_suffix = ["localhost", "local", "invalid", "test", "example"]
        .iter()
        .any(|s| host == *s || host.ends_with(&format!(".{s}")));
    !host.is_empty() && host.contains('.') && !refused_suffix
}

/// The aes128gcm content-coding header (RFC 8188 §2.1) of a Web Push message
/// (RFC 8291 §4): `salt(16) ‖ rs(4) ‖ idlen(1) ‖ keyid(idlen)`, the key id being the
/// sender's ephemeral P-256 public key (65 bytes), then one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aes128GcmHeader<'a> {
    /// The salt.
    pub salt: &'a [u8],
    /// The record size.
    pub rs: u32,
    /// The sender's ephemeral public key.
    pub keyid: &'a [u8],
    /// The one record: ciphertext and its 16-byte tag.
    pub record: &'a [u8],
}

/// Reads the header, checking what RFC 8291 fixes: a 65-byte uncompressed point as the
/// key id, a record size of at least 18, and exactly one record no longer than it and
/// holding at least a tag and the padding delimiter. Apple's checks here are unknown;
/// a body that fails is BadWebPushRequest (chosen). A body that passes and still cannot
/// be decrypted is the device's business: the sender gets 201, as from Apple.
pub fn aes128gcm_header(body: &[u8]) -> Result<Aes128GcmHeader<'_>, WebPushReason> {
    let bad = WebPushReason::BadWebPushRequest;
    if body.len() < 21 {
        return Err(bad);
    }
    let rs = u32::from_be_bytes([body[16], body[17], body[18], body[19]]);
    let idlen = usize::from(body[20]);
    let keyid = body.get(21..21 + idlen).ok_or(bad)?;
    let record = &body[21 + idlen..];
    if idlen != 65 || keyid[0] != 4 || rs < 18 || record.len() < 17 || record.len() > rs as usize {
        return Err(bad);
    }
    Ok(Aes128GcmHeader { salt: &body[..16], rs, keyid, record })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_status() {
        let statuses: Vec<(&str, u16)> = WebPushReason::ALL.iter().map(|r| (r.as_str(), r.status())).collect();
        assert!(statuses.contains(&("BadJwtToken", 403)));
        assert!(statuses.contains(&("VapidPkHashMismatch", 400)));
        assert!(statuses.contains(&("ExpiredToken", 410)));
        assert!(statuses.contains(&("PayloadTooLarge", 413)));
        assert_eq!(WebPushReason::BadWebPushTopic.to_json(), r#"{"reason":"BadWebPushTopic"}"#);
    }

    #[test]
    fn both_spellings_of_the_vapid_header_parse() {
        let web_push = parse_authorization(Some("vapid t=a.b.c, k=BKey")).expect("web-push's");
        let pywebpush = parse_authorization(Some("vapid t=a.b.c,k=BKey")).expect("pywebpush's");
        let reordered = parse_authorization(Some("VAPID k=BKey, t=a.b.c")).expect("any order, any case");
        assert_eq!((web_push.t, web_push.k), ("a.b.c", "BKey"));
        assert_eq!(web_push, pywebpush);
        assert_eq!(web_push, reordered);
        assert_eq!(parse_authorization(None), Err(WebPushReason::BadJwtToken));
        assert_eq!(parse_authorization(Some("Bearer x")), Err(WebPushReason::BadAuthorizationHeader));
        assert_eq!(parse_authorization(Some("WebPush a.b.c")), Err(WebPushReason::BadAuthorizationHeader));
        assert_eq!(parse_authorization(Some("vapid t=a.b.c")), Err(WebPushReason::BadVapidPublicKey));
        assert_eq!(parse_authorization(Some("vapid k=BKey")), Err(WebPushReason::BadJwtToken));
    }

    #[test]
    fn the_public_key_is_an_uncompressed_point() {
        let point = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([4u8; 65]);
        assert_eq!(public_key(&point).map(|k| k.len()), Ok(65));
        let compressed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([2u8; 33]);
        assert_eq!(public_key(&compressed), Err(WebPushReason::BadVapidPublicKey));
        assert_eq!(public_key("not base64!"), Err(WebPushReason::BadVapidPublicKey));
    }

    #[test]
    fn ttl_urgency_topic_and_encoding() {
        assert_eq!(ttl(Some("60")), Ok(60));
        assert_eq!(ttl(Some("0")), Ok(0), "pywebpush's default");
        assert_eq!(ttl(Some("99999999999")), Ok(MAX_TTL_SECS), "cut to 30 days");
        for bad in [None, Some(""), Some("abc"), Some("-1"), Some("1.5")] {
            assert_eq!(ttl(bad), Err(WebPushReason::BadTtl), "{bad:?}");
        }
        assert_eq!(Urgency::parse(None), Ok(Urgency::Normal));
        assert_eq!(Urgency::parse(Some("HIGH")), Ok(Urgency::High));
        assert_eq!(Urgency::parse(Some("urgent")), Err(WebPushReason::BadUrgency));
        assert!(Urgency::VeryLow < Urgency::High);
        // Observed: 12 accepted; 5, 13 and 37 refused.
        assert_eq!(check_topic("neueangebote"), Ok(()));
        for bad in ["spike", "neue-angebote", "frenz-ai-done", &format!("rest-{}", "a".repeat(32)), "a b", ""] {
            assert_eq!(check_topic(bad), Err(WebPushReason::BadWebPushTopic), "{bad:?}");
        }
        assert_eq!(check_topic(&"a".repeat(32)), Ok(()));
        assert!(content_encoding_ok(Some("AES128GCM"), 10));
        assert!(!content_encoding_ok(Some("aesgcm"), 10));
        assert!(!content_encoding_ok(None, 10));
        assert!(content_encoding_ok(None, 0), "no body, no encoding");
    }

    #[test]
    fn subjects_apple_refuses() {
        for ok in ["mailto:ops@example.com", "mailto:me@gmail.com", "https://push.example.org", "https://a.ts.net/x"] {
            assert!(subject_ok(ok), "{ok}");
        }
        for bad in [
            "mailto:admin@localhost",
            "mailto:me@box.local",
            "mailto:me@x.invalid",
            "https://localhost",
            "https://app.localhost:8443",
            "mailto: me@example.com",
            "mailto:<me@example.com>",
            "http://example.com",
            "me@example.com",
            "mailto:me@intranet",
            "",
        ] {
            assert!(!subject_ok(bad), "{bad}");
        }
    }

    #[test]
    fn the_aes128gcm_header() {
        let mut body = vec![7u8; 16];
        body.extend_from_slice(&4096u32.to_be_bytes());
        body.push(65);
        body.push(4);
        body.extend_from_slice(&[1u8; 64]);
        body.extend_from_slice(&[9u8; 40]);
        let h = aes128gcm_header(&body).expect("well formed");
        assert_eq!((h.salt.len(), h.rs, h.keyid.len(), h.record.len()), (16, 4096, 65, 40));
        let mut short_key = body.clone();
        short_key[20] = 33;
        assert_eq!(aes128gcm_header(&short_key), Err(WebPushReason::BadWebPushRequest));
        assert_eq!(aes128gcm_header(&body[..30]), Err(WebPushReason::BadWebPushRequest));
        let mut small_rs = body.clone();
        small_rs[16..20].copy_from_slice(&20u32.to_be_bytes());
        assert_eq!(aes128gcm_header(&small_rs), Err(WebPushReason::BadWebPushRequest), "two records");
    }
}
