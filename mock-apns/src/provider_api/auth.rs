//! Who is pushing: provider tokens (JWT, ES256) checked against registered signing keys,
//! and client certificates issued by the mock's CA.
//!
//! Apple: "Establishing a token-based connection to APNs" and "…a certificate-based
//! connection". The rules applied here, in order, for a token connection:
//!
//! 1. `authorization` must be `bearer <token>` (either case of "bearer"), else
//!    **MissingProviderToken**.
//! 2. The token must parse (three base64 segments — base64url or standard, padded or
//!    not, as real clients and Apple's own curl recipe produce), name `alg: ES256` and a
//!    registered `kid`, carry `iss` = the key's team and a numeric `iat`, and be signed by
//!    the key. The signature may be the raw 64-byte r‖s of RFC 7518 or the DER form that
//!    `openssl dgst -sign` makes (Apple's recipe). Anything else: **InvalidProviderToken**.
//! 3. `iat` older than one hour: **ExpiredProviderToken**. An `iat` more than an hour
//!    in the future is **InvalidProviderToken**: Apple does not document the case, and
//!    a mirror of the one-hour window tolerates client clocks that run fast without
//!    letting a token live forever.
//! 4. A key restricted to the other environment: **BadEnvironmentKeyIdInToken**.
//! 5. The connection is bound to the team and key of its first valid token: another
//!    team is **InvalidProviderToken**, an unrelated key **UnrelatedKeyIdInToken**.
//! 6. A token different from the connection's current one, less than 20 minutes after
//!    the current one was first used: **TooManyProviderTokenUpdates**. "Different" means
//!    another key or another `iat`: ECDSA signatures are randomised, so the same claims
//!    signed twice are the same token, as far as the refresh rule goes.
//!
//! Verifying an ES256 signature costs ~55 µs, so verified tokens are cached by their
//! text; a connection also remembers its current token and skips even the cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine as _;
use dashmap::DashMap;
use protocol::jwt::{ALGORITHM, JwtClaims, JwtHeader, MAX_AGE_SECS, MIN_REFRESH_SECS};
use protocol::{Environment, Reason};
use rustls::pki_types::pem::SectionKind;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::observe::capture::KeyLabel;
use crate::state::rows::KeyRow;

/// Where a signing key may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyEnvironment {
    /// Sandbox only.
    Sandbox,
    /// Production only.
    Production,
    /// Both (older team keys, and the default).
    Both,
}

impl KeyEnvironment {
    /// Whether a key with this restriction works in `env`.
    pub fn allows(self, env: Environment) -> bool {
        match self {
            KeyEnvironment::Both => true,
            KeyEnvironment::Sandbox => env == Environment::Sandbox,
            KeyEnvironment::Production => env == Environment::Production,
        }
    }

    /// The name used in the admin API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyEnvironment::Sandbox => "sandbox",
            KeyEnvironment::Production => "production",
            KeyEnvironment::Both => "both",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "sandbox" | "development" => Some(KeyEnvironment::Sandbox),
            "production" => Some(KeyEnvironment::Production),
            "both" => Some(KeyEnvironment::Both),
            _ => None,
        }
    }
}

/// A registered signing key: the public half of a team's `.p8`.
pub struct SigningKey {
    /// The 10-character Key ID (`kid`).
    pub key_id: String,
    /// The team that owns the key (`iss`).
    pub team_id: String,
    /// Where the key may be used.
    pub environment: KeyEnvironment,
    /// For a topic-specific key, the bundle IDs it may push to; `None` for a team key.
    pub topics: Option<Vec<String>>,
    /// A topic key may share a connection with one related key.
    pub related_key_id: Option<String>,
    /// The public key, SubjectPublicKeyInfo PEM.
    pub public_key_pem: String,
    /// The uncompressed P-256 point, for ring's verifiers.
    point: Vec<u8>,
    /// How the capture log names the key (shared, so recording a push costs one
    /// reference count).
    pub(crate) label: Arc<KeyLabel>,
}

impl SigningKey {
    /// Builds a key from a `.p8` private key (Apple's download) or a public key PEM.
    pub fn new(
        key_id: &str,
        team_id: &str,
        environment: KeyEnvironment,
        topics: Option<Vec<String>>,
        related_key_id: Option<String>,
        key_pem: &str,
    ) -> Result<Self, Error> {
        if key_id.is_empty() || team_id.is_empty() {
            return Err(Error::Invalid("key_id and team_id must not be empty".into()));
        }
        let point = public_point(key_pem)?;
        Ok(SigningKey {
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
            environment,
            topics,
            related_key_id,
            public_key_pem: spki_pem(&point),
            label: Arc::new(KeyLabel { key_id: key_id.to_owned(), team_id: team_id.to_owned() }),
            point,
        })
    }

