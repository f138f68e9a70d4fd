//! Fuzz target: the tap's frame scanner on the provider API's connections — a client's
//! whole input read through it in pieces of any size, with SETTINGS ACKs owed to
//! injected frames; h2 must read the input less exactly those ACKs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mock_apns::fuzzing::tap_input(data);
});
