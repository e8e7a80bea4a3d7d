//! `auth`: the JWT signing key and token lifetimes.

use serde::{Deserialize, Serialize};

use super::{ConfigError, RunEnvironment, Secret, bad};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AuthSettings {
    pub jwt_secret: Secret,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    pub refresh_grace_secs: u64,
    pub issuer: String,
    pub audience: String,
    pub session_cache_secs: u64,
}

impl AuthSettings {
    /// `environment`: production requires a configured `jwt_secret`.
    pub fn validate(&self, environment: RunEnvironment) -> Result<(), ConfigError> {
        let secret = self.jwt_secret.expose();
        if environment == RunEnvironment::Production && secret.is_empty() {
            return bad(
                "auth.jwt_secret",
                "must be set when environment is production",
            );
        }
        if !secret.is_empty() && secret.len() < 32 {
            return bad("auth.jwt_secret", "must be at least 32 bytes");
        }
        if self.access_ttl_secs < 30 {
            return bad("auth.access_ttl_secs", "must be at least 30");
        }
        if self.refresh_ttl_secs < self.access_ttl_secs {
            return bad(
                "auth.refresh_ttl_secs",
                "must not be shorter than auth.access_ttl_secs",
            );
        }
        if self.refresh_grace_secs > 300 {
            return bad(
                "auth.refresh_grace_secs",
                "must be at most 300 (a window for concurrent refreshes, not a second lifetime)",
            );
        }
        if self.issuer.is_empty() || self.audience.is_empty() {
            return bad(
                "auth.issuer",
                "auth.issuer and auth.audience must not be empty",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{RunEnvironment, Settings};

    #[test]
    fn production_needs_a_long_enough_secret() {
        let mut auth = Settings::defaults().auth;
        auth.validate(RunEnvironment::Development).unwrap();
        let err = auth.validate(RunEnvironment::Production).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: auth.jwt_secret: must be set when environment is production"
        );
        auth.jwt_secret = "too-short-secret".into();
        let err = auth.validate(RunEnvironment::Development).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: auth.jwt_secret: must be at least 32 bytes"
        );
        auth.jwt_secret = "0123456789abcdef0123456789abcdef".into();
        auth.validate(RunEnvironment::Production).unwrap();
    }

    #[test]
    fn refresh_outlives_access() {
        let mut auth = Settings::defaults().auth;
        auth.refresh_ttl_secs = auth.access_ttl_secs - 1;
        let err = auth.validate(RunEnvironment::Development).unwrap_err();
        assert!(err.to_string().contains("auth.refresh_ttl_secs"), "{err}");
    }
}
