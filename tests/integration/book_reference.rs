//! The book's reference pages (`docs/src/reference/`) generated from the code, failing
//! while one is stale: the command line from clap, the admin API from the OpenAPI
//! document, the ready line from `Ready`'s own comments, the metrics from `/metrics`.

use std::collections::BTreeSet;

use mock_apns::{Config, MockApns};
use serde_json::Value;

use crate::book::{read, root};

/// Writes `page` under `docs/src/reference/` with `APNS_LAB_BLESS` set; otherwise fails
/// when it differs from what the code generates now.
fn generated(page: &str, now: &str) -> Option<String> {
    let path = root().join("docs/src/reference").join(page);
    if std::env::var_os("APNS_LAB_BLESS").is_some() {
        std::fs::write(&path, now).expect("written");
        return None;
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    (kept != now).then(|| {
        format!(
            "docs/src/reference/{page} is stale: APNS_LAB_BLESS=1 cargo test --test integration book writes it again"
        )
    })
}

/// The command line, as `apns-lab --markdown-help` (clap-markdown) prints it.
pub(crate) fn cli_page() -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_apns-lab"));
    cmd.arg("--markdown-help").env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    let out = cmd.output().expect("runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The admin API, from the OpenAPI document the mock serves.
fn admin_api_page() -> String {
    let doc: Value =
        serde_json::from_str(&read(&root().join("mock-apns/src/admin/openapi.json"))).expect("the OpenAPI document");
    let mut out = String::from(
        "# The admin API\n\nGenerated from `mock-apns/src/admin/openapi.json`, the OpenAPI 3.1 document the mock \
         serves at `GET /api/v1/openapi.json` (a test checks it against the router). JSON over HTTP on the ready \
         line's `admin` address; with `--admin-token`, every call needs `Authorization: Bearer <token>`.\n",
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            if method == "parameters" {
                continue;
            }
            out.push_str(&format!("\n## `{} {path}`\n\n", method.to_uppercase()));
            if let Some(summary) = op["summary"].as_str() {
                out.push_str(&format!("{summary}.\n\n"));
            }
            let params: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let what = p["description"].as_str().map(|d| format!(": {d}")).unwrap_or_default();
                    format!("`{}` ({}){what}", p["name"].as_str().unwrap_or("?"), p["in"].as_str().unwrap_or("?"))
                })
                .collect();
            if !params.is_empty() {
                out.push_str(&format!("Parameters: {}.\n\n", params.join("; ")));
            }
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            if let Some(props) = resolve(&doc, body)["properties"].as_object() {
                let fields: Vec<String> = props.keys().map(|k| format!("`{k}`")).collect();
                out.push_str(&format!("Body (JSON): {}.\n\n", fields.join(", ")));
            }
            let answers: Vec<String> = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(code, r)| {
                    let r = resolve(&doc, r);
                    let said = r["description"].as_str().unwrap_or("").trim_end_matches('.');
                    let what = if code.starts_with('2') {
                        shape(&r["content"]["application/json"]["schema"])
                    } else {
                        String::new()
                    };
                    format!("{code} {said}{what}")
                })
                .collect();
            out.push_str(&format!("Answers: {}.\n", answers.join("; ")));
        }
    }
    out
}

/// What a JSON answer is, in a few words: a schema by name, a list of one, or an
/// object's fields.
fn shape(schema: &Value) -> String {
    let name = |v: &Value| v["$ref"].as_str().and_then(|r| r.rsplit('/').next()).map(str::to_owned);
    if let Some(n) = name(schema) {
        return format!(": a `{n}`");
    }
    if let Some(n) = name(&schema["items"]) {
        return format!(": a list of `{n}`");
    }
    match schema["properties"].as_object() {
        Some(props) if !props.is_empty() => {
            format!(": `{{{}}}`", props.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
        }
        _ => String::new(),
    }
}

/// A `$ref` followed once.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str().and_then(|r| r.strip_prefix("#/")) {
        Some(path) => path.split('/').fold(doc, |at, part| &at[part]),
        None => v,
    }
}

/// The ready line's keys, from `Ready`'s own comments in `mock-apns/src/lib.rs`.
fn ready_page(live: &Value) -> String {
    let lib = read(&root().join("mock-apns/src/lib.rs"));
    let body = lib.split("pub struct Ready {").nth(1).and_then(|b| b.split("\n}").next()).expect("struct Ready");
    let mut out = String::from(
        "# The ready line\n\n`apns-lab serve` prints one JSON line on stdout once every listener is bound (logs go \
         to stderr); `apns-lab exec` puts it in the command's environment (`APNS_LAB_READY`, and one \
         `APNS_LAB_<KEY>` per key); `GET /api/v1/ready` answers it with the CA and the default key as text. \
         Generated from the comments of `mock_apns::Ready`.\n\n| key | what |\n|---|---|\n",
    );
    let mut doc = Vec::new();
    let mut keys = BTreeSet::new();
    for line in body.lines().map(str::trim) {
        if let Some(d) = line.strip_prefix("///") {
            doc.push(d.trim().to_owned());
        } else if let Some(field) = line.strip_prefix("pub ").and_then(|f| f.split(':').next()) {
            out.push_str(&format!("| `{field}` | {} |\n", doc.join(" ")));
            keys.insert(field.to_owned());
            doc.clear();
        }
    }
    let said: BTreeSet<String> = live.as_object().expect("the ready line").keys().cloned().collect();
    assert!(said.is_subset(&keys), "the ready line has keys Ready does not document: {said:?} against {keys:?}");
    out
}

/// The metrics, from the `# HELP` and `# TYPE` lines `/metrics` serves.
fn metrics_page(text: &str) -> String {
    let mut out = String::from(
        "# The metrics\n\n`GET /metrics` on the admin address, in Prometheus's text format. Generated from what a \
         running mock serves.\n\n| metric | type | what |\n|---|---|---|\n",
    );
    let mut types = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            types.insert(name.to_owned(), kind.to_owned());
        }
    }
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let kind = types.get(name).map(String::as_str).unwrap_or("");
            out.push_str(&format!("| `{name}` | {kind} | {help} |\n"));
        }
    }
    out
}

async fn get_text(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("writes");
    let mut all = String::new();
    tcp.read_to_string(&mut all).await.expect("reads");
    all.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
}

/// The reference pages are what the code generates now.
#[tokio::test]
async fn the_reference_pages_are_generated_from_the_code() {
    let mock = MockApns::start(Config::default()).await.expect("mock starts");
    let ready = serde_json::to_value(mock.ready()).expect("JSON");
    let metrics = get_text(mock.admin_addr(), "/metrics").await;
    mock.shutdown().await;
    let stale: Vec<String> = [
        generated("cli.md", &cli_page()),
        generated("admin-api.md", &admin_api_page()),
        generated("ready-line.md", &ready_page(&ready)),
        generated("metrics.md", &metrics_page(&metrics)),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(stale.is_empty(), "{}", stale.join("\n"));
}
