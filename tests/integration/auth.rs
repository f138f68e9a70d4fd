//! Token authentication over the wire: every JWT encoding real clients send, every
//! rejection reason, and the per-connection refresh and binding rules, driven by an
//! injected clock instead of sleeps.

use std::time::Duration;

use base64::Engine as _;
use mock_apns::{KeyEnvironment, NewApp, NewDevice, NewKey};
use protocol::Environment::{Production, Sandbox};

use crate::support::*;

#[tokio::test]
async fn accepts_every_encoding_real_clients_use() {
    let lab = lab().await;
    let now = lab.mock.clock().unix_secs();
    let der = hand_made_jwt(Made::AppleRecipe, lab.mock.key_p8(), lab.mock.key_id(), lab.mock.team_id(), now);
    let raw = lab.jwt();
    let standard = hand_made_jwt(Made::StandardBase64, lab.mock.key_p8(), lab.mock.key_id(), lab.mock.team_id(), now);
    for (name, header) in [
        ("raw r||s, base64url", format!("bearer {raw}")),
        ("DER (openssl dgst), base64url", format!("bearer {der}")),
        ("standard base64, padded", format!("bearer {standard}")),
        ("base64url with padding", format!("bearer {raw}==")),
        ("capital Bearer", format!("Bearer {raw}")),
    ] {
        // A fresh connection each, so the 20-minute rule does not apply.
        let mut c = lab.client(Sandbox).await;
        let r = c.push(Push::new(&lab.sandbox_token, "x").header("authorization", &header)).await;
        assert_eq!(r.status, 200, "{name}: {:?}", r.reason());
    }
}

