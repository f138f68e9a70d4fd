//! The admin API: JSON over plain HTTP/1.1 (loopback by default), so a test in any
//! language can register keys, issue certificates, create virtual devices and drive
//! their lifecycle, read what the mock answered, and reset between tests. The same
//! operations are methods on [`crate::MockApns`] for Rust tests. Calls that change state
//! answer once the change is durable in the state database.
//!
//! | route | what it does |
//! |---|---|
//! | `GET /api/v1/health` | `{"status":"ok", "devices", "tokens", "token_scope"}` |
//! | `GET /api/v1/ca.pem` | the CA certificate clients must trust |
//! | `POST /api/v1/keys` | registers a signing key ([`NewKey`]) |
//! | `GET /api/v1/keys` | lists keys |
//! | `POST /api/v1/certificates` | issues an APNs client certificate ([`NewCertificate`]) |
//! | `POST /api/v1/devices` | creates a virtual device with apps and returns their tokens ([`NewDevice`]) |
//! | `POST /api/v1/devices/batch` | `{"devices": [NewDevice…]}`: many at once, for fleets |
//! | `GET /api/v1/devices?after=&limit=` | devices by UDID (default limit 1000) |
//! | `GET /api/v1/devices/{udid}` | one device: apps, tokens, generations, what is stored for it |
//! | `POST /api/v1/devices/{udid}/erase` · `backup` · `restore` (`{"to_udid"?}`) · `offline` · `online` | device lifecycle ([`Lifecycle`]) |
//! | `POST /api/v1/devices/{udid}/apps/{bundle_id}/update` · `uninstall` · `reinstall` | app lifecycle |
//! | `POST /api/v1/devices/{udid}/activity-types` `{"bundle_id", "environment"?, "attributes_type"}` | an app declares an `ActivityAttributes` type: its push-to-start token ([`crate::NewActivityType`]) |
//! | `POST /api/v1/devices/{udid}/activities` `{"bundle_id", "environment"?, "attributes_type", "activity_id"?}` · `GET` | a Live Activity starts: its update token ([`crate::NewActivity`]); the device's activity tokens |
//! | `POST /api/v1/devices/{udid}/activities/{activity_id}/end` | the activity ends: its token answers 200 (dropped) until APNs learns, then 410 |
//! | `POST /api/v1/devices/{udid}/web-apps` `{"origin", "name"?, "application_server_key"}` · `GET` | a web app on the Home Screen subscribes to Web Push: `PushSubscription.toJSON()` with its endpoint on the Web Push listener |
//! | `POST /api/v1/devices/{udid}/web-apps/remove` `{"origin"}` | the web app is removed: its subscriptions answer 410 from then on |
//! | `POST /api/v1/devices/{udid}/push` `{"bundle_id"?, "payload"}` | inject a payload into a connected device, like `xcrun simctl push` ([`LocalPush`]) |
//! | `GET /api/v1/events?udid=&limit=` | lifecycle events with their token changes, newest first (default 100) |
//! | `GET /api/v1/notifications?token=&topic=&apns_id=&limit=` | answered requests, newest first (default limit 100) |
//! | `GET /api/v1/notifications/{apns_id}` | one notification: the request and its journey (received → stored / delivered → presented / handled silently / discarded) |
//! | `GET /api/v1/stats` | counts like Apple's console: received, delivered, stored, discarded by reason… |
//! | `GET /api/v1/stream` | server-sent events: `request`, `journey`, `lifecycle` as they happen |
//! | `POST /api/v1/console` | sends a push signed with the default key ([`crate::ConsolePush`]); answers the status and a curl command |
//! | `POST /api/v1/faults` · `GET` · `DELETE` · `DELETE /api/v1/faults/{id}` | fault rules ([`crate::NewFault`]): answer with any reason, 410, delay, stall, reset, GOAWAY, close, lower the stream limit |
//! | `GET` · `PUT /api/v1/rate-limits` `{"per_token"?: {"max","per_ms"}, "global"?: …}` | 429 TooManyRequests past these rates (off by default) |
//! | `GET` · `PUT /api/v1/idle-timeout` `{"ms"}` | provider connections idle this long get GOAWAY IdleTimeout (`null`: never, the default) |
//! | `GET` · `PUT /api/v1/clock` `{"advance_ms"}` \| `{"offset_ms"}` \| `{"now_ms"}` | APNs's time: read it, move it forward, or set its offset from the real time ([`ClockView`], [`SetClock`]) |
//! | `PUT /api/v1/broadcast-capability/{bundle_id}` `{"enabled"}` | the App ID's broadcast capability (on by default; off deletes its channels and answers FeatureNotEnabled) |
//! | `GET /api/v1/channels` | the live broadcast channels, with their subscribers |
//! | `GET /api/v1/broadcasts/{request_id}` | one broadcast's fan-out: each subscriber's delivery and journey |
//! | `GET /api/v1/openapi.json` | this table as an OpenAPI 3.1 document |
//! | `GET /metrics` | Prometheus text: requests by environment/status/reason, notifications by state, discards by why, open connections, JWT verifications and cache hits, answer latency |
//! | `GET /` | the dashboard |
//! | `POST /api/v1/reset` | forgets devices, events, stored notifications and the capture log (keys and the CA stay) |
//!
//! Errors are `{"error":"…"}` with 400 (bad input), 404 (no such route or thing), 405
//! (wrong method), 408 (a body that did not arrive within 30 s), 409 (conflict: double
//! uninstall, restore without a backup, an app of another team), 413 (body over 64 MiB)
//! or 503 (the bodies held at once would pass `admin_body_budget`).

pub(crate) mod batch;
pub(crate) mod dashboard;
pub(crate) mod device_routes;
pub(crate) mod metrics;
pub(crate) mod respond;
pub(crate) mod routes;
pub(crate) mod web_console;

pub(crate) use routes::serve;

/// The admin API reaches every room through the top one, the provider API room.
pub(crate) type Shared = crate::provider_api::Room;
