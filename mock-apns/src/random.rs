//! Randomness from the OS, in the shapes APNs's identifiers take.

use aws_lc_rs::rand::SecureRandom;

/// `n` random bytes.
pub(crate) fn bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut v).expect("the OS random source is available");
    v
}

/// A 10-character id of capital letters and digits, the shape of Apple's Team and Key IDs.
pub(crate) fn id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    bytes(10).iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}
