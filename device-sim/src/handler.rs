//! An app's own logic, run by the phone: a handler is a command (one JSON event per line
//! on its stdin, one JSON answer per line on its stdout), an HTTP(S) URL (each event
//! `POST`ed as JSON, the answer JSON), or — for Rust tests — a function. The phone calls
//! it with the events iOS would call the app with ([`crate::app`] says which and when)
//! and holds it to bounds: an answer must come within the event's time budget and be at
//! most [`MAX_ANSWER`] bytes of JSON, or it is the app's failure, never the phone's.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::Error;

/// The largest answer a handler may give, bytes (an extension's content is at most a
/// few kilobytes; this leaves room and bounds what a broken handler can make the phone
/// hold).
pub const MAX_ANSWER: usize = 256 * 1024;

/// An answer a function handler gives, later.
pub type Answer = Pin<Box<dyn Future<Output = Value> + Send>>;

/// A function handler: gets each event, answers JSON.
pub type Function = Arc<dyn Fn(Value) -> Answer + Send + Sync>;

/// Where an app's logic runs.
#[derive(Clone)]
pub enum Target {
    /// A command run with `sh -c`, once, kept running; restarted after it failed.
    Command(String),
    /// An `http://` or `https://` URL each event is posted to.
    Url(String),
    /// A function in this process (Rust tests).
    Function(Function),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Command(c) => write!(f, "command {c:?}"),
            Target::Url(u) => write!(f, "{u}"),
            Target::Function(_) => f.write_str("a function"),
        }
    }
}

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Target::Command(a), Target::Command(b)) | (Target::Url(a), Target::Url(b)) => a == b,
            (Target::Function(a), Target::Function(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Target {}

impl Target {
    /// Reads a handler as the CLI takes it: a URL when it starts with `http://` or
    /// `https://`, a command otherwise. A URL must name a loopback host unless
    /// `allow_remote` (a handler is the team's code, reached from the phone; by default
    /// nothing leaves the machine).
    pub fn parse(spec: &str, allow_remote: bool) -> Result<Target, Error> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(Error::Config("a handler needs a command or a URL".into()));
        }
        if !(spec.starts_with("http://") || spec.starts_with("https://")) {
            return Ok(Target::Command(spec.to_owned()));
        }
        let uri: http::Uri = spec.parse().map_err(|_| Error::Config(format!("handler {spec:?} is not a URL")))?;
        let host = uri.host().ok_or_else(|| Error::Config(format!("handler {spec:?} has no host")))?;
        if !allow_remote && !is_loopback(host, uri.port_u16().unwrap_or(80)) {
            return Err(Error::Config(format!(
                "handler {spec:?} is not on this machine (loopback only; --allow-remote-handlers allows more)"
            )));
        }
        Ok(Target::Url(spec.to_owned()))
    }

    /// A function handler.
    pub fn function<F, Fut>(f: F) -> Target
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Value> + Send + 'static,
    {
        Target::Function(Arc::new(move |event| Box::pin(f(event))))
    }
}

/// Whether every address `host` names is a loopback address.
fn is_loopback(host: &str, port: u16) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    match std::net::ToSocketAddrs::to_socket_addrs(&(host, port)) {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

/// Why a handler gave no usable answer: the app's failure, as the journey records it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// It did not answer within the budget.
    #[error("no answer within {0} ms")]
    TimedOut(u128),
    /// It answered something unusable, or could not be reached or run.
    #[error("{0}")]
    Failed(String),
}

/// A running command handler.
struct Process {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// An app's handler, with the command it keeps running.
pub struct Handler {
    target: Target,
    /// PEM roots for an `https://` handler.
    ca_pem: Option<String>,
    process: Option<Process>,
    next_id: u64,
    /// APNs's clock minus this machine's, ms, as the phone follows it: a budget also runs
    /// out when APNs's clock jumps past it.
    clock: Option<tokio::sync::watch::Receiver<i64>>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.target.fmt(f)
    }
}

