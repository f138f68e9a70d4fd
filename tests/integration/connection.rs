//! The connection as APNs runs it: TLS with and without ALPN, SETTINGS as Apple sends
//! them (one stream until the first valid token), PINGs, h2c, exact response framing on
//! the wire, and requests that lack `:authority`.

use std::time::Duration;

use mock_apns::Config;
use protocol::Environment::Sandbox;
use tokio::io::AsyncWriteExt;

use crate::support::*;

#[tokio::test]
async fn one_stream_until_the_first_valid_token_then_a_thousand() {
    let lab = lab().await;
    let mut c = lab.client(Sandbox).await;
    assert_eq!(c.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(c.max_streams(), 1);
    c.push(Push::new(&lab.sandbox_token, "garbage")).await.assert_err(403, "InvalidProviderToken");
    assert_eq!(c.max_streams(), 1);
    // A valid token opens the connection even when the request is wrong otherwise.
    c.push(Push::new(&lab.sandbox_token, &lab.jwt()).header("apns-priority", "2")).await.assert_err(400, "BadPriority");
    assert_eq!(c.max_streams(), 1000);
    // Many streams at once now work.
    let jwt = lab.jwt();
    let mut pending = Vec::new();
    for _ in 0..50 {
        let request = http::Request::post(format!("https://api.sandbox.push.apple.com/3/device/{}", lab.sandbox_token))
            .header("authorization", format!("bearer {jwt}"))
            .header("apns-topic", APP)
            .body(())
            .expect("request");
        let (resp, mut body) = c.drive_send(request).await;
        body.send_data(bytes::Bytes::from_static(br#"{"aps":{}}"#), true).expect("sends");
        pending.push(resp);
    }
    for resp in pending {
        let r = c.drive(resp).await.expect("connection up").expect("answered");
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn initial_settings_are_apples_and_pings_are_answered() {
    let lab = lab().await;
    let mut tls = tls_connect(lab.mock.addr(Sandbox), lab.mock.ca_pem(), None, Alpn::H2).await;
    raw_start(&mut tls).await;
    let frames = read_frames(&mut tls, |f| f.kind == 0x4 && f.flags & 1 == 0).await;
    let first = frames.first().expect("server SETTINGS");
    assert_eq!(first.kind, 0x4);
    let mut got = settings(first);
    got.sort();
    assert_eq!(got, vec![(1, 4096), (3, 1), (4, 65_535), (5, 16_384), (6, 8000)]);
    tls.write_all(&frame(0x6, 0, 0, b"12345678")).await.expect("ping");
    let pong = read_frames(&mut tls, |f| f.kind == 0x6).await;
    let pong = pong.last().expect("PING ACK");
    assert_eq!((pong.kind, pong.flags, &pong.payload[..]), (0x6, 1, &b"12345678"[..]));

    // Through the h2 client, too.
    let mut c = lab.client(Sandbox).await;
    let mut ping = c.ping_pong().expect("ping handle");
    c.drive(ping.ping(h2::Ping::opaque())).await.expect("connection up").expect("pong");
}

#[tokio::test]
async fn clients_without_alpn_or_offering_http11_first_get_http2() {
    let lab = lab().await;
    for alpn in [Alpn::None, Alpn::Http11AndH2] {
        let mut c = Client::connect(lab.mock.addr(Sandbox), lab.mock.ca_pem(), None, alpn).await;
        match alpn {
            Alpn::None => assert_eq!(c.alpn, None),
            _ => assert_eq!(c.alpn.as_deref(), Some(&b"h2"[..])),
        }
        c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
    }
}

#[tokio::test]
async fn h2c_serves_the_sandbox_in_plaintext() {
    let lab = lab_with(Config {
        clock: manual_clock(),
        h2c_addr: Some("127.0.0.1:0".parse().expect("addr")),
        ..Config::default()
    })
    .await;
    let h2c: std::net::SocketAddr =
        lab.mock.ready().h2c.as_deref().expect("h2c address").trim_start_matches("http://").parse().expect("addr");
    let mut c = Client::h2c(h2c).await;
    assert_eq!(c.max_streams(), 1);
    c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
    c.push(Push::new(&lab.production_token, &lab.jwt())).await.assert_err(400, "BadDeviceToken");
}

/// Success is exactly one HEADERS frame with END_STREAM; an error is HEADERS without
/// END_STREAM and one DATA frame with END_STREAM holding `{"reason":…}`. Sent by hand,
/// without `:authority` (only `host`), as some clients do.
#[tokio::test]
async fn response_frames_on_the_wire() {
    let lab = lab().await;
    let mut tls = tls_connect(lab.mock.addr(Sandbox), lab.mock.ca_pem(), None, Alpn::H2).await;
    raw_start(&mut tls).await;
    let jwt = lab.jwt();
    let request = |stream: u32, token: &str| {
        let path = format!("/3/device/{token}");
        let auth = format!("bearer {jwt}");
        let block = hpack(&[
            (":method", "POST"),
            (":scheme", "https"),
            (":path", &path),
            ("host", "api.sandbox.push.apple.com"),
            ("authorization", &auth),
            ("apns-topic", APP),
        ]);
        let mut bytes = frame(0x1, 0x4, stream, &block); // HEADERS, END_HEADERS
        bytes.extend(frame(0x0, 0x1, stream, br#"{"aps":{"alert":"hi"}}"#)); // DATA, END_STREAM
        bytes
    };
    tls.write_all(&request(1, &lab.sandbox_token)).await.expect("writes");
    let frames = read_frames(&mut tls, |f| f.stream == 1 && f.flags & 1 == 1).await;
    let on_stream: Vec<_> = frames.iter().filter(|f| f.stream == 1).collect();
    assert_eq!(on_stream.len(), 1, "{frames:?}");
    assert_eq!((on_stream[0].kind, on_stream[0].flags & 0x5), (0x1, 0x5), "HEADERS with END_STREAM|END_HEADERS");
    assert_eq!(on_stream[0].payload[0], 0x88, ":status 200 from the static table");

    // Streams are serial until the SETTINGS raise is acknowledged; ACK it like a client.
    tls.write_all(&frame(0x4, 0x1, 0, &[])).await.expect("ack");
    tls.write_all(&request(3, &"ab".repeat(32))).await.expect("writes");
    let frames = read_frames(&mut tls, |f| f.stream == 3 && f.flags & 1 == 1).await;
    let on_stream: Vec<_> = frames.iter().filter(|f| f.stream == 3).collect();
    assert_eq!(on_stream.len(), 2, "{frames:?}");
    assert_eq!((on_stream[0].kind, on_stream[0].flags & 0x1), (0x1, 0), "HEADERS without END_STREAM");
    assert_eq!((on_stream[1].kind, on_stream[1].flags & 0x1), (0x0, 1), "one DATA with END_STREAM");
    assert_eq!(on_stream[1].payload, br#"{"reason":"BadDeviceToken"}"#);
}

#[tokio::test]
async fn garbage_and_abrupt_clients_do_not_hurt_the_server() {
    let lab = lab().await;
    let addr = lab.mock.addr(Sandbox);
    // Not TLS at all.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connects");
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("writes");
    drop(tcp);
    // TLS, then not HTTP/2.
    let mut tls = tls_connect(addr, lab.mock.ca_pem(), None, Alpn::H2).await;
    tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("writes");
    drop(tls);
    // HTTP/2, a request, then vanish mid-body.
    let mut tls = tls_connect(addr, lab.mock.ca_pem(), None, Alpn::H2).await;
    raw_start(&mut tls).await;
    let block = hpack(&[(":method", "POST"), (":scheme", "https"), (":path", "/3/device/00"), ("apns-topic", APP)]);
    tls.write_all(&frame(0x1, 0x4, 1, &block)).await.expect("writes");
    tls.write_all(&frame(0x0, 0x0, 1, b"{\"aps\"")).await.expect("writes");
    drop(tls);
    // A header block over the 8000-byte list limit.
    let mut c = lab.client(Sandbox).await;
    let big = "v".repeat(9000);
    let r = c.send(Push::new(&lab.sandbox_token, &lab.jwt()).header("x-big", &big)).await;
    assert!(r.map(|r| r.status != 200).unwrap_or(true), "an oversized header list is not accepted");
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Still serving.
    lab.client(Sandbox).await.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
}

#[tokio::test]
async fn shutdown_says_goaway_shutdown() {
    let lab = lab().await;
    let mut tls = tls_connect(lab.mock.addr(Sandbox), lab.mock.ca_pem(), None, Alpn::H2).await;
    raw_start(&mut tls).await;
    let _ = read_frames(&mut tls, |f| f.kind == 0x4).await;
    let Lab { mock, .. } = lab;
    let stop = tokio::spawn(mock.shutdown());
    let frames = read_frames(&mut tls, |f| f.kind == 0x7).await;
    let goaway = frames.iter().find(|f| f.kind == 0x7).expect("a GOAWAY");
    assert_eq!(&goaway.payload[4..8], &[0; 4], "NO_ERROR");
    assert_eq!(&goaway.payload[8..], br#"{"reason":"Shutdown"}"#);
    drop(tls);
    stop.await.expect("shutdown finishes");
}

/// A request whose body never ends is reset after `body_timeout`, not held forever;
/// and a token connection refuses a second stream while it is still limited to one.
#[tokio::test]
async fn stalled_bodies_are_reset_and_extra_streams_refused() {
    let lab =
        lab_with(Config { clock: manual_clock(), body_timeout: Duration::from_millis(300), ..Config::default() }).await;
    let mut tls = tls_connect(lab.mock.addr(Sandbox), lab.mock.ca_pem(), None, Alpn::H2).await;
    raw_start(&mut tls).await;
    let path = format!("/3/device/{}", lab.sandbox_token);
    let block = hpack(&[(":method", "POST"), (":scheme", "https"), (":path", &path), ("apns-topic", APP)]);
    tls.write_all(&frame(0x1, 0x4, 1, &block)).await.expect("writes"); // body never comes
    tls.write_all(&frame(0x1, 0x4, 3, &block)).await.expect("writes");
    let frames = read_frames(&mut tls, |f| f.kind == 0x3 && f.stream == 1).await;
    let resets: Vec<(u32, u32)> = frames
        .iter()
        .filter(|f| f.kind == 0x3)
        .map(|f| (f.stream, u32::from_be_bytes([f.payload[0], f.payload[1], f.payload[2], f.payload[3]])))
        .collect();
    assert!(resets.contains(&(3, 0x7)), "stream 3 is REFUSED_STREAM: {frames:?}");
    assert!(resets.contains(&(1, 0x8)), "stream 1 is CANCELled after the body timeout: {frames:?}");
    // The connection still works.
    let auth = format!("bearer {}", lab.jwt());
    let block = hpack(&[
        (":method", "POST"),
        (":scheme", "https"),
        (":path", &path),
        ("apns-topic", APP),
        ("authorization", &auth),
    ]);
    let mut bytes = frame(0x1, 0x4, 5, &block);
    bytes.extend(frame(0x0, 0x1, 5, b"{}"));
    tls.write_all(&bytes).await.expect("writes");
    let frames = read_frames(&mut tls, |f| f.stream == 5 && f.flags & 1 == 1).await;
    assert!(frames.iter().any(|f| f.stream == 5 && f.kind == 0x1 && f.payload[0] == 0x88), "{frames:?}");
}

/// Peers that break TLS or HTTP/2 are counted by kind on /metrics (and logged at most
/// once a second per kind, with the count, so an attack cannot flood the log).
#[tokio::test]
async fn misbehaving_peers_are_counted() {
    let lab = lab().await;
    // Not TLS at all.
    for _ in 0..3 {
        let mut tcp = tokio::net::TcpStream::connect(lab.mock.addr(Sandbox)).await.expect("connects");
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.expect("writes");
        let mut buf = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_secs(2), tokio::io::AsyncReadExt::read(&mut tcp, &mut buf)).await;
    }
    // TLS, then a broken HTTP/2 frame: a DATA frame on stream 0.
    let mut tls = tls_connect(lab.mock.addr(Sandbox), lab.mock.ca_pem(), None, Alpn::H2).await;
    raw_start(&mut tls).await;
    tls.write_all(&frame(0x0, 0x0, 0, b"nonsense")).await.expect("writes");
    let _ = read_frames(&mut tls, |f| f.kind == 0x7).await;
    let mut counted = (0.0, 0.0);
    for _ in 0..100 {
        let (_, text) = admin(lab.mock.admin_addr(), "GET", "/metrics", None).await;
        let text = text.as_str().unwrap_or_default().to_owned();
        let value = |kind: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("apns_peer_misbehaviour_total{{kind=\"{kind}\"}} ")))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        counted = (value("tls-handshake"), value("http2"));
        if counted.0 >= 3.0 && counted.1 >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(counted.0 >= 3.0 && counted.1 >= 1.0, "{counted:?}");
}

/// `--tls-name apns` (a CI service called `apns`): the server certificate covers that
/// name too, on the provider API and the gateway; a name it was not given fails to
/// verify, and a name that is not a host name is refused at start.
#[tokio::test]
async fn the_server_certificate_covers_the_names_it_is_given() {
    let lab = lab_with(Config { tls_names: vec!["apns".into(), "10.1.2.3".into()], ..Default::default() }).await;
    let connect = |addr, name: &'static str| {
        let config = tls_config(lab.mock.ca_pem(), None, Alpn::H2);
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connects");
            let name = rustls::pki_types::ServerName::try_from(name).expect("a name");
            tokio_rustls::TlsConnector::from(config).connect(name, tcp).await
        }
    };
    let ready = lab.mock.ready();
    let addr_of =
        |url: &str| -> std::net::SocketAddr { url.trim_start_matches("https://").parse().expect("an address") };
    let listeners = [
        lab.mock.addr(Sandbox),
        lab.mock.addr(protocol::Environment::Production),
        addr_of(&ready.channels_sandbox),
        addr_of(&ready.channels_production),
        addr_of(&ready.gateway),
    ];
    for addr in listeners {
        assert!(connect(addr, "apns").await.is_ok(), "apns is covered on {addr}");
        assert!(connect(addr, "10.1.2.3").await.is_ok(), "the address is covered on {addr}");
        // Apple's provider API and channel management hosts, and loopback, still are.
        for name in mock_apns::SERVER_NAMES {
            assert!(connect(addr, name).await.is_ok(), "{name} is covered on {addr}");
        }
        assert!(connect(addr, "other").await.is_err(), "a name not given is not covered");
    }
    let bad = mock_apns::MockApns::start(Config { tls_names: vec!["not a name".into()], ..Default::default() }).await;
    let Err(e) = bad else { panic!("a bad name is refused") };
    assert!(e.to_string().contains("not a host name"), "{e}");
}
