//! `redis`: the optional Redis that joins several instances into one server.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret, bad};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RedisSettings {
    /// May carry a password (redis://:pass@host:6379): masked when shown.
    pub url: Secret,
    pub prefix: String,
    pub presence_ttl_secs: u64,
}

impl RedisSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let redis = self.url.expose();
        if !(redis.is_empty() || redis.starts_with("redis://") || redis.starts_with("rediss://")) {
            return bad("redis.url", "must be empty or redis://…");
        }
        if self.prefix.is_empty()
            || !self
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return bad(
                "redis.prefix",
                "must be non-empty: letters, digits, '-', '_', '.', ':'",
            );
        }
        if !(3..=3600).contains(&self.presence_ttl_secs) {
            return bad("redis.presence_ttl_secs", "must be between 3 and 3600");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    #[test]
    fn prefix_and_ttl_are_checked() {
        let mut redis = Settings::defaults().redis;
        redis.validate().unwrap();
        redis.prefix = "has space".into();
        let err = redis.validate().unwrap_err().to_string();
        assert!(err.contains("redis.prefix"), "{err}");
        let mut redis = Settings::defaults().redis;
        redis.presence_ttl_secs = 2;
        let err = redis.validate().unwrap_err().to_string();
        assert!(err.contains("redis.presence_ttl_secs"), "{err}");
    }
}