    /// The key as the state database stores it.
    pub(crate) fn row(&self) -> KeyRow {
        KeyRow {
            key_id: self.key_id.clone(),
            team_id: self.team_id.clone(),
            environment: self.environment.as_str().to_owned(),
            topics: self.topics.clone(),
            related_key_id: self.related_key_id.clone(),
            public_key_pem: self.public_key_pem.clone(),
        }
    }

    /// A stored key, rebuilt from its public half.
    pub(crate) fn from_row(row: KeyRow) -> Result<Self, Error> {
        let env = KeyEnvironment::parse(&row.environment).ok_or_else(|| {
            Error::Invalid(format!("stored key {} has environment {:?}", row.key_id, row.environment))
        })?;
        SigningKey::new(&row.key_id, &row.team_id, env, row.topics, row.related_key_id, &row.public_key_pem)
    }

    /// Checks an ES256 signature in either encoding.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let alg = if signature.len() == 64 { &ECDSA_P256_SHA256_FIXED } else { &ECDSA_P256_SHA256_ASN1 };
        UnparsedPublicKey::new(alg, &self.point).verify(message, signature).is_ok()
    }

    /// Whether a connection bound to `bound` may also use this key.
    fn related_to(&self, bound: &SigningKey) -> bool {
        self.key_id == bound.key_id
            || self.related_key_id.as_deref() == Some(&bound.key_id)
            || bound.related_key_id.as_deref() == Some(&self.key_id)
    }

    /// Whether the key may push to `bundle_id` (team keys: any of the team's topics).
    pub fn covers(&self, bundle_id: &str) -> bool {
        self.topics.as_ref().is_none_or(|t| t.iter().any(|x| x == bundle_id))
    }
}

/// The uncompressed P-256 public point of a `.p8` (PKCS#8 private key) or a
/// SubjectPublicKeyInfo PEM.
fn public_point(pem: &str) -> Result<Vec<u8>, Error> {
    let bad = |what: &str| Error::BadKey(what.to_owned());
    let (kind, der) = rustls::pki_types::pem::from_buf(&mut pem.as_bytes())
        .map_err(|e| bad(&format!("not PEM: {e}")))?
        .ok_or_else(|| bad("no PEM block found"))?;
    match kind {
        SectionKind::PrivateKey => {
            let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &der,
            )
            .map_err(|e| bad(&format!("not a P-256 PKCS#8 key: {e}")))?;
            Ok(aws_lc_rs::signature::KeyPair::public_key(&pair).as_ref().to_vec())
        }
        SectionKind::PublicKey => {
            use x509_parser::prelude::FromDer;
            let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der.as_ref())
                .map_err(|e| bad(&format!("bad public key: {e}")))?;
            let ec = spki.algorithm.algorithm.to_id_string() == "1.2.840.10045.2.1";
            let p256 = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .is_some_and(|o| o.to_id_string() == "1.2.840.10045.3.1.7");
            let point = spki.subject_public_key.data.to_vec();
            if !ec || !p256 || point.len() != 65 || point[0] != 4 {
                return Err(bad("the key is not an EC P-256 key"));
            }
            Ok(point)
        }
        _ => Err(bad("expected a PRIVATE KEY (.p8) or PUBLIC KEY PEM block")),
    }
}

/// SubjectPublicKeyInfo PEM for a P-256 point (fixed DER prefix for id-ecPublicKey +
/// prime256v1).
fn spki_pem(point: &[u8]) -> String {
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
        0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(point);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
}

/// The registered signing keys, by Key ID.
#[derive(Default)]
pub struct Keys {
    by_id: DashMap<String, Arc<SigningKey>>,
}

impl Keys {
    /// Adds or replaces a key.
    pub fn insert(&self, key: SigningKey) {
        self.by_id.insert(key.key_id.clone(), Arc::new(key));
    }

    /// The key with this id.
    pub fn get(&self, key_id: &str) -> Option<Arc<SigningKey>> {
        self.by_id.get(key_id).map(|k| k.clone())
    }

    /// Every key, sorted by id.
    pub fn all(&self) -> Vec<Arc<SigningKey>> {
        let mut v: Vec<_> = self.by_id.iter().map(|k| k.clone()).collect();
        v.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        v
    }
}

/// A provider token whose signature checked out.
#[derive(Clone)]
pub(crate) struct VerifiedToken {
    pub key: Arc<SigningKey>,
    pub iat: u64,
}

