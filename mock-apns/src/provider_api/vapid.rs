//! A Web Push sender's VAPID JWT (RFC 8292 §2), checked as Apple checks it: ES256 with a
//! raw `r ‖ s` signature that verifies with the `k` the request carries, `aud` the
//! endpoint's origin, `exp` within the next 24 hours, and a `sub` Apple can reach. Every
//! failure is BadJwtToken (403). A JWT that verified once is remembered until its `exp`,
//! since senders re-use one for many pushes (Apple asks them to refresh at most hourly).

use std::sync::Mutex;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use hashbrown::HashMap;
use protocol::webpush::{WebPushReason, base64url, subject_ok};

/// The latest `exp` accepted: 24 hours ahead, with a minute for clocks that differ.
const MAX_AHEAD_SECS: u64 = 24 * 60 * 60 + 60;
/// How many verified JWTs are remembered (the oldest go first once full).
const CACHE_LIMIT: usize = 10_000;

/// What a JWT was verified for: the JWT, the key, the audience.
type VerifiedFor = (String, Vec<u8>, String);

/// The same, borrowed from the request: a push looks the cache up without copying them
/// (a tuple of `&str`, `&[u8]`, `&str` hashes as the owned one does).
#[derive(Hash)]
struct Looked<'a>(&'a str, &'a [u8], &'a str);

impl hashbrown::Equivalent<VerifiedFor> for Looked<'_> {
    fn equivalent(&self, key: &VerifiedFor) -> bool {
        self.0 == key.0 && self.1 == key.1.as_slice() && self.2 == key.2
    }
}

/// JWTs already verified, and their `exp`.
#[derive(Default)]
pub(crate) struct Verified {
    seen: Mutex<HashMap<VerifiedFor, u64>>,
}

impl Verified {
    /// Checks `jwt` for a push to an endpoint of `audience`'s origin, signed with `key`
    /// (the 65-byte point from `k`), at `now` (UNIX seconds).
    pub(crate) fn check(&self, jwt: &str, key: &[u8], audience: &str, now: u64) -> Result<(), WebPushReason> {
        let looked = Looked(jwt, key, audience);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&exp) = seen.get(&looked) {
            if exp >= now {
                return Ok(());
            }
            seen.remove(&looked);
            return Err(WebPushReason::BadJwtToken);
        }
        drop(seen);
        let exp = verify(jwt, key, audience, now)?;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= CACHE_LIMIT {
            seen.retain(|_, e| *e >= now);
            if seen.len() >= CACHE_LIMIT {
                seen.clear();
            }
        }
        seen.insert((jwt.to_owned(), key.to_vec(), audience.to_owned()), exp);
        Ok(())
    }

    /// Forgets every JWT (a reset).
    pub(crate) fn clear(&self) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The whole check, uncached; answers `exp`.
