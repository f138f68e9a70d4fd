//! Observation: what the mock saw and did, for tests and people to read back — the
//! capture log of answered requests, the live stream and counts the dashboard watches,
//! and the Prometheus metrics. Everything here is fed by the rooms that do the work and
//! imports none of them back but for the credential a request was answered under.

pub(crate) mod capture;
pub(crate) mod live;
pub(crate) mod metrics;
