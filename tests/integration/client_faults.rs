//! The provider's client against an HTTP/2 server that misbehaves the ways APNs can:
//! GOAWAY in the middle of a batch, a small stream limit, streams reset (refused, or
//! broken after processing), and silence. Every notification ends in exactly one result,
//! none is lost, and none the server processed is sent twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use provider::{Auth, Client, ClientConfig, Endpoint, Error, Notification};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// How the test server misbehaves.
#[derive(Clone, Copy)]
enum Fault {
    /// Graceful GOAWAY after this many requests on a connection.
    GoawayAfter(usize),
    /// Refuse every third stream (REFUSED_STREAM: not processed).
    RefuseEveryThird,
    /// Process every third request, then reset it (INTERNAL_ERROR: processed, answer lost).
    BreakEveryThird,
    /// Never answer.
    Silent,
    /// Answer 503 Shutdown the first time an apns-id comes, 200 after; 400 BadDeviceToken
    /// always for apns-ids ending in 9.
    UnavailableOnce,
}

/// Counts PING frames (not ACKs) in what the client sends: a read-side wrapper that looks
/// for the PING frame header in each chunk (test payloads never contain those bytes).
struct PingCounter<IO> {
    io: IO,
    pings: Arc<AtomicUsize>,
}

impl<IO: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for PingCounter<IO> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.io).poll_read(cx, buf);
        let ping = [0u8, 0, 8, 6, 0, 0, 0, 0, 0];
        let n = buf.filled()[before..].windows(9).filter(|w| *w == ping).count();
        self.pings.fetch_add(n, Ordering::SeqCst);
        r
    }
}

impl<IO: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for PingCounter<IO> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        b: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, b)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

struct Server {
    addr: std::net::SocketAddr,
    /// PING frames the client sent.
    pings: Arc<AtomicUsize>,
    ca_pem: String,
    /// apns-id → how many times the server processed it.
    processed: Arc<Mutex<HashMap<String, usize>>>,
    /// apns-ids the server processed and then reset.
    broken: Arc<Mutex<Vec<String>>>,
}

async fn server(fault: Fault, max_streams: u32) -> Server {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params").self_signed(&key).expect("cert");
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("config");
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("addr");
    let processed: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let broken: Arc<Mutex<Vec<String>>> = Arc::default();
    let (seen, reset) = (processed.clone(), broken.clone());
    let pings: Arc<AtomicUsize> = Arc::default();
    let counter = pings.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, seen, reset, counter) = (acceptor.clone(), seen.clone(), reset.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let tls = PingCounter { io: tls, pings: counter };
                let Ok(mut conn) =
                    h2::server::Builder::new().max_concurrent_streams(max_streams).handshake::<_, Bytes>(tls).await
                else {
                    return;
                };
                let count = Arc::new(AtomicUsize::new(0));
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                    if let Fault::GoawayAfter(limit) = fault
                        && n == limit
                    {
                        conn.graceful_shutdown();
                    }
                    let (seen, reset) = (seen.clone(), reset.clone());
                    tokio::spawn(async move {
                        let id = req.headers().get("apns-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                        let mut body = req.into_body();
                        while let Some(Ok(chunk)) = body.data().await {
                            let _ = body.flow_control().release_capacity(chunk.len());
                        }
                        match fault {
                            Fault::RefuseEveryThird if n.is_multiple_of(3) => {
                                return respond.send_reset(h2::Reason::REFUSED_STREAM);
                            }
                            Fault::Silent => return std::future::pending().await,
                            Fault::UnavailableOnce => {
                                let mut seen = seen.lock().expect("lock");
                                let attempts = seen.entry(format!("attempt {id}")).or_default();
                                *attempts += 1;
                                let reason = if id.ends_with('9') {
                                    Some((400, "BadDeviceToken"))
                                } else if *attempts == 1 {
                                    Some((503, "Shutdown"))
                                } else {
                                    None
                                };
                                if let Some((status, reason)) = reason {
                                    drop(seen);
                                    let resp = http::Response::builder()
                                        .status(status)
                                        .header("apns-id", id)
                                        .body(())
                                        .expect("response");
                                    if let Ok(mut stream) = respond.send_response(resp, false) {
                                        let _ =
                                            stream.send_data(Bytes::from(format!(r#"{{"reason":"{reason}"}}"#)), true);
                                    }
                                    return;
                                }
                            }
                            _ => {}
                        }
                        *seen.lock().expect("lock").entry(id.clone()).or_default() += 1;
                        if matches!(fault, Fault::BreakEveryThird) && n.is_multiple_of(3) {
                            reset.lock().expect("lock").push(id);
                            return respond.send_reset(h2::Reason::INTERNAL_ERROR);
                        }
                        let resp =
                            http::Response::builder().status(200).header("apns-id", id).body(()).expect("response");
                        let _ = respond.send_response(resp, true);
                    });
                }
                // After a GOAWAY, keep driving the connection until its streams are done,
                // then keep the socket open a moment, as a server closing gracefully does:
                // a request the client wrote before it read the GOAWAY is then answered
                // by the GOAWAY (not processed, so sent again), not by a broken pipe.
                let _ = std::future::poll_fn(|cx| conn.poll_closed(cx)).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
                drop(conn);
            });
        }
    });
    Server { addr, pings, ca_pem: cert.pem(), processed, broken }
}

