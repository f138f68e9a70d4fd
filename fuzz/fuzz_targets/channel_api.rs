//! Fuzz target: one request to the channel management API (`/1/apps/…`), written as
//! text (see `mock_apns::fuzzing`): create, read, delete, list, with any headers and body.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mock_apns::fuzzing::Harness;

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(Harness::start)
}

fuzz_target!(|data: &[u8]| {
    harness().channel_call(data);
});