/// Verified tokens by their text, so a steady stream of pushes is not re-verified.
pub(crate) struct TokenCache {
    map: DashMap<Box<str>, VerifiedToken>,
    limit: usize,
    /// Full ES256 verifications performed.
    pub verifications: AtomicU64,
    /// Tokens answered from the cache.
    pub hits: AtomicU64,
}

impl TokenCache {
    pub(crate) fn new(limit: usize) -> Self {
        TokenCache { map: DashMap::new(), limit, verifications: AtomicU64::new(0), hits: AtomicU64::new(0) }
    }

    /// Forgets every token (after keys change).
    pub(crate) fn clear(&self) {
        self.map.clear();
    }

    /// Verifies `token` (rule 2), from the cache when possible.
    pub(crate) fn verify(&self, token: &str, keys: &Keys) -> Result<VerifiedToken, Reason> {
        if let Some(hit) = self.map.get(token) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit.clone());
        }
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let verified = verify_jwt(token, keys)?;
        if self.map.len() >= self.limit {
            self.map.clear();
        }
        self.map.insert(token.into(), verified.clone());
        Ok(verified)
    }
}

/// Decodes one JWT segment: base64url or standard alphabet, with or without padding.
fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    let trimmed = segment.trim_end_matches('=');
    if trimmed.contains(['+', '/']) {
        base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed).ok()
    } else {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed).ok()
    }
}

/// Rule 2, without the cache.
pub(crate) fn verify_jwt(token: &str, keys: &Keys) -> Result<VerifiedToken, Reason> {
    let invalid = Reason::InvalidProviderToken;
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid);
    };
    let header: JwtHeader = decode_segment(h).and_then(|b| serde_json::from_slice(&b).ok()).ok_or(invalid)?;
    if header.alg != ALGORITHM {
        return Err(invalid);
    }
    let key = keys.get(&header.kid).ok_or(invalid)?;
    let claims: JwtClaims = decode_segment(c).and_then(|b| serde_json::from_slice(&b).ok()).ok_or(invalid)?;
    if claims.iss != key.team_id {
        return Err(invalid);
    }
    let signature = decode_segment(s).ok_or(invalid)?;
    let signed = &token[..h.len() + 1 + c.len()];
    if !key.verify(signed.as_bytes(), &signature) {
        return Err(invalid);
    }
    Ok(VerifiedToken { key, iat: claims.iat })
}

/// The token part of an `authorization` header value, if it is `bearer <token>`.
pub(crate) fn bearer(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// What a token connection is bound to after its first valid token (rules 5 and 6).
pub(crate) struct TokenBinding {
    /// The key (and so the team) of the first valid token.
    pub key: Arc<SigningKey>,
    /// The token in use now, and its `iat`.
    pub current: Box<str>,
    pub current_iat: u64,
    /// When the current token was first used on this connection.
    pub since: SystemTime,
}

/// Rules 3–6 for one request, given the connection's binding.
pub(crate) fn authorize(
    token: &str,
    env: Environment,
    binding: &mut Option<TokenBinding>,
    cache: &TokenCache,
    keys: &Keys,
    now: SystemTime,
) -> Result<Arc<SigningKey>, Reason> {
    let now_secs = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let expired = |iat: u64| now_secs.saturating_sub(iat) > MAX_AGE_SECS;
    if let Some(b) = binding.as_ref()
        && *b.current == *token
    {
        if expired(b.current_iat) {
            return Err(Reason::ExpiredProviderToken);
        }
        return Ok(b.key.clone());
    }
    let verified = cache.verify(token, keys)?;
    if expired(verified.iat) {
        return Err(Reason::ExpiredProviderToken);
    }
    if verified.iat > now_secs + MAX_AGE_SECS {
        return Err(Reason::InvalidProviderToken);
    }
    if !verified.key.environment.allows(env) {
        return Err(Reason::BadEnvironmentKeyIdInToken);
    }
    if let Some(b) = binding.as_mut() {
        // The same claims signed again (ECDSA signatures are randomised) are the same
        // token: identity is (key, iat), not the signature bytes.
        if verified.key.key_id == b.key.key_id && verified.iat == b.current_iat {
            b.current = token.into();
            return Ok(b.key.clone());
        }
        if verified.key.team_id != b.key.team_id {
            return Err(Reason::InvalidProviderToken);
        }
        if !verified.key.related_to(&b.key) {
            return Err(Reason::UnrelatedKeyIdInToken);
        }
        if now.duration_since(b.since).unwrap_or(Duration::ZERO) < Duration::from_secs(MIN_REFRESH_SECS) {
            return Err(Reason::TooManyProviderTokenUpdates);
        }
    }
    let key = verified.key.clone();
    *binding = Some(TokenBinding { key: key.clone(), current: token.into(), current_iat: verified.iat, since: now });
    Ok(key)
}

/// What a client certificate says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertIdentity {
    /// The subject UID: the bundle ID the certificate was made for.
    pub uid: Arc<str>,
    /// Every topic it covers: the topics extension, or just the UID.
    pub topics: Vec<String>,
    /// Environments from the .3.1 / .3.2 extensions.
    pub sandbox: bool,
    pub production: bool,
}

