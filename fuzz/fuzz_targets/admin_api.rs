//! Fuzz target: one request to the admin API, written as text (see
//! `mock_apns::fuzzing`): every route's path, query and JSON body, `.apns` files (as
//! local pushes) included. None may panic or answer 500.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mock_apns::fuzzing::Harness;

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(Harness::start)
}

fuzz_target!(|data: &[u8]| {
    harness().admin(data);
});
