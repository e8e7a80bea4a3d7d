//! `rtc`: the STUN/TURN servers handed to calls, and the TURN shared secret.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret, bad};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RtcSettings {
    pub stun_urls: Vec<String>,
    pub turn_urls: Vec<String>,
    pub turn_secret: Secret,
    pub turn_ttl_secs: u64,
}

impl RtcSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for url in &self.stun_urls {
            if !url.starts_with("stun:") && !url.starts_with("stuns:") {
                return bad(
                    "rtc.stun_urls",
                    &format!("{url:?} must start with stun: or stuns:"),
                );
            }
        }
        for url in &self.turn_urls {
            if !url.starts_with("turn:") && !url.starts_with("turns:") {
                return bad(
                    "rtc.turn_urls",
                    &format!("{url:?} must start with turn: or turns:"),
                );
            }
        }
        if !self.turn_urls.is_empty() && self.turn_secret.expose().len() < 16 {
            return bad(
                "rtc.turn_secret",
                "must be at least 16 characters when rtc.turn_urls is set",
            );
        }
        if self.turn_ttl_secs < 60 {
            return bad("rtc.turn_ttl_secs", "must be at least 60");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    #[test]
    fn turn_urls_need_a_turn_secret() {
        let mut rtc = Settings::defaults().rtc;
        rtc.validate().unwrap();
        rtc.turn_urls = vec!["turn:turn.example:3478".into()];
        rtc.turn_secret = "short".into();
        let err = rtc.validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid configuration: rtc.turn_secret: must be at least 16 characters when rtc.turn_urls is set"
        );
        rtc.turn_secret = "a-long-enough-turn-secret".into();
        rtc.validate().unwrap();
        rtc.stun_urls = vec!["http://stun.example".into()];
        let err = rtc.validate().unwrap_err().to_string();
        assert!(err.contains("rtc.stun_urls"), "{err}");
    }
}