impl Handler {
    /// A handler for `target`; `ca_pem` is trusted for an `https://` one.
    pub fn new(target: Target, ca_pem: Option<String>) -> Handler {
        Handler { target, ca_pem, process: None, next_id: 0, clock: None }
    }

    /// Measures budgets on APNs's clock as well (`offset`: its time minus this
    /// machine's, ms): when a test moves it past a budget, the budget is spent.
    pub fn follow(&mut self, offset: tokio::sync::watch::Receiver<i64>) {
        self.clock = Some(offset);
    }

    /// Calls the handler with `event` (an object; the phone adds `id`), waiting at most
    /// `budget` for a JSON answer. A command that fails or runs out of time is stopped and
    /// started again for the next event, as iOS launches an app again.
    pub async fn call(&mut self, mut event: Value, budget: Duration) -> Result<Value, Failure> {
        self.next_id += 1;
        let id = self.next_id;
        if let Value::Object(o) = &mut event {
            o.insert("id".into(), id.into());
        }
        // The budget runs out on this machine's clock, or when APNs's clock jumps past it.
        let jump = jumped(self.clock.clone(), budget);
        tokio::pin!(jump);
        let answered: Option<Result<Value, String>> = match &self.target {
            Target::Function(f) => {
                let f = f.clone();
                tokio::select! {
                    r = tokio::time::timeout(budget, f(event)) => r.ok().map(Ok),
                    () = &mut jump => None,
                }
            }
            Target::Url(url) => {
                let url = url.clone();
                tokio::select! {
                    r = tokio::time::timeout(budget, post(&url, self.ca_pem.as_deref(), &event)) => r.ok(),
                    () = &mut jump => None,
                }
            }
            Target::Command(cmd) => {
                let cmd = cmd.clone();
                let answered = tokio::select! {
                    r = tokio::time::timeout(budget, self.exchange(&cmd, &event, id)) => r.ok(),
                    () = &mut jump => None,
                };
                if !matches!(answered, Some(Ok(_))) {
                    self.stop();
                }
                answered
            }
        };
        match answered {
            None => Err(Failure::TimedOut(budget.as_millis())),
            Some(Err(why)) => Err(Failure::Failed(why)),
            Some(Ok(v)) if v.is_object() || v.is_null() => Ok(v),
            Some(Ok(v)) => Err(Failure::Failed(format!("answered {}, not a JSON object", kind(&v)))),
        }
    }

    /// Stops a running command (the app is terminated).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            // The command's whole process group: `sh -c` may have children of its own.
            #[cfg(unix)]
            if let Some(pid) = p.child.id().and_then(|id| rustix::process::Pid::from_raw(id as i32)) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = p.child.start_kill();
        }
    }

    /// One event to the command and its answer: the next line that is JSON and carries
    /// no other event's `id` (lines answering an earlier, timed-out event are skipped).
    async fn exchange(&mut self, cmd: &str, event: &Value, id: u64) -> Result<Value, String> {
        if self.process.is_none() {
            let mut command = tokio::process::Command::new("sh");
            #[cfg(unix)]
            command.process_group(0);
            let mut child = command
                .arg("-c")
                .arg(cmd)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                return Err("the command has no stdin or stdout".into());
            };
            self.process = Some(Process { child, stdin, stdout: BufReader::new(stdout) });
        }
        let p = self.process.as_mut().expect("started above");
        let mut line = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let gone = |e: std::io::Error| format!("the command exited without answering (its stdin: {e})");
        p.stdin.write_all(&line).await.map_err(gone)?;
        p.stdin.flush().await.map_err(gone)?;
        loop {
            let line = read_line(&mut p.stdout).await?;
            let answer: Value = serde_json::from_slice(line.trim_ascii())
                .map_err(|e| format!("answered a line that is not JSON ({e})"))?;
            match answer.get("id").and_then(Value::as_u64) {
                Some(other) if other != id => continue,
                _ => {}
            }
            return Ok(answer);
        }
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Resolves once APNs's clock (this machine's plus `offset`) has jumped `budget` past
/// where it is now; never without an `offset` to follow. Time passing as usual is the
/// caller's own timer's to measure: this wakes only when the offset changes.
async fn jumped(offset: Option<tokio::sync::watch::Receiver<i64>>, budget: Duration) {
    let Some(mut offset) = offset else { return std::future::pending().await };
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let deadline = now() + *offset.borrow_and_update() + i64::try_from(budget.as_millis()).unwrap_or(i64::MAX);
    loop {
        if offset.changed().await.is_err() {
            return std::future::pending().await;
        }
        if now() + *offset.borrow_and_update() >= deadline {
            return;
        }
    }
}

