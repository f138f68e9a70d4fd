//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): what a peer sends,
//! handed to the code that parses and checks it, in process and without sockets.
//!
//! A request is written as text, the way it would be read in a trace:
//!
//! ```text
//! POST /3/device/$TOKEN
//! apns-topic: com.example.fuzz
//! authorization: bearer $JWT
//!
//! {"aps":{"alert":"hi"}}
//! ```
//!
//! `$TOKEN` is replaced by the harness device's token, `$JWT` by a provider token the
//! mock accepts, `$CHANNEL` by a live channel's id, so the fuzzer starts past the checks
//! a random string never passes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use tokio::io::AsyncReadExt;

use crate::admin::Shared;
use crate::provider_api::conn::{ConnAuth, ConnState};
use crate::provider_api::tap::Tap;
use crate::{Config, MockApns, NewApp, NewDevice};
use protocol::Environment;

/// The bundle ID of the harness's app.
pub const BUNDLE: &str = "com.example.fuzz";

/// A mock on loopback (ports chosen by the system) with one device, and the values a
/// request's text may name.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    mock: MockApns,
    jwt: String,
    /// The device's token and the channel's id (made again after a reset).
    names: std::sync::Mutex<(String, String)>,
    calls: AtomicU64,
}

impl Harness {
    /// Starts the mock and creates the device; panics if it cannot (a broken harness
    /// must not look like a clean run).
    pub fn start() -> Harness {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let mock = runtime
            .block_on(MockApns::start(Config { capture_limit: 1000, ..Config::default() }))
            .expect("the mock starts");
        let jwt = sign(mock.key_p8(), mock.key_id(), mock.team_id(), mock.clock().unix_millis() / 1000);
        let harness = Harness { runtime, mock, jwt, names: Default::default(), calls: AtomicU64::new(0) };
        harness.populate();
        harness
    }

    /// Creates the device and the channel requests may name.
    fn populate(&self) {
        let device = self
            .runtime
            .block_on(self.mock.create_device(NewDevice {
                apps: vec![NewApp { bundle_id: BUNDLE.into(), environment: Environment::Sandbox, team_id: None }],
                ..NewDevice::default()
            }))
            .expect("a device");
        self.names.lock().expect("names").0 = device.apps[0].token.clone();
        let request = format!(
            "POST /1/apps/{BUNDLE}/channels\nauthorization: bearer $JWT\n\n{{\"message-storage-policy\":0,\"push-type\":\"LiveActivity\"}}"
        );
        let (parts, body) = self.request(request.as_bytes()).expect("a well-formed request");
        let conn = conn(Environment::Sandbox, true);
        let reply = self.runtime.block_on(crate::provider_api::broadcast::answer(self.shared(), &conn, &parts, body));
        self.names.lock().expect("names").1 = reply.channel_id.expect("the channel is created");
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.mock.shared
    }

    /// Reads a request written as text; `None` if it is not one (a header HTTP forbids).
    fn request(&self, input: &[u8]) -> Option<(http::request::Parts, Bytes)> {
        let split = input.windows(2).position(|w| w == b"\n\n");
        let (head, body) = match split {
            Some(at) => (&input[..at], &input[at + 2..]),
            None => (input, &b""[..]),
        };
        let head = {
            let names = self.names.lock().expect("names");
            String::from_utf8_lossy(head)
                .replace("$TOKEN", &names.0)
                .replace("$JWT", &self.jwt)
                .replace("$CHANNEL", &names.1)
        };
        let mut lines = head.split('\n');
        let (method, path) = lines.next()?.split_once(' ')?;
        let mut builder = http::Request::builder().method(method).uri(path);
        for line in lines {
            let (name, value) = line.split_once(':')?;
            builder = builder.header(name, value.trim_start());
        }
        let (parts, ()) = builder.body(()).ok()?.into_parts();
        Some((parts, Bytes::copy_from_slice(body)))
    }

    /// Every so often, forgets what earlier inputs made (devices, channels, faults,
    /// a moved clock), so one run cannot fill the memory with them.
    fn tidy(&self) {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(5000) {
            self.runtime.block_on(self.mock.reset()).expect("reset");
            self.populate();
        }
    }

