//! The provider authentication token's header and claims, as APNs reads them.
//!
//! Apple: "Establishing a token-based connection to APNs". The header is
//! `{"alg":"ES256","kid":"<Key ID>"}`, the claims `{"iss":"<Team ID>","iat":<seconds>}`,
//! signed with the team's P-256 key. A token is good for one hour from `iat`.

use serde::{Deserialize, Serialize};

/// The only algorithm APNs accepts.
pub const ALGORITHM: &str = "ES256";
/// How long a token is accepted after its `iat`, in seconds (one hour).
pub const MAX_AGE_SECS: u64 = 60 * 60;
/// How soon after the previous one a new token may be used on a connection, in
/// seconds (20 minutes).
pub const MIN_REFRESH_SECS: u64 = 20 * 60;

/// The JOSE header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtHeader {
    /// Must be `ES256`.
    pub alg: String,
    /// The 10-character Key ID of the signing key.
    pub kid: String,
    /// Optional; some clients send `JWT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// The claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtClaims {
    /// The 10-character Team ID.
    pub iss: String,
    /// Issued at, UNIX seconds.
    pub iat: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        let h = JwtHeader { alg: ALGORITHM.into(), kid: "8YL3G3RRX7".into(), typ: None };
        assert_eq!(serde_json::to_string(&h).expect("serialises"), r#"{"alg":"ES256","kid":"8YL3G3RRX7"}"#);
        let c: JwtClaims = serde_json::from_str(r#"{"iss":"C86NV9JX3D","iat":1459143580}"#).expect("parses");
        assert_eq!(c, JwtClaims { iss: "C86NV9JX3D".into(), iat: 1459143580 });
        // Apple's illustrative sample has iat as a string of milliseconds: not a valid token.
        assert!(serde_json::from_str::<JwtClaims>(r#"{"iss":"C86NV9JX3D","iat":"1459143580650"}"#).is_err());
    }
}