/// One line of at most [`MAX_ANSWER`] bytes.
async fn read_line(r: &mut BufReader<ChildStdout>) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().await.map_err(|e| e.to_string())?;
        if buf.is_empty() {
            return Err("the command exited without answering".into());
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (&buf[..=at], true),
            None => (buf, false),
        };
        if line.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("answered more than {MAX_ANSWER} bytes in one line"));
        }
        line.extend_from_slice(chunk);
        let n = chunk.len();
        r.consume(n);
        if done {
            return Ok(line);
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        _ => "null",
    }
}

/// Posts `event` to an HTTP(S) handler and reads a JSON answer of at most [`MAX_ANSWER`]
/// bytes; a non-2xx status is a failure.
async fn post(url: &str, ca_pem: Option<&str>, event: &Value) -> Result<Value, String> {
    let uri: http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    let authority = uri.authority().ok_or_else(|| format!("{url:?} has no host"))?.clone();
    let https = uri.scheme_str() == Some("https");
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
    let tcp =
        tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("cannot reach {url}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let body = Full::new(Bytes::from(serde_json::to_vec(event).map_err(|e| e.to_string())?));
    let request = http::Request::post(uri.clone())
        .header(http::header::HOST, authority.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| e.to_string())?;
    let response = if https {
        let ca = ca_pem.ok_or_else(|| format!("{url} is https: give the CA that signed its certificate"))?;
        let config = tls(ca)?;
        let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS to {url}: {e}"))?;
        send(hyper_util::rt::TokioIo::new(tls), request).await?
    } else {
        send(hyper_util::rt::TokioIo::new(tcp), request).await?
    };
    let status = response.status();
    let bytes =
        Limited::new(response.into_body(), MAX_ANSWER).collect().await.map_err(|e| format!("answer: {e}"))?.to_bytes();
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    if bytes.trim_ascii().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("answered a body that is not JSON ({e})"))
}

async fn send<T>(io: T, request: http::Request<Full<Bytes>>) -> Result<http::Response<hyper::body::Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    sender.send_request(request).await.map_err(|e| e.to_string())
}

