//! `log`: the tracing filter and output format.

use serde::{Deserialize, Serialize};

use super::{ConfigError, bad};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl LogSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if tracing_subscriber::EnvFilter::try_new(&self.level).is_err() {
            return bad(
                "log.level",
                "is not a valid filter such as \"info\" or \"chatter=debug\"",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    #[test]
    fn level_must_be_a_filter() {
        let mut log = Settings::defaults().log;
        log.validate().unwrap();
        log.level = "chatter=loud".into();
        let err = log.validate().unwrap_err().to_string();
        assert!(err.contains("log.level"), "{err}");
    }
}
