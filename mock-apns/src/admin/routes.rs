//! The admin routes: HTTP/1.1 in, a call to the room that owns the operation, JSON out
//! (the route table is in [`super`]).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Shared;
use super::dashboard::{self, ConsolePush};
use super::respond::{
    AdminResponse, Body, created, error, from_error, json, ok, parse_query, percent_decode, read_json,
};
use crate::clock::{ClockView, SetClock};
use crate::observe::capture::CaptureFilter;
use crate::observe::web_log::WebFilter;
use crate::provider_api::credentials::{NewCertificate, NewKey};
use crate::provider_api::faults::NewFault;
use crate::provider_api::limits::RateLimits;

/// The OpenAPI 3.1 description of every route here (checked against the router by a test).
const OPENAPI: &str = include_str!("openapi.json");

/// Serves the admin API until `shutdown` fires.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let max = shared.state.config.max_connections;
    crate::accept::accept_loop(listener, "admin", max, shutdown, |tcp, _| {
        let shared = shared.clone();
        async move {
            let service = hyper::service::service_fn(move |req| route(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
        }
    })
    .await;
}

/// Every live broadcast channel, with its subscriber count.
fn channel_views(shared: &Shared) -> Vec<serde_json::Value> {
    shared
        .registry
        .channels
        .all_live()
        .into_iter()
        .map(|c| {
            serde_json::json!({
                "channel_id": c.id, "bundle_id": c.bundle_id, "environment": c.environment,
                "storage_policy": c.storage_policy, "created_at": c.created_at,
                "subscribers": shared.registry.table.subscribers(&c.id).len(),
            })
        })
        .collect()
}

/// What the dashboard shows on first paint, rendered into the page so it is whole
/// before any call: the phones, the counts, the channels, and the latest notifications
/// (with their journeys), registrations and lifecycle events — the same documents the page's calls answer.
fn initial_state(shared: &Shared) -> serde_json::Value {
    let notifications: Vec<serde_json::Value> = shared
        .observe
        .capture
        .query(&CaptureFilter { limit: Some(30), ..Default::default() })
        .into_iter()
        .map(|r| {
            let journey = shared.devices.journeys.get(&r.apns_id).unwrap_or_default();
            serde_json::json!({"request": r, "journey": journey})
        })
        .collect();
    let web_pushes: Vec<serde_json::Value> = shared
        .observe
        .web_log
        .query(&WebFilter { limit: Some(30), ..Default::default() })
        .into_iter()
        .map(|r| {
            let journey = shared.devices.journeys.get(r.apns_id.as_str()).unwrap_or_default();
            serde_json::json!({"request": r, "journey": journey})
        })
        .collect();
    serde_json::json!({
        "web_pushes": web_pushes,
        "devices": shared.devices.device_views(None, 50),
        "stats": shared.observe.stats.snapshot(),
        "channels": channel_views(shared),
        "notifications": notifications,
        "registrations": shared.observe.registrations.list(None, 30),
        // The flow draws erases, restores and app installs as events of their own.
        "events": shared.registry.events.query(None, 100),
        "lang": shared.state.config.lang.as_str(),
    })
}

pub(crate) async fn route<B: Body>(shared: Arc<Shared>, req: Request<B>) -> Result<AdminResponse, Infallible> {
    let path = req.uri().path().to_owned();
    let (query, presented) = split_admin_token(req.uri().query().unwrap_or(""));
    if let Some(expected) = &shared.state.config.admin_token {
        let bearer = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let given = bearer.map(str::to_owned).or(presented);
        if !given.is_some_and(|g| same_secret(g.as_bytes(), expected.as_bytes())) {
            return Ok(error(
                StatusCode::UNAUTHORIZED,
                "this admin API needs its token: Authorization: Bearer <token>, or ?admin_token=<token>",
            ));
        }
    }
    let method = req.method().clone();
    let Some(segments) = path.split('/').skip(1).map(percent_decode).collect::<Option<Vec<String>>>() else {
        return Ok(error(StatusCode::BAD_REQUEST, "bad escape in the path"));
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if let ["api", "v1", "devices", ..] = segments.as_slice() {
        let response = super::device_routes::route(&shared, &segments, &method, &query, req).await;
        return Ok(response.unwrap_or_else(|| unmatched(&path, &method, &segments)));
    }
    let response = match (segments.as_slice(), &method) {
        (["api", "v1", "health"], &Method::GET) => {
            let (devices, tokens) = shared.registry.table.counts();
            let scope = shared.registry.table.scope();
            json(
                StatusCode::OK,
                &serde_json::json!({"status": "ok", "devices": devices, "tokens": tokens, "token_scope": scope}),
            )
        }
        (["api", "v1", "ca.pem"], &Method::GET) => Response::builder()
            .header(http::header::CONTENT_TYPE, "application/x-pem-file")
            .body(Bytes::from(shared.state.authority.cert_pem().to_owned()).into())
            .expect("static header"),
        (["api", "v1", "ready"], &Method::GET) => {
            // The ready line, and the two files it names as their contents: what a client
            // on another machine (or outside the container) needs to push here.
            let mut ready = shared.ready.get().cloned().unwrap_or_else(|| serde_json::json!({}));
            ready["ca_pem"] = shared.state.authority.cert_pem().into();
            ready["key_p8"] = shared.default_key_p8.clone().into();
            json(StatusCode::OK, &ready)
        }
        (["api", "v1", "keys"], &Method::GET) => json(StatusCode::OK, &shared.key_views()),
        (["api", "v1", "keys"], &Method::POST) => match read_json::<NewKey>(&shared, req).await {
            Ok(new) => created(shared.register_key(new).await),
            Err(r) => r,
        },
        (["api", "v1", "certificates"], &Method::POST) => match read_json::<NewCertificate>(&shared, req).await {
            Ok(new) => created(shared.issue_certificate(new)),
            Err(r) => r,
        },
        (["api", "v1", "registrations"], &Method::GET) => match parse_query(&query, &["udid", "limit"]) {
            Ok(q) => match q.get("limit").map(|l| l.parse::<usize>()).transpose() {
                Ok(limit) => json(
                    StatusCode::OK,
                    &shared.observe.registrations.list(q.get("udid").map(String::as_str), limit.unwrap_or(100)),
                ),
                Err(_) => error(StatusCode::BAD_REQUEST, "limit is not a number"),
            },
            Err(msg) => error(StatusCode::BAD_REQUEST, msg),
        },
        (["api", "v1", "events"], &Method::GET) => match parse_query(&query, &["udid", "limit"]) {
            Ok(q) => match q.get("limit").map(|l| l.parse::<usize>()).transpose() {
                Ok(limit) => json(
                    StatusCode::OK,
                    &shared.registry.events.query(q.get("udid").map(String::as_str), limit.unwrap_or(100)),
                ),
                Err(_) => error(StatusCode::BAD_REQUEST, "limit is not a number"),
            },
            Err(msg) => error(StatusCode::BAD_REQUEST, msg),
        },
        (["api", "v1", "notifications", apns_id], &Method::GET) => {
            let request = shared.observe.capture.query(&CaptureFilter {
                apns_id: Some(apns_id.to_string()),
                limit: Some(1),
                ..Default::default()
            });
            // A Web Push message's request is in the endpoint's own log.
            let request =
                request.into_iter().next().map(|r| serde_json::to_value(r).unwrap_or_default()).or_else(|| {
                    let filter = WebFilter { apns_id: Some(apns_id.to_string()), limit: Some(1), ..Default::default() };
                    let web = shared.observe.web_log.query(&filter).into_iter().next()?;
                    Some(serde_json::to_value(web).unwrap_or_default())
                });
            match (request, shared.devices.journeys.get(apns_id)) {
                (None, None) => error(StatusCode::NOT_FOUND, format!("no notification {apns_id}")),
                (request, journey) => {
                    // Accepted and not (yet) stored or delivered: the capture log is its journey.
                    let journey = journey.unwrap_or_else(|| match &request {
                        Some(r) if matches!(r["status"].as_u64(), Some(200 | 201)) => {
                            vec![crate::devices::journey::Step {
                                state: crate::devices::journey::State::Received,
                                time_ms: r["time_ms"].as_u64().unwrap_or_default(),
                                detail: None,
                            }]
                        }
                        _ => Vec::new(),
                    });
                    json(StatusCode::OK, &serde_json::json!({"request": request, "journey": journey}))
                }
            }
        }
        (["api", "v1", "web-pushes"], &Method::GET) => match parse_web_filter(&query) {
            Ok(filter) => json(StatusCode::OK, &shared.observe.web_log.query(&filter)),
            Err(msg) => error(StatusCode::BAD_REQUEST, msg),
        },
        (["api", "v1", "notifications"], &Method::GET) => match parse_filter(&query) {
            Ok(filter) => json(StatusCode::OK, &shared.observe.capture.query(&filter)),
            Err(msg) => error(StatusCode::BAD_REQUEST, msg),
        },
        ([""], &Method::GET) => dashboard::page(&initial_state(&shared)),
        (["api", "v1", "openapi.json"], &Method::GET) => Response::builder()
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Bytes::from_static(OPENAPI.as_bytes()).into())
            .expect("static header"),
        (["metrics"], &Method::GET) => Response::builder()
            .header(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")
            .body(Bytes::from(super::metrics::render(&shared)).into())
            .expect("static header"),
        (["api", "v1", "stream"], &Method::GET) => dashboard::stream(&shared),
        (["api", "v1", "stats"], &Method::GET) => json(StatusCode::OK, &shared.observe.stats.snapshot()),
        (["api", "v1", "console", "web-push"], &Method::POST) => {
            match read_json::<super::web_console::ConsoleWebPush>(&shared, req).await {
                Ok(push) => ok(super::web_console::web_push(&shared, push).await),
                Err(r) => r,
            }
        }
        (["api", "v1", "console", "vapid-key"], &Method::GET) => ok(super::web_console::vapid_key(&shared)),
        (["api", "v1", "console"], &Method::POST) => match read_json::<ConsolePush>(&shared, req).await {
            Ok(push) => ok(dashboard::console(&shared, push).await),
            Err(r) => r,
        },
        (["api", "v1", "faults"], &Method::GET) => json(StatusCode::OK, &shared.faults.list()),
        (["api", "v1", "faults"], &Method::POST) => match read_json::<NewFault>(&shared, req).await {
            Ok(rule) => created(shared.faults.add(rule)),
            Err(r) => r,
        },
        (["api", "v1", "faults"], &Method::DELETE) => {
            shared.faults.clear();
            json(StatusCode::OK, &serde_json::json!({"removed": "all"}))
        }
        (["api", "v1", "faults", id], &Method::DELETE) => match id.parse::<u64>() {
            Ok(id) => ok(shared.faults.remove(id).map(|()| serde_json::json!({"removed": id}))),
            Err(_) => error(StatusCode::NOT_FOUND, format!("no fault rule {id}")),
        },
        (["api", "v1", "rate-limits"], &Method::GET) => json(StatusCode::OK, &shared.limits.get()),
        (["api", "v1", "rate-limits"], &Method::PUT) => match read_json::<RateLimits>(&shared, req).await {
            Ok(limits) => ok(shared.limits.set(limits)),
            Err(r) => r,
        },
        (["api", "v1", "idle-timeout"], &Method::GET) => {
            let ms = shared.idle_timeout_ms.load(std::sync::atomic::Ordering::Relaxed);
            json(StatusCode::OK, &IdleTimeout { ms: (ms > 0).then_some(ms) })
        }
        (["api", "v1", "idle-timeout"], &Method::PUT) => match read_json::<IdleTimeout>(&shared, req).await {
            Ok(t) if t.ms == Some(0) => error(StatusCode::BAD_REQUEST, "ms must be at least 1 (null turns it off)"),
            Ok(t) => {
                shared.set_idle_timeout_ms(t.ms.unwrap_or(0));
                json(StatusCode::OK, &t)
            }
            Err(r) => r,
        },
        (["api", "v1", "clock"], &Method::GET) => json(StatusCode::OK, &ClockView::of(&shared.state.clock)),
        (["api", "v1", "clock"], &Method::PUT) => match read_json::<SetClock>(&shared, req).await {
            Ok(set) => ok(set.apply(&shared.state.clock)),
            Err(r) => r,
        },
        (["api", "v1", "broadcast-capability", bundle], &Method::PUT) => {
            match read_json::<Capability>(&shared, req).await {
                Ok(c) => ok(crate::provider_api::broadcast::set_capability(&shared, bundle, c.enabled).await.map(
                    |gone| serde_json::json!({"bundle_id": bundle, "enabled": c.enabled, "channels_deleted": gone}),
                )),
                Err(r) => r,
            }
        }
        (["api", "v1", "channels"], &Method::GET) => json(StatusCode::OK, &channel_views(&shared)),
        (["api", "v1", "broadcasts", request_id], &Method::GET) => match uuid::Uuid::parse_str(request_id) {
            Err(_) => error(StatusCode::BAD_REQUEST, format!("{request_id:?} is not a request id")),
            Ok(id) => match shared.fanout(&id) {
                None => error(StatusCode::NOT_FOUND, format!("no broadcast {request_id} among the newest 1000")),
                Some(ids) => {
                    let table = &shared.registry.table;
                    let deliveries: Vec<serde_json::Value> = ids
                        .iter()
                        .map(|(apns_id, slot)| {
                            // Which phone and activity the copy went to, so a page can show it there.
                            let activity_id = match table.activity_target(*slot) {
                                protocol::ActivityTarget::Update { activity_id } => Some(activity_id),
                                protocol::ActivityTarget::PushToStart { .. } => None,
                            };
                            serde_json::json!({"apns_id": apns_id, "udid": table.activity_udid(*slot),
                                "activity_id": activity_id,
                                "journey": shared.devices.journeys.get(apns_id).unwrap_or_default()})
                        })
                        .collect();
                    json(StatusCode::OK, &serde_json::json!({"request_id": request_id, "deliveries": deliveries}))
                }
            },
        },
        (["api", "v1", "reset"], &Method::POST) => match shared.reset().await {
            Ok(()) => json(StatusCode::OK, &serde_json::json!({"reset": true})),
            Err(e) => from_error(e),
        },
        _ => unmatched(&path, &method, &segments),
    };
    Ok(response)
}

/// No route took the request: 405 for a path that exists with another method, else 404.
fn unmatched(path: &str, method: &Method, segments: &[&str]) -> AdminResponse {
    match (segments, method) {
        (
            [
                "api",
                "v1",
                "health" | "ready" | "ca.pem" | "keys" | "certificates" | "devices" | "events" | "registrations"
                | "notifications" | "web-pushes" | "reset" | "channels" | "stats" | "stream" | "console" | "faults"
                | "rate-limits" | "idle-timeout" | "clock" | "openapi.json",
            ]
            | ["api", "v1", "devices", _]
            | ["api", "v1", "faults", _]
            | ["api", "v1", "notifications", _]
            | ["api", "v1", "broadcasts", _]
            | ["api", "v1", "broadcast-capability", _]
            | [""]
            | ["metrics"]
            | ["api", "v1", "devices", _, _]
            | ["api", "v1", "devices", _, "web-apps", "remove" | "revoke"]
            | ["api", "v1", "console", "web-push" | "vapid-key"]
            | ["api", "v1", "devices", _, "activities", _, "end"]
            | ["api", "v1", "devices", _, "apps", _, _]
            | ["api", "v1", "devices", _, "notifications", _, "respond"],
            _,
        ) => error(StatusCode::METHOD_NOT_ALLOWED, format!("{path} does not take {method}")),
        _ => error(StatusCode::NOT_FOUND, format!("no route {path}")),
    }
}

/// `PUT /api/v1/broadcast-capability/{bundle}`: the App ID's broadcast switch.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct Capability {
    enabled: bool,
}

/// `PUT /api/v1/idle-timeout`: close provider connections idle this long (`null`: never).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdleTimeout {
    ms: Option<u64>,
}

