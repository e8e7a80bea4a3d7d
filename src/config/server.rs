//! `server`: where to listen, the public URL, CORS origins, request limits.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, bad};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub public_url: String,
    pub allowed_origins: Vec<String>,
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    pub shutdown_timeout_secs: u64,
    pub trust_proxy_headers: bool,
    pub web_dir: PathBuf,
}

impl ServerSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.host.parse::<std::net::IpAddr>().is_err() && self.host != "localhost" {
            return bad("server.host", "must be an IP address or localhost");
        }
        if url::Url::parse(&self.public_url).is_err() {
            return bad("server.public_url", "must be an absolute URL");
        }
        for origin in &self.allowed_origins {
            if origin.parse::<axum::http::HeaderValue>().is_err()
                || url::Url::parse(origin).is_err()
            {
                return bad(
                    "server.allowed_origins",
                    &format!("{origin:?} is not an origin like https://chat.example"),
                );
            }
        }
        if self.body_limit_bytes < 1024 {
            return bad("server.body_limit_bytes", "must be at least 1024");
        }
        if self.request_timeout_secs == 0 {
            return bad("server.request_timeout_secs", "must be at least 1");
        }
        if self.shutdown_timeout_secs == 0 {
            return bad("server.shutdown_timeout_secs", "must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    #[test]
    fn origins_must_be_origins() {
        let mut server = Settings::defaults().server;
        server.validate().unwrap();
        server.allowed_origins = vec!["not an origin".into()];
        let err = server.validate().unwrap_err().to_string();
        assert!(err.contains("server.allowed_origins"), "{err}");
        let mut server = Settings::defaults().server;
        server.body_limit_bytes = 1023;
        let err = server.validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid configuration: server.body_limit_bytes: must be at least 1024"
        );
    }
}