pub(crate) fn verify(jwt: &str, key: &[u8], audience: &str, now: u64) -> Result<u64, WebPushReason> {
    let bad = WebPushReason::BadJwtToken;
    let mut parts = jwt.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    let header: serde_json::Value = base64url(header).and_then(|h| serde_json::from_slice(&h).ok()).ok_or(bad)?;
    if header["alg"] != "ES256" {
        return Err(bad); // HS256, none, RS256…
    }
    // Raw r ‖ s, 64 bytes: a DER signature (as some JWT libraries make) is refused.
    let signature = base64url(signature).filter(|s| s.len() == 64).ok_or(bad)?;
    let signed = &jwt[..jwt.len() - jwt.rsplit('.').next().map_or(0, str::len) - 1];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key).verify(signed.as_bytes(), &signature).map_err(|_| bad)?;
    let claims: serde_json::Value = base64url(claims).and_then(|c| serde_json::from_slice(&c).ok()).ok_or(bad)?;
    // `aud`: the endpoint's origin exactly — `https://host[:port]`, no path; a trailing
    // slash is refused (chosen: an origin has none).
    if claims["aud"].as_str() != Some(audience) {
        return Err(bad);
    }
    let exp = claims["exp"].as_u64().ok_or(bad)?;
    if exp < now || exp > now + MAX_AHEAD_SECS {
        return Err(bad);
    }
    if !claims["sub"].as_str().is_some_and(subject_ok) {
        return Err(bad);
    }
    Ok(exp)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine as _;

    use super::*;

    const AUD: &str = "https://127.0.0.1:2200";
    const NOW: u64 = 1_800_000_000;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn key() -> EcdsaKeyPair {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("key")
    }

    fn jwt(pair: &EcdsaKeyPair, header: serde_json::Value, claims: serde_json::Value) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig = pair.sign(&SystemRandom::new(), input.as_bytes()).expect("signs");
        format!("{input}.{}", b64(sig.as_ref()))
    }

    fn claims(aud: &str, exp: u64, sub: &str) -> serde_json::Value {
        serde_json::json!({"aud": aud, "exp": exp, "sub": sub})
    }

    #[test]
    fn a_sender_s_jwt_verifies_and_is_remembered() {
        let pair = key();
        let k = pair.public_key().as_ref().to_vec();
        let t = jwt(
            &pair,
            serde_json::json!({"typ": "JWT", "alg": "ES256"}),
            claims(AUD, NOW + 12 * 3600, "mailto:ops@example.com"),
        );
        let verified = Verified::default();
        assert_eq!(verified.check(&t, &k, AUD, NOW), Ok(()));
        // The borrowed look-up finds what was stored owned (they hash alike).
        assert!(verified.seen.lock().expect("lock").get(&Looked(&t, &k, AUD)).is_some(), "cached");
        assert!(verified.seen.lock().expect("lock").get(&Looked(&t, &k, "https://other")).is_none());
        assert_eq!(verified.check(&t, &k, AUD, NOW + 60), Ok(()), "from the cache");
        assert_eq!(verified.check(&t, &k, AUD, NOW + 13 * 3600), Err(WebPushReason::BadJwtToken), "expired since");
    }

    #[test]
    fn every_way_apple_refuses_a_jwt() {
        let pair = key();
        let k = pair.public_key().as_ref().to_vec();
        let other = key().public_key().as_ref().to_vec();
        let es256 = serde_json::json!({"typ": "JWT", "alg": "ES256"});
        let good = claims(AUD, NOW + 3600, "mailto:ops@example.com");
        let t = jwt(&pair, es256.clone(), good.clone());
        assert_eq!(verify(&t, &other, AUD, NOW), Err(WebPushReason::BadJwtToken), "another key");
        for (header, claims) in [
            (serde_json::json!({"alg": "HS256"}), good.clone()),
            (es256.clone(), claims("https://127.0.0.1:2200/", NOW + 3600, "mailto:ops@example.com")),
            (es256.clone(), claims("http://127.0.0.1:2200", NOW + 3600, "mailto:ops@example.com")),
            (es256.clone(), claims(AUD, NOW - 1, "mailto:ops@example.com")),
            (es256.clone(), claims(AUD, NOW + 25 * 3600, "mailto:ops@example.com")),
            (es256.clone(), claims(AUD, NOW + 3600, "mailto:admin@localhost")),
            (es256.clone(), serde_json::json!({"aud": AUD, "exp": NOW + 3600})),
        ] {
            let t = jwt(&pair, header.clone(), claims.clone());
            assert_eq!(verify(&t, &k, AUD, NOW), Err(WebPushReason::BadJwtToken), "{header} {claims}");
        }
        // A DER signature, and a JWT that is not three parts.
        let input = format!("{}.{}", b64(es256.to_string().as_bytes()), b64(good.to_string().as_bytes()));
        assert_eq!(verify(&format!("{input}.{}", b64(&[0x30; 70])), &k, AUD, NOW), Err(WebPushReason::BadJwtToken));
        assert_eq!(verify("a.b", &k, AUD, NOW), Err(WebPushReason::BadJwtToken));
    }
}
