//! The devices room: what APNs keeps on the device side of the flow — the gateway every
//! phone connects to, the delivery engine and store-and-forward, each notification's
//! journey, and the operations on devices (create, lifecycle events, a local push) that
//! the admin API, the gateway and `MockApns` all call.

pub(crate) mod delivery;
pub(crate) mod gateway;
pub(crate) mod journey;
pub(crate) mod operations;
pub(crate) mod storage;
