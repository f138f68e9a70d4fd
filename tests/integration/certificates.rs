//! Certificate-based authentication: certificates issued by the mock carry their topics
//! and environments, and the mock reads them back on every connection.

use base64::Engine as _;
use mock_apns::{Config, KeyEnvironment};
use protocol::Environment::{Production, Sandbox};
use rustls::pki_types::pem::PemObject;
use tokio::io::AsyncWriteExt;

use crate::support::*;

async fn cert_client(lab: &Lab, env: protocol::Environment, cert: &mock_apns::CertificateView) -> Client {
    Client::connect(lab.mock.addr(env), lab.mock.ca_pem(), Some((&cert.cert_pem, &cert.key_pem)), Alpn::H2).await
}

#[tokio::test]
async fn a_single_topic_certificate_pushes_without_a_token_or_topic() {
    let lab = lab().await;
    let cert = lab.certificate(&[APP], KeyEnvironment::Both);
    let mut c = cert_client(&lab, Sandbox, &cert).await;
    assert_eq!(c.max_streams(), 1000, "certificate connections are not limited to one stream");
    // Apple's certificate recipe leaves out apns-topic and authorization.
    c.push(Push::new(&lab.sandbox_token, "").without("authorization").without("apns-topic")).await.assert_ok();
    // An authorization header is ignored on a certificate connection.
    c.push(Push::new(&lab.sandbox_token, "garbage")).await.assert_ok();
    c.push(Push::new(&lab.sandbox_token, "").header("apns-topic", "com.example.news"))
        .await
        .assert_err(400, "TopicDisallowed");
    let mut p = cert_client(&lab, Production, &cert).await;
    p.push(Push::new(&lab.production_token, "").without("authorization")).await.assert_ok();
    let seen = lab.mock.notifications(&mock_apns::CaptureFilter::default());
    assert_eq!(seen[0].auth, mock_apns::AuthSummary::Certificate { uid: APP.into() });
}

#[tokio::test]
async fn a_multi_topic_certificate_needs_apns_topic() {
    let lab = lab().await;
    let topics = [APP, "com.example.chat.voip", "com.example.chat.complication"];
    let cert = lab.certificate(&topics, KeyEnvironment::Sandbox);
    let mut c = cert_client(&lab, Sandbox, &cert).await;
    c.push(Push::new(&lab.sandbox_token, "").without("apns-topic")).await.assert_err(400, "MissingTopic");
    c.push(Push::new(&lab.sandbox_token, "")).await.assert_ok();
    c.push(
        Push::new(&lab.sandbox_token, "")
            .header("apns-push-type", "voip")
            .header("apns-topic", "com.example.chat.voip"),
    )
    .await
    .assert_ok();
    c.push(
        Push::new(&lab.sandbox_token, "")
            .header("apns-push-type", "widgets")
            .header("apns-topic", "com.example.chat.push-type.widgets"),
    )
    .await
    .assert_err(400, "TopicDisallowed");
}

#[tokio::test]
async fn a_certificate_for_the_other_environment_gets_goaway() {
    let lab = lab().await;
    let cert = lab.certificate(&[APP], KeyEnvironment::Sandbox);
    let mut tls =
        tls_connect(lab.mock.addr(Production), lab.mock.ca_pem(), Some((&cert.cert_pem, &cert.key_pem)), Alpn::H2)
            .await;
    raw_start(&mut tls).await;
    let frames = read_frames(&mut tls, |f| f.kind == 0x7).await;
    assert_eq!(frames.first().map(|f| f.kind), Some(0x4), "SETTINGS first: {frames:?}");
    let goaway = frames.iter().find(|f| f.kind == 0x7).expect("a GOAWAY");
    assert_eq!(&goaway.payload[..8], &[0; 8], "last stream 0, NO_ERROR");
    assert_eq!(&goaway.payload[8..], br#"{"reason":"BadCertificateEnvironment"}"#);
    let _ = tls.shutdown().await;
    // The same certificate is fine on sandbox.
    cert_client(&lab, Sandbox, &cert)
        .await
        .push(Push::new(&lab.sandbox_token, "").without("authorization"))
        .await
        .assert_ok();
}

#[tokio::test]
async fn pkcs12_holds_the_same_certificate_and_key() {
    let lab = lab().await;
    let cert = lab.certificate(&[APP], KeyEnvironment::Both);
    let p12 = base64::engine::general_purpose::STANDARD.decode(&cert.pkcs12_base64).expect("base64");
    let store = p12_keystore::KeyStore::from_pkcs12(&p12, &cert.pkcs12_password, Default::default())
        .expect("PKCS#12 opens with the password");
    let (_, chain) = store.private_key_chain().expect("a key entry");
    let leaf = rustls::pki_types::CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).expect("a PEM certificate");
    assert_eq!(chain.certs()[0].as_der(), leaf.as_ref());
    assert!(p12_keystore::KeyStore::from_pkcs12(&p12, "wrong", Default::default()).is_err());
}

/// A certificate from the mock's CA that is not an APNs push certificate (no UID, no
/// environment extension) is BadCertificate, request by request.
#[tokio::test]
async fn a_certificate_without_apns_extensions_is_bad() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lab =
        lab_with(Config { clock: manual_clock(), data_dir: Some(dir.path().to_path_buf()), ..Config::default() }).await;
    let db = rusqlite::Connection::open(dir.path().join("state.sqlite3")).expect("state database");
    let ca_key: Vec<u8> =
        db.query_row("SELECT value FROM meta WHERE key = 'ca_key'", [], |r| r.get(0)).expect("CA key");
    let ca_key = rcgen::KeyPair::from_pem(std::str::from_utf8(&ca_key).expect("PEM")).expect("key");
    let issuer = rcgen::Issuer::from_ca_cert_pem(lab.mock.ca_pem(), ca_key).expect("issuer");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "not a push certificate");
    let cert = params.signed_by(&key, &issuer).expect("signs");
    let mut c =
        Client::connect(lab.mock.addr(Sandbox), lab.mock.ca_pem(), Some((&cert.pem(), &key.serialize_pem())), Alpn::H2)
            .await;
    c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_err(403, "BadCertificate");
}

/// A certificate from another CA is refused at the TLS handshake, as Apple refuses
/// revoked ones.
#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_at_tls() {
    let lab = lab().await;
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["x".to_string()]).expect("params").self_signed(&key).expect("signs");
    let tcp = tokio::net::TcpStream::connect(lab.mock.addr(Sandbox)).await.expect("connects");
    let config = tls_config(lab.mock.ca_pem(), Some((&cert.pem(), &key.serialize_pem())), Alpn::H2);
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let result = async {
        let mut tls = connector.connect(name, tcp).await?;
        // TLS 1.3: the server's refusal arrives after the client's Finished.
        raw_start(&mut tls).await;
        let mut buf = [0u8; 64];
        tokio::io::AsyncReadExt::read(&mut tls, &mut buf).await
    }
    .await;
    assert!(matches!(result, Err(_) | Ok(0)), "{result:?}");
}
