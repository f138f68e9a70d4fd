//! Web Push message encryption (RFC 8291) in the aes128gcm content coding (RFC 8188):
//! what an application server does to a message before it sends it, and what the device
//! does to read it. The push service in between can read neither.
//!
//! From the ECDH secret of the sender's ephemeral key and the subscription's key
//! (`p256dh`), and the subscription's 16-byte `auth` secret:
//! `IKM = HKDF(auth, ecdh, "WebPush: info" ‖ 0 ‖ ua_public ‖ as_public, 32)`, then with the
//! message's salt `CEK = HKDF(salt, IKM, "Content-Encoding: aes128gcm" ‖ 0, 16)` and
//! `NONCE = HKDF(salt, IKM, "Content-Encoding: nonce" ‖ 0, 12)`. The message is one
//! record: the plaintext, the delimiter 0x02, AES-128-GCM. The header carries the salt,
//! the record size and the sender's public key.

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::hmac;

/// Why a message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EceError {
    /// The aes128gcm header is not what RFC 8291 writes.
    #[error("the aes128gcm header is malformed")]
    Header,
    /// The keys do not agree (a point not on the curve).
    #[error("the sender's key is not a P-256 point")]
    Key,
    /// Authentication failed: another subscription's keys, or a damaged message.
    #[error("the message does not decrypt with this subscription's keys")]
    Decrypt,
    /// The record has no delimiter, or the wrong one.
    #[error("the record's padding is malformed")]
    Padding,
    /// The plaintext does not fit one record of the record size.
    #[error("the message is too long for one record")]
    TooLong,
    /// No key pair or salt could be made.
    #[error("no P-256 key or randomness")]
    Random,
}

/// A new P-256 key pair: the private scalar (32 bytes) and the public point (65 bytes,
/// uncompressed) — a phone's for a subscription, or a sender's for one message.
pub fn key_pair() -> Result<(Vec<u8>, Vec<u8>), EceError> {
    use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};
    let private = PrivateKey::generate(&ECDH_P256).map_err(|_| EceError::Random)?;
    let public = private.compute_public_key().map_err(|_| EceError::Random)?;
    let scalar: EcPrivateKeyBin<'static> = private.as_be_bytes().map_err(|_| EceError::Random)?;
    Ok((scalar.as_ref().to_vec(), public.as_ref().to_vec()))
}

/// [`encrypt`] as a sender does it: with a fresh key pair and salt, one 4096-byte record.
pub fn seal(plaintext: &[u8], ua_public: &[u8], auth: &[u8]) -> Result<Vec<u8>, EceError> {
    use aws_lc_rs::rand::SecureRandom;
    let (as_private, _) = key_pair()?;
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut salt).map_err(|_| EceError::Random)?;
    encrypt(plaintext, ua_public, auth, &as_private, &salt, 4096)
}

/// HMAC-SHA-256, as HKDF's extract and single-block expand use it.
fn hmac(key: &[u8], parts: &[&[u8]]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    ctx.sign()
}

/// The content-encryption key and nonce for one message.
fn keys(ecdh: &[u8], auth: &[u8], ua_public: &[u8], as_public: &[u8], salt: &[u8]) -> ([u8; 16], [u8; 12]) {
    let prk_key = hmac(auth, &[ecdh]);
    let ikm = hmac(prk_key.as_ref(), &[b"WebPush: info\0", ua_public, as_public, &[1]]);
    let prk = hmac(salt, &[ikm.as_ref()]);
    let cek = hmac(prk.as_ref(), &[b"Content-Encoding: aes128gcm\0", &[1]]);
    let nonce = hmac(prk.as_ref(), &[b"Content-Encoding: nonce\0", &[1]]);
    let (mut c, mut n) = ([0u8; 16], [0u8; 12]);
    c.copy_from_slice(&cek.as_ref()[..16]);
    n.copy_from_slice(&nonce.as_ref()[..12]);
    (c, n)
}

fn ecdh(private: &PrivateKey, public: &[u8]) -> Result<Vec<u8>, EceError> {
    agreement::agree(private, UnparsedPublicKey::new(&ECDH_P256, public), EceError::Key, |s| Ok(s.to_vec()))
}

