//! Fuzz target: one request to the provider API, written as text (see
//! `mock_apns::fuzzing`), through every check of the push handler — path, headers,
//! provider token, topic, payload — to its answer, on either environment.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mock_apns::fuzzing::Harness;

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(Harness::start)
}

fuzz_target!(|data: &[u8]| {
    harness().push(data);
});
