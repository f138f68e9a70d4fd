//! The mock's certificate authority: the trust root clients are given, the server
//! certificate for Apple's host names, and APNs client certificates for certificate auth.
//!
//! The CA is made with rcgen on first start and kept in the state database, so a client
//! that trusts `ca.pem` once keeps trusting the mock across restarts. Client certificates
//! carry what Apple's do: the bundle ID as subject UID, the environment extensions
//! (`1.2.840.113635.100.6.3.1` sandbox, `.3.2` production) and the topics extension
//! (`.3.6`), so the mock reads a connection's topics back from the certificate itself.

use std::sync::Arc;

use protocol::Environment;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::error::Error;

/// Subject UID (`0.9.2342.19200300.100.1.1`), where Apple puts the bundle ID.
const OID_UID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];
/// Apple: development (sandbox) push certificate.
pub(crate) const OID_SANDBOX: &[u64] = &[1, 2, 840, 113635, 100, 6, 3, 1];
/// Apple: production push certificate.
pub(crate) const OID_PRODUCTION: &[u64] = &[1, 2, 840, 113635, 100, 6, 3, 2];
/// Apple: the list of topics of a multi-topic ("universal") certificate.
pub(crate) const OID_TOPICS: &[u64] = &[1, 2, 840, 113635, 100, 6, 3, 6];

/// Names the server certificate covers: loopback, and Apple's provider API and
/// broadcast channel management hosts, so clients that keep Apple's host names and
/// resolve them to the mock (an /etc/hosts entry, curl's `--resolve`) verify the name too.
pub const SERVER_NAMES: [&str; 9] = [
    "127.0.0.1",
    "::1",
    "localhost",
    "api.push.apple.com",
    "api.sandbox.push.apple.com",
    "api.development.push.apple.com",
    "api-manage-broadcast.push.apple.com",
    "api-manage-broadcast.sandbox.push.apple.com",
    "web.push.apple.com",
];

/// The local certificate authority.
pub struct Authority {
    /// The CA certificate, PEM: what clients add to their trust store.
    cert_pem: String,
    /// The CA's private key, PEM (PKCS#8): kept in the state database only.
    key_pem: String,
    /// The CA certificate, DER: the root for client-certificate verification.
    cert_der: CertificateDer<'static>,
    /// Signs server and client certificates.
    issuer: Issuer<'static, KeyPair>,
}

/// A client certificate issued for certificate-based authentication.
pub struct IssuedCertificate {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
    /// Certificate and key as PKCS#12 (AES-256, PBKDF2), protected by the password given.
    pub pkcs12: Vec<u8>,
}

impl Authority {
    /// Makes a new CA (P-256, valid ten years).
    pub fn generate() -> Result<Self, Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "apns-lab local CA");
        dn.push(DnType::OrganizationName, "apns-lab");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(3650);
        let cert = params.self_signed(&key)?;
        Self::from_pem(&cert.pem(), &key.serialize_pem())
    }

    /// Reads a CA back from its certificate and key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, Error> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        let cert_der = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .next()
            .ok_or_else(|| Error::Invalid("CA PEM holds no certificate".into()))?
            .map_err(|e| Error::Invalid(format!("CA PEM: {e}")))?;
        Ok(Self { cert_pem: cert_pem.to_owned(), key_pem: key_pem.to_owned(), cert_der, issuer })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA key, PEM.
    pub(crate) fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A rustls configuration for the provider API: a fresh server certificate for
    /// [`SERVER_NAMES`] and `extra_names`, ALPN `h2` only (a client offering `http/1.1,h2` gets h2; a
    /// client offering no ALPN is still served HTTP/2), and client certificates
    /// optional but, when sent, required to chain to this CA.
    pub fn server_config(&self, extra_names: &[String]) -> Result<Arc<ServerConfig>, Error> {
        if let Some(bad) = extra_names.iter().find(|n| rustls::pki_types::ServerName::try_from(n.as_str()).is_err()) {
            return Err(Error::Invalid(format!("the TLS name {bad:?} is not a host name or an IP address")));
        }
        let key = KeyPair::generate()?;
        let names: Vec<String> =
            SERVER_NAMES.iter().map(|s| s.to_string()).chain(extra_names.iter().cloned()).collect();
        let mut params = CertificateParams::new(names)
            .map_err(|e| Error::Invalid(format!("a TLS name in {extra_names:?} is not a host name or address: {e}")))?;
        params.distinguished_name.push(DnType::CommonName, "api.push.apple.com");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(397);
        let cert = params.signed_by(&key, &self.issuer)?;

        let mut roots = RootCertStore::empty();
        roots.add(self.cert_der.clone())?;
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .allow_unauthenticated()
        .build()
        .map_err(|e| Error::Invalid(format!("client verifier: {e}")))?;
        let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![cert.der().clone(), self.cert_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    /// The Web Push endpoint's configuration: the provider API's, but serving HTTP/2 or
    /// HTTP/1.1 by ALPN (HTTP/1.1 to a client that offers none).
    pub fn web_push_config(&self, extra_names: &[String]) -> Result<Arc<ServerConfig>, Error> {
        let mut config = (*self.server_config(extra_names)?).clone();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Issues an APNs client certificate for `topics` (the first is the bundle ID, put in
    /// the subject UID) valid in `environments`, as Apple's "Apple Push Services" certs.
    pub fn issue_push_certificate(
        &self,
        topics: &[String],
        environments: &[Environment],
        pkcs12_password: &str,
    ) -> Result<IssuedCertificate, Error> {
        let uid = topics.first().ok_or_else(|| Error::Invalid("a certificate needs at least one topic".into()))?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CustomDnType(OID_UID.to_vec()), DnValue::Utf8String(uid.clone()));
        dn.push(DnType::CommonName, format!("Apple Push Services: {uid}"));
        dn.push(DnType::OrganizationName, "apns-lab");
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(365);
        for env in environments {
            let oid = match env {
                Environment::Sandbox => OID_SANDBOX,
                Environment::Production => OID_PRODUCTION,
            };
            params.custom_extensions.push(CustomExtension::from_oid_content(oid, vec![0x05, 0x00]));
        }
        if topics.len() > 1 {
            params.custom_extensions.push(CustomExtension::from_oid_content(OID_TOPICS, encode_topics(topics)));
        }
        let cert = params.signed_by(&key, &self.issuer)?;

        let chain = [cert.der().as_ref(), self.cert_der.as_ref()]
            .into_iter()
            .map(p12_keystore::Certificate::from_der)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Invalid(format!("PKCS#12: {e}")))?;
        let local_key_id = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.der());
        let private = p12_keystore::PrivateKey::from_der(&key.serialize_der())
            .map_err(|e| Error::Invalid(format!("PKCS#12: {e}")))?;
        let entry = p12_keystore::PrivateKeyChain::new(local_key_id.as_ref(), private, chain);
        let mut store = p12_keystore::KeyStore::new();
        store.add_entry(uid, p12_keystore::KeyStoreEntry::PrivateKeyChain(entry));
        let pkcs12 = store.writer(pkcs12_password).write().map_err(|e| Error::Invalid(format!("PKCS#12: {e}")))?;
        Ok(IssuedCertificate { cert_pem: cert.pem(), key_pem: key.serialize_pem(), pkcs12 })
    }
}

