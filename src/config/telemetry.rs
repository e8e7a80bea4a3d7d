//! `telemetry`: the optional OTLP trace exporter.

use serde::{Deserialize, Serialize};

use super::{ConfigError, bad};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct TelemetrySettings {
    pub otlp_endpoint: String,
    pub service_name: String,
}

impl TelemetrySettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.otlp_endpoint.is_empty() && url::Url::parse(&self.otlp_endpoint).is_err() {
            return bad(
                "telemetry.otlp_endpoint",
                "must be empty or an absolute URL",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    #[test]
    fn endpoint_must_be_a_url() {
        let mut telemetry = Settings::defaults().telemetry;
        telemetry.validate().unwrap();
        telemetry.otlp_endpoint = "not a url".into();
        let err = telemetry.validate().unwrap_err().to_string();
        assert!(err.contains("telemetry.otlp_endpoint"), "{err}");
    }
}
