//! Benchmark of the two ways the mock can accept a provider token: a full ES256
//! verification (what a new token costs) and a lookup in the verified-token cache
//! (what every later push with that token costs). Run by `bench/provider-api.sh`.

use std::hint::black_box;
use std::time::Instant;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, UnparsedPublicKey,
};
use base64::Engine as _;
use dashmap::DashMap;

fn main() {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("keygen");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("key");
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"ES256","kid":"ABC1234567"}"#),
        b64(br#"{"iss":"TEAM123456","iat":1800000000}"#)
    );
    let sig = pair.sign(&rng, input.as_bytes()).expect("signs");
    let token = format!("{input}.{}", b64(sig.as_ref()));
    let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref().to_vec());

    let n = 5_000;
    let start = Instant::now();
    for _ in 0..n {
        let parts: Vec<&str> = token.split('.').collect();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[2]).expect("b64");
        black_box(public.verify(&token.as_bytes()[..parts[0].len() + 1 + parts[1].len()], &sig).is_ok());
    }
    let verify = start.elapsed().as_secs_f64() / n as f64 * 1e6;

    let cache: DashMap<Box<str>, u64> = DashMap::new();
    for i in 0..1000 {
        cache.insert(format!("{token}{i}").into(), i);
    }
    cache.insert(token.clone().into(), 7);
    let m = 2_000_000;
    let start = Instant::now();
    for _ in 0..m {
        black_box(cache.get(black_box(token.as_str())).map(|v| *v));
    }
    let hit = start.elapsed().as_secs_f64() / m as f64 * 1e6;
    let start = Instant::now();
    for _ in 0..m {
        black_box(black_box(token.as_str()) == black_box(token.as_str()));
    }
    let same = start.elapsed().as_secs_f64() / m as f64 * 1e6;
    println!("| ES256 verification (new token) | {verify:.1} µs |");
    println!("| verified-token cache hit (another connection) | {hit:.3} µs |");
    println!("| same token as the connection's current one | {same:.3} µs |");
}
