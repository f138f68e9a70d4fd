//! Fuzz target: a payload as the phone and the mock read it — the `aps` model, and a Live
//! Activity push (`ActivityPush::read`, which says why a phone drops what it cannot apply).
//! None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{ActivityPush, Payload};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = serde_json::from_slice::<Payload>(data) {
        let _ = p.aps.is_silent();
        let _ = serde_json::to_vec(&p);
    }
    let _ = ActivityPush::read(data);
});
