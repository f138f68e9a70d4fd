//! The benchmark baseline: a bare HTTP/2 server over rustls (hyper, the same TLS stack
//! and runtime as the mock) that answers every request with 200 and no validation, so
//! `bench/provider-api.sh` can report the mock's speed as a ratio to it.
//!
//! Prints `https://127.0.0.1:PORT` on stdout when ready. Argument: the address to bind
//! (default `127.0.0.1:0`).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

async fn answer(req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, Infallible> {
    // Read the body like the mock does, then answer 200 with the same headers a sandbox
    // success carries (a fresh apns-id and apns-unique-id), so the two servers put the
    // same bytes on the wire and the difference is the mock's own work.
    let _ = req.into_body().collect().await;
    let mut a = uuid::Uuid::encode_buffer();
    let mut b = uuid::Uuid::encode_buffer();
    Ok(Response::builder()
        .status(200)
        .header("apns-id", &*uuid::Uuid::new_v4().hyphenated().encode_lower(&mut a))
        .header("apns-unique-id", &*uuid::Uuid::new_v4().hyphenated().encode_lower(&mut b))
        .body(Empty::new())
        .expect("valid response"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The runtime `apns-lab` runs on, so the baseline stays like for like.
    mock_apns::runtime()?.block_on(serve())
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let key = rcgen::KeyPair::generate()?;
    let cert =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?.self_signed(&key)?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("https://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            builder.max_concurrent_streams(1000).max_header_list_size(8000);
            let _ = builder.serve_connection(TokioIo::new(tls), hyper::service::service_fn(answer)).await;
        });
    }
}