fn tls(ca_pem: &str) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| format!("CA PEM: {e}"))?).map_err(|e| format!("CA: {e}"))?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Generous: a loaded machine can be slow to start `sh`; the time-outs tested use their own.
    const MS: Duration = Duration::from_secs(20);

    #[tokio::test]
    async fn a_command_answers_line_by_line_and_is_bounded() {
        // Echoes the event's id with an answer.
        let echo = r#"while read -r line; do id=$(printf '%s' "$line" | sed 's/.*"id":\([0-9]*\).*/\1/'); echo "{\"id\":$id,\"result\":\"newData\"}"; done"#;
        let mut h = Handler::new(Target::Command(echo.into()), None);
        for _ in 0..3 {
            let got = h.call(json!({"event": "didReceiveRemoteNotification"}), MS).await;
            assert_eq!(got.expect("answer")["result"], "newData");
        }
        let mut hang = Handler::new(Target::Command("sleep 30".into()), None);
        assert_eq!(hang.call(json!({}), Duration::from_millis(100)).await, Err(Failure::TimedOut(100)));
        let mut garbage = Handler::new(Target::Command("while read -r l; do echo nope; done".into()), None);
        assert!(matches!(garbage.call(json!({}), MS).await, Err(Failure::Failed(w)) if w.contains("not JSON")));
        let mut huge = Handler::new(Target::Command("head -c 400000 /dev/zero | tr '\\0' 'a'".into()), None);
        assert!(matches!(huge.call(json!({}), MS).await, Err(Failure::Failed(w)) if w.contains("more than")));
        let mut flood = Handler::new(Target::Command("yes '{\"id\":0}'".into()), None);
        assert_eq!(flood.call(json!({}), Duration::from_millis(200)).await, Err(Failure::TimedOut(200)));
        let mut exits = Handler::new(Target::Command("true".into()), None);
        assert!(matches!(exits.call(json!({}), MS).await, Err(Failure::Failed(w)) if w.contains("exited")));
        let mut array = Handler::new(Target::Command("while read -r l; do echo '[1]'; done".into()), None);
        assert!(matches!(array.call(json!({}), MS).await, Err(Failure::Failed(w)) if w.contains("array")));
    }

    #[test]
    fn urls_are_loopback_unless_allowed() {
        assert!(matches!(Target::parse("http://127.0.0.1:9/x", false), Ok(Target::Url(_))));
        assert!(matches!(Target::parse("http://[::1]:9/x", false), Ok(Target::Url(_))));
        assert!(matches!(Target::parse("python3 app.py", false), Ok(Target::Command(_))));
        let far = Target::parse("http://192.0.2.1/x", false).expect_err("not loopback");
        assert!(far.to_string().contains("loopback only"), "{far}");
        assert!(matches!(Target::parse("http://192.0.2.1/x", true), Ok(Target::Url(_))));
        assert!(Target::parse("  ", false).is_err());
    }

    /// A loopback server answering every request with `reply` (after `wait`).
    async fn serve(reply: Vec<u8>, wait: Duration) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/app", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let reply = reply.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = tcp.read(&mut buf).await;
                    tokio::time::sleep(wait).await;
                    let _ = tcp.write_all(&reply).await;
                });
            }
        });
        url
    }

    fn http(status: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[tokio::test]
    async fn a_url_answers_json_within_its_bounds() {
        let ok = serve(http("200 OK", br#"{"result":"newData"}"#), Duration::ZERO).await;
        let got = Handler::new(Target::Url(ok), None).call(json!({}), MS).await.expect("answer");
        assert_eq!(got["result"], "newData");
        let empty = serve(http("200 OK", b""), Duration::ZERO).await;
        assert_eq!(Handler::new(Target::Url(empty), None).call(json!({}), MS).await, Ok(Value::Null));
        let refused = serve(http("500 Internal Server Error", b"{}"), Duration::ZERO).await;
        let got = Handler::new(Target::Url(refused), None).call(json!({}), MS).await;
        assert!(matches!(got, Err(Failure::Failed(w)) if w.contains("500")));
        let huge = serve(http("200 OK", &vec![b' '; MAX_ANSWER + 1]), Duration::ZERO).await;
        let got = Handler::new(Target::Url(huge), None).call(json!({}), MS).await;
        assert!(matches!(&got, Err(Failure::Failed(w)) if w.starts_with("answer")), "{got:?}");
        let slow = serve(http("200 OK", b"{}"), Duration::from_secs(10)).await;
        let got = Handler::new(Target::Url(slow), None).call(json!({}), Duration::from_millis(100)).await;
        assert_eq!(got, Err(Failure::TimedOut(100)));
        let garbage = serve(http("200 OK", b"<html>"), Duration::ZERO).await;
        let got = Handler::new(Target::Url(garbage), None).call(json!({}), MS).await;
        assert!(matches!(got, Err(Failure::Failed(w)) if w.contains("not JSON")));
        let https = Handler::new(Target::Url("https://127.0.0.1:9/".into()), None).call(json!({}), MS).await;
        assert!(matches!(https, Err(Failure::Failed(w)) if w.contains("cannot reach") || w.contains("CA")));
    }

    #[tokio::test]
    async fn a_url_that_refuses_or_is_absent_is_a_failure() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let mut h = Handler::new(Target::Url(format!("http://{addr}/")), None);
        assert!(matches!(h.call(json!({}), MS).await, Err(Failure::Failed(w)) if w.contains("cannot reach")));
    }
}
