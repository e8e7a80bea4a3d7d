//! `rate_limit`: request and message budgets per client.

use serde::{Deserialize, Serialize};

use super::{ConfigError, bad};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RateLimitSettings {
    pub auth_per_minute: u32,
    pub failed_logins_per_hour: u32,
    pub login_delay_after_failures: u32,
    pub login_delay_max_secs: u64,
    pub rest_per_minute: u32,
    pub ws_messages_per_sec: u32,
    pub ws_messages_burst: u32,
}

impl RateLimitSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("rate_limit.auth_per_minute", self.auth_per_minute),
            (
                "rate_limit.failed_logins_per_hour",
                self.failed_logins_per_hour,
            ),
            ("rate_limit.rest_per_minute", self.rest_per_minute),
        ] {
            if value == 0 {
                return bad(key, "must be at least 1");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    #[test]
    fn budgets_are_at_least_one() {
        let mut rate_limit = Settings::defaults().rate_limit;
        rate_limit.validate().unwrap();
        rate_limit.rest_per_minute = 0;
        let err = rate_limit.validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid configuration: rate_limit.rest_per_minute: must be at least 1"
        );
    }
}
