//! `uploads`: attachment size and signed-URL lifetime.

use serde::{Deserialize, Serialize};

use super::{ConfigError, bad};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct UploadSettings {
    pub max_bytes: u64,
    pub url_ttl_secs: u64,
}

impl UploadSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes == 0 {
            return bad("uploads.max_bytes", "must be at least 1");
        }
        if self.url_ttl_secs < 10 {
            return bad("uploads.url_ttl_secs", "must be at least 10");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    #[test]
    fn url_ttl_has_a_floor() {
        let mut uploads = Settings::defaults().uploads;
        uploads.validate().unwrap();
        uploads.url_ttl_secs = 9;
        let err = uploads.validate().unwrap_err().to_string();
        assert!(err.contains("uploads.url_ttl_secs"), "{err}");
    }
}