    /// One request to the provider API (`/3/device/…`, or `/4/broadcasts/…`), through
    /// every check to its answer, on a fresh token-auth connection; the first byte
    /// chooses the environment (odd: production).
    pub fn push(&self, input: &[u8]) {
        self.tidy();
        let (env, input) = environment(input);
        let Some((parts, body)) = self.request(input) else { return };
        let conn = conn(env, false);
        if parts.uri.path().starts_with(crate::provider_api::broadcast::BROADCAST_PATH) {
            let _ = self.runtime.block_on(crate::provider_api::broadcast::answer(self.shared(), &conn, &parts, body));
            return;
        }
        let answer =
            self.runtime.block_on(crate::provider_api::push::process(self.shared(), &conn, &parts, body, None));
        assert!(matches!(answer.status, 200 | 400 | 403 | 404 | 405 | 410 | 413 | 429 | 500 | 503));
        assert_eq!(answer.status == 200, answer.error.is_none());
    }

    /// One request to the channel management API (`/1/apps/…`); the first byte chooses
    /// the environment, as for [`Harness::push`].
    pub fn channel_call(&self, input: &[u8]) {
        self.tidy();
        let (env, input) = environment(input);
        let Some((parts, body)) = self.request(input) else { return };
        let conn = conn(env, true);
        let _ = self.runtime.block_on(crate::provider_api::broadcast::answer(self.shared(), &conn, &parts, body));
    }

    /// One request to the admin API, body and all (the live stream's body is not read).
    pub fn admin(&self, input: &[u8]) {
        self.tidy();
        let Some((parts, body)) = self.request(input) else { return };
        let request = http::Request::from_parts(parts, Full::new(body));
        let answer = self.runtime.block_on(crate::admin::routes::route(self.shared().clone(), request));
        let status = answer.expect("infallible").status();
        assert!(status.as_u16() != 500, "the admin API failed on its own");
    }

    /// A provider token as the provider API reads it: the `authorization` value, then
    /// the JWT's segments, claims and signature against the registered keys.
    pub fn provider_token(&self, value: &[u8]) {
        let Some(token) = crate::provider_api::auth::bearer(value) else { return };
        let token = token.replace("$JWT", &self.jwt);
        if let Ok(verified) = crate::provider_api::auth::verify_jwt(&token, &self.shared().keys) {
            assert!(self.shared().keys.get(&verified.key.key_id).is_some());
        }
    }
}

/// The environment the first byte chooses, and the rest.
fn environment(input: &[u8]) -> (Environment, &[u8]) {
    match input.split_first() {
        Some((b, rest)) if b % 2 == 1 => (Environment::Production, rest),
        Some((_, rest)) => (Environment::Sandbox, rest),
        None => (Environment::Sandbox, input),
    }
}

/// A token-auth connection (or a channel API one) as a listener would make it.
fn conn(env: Environment, channels: bool) -> ConnState {
    let (_tap, tap) = Tap::new((), None);
    let (control, _) = tokio::sync::mpsc::unbounded_channel();
    ConnState {
        id: 0,
        env,
        auth: ConnAuth::Token(std::sync::Mutex::new(None)),
        open: AtomicBool::new(false),
        limit: AtomicU32::new(1),
        in_flight: AtomicUsize::new(0),
        tap,
        max_streams: 1000,
        control,
        channels,
    }
}

