//! The two APNs environments, and the host names each answers to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Sandbox (development builds, `aps-environment: development`) or production.
/// Tokens are bound to the environment that issued them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// `api.sandbox.push.apple.com` (and the older `api.development.push.apple.com`).
    #[serde(alias = "development")]
    Sandbox,
    /// `api.push.apple.com`.
    Production,
}

impl Environment {
    /// Both environments, sandbox first.
    pub const ALL: [Environment; 2] = [Environment::Sandbox, Environment::Production];

    /// `"sandbox"` or `"production"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Environment::Sandbox => "sandbox",
            Environment::Production => "production",
        }
    }

    /// Apple's host names for this environment's provider API.
    pub const fn hosts(self) -> &'static [&'static str] {
        match self {
            Environment::Sandbox => &["api.sandbox.push.apple.com", "api.development.push.apple.com"],
            Environment::Production => &["api.push.apple.com"],
        }
    }

    /// The other environment.
    pub const fn other(self) -> Environment {
        match self {
            Environment::Sandbox => Environment::Production,
            Environment::Production => Environment::Sandbox,
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "sandbox" | "development" => Ok(Environment::Sandbox),
            "production" => Ok(Environment::Production),
            other => Err(Error::UnknownEnvironment(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for env in Environment::ALL {
            assert_eq!(env.as_str().parse::<Environment>(), Ok(env));
            let json = format!("\"{}\"", env.as_str());
            assert_eq!(serde_json::to_string(&env).expect("serialises"), json);
        }
        assert_eq!(serde_json::from_str::<Environment>("\"development\"").ok(), Some(Environment::Sandbox));
        assert!("prod".parse::<Environment>().is_err());
        assert_eq!(Environment::Sandbox.other(), Environment::Production);
    }
}