/// Reads a message sent to a subscription: the device's private key (the P-256 scalar,
/// 32 bytes), its public key (`p256dh`, 65 bytes) and `auth` secret.
pub fn decrypt(body: &[u8], ua_private: &[u8], ua_public: &[u8], auth: &[u8]) -> Result<Vec<u8>, EceError> {
    let header = crate::webpush::aes128gcm_header(body).map_err(|_| EceError::Header)?;
    let private = PrivateKey::from_private_key(&ECDH_P256, ua_private).map_err(|_| EceError::Key)?;
    let secret = ecdh(&private, header.keyid)?;
    let (cek, nonce) = keys(&secret, auth, ua_public, header.keyid, header.salt);
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| EceError::Decrypt)?);
    let mut record = header.record.to_vec();
    let plain = key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut record)
        .map_err(|_| EceError::Decrypt)?;
    // The last (and only) record ends with 0x02, then any padding of zeros.
    let end = plain.iter().rposition(|&b| b != 0).ok_or(EceError::Padding)?;
    if plain[end] != 2 {
        return Err(EceError::Padding);
    }
    Ok(plain[..end].to_vec())
}

/// Encrypts `plaintext` for a subscription (`p256dh` and `auth`), with the sender's
/// ephemeral private key (a P-256 scalar) and a 16-byte salt, both fresh for each
/// message; one record of `rs` bytes at most.
pub fn encrypt(
    plaintext: &[u8],
    ua_public: &[u8],
    auth: &[u8],
    as_private: &[u8],
    salt: &[u8; 16],
    rs: u32,
) -> Result<Vec<u8>, EceError> {
    if plaintext.len() + 1 + 16 > rs as usize {
        return Err(EceError::TooLong);
    }
    let private = PrivateKey::from_private_key(&ECDH_P256, as_private).map_err(|_| EceError::Key)?;
    let as_public = private.compute_public_key().map_err(|_| EceError::Key)?;
    let secret = ecdh(&private, ua_public)?;
    let (cek, nonce) = keys(&secret, auth, ua_public, as_public.as_ref(), salt);
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| EceError::Key)?);
    let mut record = plaintext.to_vec();
    record.push(2);
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut record)
        .map_err(|_| EceError::Key)?;
    let mut body = Vec::with_capacity(86 + record.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&rs.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public.as_ref());
    body.extend_from_slice(&record);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_message_opens_with_the_phone_s_keys() {
        let (private, public) = key_pair().expect("a key pair");
        assert_eq!((private.len(), public.len(), public[0]), (32, 65, 4));
        let body = seal(b"hello", &public, &[5; 16]).expect("seals");
        assert_eq!(decrypt(&body, &private, &public, &[5; 16]).expect("opens"), b"hello");
        assert_ne!(seal(b"hello", &public, &[5; 16]).expect("seals"), body, "a fresh key and salt each time");
    }
    use crate::webpush::base64url;

    /// RFC 8291, Appendix A.
    const PLAINTEXT: &[u8] = b"When I grow up, I want to be a watermelon";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const UA_PUBLIC: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const MESSAGE: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn b(text: &str) -> Vec<u8> {
        base64url(text).expect("base64url")
    }

    #[test]
    fn the_rfc_8291_test_vector_decrypts_and_encrypts() {
        let message = b(MESSAGE);
        let plain = decrypt(&message, &b(UA_PRIVATE), &b(UA_PUBLIC), &b(AUTH)).expect("decrypts");
        assert_eq!(plain, PLAINTEXT);
        let salt: [u8; 16] = b(SALT).try_into().expect("16 bytes");
        let sent = encrypt(PLAINTEXT, &b(UA_PUBLIC), &b(AUTH), &b(AS_PRIVATE), &salt, 4096).expect("encrypts");
        assert_eq!(sent, message, "byte for byte the RFC's");
    }

    #[test]
    fn another_subscription_s_keys_do_not_read_it() {
        let message = b(MESSAGE);
        let mut wrong_auth = b(AUTH);
        wrong_auth[0] ^= 1;
        assert_eq!(decrypt(&message, &b(UA_PRIVATE), &b(UA_PUBLIC), &wrong_auth), Err(EceError::Decrypt));
        let mut damaged = message.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert_eq!(decrypt(&damaged, &b(UA_PRIVATE), &b(UA_PUBLIC), &b(AUTH)), Err(EceError::Decrypt));
        assert_eq!(decrypt(&message[..40], &b(UA_PRIVATE), &b(UA_PUBLIC), &b(AUTH)), Err(EceError::Header));
        let salt = [0u8; 16];
        assert_eq!(encrypt(&[0; 4096], &b(UA_PUBLIC), &b(AUTH), &b(AS_PRIVATE), &salt, 4096), Err(EceError::TooLong));
    }
}
