//! Credentials APNs accepts from providers, as a team manages them: signing keys (a
//! `.p8` or its public half, team-wide or topic-specific) and APNs client certificates
//! issued by the mock's CA. Called alike by the admin routes and [`crate::MockApns`].

use base64::Engine as _;
use protocol::{Environment, Topic};
use serde::{Deserialize, Serialize};

use super::Room;
use super::auth::{KeyEnvironment, SigningKey};
use crate::error::Error;
use crate::state::store::Write;

/// `POST /api/v1/keys`: a signing key, as a team's `.p8` or its public key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// The Key ID (`kid`).
    pub key_id: String,
    /// The Team ID (`iss`).
    pub team_id: String,
    /// The public key, PEM (`-----BEGIN PUBLIC KEY-----`).
    #[serde(default)]
    pub public_key_pem: Option<String>,
    /// Or the `.p8` file's contents, so a team's real key works unchanged.
    #[serde(default)]
    pub private_key_p8: Option<String>,
    /// `sandbox`, `production` or `both` (default).
    #[serde(default = "both")]
    pub environment: KeyEnvironment,
    /// For a topic-specific key: the bundle IDs it may push to.
    #[serde(default)]
    pub topics: Option<Vec<String>>,
    /// A topic key's related key, which may share its connections.
    #[serde(default)]
    pub related_key_id: Option<String>,
}

fn both() -> KeyEnvironment {
    KeyEnvironment::Both
}

/// A registered key as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyView {
    /// The Key ID.
    pub key_id: String,
    /// The Team ID.
    pub team_id: String,
    /// Where it may be used.
    pub environment: KeyEnvironment,
    /// Topic-specific keys: their bundle IDs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topics: Option<Vec<String>>,
    /// The related key, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_key_id: Option<String>,
    /// The public key, PEM.
    pub public_key_pem: String,
}

impl From<&SigningKey> for KeyView {
    fn from(k: &SigningKey) -> Self {
        KeyView {
            key_id: k.key_id.clone(),
            team_id: k.team_id.clone(),
            environment: k.environment,
            topics: k.topics.clone(),
            related_key_id: k.related_key_id.clone(),
            public_key_pem: k.public_key_pem.clone(),
        }
    }
}

/// `POST /api/v1/certificates`: an APNs client certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCertificate {
    /// The topics; the first is the bundle ID (subject UID). More than one makes a
    /// multi-topic certificate, whose pushes must name their `apns-topic`.
    pub topics: Vec<String>,
    /// `sandbox`, `production` or `both` (default).
    #[serde(default = "both")]
    pub environment: KeyEnvironment,
    /// The PKCS#12 password (default `apns-lab`).
    #[serde(default)]
    pub pkcs12_password: Option<String>,
}

/// An issued certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateView {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
    /// Certificate and key as PKCS#12, base64.
    pub pkcs12_base64: String,
    /// The PKCS#12 password.
    pub pkcs12_password: String,
    /// The topics it covers.
    pub topics: Vec<String>,
    /// Where it may be used.
    pub environment: KeyEnvironment,
}

impl Room {
    /// Registers (or replaces) a signing key.
    pub(crate) async fn register_key(&self, req: NewKey) -> Result<KeyView, Error> {
        let pem = match (&req.private_key_p8, &req.public_key_pem) {
            (Some(p8), None) => p8,
            (None, Some(public)) => public,
            _ => {
                return Err(Error::Invalid("give exactly one of public_key_pem and private_key_p8".into()));
            }
        };
        let key = SigningKey::new(&req.key_id, &req.team_id, req.environment, req.topics, req.related_key_id, pem)?;
        self.state.store.write(vec![Write::Key(key.row())]).await?;
        let view = KeyView::from(&key);
        self.keys.insert(key);
        self.tokens.clear();
        Ok(view)
    }

    pub(crate) fn key_views(&self) -> Vec<KeyView> {
        self.keys.all().iter().map(|k| KeyView::from(k.as_ref())).collect()
    }

    pub(crate) fn issue_certificate(&self, req: NewCertificate) -> Result<CertificateView, Error> {
        if req.topics.is_empty() {
            return Err(Error::Invalid("topics must name at least one topic".into()));
        }
        for t in &req.topics {
            Topic::parse(t).map_err(|e| Error::Invalid(format!("topic {t:?}: {e}")))?;
        }
        let envs: &[Environment] = match req.environment {
            KeyEnvironment::Sandbox => &[Environment::Sandbox],
            KeyEnvironment::Production => &[Environment::Production],
            KeyEnvironment::Both => &Environment::ALL,
        };
        let password = req.pkcs12_password.unwrap_or_else(|| "apns-lab".to_owned());
        let issued = self.state.authority.issue_push_certificate(&req.topics, envs, &password)?;
        Ok(CertificateView {
            cert_pem: issued.cert_pem,
            key_pem: issued.key_pem,
            pkcs12_base64: base64::engine::general_purpose::STANDARD.encode(issued.pkcs12),
            pkcs12_password: password,
            topics: req.topics,
            environment: req.environment,
        })
    }
}