/// The organizational unit that marks a device identity certificate (as opposed to a
/// provider's APNs certificate from the same CA).
pub(crate) const DEVICE_OU: &str = "apns-lab device identity";

impl Authority {
    /// Issues a device identity certificate: the UDID in the subject UID, marked by
    /// [`DEVICE_OU`], for client authentication at the device gateway.
    pub fn issue_device_certificate(&self, udid: &str) -> Result<(String, String), Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CustomDnType(OID_UID.to_vec()), DnValue::Utf8String(udid.to_owned()));
        dn.push(DnType::CommonName, format!("iPhone {udid}"));
        dn.push(DnType::OrganizationalUnitName, DEVICE_OU);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(3650);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// The UDID of a device identity certificate; `None` for any other certificate.
pub(crate) fn device_udid(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let is_device = subject.iter_organizational_unit().any(|ou| ou.as_str().ok() == Some(DEVICE_OU));
    if !is_device {
        return None;
    }
    subject
        .iter_attributes()
        .find(|a| a.attr_type().to_id_string() == "0.9.2342.19200300.100.1.1")
        .and_then(|a| a.as_str().ok())
        .map(str::to_owned)
}

/// The topics extension, as in Apple's certificates: one SEQUENCE holding, for each topic,
/// a UTF8String and a SEQUENCE with one UTF8String naming its kind (`app`, `voip`,
/// `complication`, …).
fn encode_topics(topics: &[String]) -> Vec<u8> {
    let mut body = Vec::new();
    for topic in topics {
        let kind = topic_kind(topic);
        body.extend(der(0x0c, topic.as_bytes()));
        body.extend(der(0x30, &der(0x0c, kind.as_bytes())));
    }
    der(0x30, &body)
}

/// The kind Apple's topics extension gives a topic, from its suffix.
fn topic_kind(topic: &str) -> &'static str {
    [
        (".voip-ptt", "voip-ptt"),
        (".voip", "voip"),
        (".complication", "complication"),
        (".pushkit.fileprovider", "fileprovider"),
        (".push-type.liveactivity", "liveactivity"),
        (".push-type.widgets", "widgets"),
        (".push-type.controls", "controls"),
        (".location-query", "location"),
    ]
    .into_iter()
    .find_map(|(suffix, kind)| topic.ends_with(suffix).then_some(kind))
    .unwrap_or("app")
}

/// One DER TLV with a definite length.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// Reads the UTF8Strings that name topics out of a topics extension (the inverse of
/// [`encode_topics`]); kinds are skipped. `None` if the bytes are not that shape.
pub(crate) fn decode_topics(mut value: &[u8]) -> Option<Vec<String>> {
    let (tag, body, rest) = read_tlv(value)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    value = body;
    let mut topics = Vec::new();
    while !value.is_empty() {
        let (tag, content, rest) = read_tlv(value)?;
        match tag {
            0x0c => topics.push(String::from_utf8(content.to_vec()).ok()?),
            0x30 => {}
            _ => return None,
        }
        value = rest;
    }
    Some(topics)
}

/// Splits one DER TLV off the front of `input`: (tag, content, rest).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        rest = &rest[n..];
        len
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_extension_round_trips() {
        let topics: Vec<String> =
            ["com.example.app", "com.example.app.voip", "com.example.app.complication"].map(String::from).to_vec();
        let bytes = encode_topics(&topics);
        assert_eq!(&bytes[..4], &[0x30, 0x64, 0x0c, 0x0f]);
        assert_eq!(decode_topics(&bytes), Some(topics));
        let long: Vec<String> = (0..20).map(|i| format!("com.example.app{i}.voip")).collect();
        assert_eq!(decode_topics(&encode_topics(&long)), Some(long));
        assert_eq!(decode_topics(&[0x30, 0x05, 0x0c]), None);
    }
}