impl CertIdentity {
    /// Reads an APNs client certificate; `None` if it is not one (no UID or no
    /// environment extension), which is answered with BadCertificate.
    pub(crate) fn from_der(der: &[u8]) -> Option<CertIdentity> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let uid = cert
            .subject()
            .iter_attributes()
            .find(|a| a.attr_type().to_id_string() == "0.9.2342.19200300.100.1.1")
            .and_then(|a| a.as_str().ok())?;
        let has = |oid: &[u64]| {
            let want = oid.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
            cert.extensions().iter().find(|e| e.oid.to_id_string() == want)
        };
        let sandbox = has(crate::tls::OID_SANDBOX).is_some();
        let production = has(crate::tls::OID_PRODUCTION).is_some();
        if !sandbox && !production {
            return None;
        }
        let topics = match has(crate::tls::OID_TOPICS) {
            Some(ext) => crate::tls::decode_topics(ext.value)?,
            None => vec![uid.to_owned()],
        };
        Some(CertIdentity { uid: uid.into(), topics, sandbox, production })
    }

    /// Whether the certificate is good in `env`.
    pub(crate) fn allows(&self, env: Environment) -> bool {
        match env {
            Environment::Sandbox => self.sandbox,
            Environment::Production => self.production,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_pair() -> (aws_lc_rs::signature::EcdsaKeyPair, String) {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let alg = &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("keygen");
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
        );
        (aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("parse"), pem)
    }

    fn sign(pair: &aws_lc_rs::signature::EcdsaKeyPair, header: &str, claims: &str) -> String {
        let b64 = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let sig = pair.sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes()).expect("sign");
        format!("{input}.{}", b64(sig.as_ref()))
    }

    #[test]
    fn p8_and_public_pem_give_the_same_key() {
        let (_, p8) = key_pair();
        let a = SigningKey::new("K", "T", KeyEnvironment::Both, None, None, &p8).expect("p8");
        let b = SigningKey::new("K", "T", KeyEnvironment::Both, None, None, &a.public_key_pem).expect("pem");
        assert_eq!(a.point, b.point);
        assert!(SigningKey::new("K", "T", KeyEnvironment::Both, None, None, "nope").is_err());
    }

    #[test]
    fn verification_rules() {
        let (pair, p8) = key_pair();
        let keys = Keys::default();
        keys.insert(SigningKey::new("KEY1234567", "TEAM123456", KeyEnvironment::Both, None, None, &p8).expect("key"));
        let check = |token: &str, expected: Result<(), Reason>| {
            assert_eq!(verify_jwt(token, &keys).map(|_| ()), expected, "{token}");
        };
        let good = sign(&pair, r#"{"alg":"ES256","kid":"KEY1234567"}"#, r#"{"iss":"TEAM123456","iat":1}"#);
        check(&good, Ok(()));
        check(&format!("{good}=="), Ok(()));
        for (header, claims) in [
            (r#"{"alg":"ES256","kid":"OTHER"}"#, r#"{"iss":"TEAM123456","iat":1}"#),
            (r#"{"alg":"ES384","kid":"KEY1234567"}"#, r#"{"iss":"TEAM123456","iat":1}"#),
            (r#"{"alg":"ES256","kid":"KEY1234567"}"#, r#"{"iss":"OTHERTEAM0","iat":1}"#),
            (r#"{"alg":"ES256","kid":"KEY1234567"}"#, r#"{"iss":"TEAM123456","iat":"1"}"#),
            (r#"{"kid":"KEY1234567"}"#, r#"{"iss":"TEAM123456","iat":1}"#),
        ] {
            check(&sign(&pair, header, claims), Err(Reason::InvalidProviderToken));
        }
        // Flip one bit in the middle of the signature segment.
        let sig_start = good.rfind('.').expect("three segments") + 1;
        let mut bytes = good.clone().into_bytes();
        let i = sig_start + 10;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        check(&String::from_utf8(bytes).expect("ascii"), Err(Reason::InvalidProviderToken));
        check("a.b", Err(Reason::InvalidProviderToken));
        check("a.b.c.d", Err(Reason::InvalidProviderToken));
        check("", Err(Reason::InvalidProviderToken));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer(b"bearer abc"), Some("abc"));
        assert_eq!(bearer(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer(b"bearer "), None);
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"abc"), None);
    }
}
