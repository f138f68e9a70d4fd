//! Fuzz target: every message a phone sends the gateway (and the delivery lines it reads
//! back), as serde reads them. None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::gateway::{
    Ack, Activate, DeclareActivityType, Delivery, EndActivity, HandedOver, RegisterApp, StartActivity, raw_payload,
};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Activate>(data);
    let _ = serde_json::from_slice::<RegisterApp>(data);
    let _ = serde_json::from_slice::<Vec<Ack>>(data);
    let _ = serde_json::from_slice::<Ack>(data);
    let _ = serde_json::from_slice::<DeclareActivityType>(data);
    let _ = serde_json::from_slice::<StartActivity>(data);
    let _ = serde_json::from_slice::<EndActivity>(data);
    let _ = serde_json::from_slice::<HandedOver>(data);
    let _ = serde_json::from_slice::<Delivery>(data);
    let _ = raw_payload(data);
});
