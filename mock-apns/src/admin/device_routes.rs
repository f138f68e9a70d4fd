//! The admin API's device routes (`/api/v1/devices…`): virtual devices and their
//! lifecycle, a phone's local push, Live Activity tokens, token scopes side by side.
//! `routes.rs` sends every path under `/api/v1/devices` here; `None` means no route took
//! it (405 or 404 there).

use http::{Method, Request, StatusCode};
use serde::Deserialize;

use super::Shared;
use super::respond::{AdminResponse, Body, created, error, from_error, json, ok, parse_query, read_batch, read_json};
use crate::devices::activities::{ActivityCall, NewActivity, NewActivityType};
use crate::devices::operations::{Lifecycle, LocalPush, NewDevice};
use crate::devices::web_apps::{self, NewWebApp, RemoveWebApp};
use crate::registry::web::Ended;

/// `POST /api/v1/devices/{udid}/restore` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreRequest {
    #[serde(default)]
    to_udid: Option<String>,
}

/// One device route, if the path and method name one.
pub(crate) async fn route<B: Body>(
    shared: &Shared,
    segments: &[&str],
    method: &Method,
    query: &str,
    req: Request<B>,
) -> Option<AdminResponse> {
    Some(match (segments, method) {
        (["api", "v1", "devices"], &Method::GET) => match parse_query(query, &["after", "limit"]) {
            Ok(q) => match q.get("limit").map(|l| l.parse::<usize>()).transpose() {
                Ok(limit) => json(
                    StatusCode::OK,
                    &shared.devices.device_views(q.get("after").map(String::as_str), limit.unwrap_or(1000)),
                ),
                Err(_) => error(StatusCode::BAD_REQUEST, "limit is not a number"),
            },
            Err(msg) => error(StatusCode::BAD_REQUEST, msg),
        },
        (["api", "v1", "devices"], &Method::POST) => match read_json::<NewDevice>(shared, req).await {
            Ok(new) => created(shared.devices.create_device(new).await),
            Err(r) => r,
        },
        (["api", "v1", "devices", "batch"], &Method::POST) => match read_batch(shared, req).await {
            Ok(devices) => created(shared.devices.create_devices(devices).await),
            Err(r) => r,
        },
        (["api", "v1", "devices", udid], &Method::GET) => ok(shared.devices.device_view(udid)),
        (["api", "v1", "devices", udid, "push"], &Method::POST) => match read_json::<LocalPush>(shared, req).await {
            Ok(push) => ok(crate::provider_api::push::local(shared, udid, push).await),
            Err(r) => r,
        },
        (["api", "v1", "devices", udid, "activity-types"], &Method::POST) => {
            match read_json::<NewActivityType>(shared, req).await {
                Ok(new) => created(shared.devices.declare_activity_type(udid, new).await),
                Err(r) => r,
            }
        }
        (["api", "v1", "devices", udid, "activities"], &Method::POST) => {
            match read_json::<NewActivity>(shared, req).await {
                Ok(new) => match shared.devices.refuse_on_running_phone(udid, ActivityCall::Start) {
                    Ok(()) => created(shared.devices.start_activity(udid, new).await),
                    Err(e) => from_error(e),
                },
                Err(r) => r,
            }
        }
        (["api", "v1", "devices", udid, "web-apps"], &Method::POST) => {
            match read_json::<NewWebApp>(shared, req).await {
                Ok(new) => {
                    let listener = shared.devices.webpush_url.get().cloned().unwrap_or_default();
                    created(shared.devices.add_web_app(udid, new).await.map(|s| web_apps::view(&s, &listener)))
                }
                Err(r) => r,
            }
        }
        (["api", "v1", "devices", udid, "web-apps"], &Method::GET) => {
            let listener = shared.devices.webpush_url.get().cloned().unwrap_or_default();
            ok(shared
                .devices
                .web_apps(udid)
                .map(|all| all.iter().map(|s| web_apps::view(s, &listener)).collect::<Vec<_>>()))
        }
        (["api", "v1", "devices", udid, "web-apps", action @ ("remove" | "revoke")], &Method::POST) => {
            match read_json::<RemoveWebApp>(shared, req).await {
                Ok(gone) => {
                    let listener = shared.devices.webpush_url.get().cloned().unwrap_or_default();
                    let by = if *action == "revoke" { Ended::Revoked } else { Ended::Removed };
                    let ended = shared.devices.remove_web_app(udid, &gone.origin, by).await;
                    ok(ended.map(|all| all.iter().map(|s| web_apps::view(s, &listener)).collect::<Vec<_>>()))
                }
                Err(r) => r,
            }
        }
        (["api", "v1", "devices", udid, "phone"], &Method::POST) => {
            match read_json::<crate::devices::phones::RunPhone>(shared, req).await {
                Ok(run) => ok(shared.devices.run_phone(udid, run)),
                Err(r) => r,
            }
        }
        (["api", "v1", "devices", udid, "phone"], &Method::DELETE) => ok(shared.devices.stop_phone(udid)),
        (["api", "v1", "devices", udid, "notifications", apns_id, "respond"], &Method::POST) => {
            match read_json::<crate::devices::operations::Respond>(shared, req).await {
                Ok(r) => ok(shared.devices.respond(udid, apns_id, r).await),
                Err(r) => r,
            }
        }
        (["api", "v1", "devices", udid, "token-scopes"], &Method::GET) => match shared.devices.device_view(udid) {
            // Side by side: each installed app's token under today's rules (per-app) and the
            // early iOS's (per-device), from the same inputs; one of them is the token in use.
            Ok(d) => {
                let hex = |b: [u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
                let apps: Vec<serde_json::Value> = d
                    .apps
                    .iter()
                    .filter(|a| a.installed)
                    .map(|a| {
                        let (env, generation) = (a.environment, d.generation);
                        serde_json::json!({
                            "bundle_id": a.bundle_id, "environment": env, "install_generation": a.install_generation,
                            "per-app": hex(shared.registry.table.derive_token(env, &d.udid, Some(&a.bundle_id), generation, a.install_generation)),
                            "per-device": hex(shared.registry.table.derive_token(env, &d.udid, None, generation, 0)),
                        })
                    })
                    .collect();
                json(
                    StatusCode::OK,
                    &serde_json::json!({"udid": d.udid, "scope": shared.registry.table.scope(), "device_generation": d.generation, "apps": apps}),
                )
            }
            Err(e) => from_error(e),
        },
        (["api", "v1", "devices", _, "token-scopes"], _) => {
            let path = format!("/{}", segments.join("/"));
            error(StatusCode::METHOD_NOT_ALLOWED, format!("{path} does not take {method}"))
        }
        (["api", "v1", "devices", udid, "activities"], &Method::GET) => ok(shared.devices.activity_views(udid)),
        (["api", "v1", "devices", udid, "activities", id, "end"], &Method::POST) => {
            match shared.devices.refuse_on_running_phone(udid, ActivityCall::End) {
                Ok(()) => ok(shared.devices.end_activity(udid, id).await),
                Err(e) => from_error(e),
            }
        }
        (["api", "v1", "devices", udid, action], &Method::POST) => {
            let event = match *action {
                "erase" => Ok(Lifecycle::Erase),
                "backup" => Ok(Lifecycle::Backup),
                "offline" => Ok(Lifecycle::Offline),
                "online" => Ok(Lifecycle::Online),
                "restore" => {
                    read_json::<RestoreRequest>(shared, req).await.map(|r| Lifecycle::Restore { to_udid: r.to_udid })
                }
                other => Err(error(
                    StatusCode::NOT_FOUND,
                    format!("no device action {other:?} (erase, backup, restore, offline, online)"),
                )),
            };
            match event {
                Ok(event) => ok(shared.devices.lifecycle(udid, event).await),
                Err(r) => r,
            }
        }
        (["api", "v1", "devices", udid, "apps", bundle, action], &Method::POST) => {
            let bundle = bundle.to_string();
            let event = match *action {
                "update" => Some(Lifecycle::Update(bundle)),
                "uninstall" => Some(Lifecycle::Uninstall(bundle)),
                "reinstall" => Some(Lifecycle::Reinstall(bundle)),
                _ => None,
            };
            match event {
                Some(event) => ok(shared.devices.lifecycle(udid, event).await),
                None => {
                    error(StatusCode::NOT_FOUND, format!("no app action {action:?} (update, uninstall, reinstall)"))
                }
            }
        }
        _ => return None,
    })
}
