//! Fuzz target: an `authorization` header value, read as the provider API reads it —
//! bearer scheme, JWT segments in either base64 alphabet, header and claims JSON, the
//! ES256 signature against the registered keys.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mock_apns::fuzzing::Harness;

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(Harness::start)
}

fuzz_target!(|data: &[u8]| {
    harness().provider_token(data);
});