fn client(s: &Server, timeout: Duration) -> Client {
    client_with(s, timeout, Duration::from_secs(60))
}

fn client_with(s: &Server, timeout: Duration, ping_interval: Duration) -> Client {
    let endpoint = Endpoint::custom(&format!("https://{}", s.addr), Some(s.ca_pem.clone())).expect("endpoint");
    // Token auth needs a key; certificate auth does not matter to this server.
    let key = rcgen::KeyPair::generate().expect("key");
    let cert =
        rcgen::CertificateParams::new(vec!["client".to_string()]).expect("params").self_signed(&key).expect("cert");
    let mut config =
        ClientConfig::new(endpoint, Auth::Certificate { cert_pem: cert.pem(), key_pem: key.serialize_pem() });
    config.request_timeout = timeout;
    config.backoff = Duration::from_millis(1);
    config.ping_interval = ping_interval;
    Client::new(config).expect("client")
}

fn batch(n: usize) -> Vec<Notification> {
    (0..n)
        .map(|i| {
            Notification::raw("ab".repeat(32), Bytes::from_static(br#"{"aps":{}}"#))
                .apns_id(format!("00000000-0000-4000-8000-{i:012}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn goaway_mid_batch_loses_nothing_and_duplicates_nothing() {
    let s = server(Fault::GoawayAfter(40), 10).await;
    let results = client(&s, Duration::from_secs(5)).send_all(batch(200), 50).await;
    assert_eq!(results.len(), 200);
    assert!(results.iter().all(|r| r.is_ok()), "{:?}", results.iter().find(|r| r.is_err()));
    let processed = s.processed.lock().expect("lock");
    assert_eq!(processed.len(), 200, "every one processed");
    assert!(processed.values().all(|n| *n == 1), "none twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_streams_are_sent_again_and_broken_ones_are_not() {
    let s = server(Fault::RefuseEveryThird, 5).await;
    let results = client(&s, Duration::from_secs(5)).send_all(batch(60), 20).await;
    assert!(results.iter().all(|r| r.is_ok()), "refused streams were not processed, so they are retried");
    assert!(s.processed.lock().expect("lock").values().all(|n| *n == 1));

    let s = server(Fault::BreakEveryThird, 5).await;
    let notifications = batch(60);
    let ids: Vec<String> = notifications.iter().map(|n| n.apns_id.clone().expect("id")).collect();
    let results = client(&s, Duration::from_secs(5)).send_all(notifications, 20).await;
    let mut failed: Vec<String> = ids
        .iter()
        .zip(&results)
        .filter(|(_, r)| matches!(r, Err(Error::Connection(_))))
        .map(|(id, _)| id.clone())
        .collect();
    let mut reset = s.broken.lock().expect("lock").clone();
    failed.sort();
    reset.sort();
    assert!(!reset.is_empty());
    assert_eq!(failed, reset, "exactly the streams reset after processing are reported, and not resent");
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 60 - reset.len());
    let processed = s.processed.lock().expect("lock");
    assert_eq!(processed.len(), 60);
    assert!(processed.values().all(|n| *n == 1), "none sent twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_server_times_out_once_per_notification() {
    let s = server(Fault::Silent, 100).await;
    let results = client(&s, Duration::from_millis(200)).send_all(batch(10), 10).await;
    assert_eq!(results.len(), 10);
    assert!(results.iter().all(|r| matches!(r, Err(Error::Timeout))));
}

#[tokio::test(flavor = "multi_thread")]
async fn only_what_apple_says_to_retry_is_retried() {
    let s = server(Fault::UnavailableOnce, 100).await;
    let results = client(&s, Duration::from_secs(5)).send_all(batch(20), 20).await;
    let seen = s.processed.lock().expect("lock");
    for (i, r) in results.iter().enumerate() {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let attempts = seen[&format!("attempt {id}")];
        if id.ends_with('9') {
            assert!(matches!(r, Err(Error::Rejected(rej)) if rej.status == 400), "{r:?}");
            assert_eq!(attempts, 1, "BadDeviceToken is never retried");
        } else {
            assert!(r.is_ok(), "{r:?}");
            assert_eq!(attempts, 2, "503 Shutdown is retried once, then accepted");
            assert_eq!(seen[&id], 1, "processed once");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_are_kept_alive_with_pings() {
    let s = server(Fault::GoawayAfter(usize::MAX), 100).await;
    let c = client_with(&s, Duration::from_secs(5), Duration::from_millis(30));
    c.send_all(batch(1), 1).await.into_iter().for_each(|r| assert!(r.is_ok()));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let pings = s.pings.load(Ordering::SeqCst);
    assert!(pings >= 3, "{pings} pings in 250 ms at one per 30 ms");
    c.send_all(batch(1), 1).await.into_iter().for_each(|r| assert!(r.is_ok()));
}
