//! Provider authentication tokens: an ES256 JWT made from a team's `.p8` key, exactly
//! as Apple's "Establishing a token-based connection to APNs" describes, and the
//! schedule that keeps one token for all connections, refreshed inside APNs's 20–60
//! minute window.

use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use protocol::jwt::{JwtClaims, MIN_REFRESH_SECS};

use crate::Error;

/// Signs provider tokens for one key.
pub struct TokenSigner {
    key: EncodingKey,
    header: Header,
    team_id: String,
}

impl TokenSigner {
    /// A signer for the `.p8` key `p8_pem` with id `key_id`, for team `team_id`.
    pub fn new(p8_pem: &[u8], key_id: &str, team_id: &str) -> Result<Self, Error> {
        let expected = |e: &dyn std::fmt::Display| {
            Error::BadKey(format!(
                "expected a PKCS#8 P-256 private key in PEM, as Apple's AuthKey_<KEYID>.p8 (\"-----BEGIN PRIVATE KEY-----\"); {e}"
            ))
        };
        let key = EncodingKey::from_ec_pem(p8_pem).map_err(|e| expected(&e))?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key_id.to_owned());
        header.typ = None;
        let signer = TokenSigner { key, header, team_id: team_id.to_owned() };
        // Some keys parse and only fail to sign: find out now, not at the first push.
        signer.sign(0).map_err(|e| expected(&e))?;
        Ok(signer)
    }

    /// A token issued at `iat` (UNIX seconds). APNs accepts it for one hour.
    pub fn sign(&self, iat: u64) -> Result<String, Error> {
        let claims = JwtClaims { iss: self.team_id.clone(), iat };
        jsonwebtoken::encode(&self.header, &claims, &self.key).map_err(|e| Error::BadKey(e.to_string()))
    }
}

/// One provider token shared by every connection, re-signed every `refresh_secs` (50
/// minutes by default: inside APNs's window, never more often than 20 minutes, never
/// older than 60).
pub struct SharedToken {
    signer: TokenSigner,
    refresh_secs: u64,
    current: Mutex<Option<Signed>>,
}

/// The current token, with its `authorization` header value made once (every request
/// carries it), and when it was issued.
#[derive(Clone)]
pub(crate) struct Signed {
    pub token: Arc<str>,
    pub header: http::HeaderValue,
    iat: u64,
}

impl Signed {
    fn new(token: String, iat: u64) -> Result<Signed, Error> {
        let header = http::HeaderValue::try_from(format!("bearer {token}"))
            .map_err(|_| Error::BadKey("the signed token is not a valid header value".into()))?;
        Ok(Signed { token: token.into(), header, iat })
    }
}

impl SharedToken {
    /// The default refresh period, in seconds (50 minutes).
    pub const DEFAULT_REFRESH_SECS: u64 = 50 * 60;

    /// A token source; `refresh_secs` is clamped into APNs's 20–60 minute window.
    pub fn new(signer: TokenSigner, refresh_secs: u64) -> Self {
        SharedToken { signer, refresh_secs: refresh_secs.clamp(MIN_REFRESH_SECS, 3600), current: Mutex::new(None) }
    }

    /// The token to send at `now` (UNIX seconds), signing a new one when the current one
    /// is due.
    pub fn get(&self, now: u64) -> Result<String, Error> {
        self.signed(now).map(|s| s.token.to_string())
    }

    /// [`SharedToken::get`], with the header value, without copying the token.
    pub(crate) fn signed(&self, now: u64) -> Result<Signed, Error> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(signed) = current.as_ref()
            && now.saturating_sub(signed.iat) < self.refresh_secs
            && signed.iat <= now
        {
            return Ok(signed.clone());
        }
        let signed = Signed::new(self.signer.sign(now)?, now)?;
        *current = Some(signed.clone());
        Ok(signed)
    }

    /// After APNs said ExpiredProviderToken: sign a new one now, unless `stale` was
    /// already replaced by another request.
    pub fn refresh(&self, stale: &str, now: u64) -> Result<String, Error> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(signed) = current.as_ref()
            && &*signed.token != stale
        {
            return Ok(signed.token.to_string());
        }
        let signed = Signed::new(self.signer.sign(now)?, now)?;
        *current = Some(signed.clone());
        Ok(signed.token.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        use base64::Engine as _;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .expect("keygen");
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
        );
        TokenSigner::new(pem.as_bytes(), "KEY1234567", "TEAM123456").expect("key")
    }

    #[test]
    fn a_file_that_is_not_a_p8_says_what_was_expected() {
        for not_a_key in [&b"hello"[..], b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", b""] {
            let message = TokenSigner::new(not_a_key, "KEY1234567", "TEAM123456").err().expect("refused").to_string();
            assert!(message.contains("PKCS#8 P-256 private key in PEM") && message.contains("AuthKey_"), "{message}");
        }
    }

    #[test]
    fn one_token_until_the_refresh_period_then_a_new_one() {
        let t = SharedToken::new(signer(), SharedToken::DEFAULT_REFRESH_SECS);
        let first = t.get(1_000_000).expect("signs");
        assert_eq!(t.get(1_000_000 + 49 * 60).expect("same"), first);
        let second = t.get(1_000_000 + 50 * 60).expect("new");
        assert_ne!(second, first);
        // After ExpiredProviderToken: a fresh one, but only once per stale token.
        let third = t.refresh(&second, 1_000_000 + 51 * 60).expect("refreshed");
        assert_ne!(third, second);
        assert_eq!(t.refresh(&second, 1_000_000 + 51 * 60).expect("already"), third);
        // The period is kept inside APNs's window.
        assert_eq!(SharedToken::new(signer(), 60).refresh_secs, 20 * 60);
        assert_eq!(SharedToken::new(signer(), 99_999).refresh_secs, 3600);
    }
}