#[tokio::test]
async fn refuses_bad_tokens_with_apples_reasons() {
    let lab = lab().await;
    let now = lab.mock.clock().unix_secs();
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let raw = lab.jwt();
    let mut parts = raw.split('.');
    let (head, _, sig) =
        (parts.next().expect("header"), parts.next().expect("claims"), parts.next().expect("signature"));
    let alg_none = format!(
        "{}.{}.",
        b64(&format!(r#"{{"alg":"none","kid":"{}"}}"#, lab.mock.key_id())),
        b64(&format!(r#"{{"iss":"{}","iat":{now}}}"#, lab.mock.team_id()))
    );
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = Some(lab.mock.key_id().to_owned());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &serde_json::json!({"iss": lab.mock.team_id(), "iat": now}),
        &jsonwebtoken::EncodingKey::from_secret(lab.mock.key_p8().as_bytes()).expect("an HMAC key"),
    )
    .expect("HS256 signs");
    let other_key = new_p8();
    let wrong_signature = signer(&other_key, lab.mock.key_id(), lab.mock.team_id()).sign(now).expect("signs");
    let unknown_kid = signer(lab.mock.key_p8(), "NOSUCHKEY1", lab.mock.team_id()).sign(now).expect("signs");
    let wrong_team = signer(lab.mock.key_p8(), lab.mock.key_id(), "OTHERTEAM1").sign(now).expect("signs");
    // The same signature over different claims.
    let swapped_claims =
        format!("{head}.{}.{sig}", b64(&format!(r#"{{"iss":"{}","iat":{}}}"#, lab.mock.team_id(), now + 1)));

    let cases: Vec<(Option<String>, u16, &str)> = vec![
        (None, 403, "MissingProviderToken"),
        (Some("bearer ".into()), 403, "MissingProviderToken"),
        (Some("Basic dXNlcjpwYXNz".into()), 403, "MissingProviderToken"),
        (Some(raw.clone()), 403, "MissingProviderToken"),
        (Some("bearer not.a.jwt".into()), 403, "InvalidProviderToken"),
        (Some("bearer abc".into()), 403, "InvalidProviderToken"),
        (Some(format!("bearer {alg_none}")), 403, "InvalidProviderToken"),
        (Some(format!("bearer {hs256}")), 403, "InvalidProviderToken"),
        (Some(format!("bearer {wrong_signature}")), 403, "InvalidProviderToken"),
        (Some(format!("bearer {unknown_kid}")), 403, "InvalidProviderToken"),
        (Some(format!("bearer {wrong_team}")), 403, "InvalidProviderToken"),
        (Some(format!("bearer {swapped_claims}")), 403, "InvalidProviderToken"),
        (Some(format!("bearer {}", lab.jwt_at(now - 3601))), 403, "ExpiredProviderToken"),
    ];
    for (auth, status, reason) in cases {
        let mut c = lab.client(Sandbox).await;
        let push = match &auth {
            Some(a) => Push::new(&lab.sandbox_token, "x").header("authorization", a),
            None => Push::new(&lab.sandbox_token, "x").without("authorization"),
        };
        let r = c.push(push).await;
        r.assert_err(status, reason);
        assert_eq!(c.max_streams(), 1, "no valid token yet, so still one stream ({reason})");
    }
}

#[tokio::test]
async fn tokens_expire_an_hour_after_iat() {
    let lab = lab().await;
    let mut c = lab.client(Sandbox).await;
    let jwt = lab.jwt();
    c.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_ok();
    lab.mock.clock().advance(Duration::from_secs(3600));
    c.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_ok();
    lab.mock.clock().advance(Duration::from_secs(1));
    c.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_err(403, "ExpiredProviderToken");
    // A fresh token on the same connection (more than 20 minutes later) works again.
    c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
}

#[tokio::test]
async fn a_new_token_within_20_minutes_is_too_many_updates() {
    let lab = lab().await;
    let mut c = lab.client(Sandbox).await;
    let first = lab.jwt();
    c.push(Push::new(&lab.sandbox_token, &first)).await.assert_ok();
    lab.mock.clock().advance(Duration::from_secs(19 * 60 + 59));
    let second = lab.jwt();
    c.push(Push::new(&lab.sandbox_token, &second)).await.assert_err(429, "TooManyProviderTokenUpdates");
    // The first token is still the connection's token.
    c.push(Push::new(&lab.sandbox_token, &first)).await.assert_ok();
    lab.mock.clock().advance(Duration::from_secs(1));
    c.push(Push::new(&lab.sandbox_token, &second)).await.assert_ok();
    // ...and now the old one counts as a change again.
    c.push(Push::new(&lab.sandbox_token, &first)).await.assert_err(429, "TooManyProviderTokenUpdates");
    // Another connection is not affected.
    let mut other = lab.client(Sandbox).await;
    other.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
}

#[tokio::test]
async fn the_connection_is_bound_to_its_first_team_and_key() {
    let lab = lab().await;
    let team = lab.mock.team_id().to_owned();
    let second_p8 = new_p8();
    lab.mock
        .register_key(NewKey {
            key_id: "SECONDKEY1".into(),
            team_id: team.clone(),
            public_key_pem: None,
            private_key_p8: Some(second_p8.clone()),
            environment: KeyEnvironment::Both,
            topics: None,
            related_key_id: None,
        })
        .await
        .expect("key registers");
    let other_p8 = new_p8();
    lab.mock
        .register_key(NewKey {
            key_id: "OTHERKEY01".into(),
            team_id: "OTHERTEAM1".into(),
            public_key_pem: None,
            private_key_p8: Some(other_p8.clone()),
            environment: KeyEnvironment::Both,
            topics: None,
            related_key_id: None,
        })
        .await
        .expect("key registers");
    let mut c = lab.client(Sandbox).await;
    c.push(Push::new(&lab.sandbox_token, &lab.jwt())).await.assert_ok();
    lab.mock.clock().advance(Duration::from_secs(21 * 60));
    let now = lab.mock.clock().unix_secs();
    let unrelated = signer(&second_p8, "SECONDKEY1", &team).sign(now).expect("signs");
    c.push(Push::new(&lab.sandbox_token, &unrelated)).await.assert_err(403, "UnrelatedKeyIdInToken");
    let other_team = signer(&other_p8, "OTHERKEY01", "OTHERTEAM1").sign(now).expect("signs");
    c.push(Push::new(&lab.sandbox_token, &other_team)).await.assert_err(403, "InvalidProviderToken");
    // On a new connection the second key works: it is the first key used there.
    let mut fresh = lab.client(Sandbox).await;
    fresh.push(Push::new(&lab.sandbox_token, &unrelated)).await.assert_ok();
    // The other team may not push to this team's app.
    let mut theirs = lab.client(Sandbox).await;
    theirs.push(Push::new(&lab.sandbox_token, &other_team)).await.assert_err(400, "TopicDisallowed");
}

#[tokio::test]
async fn keys_restricted_to_one_environment_and_topic_keys() {
    let lab = lab().await;
    let team = lab.mock.team_id().to_owned();
    let sandbox_p8 = new_p8();
    let view = lab
        .mock
        .register_key(NewKey {
            key_id: "SANDBOXKEY".into(),
            team_id: team.clone(),
            public_key_pem: None,
            private_key_p8: Some(sandbox_p8.clone()),
            environment: KeyEnvironment::Sandbox,
            topics: None,
            related_key_id: None,
        })
        .await
        .expect("registers");
    assert!(view.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let now = lab.mock.clock().unix_secs();
    let jwt = signer(&sandbox_p8, "SANDBOXKEY", &team).sign(now).expect("signs");
    lab.client(Sandbox).await.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_ok();
    lab.client(Production)
        .await
        .push(Push::new(&lab.production_token, &jwt))
        .await
        .assert_err(403, "BadEnvironmentKeyIdInToken");

    // A topic-specific key, registered by its public key only.
    let topic_p8 = new_p8();
    let public = lab
        .mock
        .register_key(NewKey {
            key_id: "TOPICKEY01".into(),
            team_id: team.clone(),
            public_key_pem: None,
            private_key_p8: Some(topic_p8.clone()),
            environment: KeyEnvironment::Both,
            topics: None,
            related_key_id: None,
        })
        .await
        .expect("registers")
        .public_key_pem;
    lab.mock
        .register_key(NewKey {
            key_id: "TOPICKEY01".into(),
            team_id: team.clone(),
            public_key_pem: Some(public),
            private_key_p8: None,
            environment: KeyEnvironment::Sandbox,
            topics: Some(vec!["com.example.news".into()]),
            related_key_id: None,
        })
        .await
        .expect("re-registers from the public key");
    let news = lab
        .mock
        .create_device(NewDevice {
            udid: None,
            apps: vec![NewApp {
                bundle_id: "com.example.news".into(),
                environment: protocol::Environment::Sandbox,
                team_id: None,
            }],
        })
        .await
        .expect("device");
    let jwt = signer(&topic_p8, "TOPICKEY01", &team).sign(now).expect("signs");
    let mut c = lab.client(Sandbox).await;
    c.push(Push::new(&news.apps[0].token, &jwt).header("apns-topic", "com.example.news")).await.assert_ok();
    c.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_err(400, "TopicDisallowed");
}

#[tokio::test]
async fn a_steady_stream_is_verified_once() {
    let lab = lab().await;
    let (before, _) = lab.mock.token_stats();
    let jwt = lab.jwt();
    let mut c = lab.client(Sandbox).await;
    for _ in 0..20 {
        c.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_ok();
    }
    let mut d = lab.client(Sandbox).await;
    for _ in 0..5 {
        d.push(Push::new(&lab.sandbox_token, &jwt)).await.assert_ok();
    }
    let (after, hits) = lab.mock.token_stats();
    assert_eq!(after - before, 1, "one ES256 verification for the whole stream");
    assert!(hits >= 1, "the second connection is answered from the cache");
}