/// Signs a provider token (ES256) with a PKCS#8 key in PEM.
fn sign(key_pem: &str, key_id: &str, team_id: &str, iat: u64) -> String {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::PrivatePkcs8KeyDer::pem_slice_iter(key_pem.as_bytes())
        .next()
        .expect("a PKCS#8 key")
        .expect("readable PEM");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_pkcs8_der()).expect("P-256");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let head = b64.encode(format!(r#"{{"alg":"ES256","kid":"{key_id}"}}"#));
    let claims = b64.encode(format!(r#"{{"iss":"{team_id}","iat":{iat}}}"#));
    let signed = format!("{head}.{claims}");
    let signature = pair.sign(&rng, signed.as_bytes()).expect("signs");
    format!("{signed}.{}", b64.encode(signature))
}

/// The tap's frame scanner: `data` is a client's whole input (preface, frames, maybe a
/// cut-off frame), read through the tap in pieces whose sizes the first bytes choose,
/// with some SETTINGS ACKs owed to frames the mock injected. What h2 reads must be the
/// input with exactly those ACKs taken out, byte for byte.
pub fn tap_input(data: &[u8]) {
    let [owed, step, room, data @ ..] = data else { return };
    let (owed, step, room) = (u32::from(owed % 4), usize::from(*step).max(1), usize::from(*room).max(1));
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    }
    let read = RUNTIME.with(|runtime| {
        runtime.block_on(async {
            let reader = Pieces { data, step, at: 0 };
            let (mut tap, ctl) = Tap::new(reader, None);
            for _ in 0..owed {
                ctl.send_settings(&[]);
            }
            let mut out = Vec::new();
            let mut buf = vec![0; room];
            loop {
                match tap.read(&mut buf).await.expect("in-memory reads do not fail") {
                    0 => break out,
                    n => out.extend_from_slice(&buf[..n]),
                }
            }
        })
    });
    assert_eq!(read, without_acks(data, owed));
}

/// What the tap should hand h2: `data` less its first `owed` empty SETTINGS ACKs.
fn without_acks(data: &[u8], mut owed: u32) -> Vec<u8> {
    const PREFACE_LEN: usize = 24;
    let mut out = data[..data.len().min(PREFACE_LEN)].to_vec();
    let mut at = out.len();
    while at + 9 <= data.len() {
        let h = &data[at..at + 9];
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
        let end = (at + 9 + len).min(data.len());
        if owed > 0 && h[3] == 4 && h[4] & 1 != 0 && len == 0 {
            owed -= 1;
        } else {
            out.extend_from_slice(&data[at..end]);
        }
        at = end;
    }
    out.extend_from_slice(&data[at..]);
    out
}

/// A reader that hands out `data` `step` bytes at a time.
struct Pieces<'a> {
    data: &'a [u8],
    step: usize,
    at: usize,
}

impl tokio::io::AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = self.step.min(self.data.len() - self.at).min(buf.remaining());
        buf.put_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input in a target's corpus (the seeds, what the fuzzer kept, and each
    /// crash once found): replayed here, so a fixed crash stays fixed.
    fn corpus(target: &str) -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
        let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| std::fs::read(entry.expect("an entry").path()).expect("readable"))
            .collect();
        assert!(!inputs.is_empty(), "{} is empty", dir.display());
        inputs.sort();
        inputs
    }

    #[test]
    fn the_fuzz_corpora_replay_without_a_crash() {
        let harness = Harness::start();
        for input in corpus("push_request") {
            harness.push(&input);
        }
        for input in corpus("channel_api") {
            harness.channel_call(&input);
        }
        for input in corpus("admin_api") {
            harness.admin(&input);
        }
        for input in corpus("provider_token") {
            harness.provider_token(&input);
        }
        for input in corpus("tap_frames") {
            tap_input(&input);
        }
    }

    #[test]
    fn the_harness_reaches_past_the_first_checks() {
        // Seeds that start from a valid push must be accepted, or the fuzzer would
        // spend its time on the checks a random string fails.
        let harness = Harness::start();
        let (parts, body) = harness
            .request(b"POST /3/device/$TOKEN\napns-topic: com.example.fuzz\nauthorization: bearer $JWT\n\n{\"aps\":{}}")
            .expect("a request");
        let conn = conn(Environment::Sandbox, false);
        let answer =
            harness.runtime.block_on(crate::provider_api::push::process(harness.shared(), &conn, &parts, body, None));
        assert_eq!(answer.status, 200);
        assert!(!harness.names.lock().expect("names").1.is_empty(), "a channel to name");
    }

    #[test]
    fn the_tap_oracle_drops_only_owed_acks() {
        let ack = [0, 0, 0, 4, 1, 0, 0, 0, 0];
        let mut input = vec![b'P'; 24];
        input.extend_from_slice(&ack);
        input.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0, 0, 1, b'x']);
        input.extend_from_slice(&ack);
        assert_eq!(without_acks(&input, 1).len(), input.len() - 9);
        assert_eq!(without_acks(&input, 2).len(), input.len() - 18);
        assert_eq!(without_acks(&input, 0), input);
    }
}