/// Reads `token`, `topic`, `apns_id` and `limit` from a query string.
fn parse_filter(query: &str) -> Result<CaptureFilter, String> {
    let mut filter = CaptureFilter::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v).ok_or_else(|| format!("bad escape in {k}"))?;
        match k {
            "token" => filter.token = Some(v),
            "topic" => filter.topic = Some(v),
            "apns_id" => filter.apns_id = Some(v),
            "limit" => filter.limit = Some(v.parse().map_err(|_| format!("limit {v:?} is not a number"))?),
            other => {
                return Err(format!("unknown filter {other:?} (token, topic, apns_id, limit)"));
            }
        }
    }
    Ok(filter)
}

/// `GET /api/v1/web-pushes`'s filter: subscription, origin, apns_id, limit.
fn parse_web_filter(query: &str) -> Result<WebFilter, String> {
    let mut filter = WebFilter::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v).ok_or_else(|| format!("bad escape in {k}"))?;
        match k {
            "subscription" => filter.subscription = Some(v),
            "origin" => filter.origin = Some(v),
            "apns_id" => filter.apns_id = Some(v),
            "limit" => filter.limit = Some(v.parse().map_err(|_| format!("limit {v:?} is not a number"))?),
            other => return Err(format!("unknown filter {other:?} (subscription, origin, apns_id, limit)")),
        }
    }
    Ok(filter)
}

/// Takes `admin_token` out of a query string: (the rest, the token).
fn split_admin_token(query: &str) -> (String, Option<String>) {
    let mut token = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("admin_token=") {
            Some(t) => {
                token = percent_decode(t);
                false
            }
            None => true,
        })
        .collect();
    (rest.join("&"), token)
}

/// Compares secrets in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        let f = parse_filter("token=AB&topic=com.example%2Eapp&limit=5").expect("parses");
        assert_eq!(f.token.as_deref(), Some("AB"));
        assert_eq!(f.topic.as_deref(), Some("com.example.app"));
        assert_eq!(f.limit, Some(5));
        assert!(parse_filter("limit=x").is_err());
        assert!(parse_filter("nope=1").is_err());
        assert!(parse_filter("topic=%zz").is_err());
    }

    #[test]
    fn the_admin_token_is_taken_out_of_the_query() {
        assert_eq!(
            split_admin_token("token=AB&admin_token=s%3Dx&limit=1"),
            ("token=AB&limit=1".into(), Some("s=x".into()))
        );
        assert_eq!(split_admin_token(""), (String::new(), None));
        assert!(same_secret(b"abc", b"abc") && !same_secret(b"abc", b"abd") && !same_secret(b"abc", b"ab"));
    }
}
