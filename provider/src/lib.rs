//! The provider: the app's server, which keeps the tokens its apps send it (step 3) and
//! sends notifications to APNs when something happens (step 4).
//!
//! Today the crate holds the provider-token signer every APNs client needs: an ES256 JWT
//! made from a team's `.p8` key, exactly as Apple's "Establishing a token-based
//! connection to APNs" describes. The HTTP/2 client and provider server build on it.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use protocol::jwt::JwtClaims;

/// Why a provider token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `.p8` is not an EC P-256 private key in PEM.
    #[error("the .p8 key cannot be used: {0}")]
    BadKey(String),
}

/// Signs provider tokens for one key.
pub struct TokenSigner {
    key: EncodingKey,
    header: Header,
    team_id: String,
}

impl TokenSigner {
    /// A signer for the `.p8` key `p8_pem` with id `key_id`, for team `team_id`.
    pub fn new(p8_pem: &[u8], key_id: &str, team_id: &str) -> Result<Self, Error> {
        let key = EncodingKey::from_ec_pem(p8_pem).map_err(|e| Error::BadKey(e.to_string()))?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key_id.to_owned());
        header.typ = None;
        Ok(TokenSigner { key, header, team_id: team_id.to_owned() })
    }

    /// A token issued at `iat` (UNIX seconds). APNs accepts it for one hour.
    pub fn sign(&self, iat: u64) -> Result<String, Error> {
        let claims = JwtClaims { iss: self.team_id.clone(), iat };
        jsonwebtoken::encode(&self.header, &claims, &self.key).map_err(|e| Error::BadKey(e.to_string()))
    }
}
