//! How the admin routes answer and read: JSON responses and the admin API's errors, a
//! request body read within its budget (JSON, or the device batch entry by entry), a
//! query string's allowed keys. `routes.rs` and `device_routes.rs` both use it.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::Serialize;

use super::Shared;
use super::dashboard::AdminBody;
use crate::devices::operations::NewDevice;
use crate::error::Error;

/// The largest admin request body.
const MAX_ADMIN_BODY: usize = 64 << 20;

/// A request body the routes read: hyper's, or (for the fuzz targets) one in memory.
pub(crate) trait Body: hyper::body::Body<Data = Bytes> + Unpin {}
impl<B: hyper::body::Body<Data = Bytes> + Unpin> Body for B {}

pub(crate) type AdminResponse = Response<AdminBody>;

pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> AdminResponse {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(body).into())
        .expect("static status and header")
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> AdminResponse {
    json(status, &serde_json::json!({ "error": message.into() }))
}

pub(crate) fn created<T: Serialize>(v: Result<T, Error>) -> AdminResponse {
    v.map_or_else(from_error, |v| json(StatusCode::CREATED, &v))
}

pub(crate) fn ok<T: Serialize>(v: Result<T, Error>) -> AdminResponse {
    v.map_or_else(from_error, |v| json(StatusCode::OK, &v))
}

pub(crate) fn from_error(e: Error) -> AdminResponse {
    if let Error::Refused { reason, timestamp, by } = &e {
        // APNs's status and reason, as the provider API would answer them, and what
        // refused the push.
        let status = StatusCode::from_u16(reason.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = serde_json::json!({ "error": e.to_string(), "reason": reason.to_string(), "by": by });
        if let Some(t) = timestamp {
            body["timestamp"] = (*t).into();
        }
        return json(status, &body);
    }
    let status = match e {
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Invalid(_) | Error::BadKey(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

/// Reads a JSON body: at most [`MAX_ADMIN_BODY`] bytes, within [`ADMIN_BODY_TIMEOUT`],
/// and only while every admin request's body held in memory together stays within
/// `admin_body_budget` (see [`read_body`]).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    shared: &Shared,
    req: Request<impl Body>,
) -> Result<T, AdminResponse> {
    // The buffer is made the announced size at once (and taken from the budget at once);
    // what counts is its capacity, since a growing buffer holds more than it has read.
    let announced = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .filter(|&n| n <= MAX_ADMIN_BODY);
    let mut bytes = bytes::BytesMut::new();
    let _held = read_body(shared, req, announced.unwrap_or(0), |chunk| {
        if bytes.capacity() == 0 {
            bytes.reserve(announced.unwrap_or(0).max(chunk.len()));
        }
        bytes.extend_from_slice(chunk);
        Ok(bytes.capacity())
    })
    .await?;
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { Bytes::from_static(b"{}") } else { bytes.freeze() };
    serde_json::from_slice(&bytes).map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

/// Reads `POST /api/v1/devices/batch`'s body as it arrives, entry by entry
/// ([`super::batch`]): what is held, and taken from the budget, is the devices read so
/// far and the entry being read, never the body's text.
pub(crate) async fn read_batch(shared: &Shared, req: Request<impl Body>) -> Result<Vec<NewDevice>, AdminResponse> {
    let mut reader = super::batch::BatchReader::new();
    let _held = read_body(shared, req, 0, |chunk| reader.feed(chunk).map(|()| reader.held())).await?;
    reader.finish().map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

/// Hands each chunk of a request body to `sink` as it arrives, which says how many bytes
/// it now holds (or what is wrong with the body: 400): at most [`MAX_ADMIN_BODY`] bytes read, within [`ADMIN_BODY_TIMEOUT`],
/// and only while what every admin request holds together stays within
/// `admin_body_budget` (what a request holds is taken from the budget as it grows, and
/// given back when the request is parsed: the caller keeps what this returns until
/// then): past it, 503 at once, never a wait. `reserve` bytes are taken before the
/// first chunk, for a sink that will hold that much from its start.
async fn read_body(
    shared: &Shared,
    req: Request<impl Body>,
    reserve: usize,
    mut sink: impl FnMut(&[u8]) -> Result<usize, String>,
) -> Result<Vec<tokio::sync::OwnedSemaphorePermit>, AdminResponse> {
    let mut body = req.into_body();
    let mut held = Vec::new();
    let (mut read, mut taken_kib) = (0, reserve.div_ceil(1024) as u32);
    let refused = || {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the admin API holds as many request bodies as it may; retry in a moment",
        )
    };
    if taken_kib > 0 {
        held.push(shared.admin_bodies.clone().try_acquire_many_owned(taken_kib).map_err(|_| refused())?);
    }
    let reading = async move {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return Err(error(StatusCode::BAD_REQUEST, "the request body was cut short")) };
            let Ok(chunk) = frame.into_data() else { continue };
            if read + chunk.len() > MAX_ADMIN_BODY {
                return Err(error(StatusCode::PAYLOAD_TOO_LARGE, "request body is over 64 MiB"));
            }
            read += chunk.len();
            let kib = sink(&chunk)
                .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))?
                .div_ceil(1024) as u32;
            if kib > taken_kib {
                held.push(shared.admin_bodies.clone().try_acquire_many_owned(kib - taken_kib).map_err(|_| refused())?);
                taken_kib = kib;
            }
        }
        Ok(held)
    };
    match tokio::time::timeout(ADMIN_BODY_TIMEOUT, reading).await {
        Ok(result) => result,
        Err(_) => Err(error(StatusCode::REQUEST_TIMEOUT, "the request body did not arrive in time")),
    }
}

/// How long an admin request's body may take to arrive.
const ADMIN_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the allowed keys of a query string.
pub(crate) fn parse_query(query: &str, allowed: &[&str]) -> Result<std::collections::HashMap<String, String>, String> {
    let mut out = std::collections::HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v).ok_or_else(|| format!("bad escape in {k}"))?;
        if !allowed.contains(&k) {
            return Err(format!("unknown parameter {k:?} ({})", allowed.join(", ")));
        }
        out.insert(k.to_owned(), v);
    }
    Ok(out)
}

pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}
