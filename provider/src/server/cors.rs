//! The provider API to a browser: open to pages on this machine only (CORS for loopback
//! origins), so a local dashboard's lesson can send through the provider and show it
//! pruning a dead token.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::{Answer, Provider, route};

/// Whether `origin` (a browser's `Origin` header) is a page on this machine: `http://` or
/// `https://` on 127.0.0.1, `[::1]` or localhost, any port.
fn loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else {
        return false;
    };
    let host = match rest.strip_prefix("[::1]") {
        Some(port) => return port.is_empty() || port.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok()),
        None => rest.split_once(':').map_or(rest, |(h, p)| if p.parse::<u16>().is_ok() { h } else { "" }),
    };
    host == "127.0.0.1" || host == "localhost"
}

/// One request: the API, open to pages on this machine (CORS for loopback origins only),
/// so a local dashboard's lesson can send through the provider and show its pruning.
pub(super) async fn serve(p: Arc<Provider>, req: Request<Incoming>) -> Result<Answer, Infallible> {
    let origin = req
        .headers()
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| loopback_origin(o))
        .and_then(|o| http::HeaderValue::from_str(o).ok());
    let mut answer = if req.method() == Method::OPTIONS {
        let mut preflight = Response::new(Full::new(Bytes::new()));
        *preflight.status_mut() = StatusCode::NO_CONTENT;
        if origin.is_some() {
            let h = preflight.headers_mut();
            h.insert(
                http::header::ACCESS_CONTROL_ALLOW_METHODS,
                http::HeaderValue::from_static("GET, POST, PATCH, DELETE"),
            );
            h.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, http::HeaderValue::from_static("content-type"));
            h.insert(http::header::ACCESS_CONTROL_MAX_AGE, http::HeaderValue::from_static("600"));
        }
        preflight
    } else {
        route(p, req).await?
    };
    if let Some(origin) = origin {
        answer.headers_mut().insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        answer.headers_mut().insert(http::header::VARY, http::HeaderValue::from_static("origin"));
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_pages_on_this_machine_may_call_the_api_from_a_browser() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:3000",
            "http://[::1]:9",
            "https://127.0.0.1",
            "http://localhost",
        ] {
            assert!(super::loopback_origin(ok), "{ok}");
        }
        for no in [
            "http://127.0.0.1.evil.example",
            "http://example.com",
            "null",
            "http://localhost:x",
            "http://10.0.0.1:80",
            "http://[::1]evil",
            "file://",
        ] {
            assert!(!super::loopback_origin(no), "{no}");
        }
    }
}
