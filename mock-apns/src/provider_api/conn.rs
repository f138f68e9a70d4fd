//! A provider-API connection as the request handlers see it: how it authenticates (a
//! provider token per request, or the client certificate it opened with), its stream
//! limit and what a fault rule may ask of it, and step 5 of the checks — the credential
//! — which device pushes, broadcasts and the channel API share.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::HeaderMap;
use protocol::{Environment, Reason};

use super::Room;
use crate::observe::capture::Authenticated;
use crate::provider_api::auth::{self, CertIdentity, SigningKey, TokenBinding};
use crate::provider_api::tap::{SETTINGS_MAX_CONCURRENT_STREAMS, TapControl};

/// How a connection authenticates, fixed when it opens.
pub(crate) enum ConnAuth {
    /// No client certificate: every request carries a provider token.
    Token(Mutex<Option<TokenBinding>>),
    /// A client certificate; `None` if it is not an APNs certificate.
    Certificate(Option<CertIdentity>),
}

/// What the push handler knows about the connection a request came on.
pub(crate) struct ConnState {
    /// A process-wide connection number, for the capture log.
    pub id: u64,
    /// The listener's environment.
    pub env: Environment,
    /// The connection's credential.
    pub auth: ConnAuth,
    /// Token connections: `false` until the first valid token, while the advertised
    /// MAX_CONCURRENT_STREAMS is 1.
    pub open: AtomicBool,
    /// The MAX_CONCURRENT_STREAMS advertised now (1 before the first valid token; the
    /// configured limit after; lower if the mock lowered it). Streams beyond it are refused.
    pub limit: AtomicU32,
    /// Streams being handled now (for the one-stream rule).
    pub in_flight: AtomicUsize,
    /// Raises the advertised stream limit when the connection opens.
    pub tap: Arc<TapControl>,
    /// The limit to raise it to.
    pub max_streams: u32,
    /// Tells the connection's task to GOAWAY or drop (fault rules).
    pub control: tokio::sync::mpsc::UnboundedSender<ConnControl>,
    /// A channel management API connection (`/1/apps/…`), not the provider API's.
    pub channels: bool,
}

/// What a fault rule asks of a whole connection.
#[derive(Debug)]
pub(crate) enum ConnControl {
    /// GOAWAY with `{"reason":…}`, then close once the open streams are answered.
    Goaway(Reason),
    /// Drop the connection now.
    Close,
}

/// The credential a request was accepted with.
pub(crate) enum Credential<'a> {
    Token(Arc<SigningKey>),
    Certificate(&'a CertIdentity),
}

/// Step 5: checks the connection's credential for this request, and opens a token
/// connection to its full stream limit on its first valid token. The same rules for
/// device pushes, broadcasts and the channel API. `auth` is set to what the capture log
/// shows of the credential.
pub(crate) fn authenticate<'a>(
    shared: &Room,
    conn: &'a ConnState,
    headers: &HeaderMap,
    now: std::time::SystemTime,
    auth: &mut Authenticated,
) -> Result<Credential<'a>, Reason> {
    match &conn.auth {
        ConnAuth::Certificate(None) => Err(Reason::BadCertificate),
        ConnAuth::Certificate(Some(id)) => {
            *auth = Authenticated::Certificate(id.uid.clone());
            Ok(Credential::Certificate(id))
        }
        ConnAuth::Token(binding) => {
            let token = headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| auth::bearer(v.as_bytes()))
                .ok_or(Reason::MissingProviderToken)?;
            let mut binding = binding.lock().unwrap_or_else(|e| e.into_inner());
            let key = auth::authorize(token, conn.env, &mut binding, &shared.tokens, &shared.keys, now)?;
            drop(binding);
            *auth = Authenticated::Token(key.label.clone());
            if !conn.open.swap(true, Ordering::AcqRel) {
                conn.limit.store(conn.max_streams, Ordering::Release);
                conn.tap.send_settings(&[(SETTINGS_MAX_CONCURRENT_STREAMS, conn.max_streams)]);
            }
            Ok(Credential::Token(key))
        }
    }
}
