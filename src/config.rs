//! Typed settings: compiled-in defaults (config/default.yaml), an optional YAML file, then the environment.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};

/// The documented defaults. Compiled in so the binary runs from any directory with no config file.
pub const DEFAULT_YAML: &str = include_str!("../config/default.yaml");

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Settings {
    pub environment: RunEnvironment,
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub messages: MessageSettings,
    pub uploads: UploadSettings,
    pub rtc: RtcSettings,
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RunEnvironment {
    Development,
    Production,
}

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

#[derive(Clone, Deserialize, Serialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    /// PostgreSQL: message batches committed side by side, each on a connection of its own.
    pub message_writers: usize,
    pub acquire_timeout_secs: u64,
    pub migrate_on_start: bool,
}

#[derive(Clone, Deserialize, Serialize)]
pub struct RedisSettings {
    pub url: String,
    pub prefix: String,
    pub presence_ttl_secs: u64,
}

#[derive(Clone, Deserialize, Serialize)]
pub struct AuthSettings {
    pub jwt_secret: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    pub refresh_grace_secs: u64,
    pub issuer: String,
    pub audience: String,
    pub session_cache_secs: u64,
}

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

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct MessageSettings {
    pub max_content_chars: usize,
    pub edit_window_secs: u64,
    /// Events waiting for the realtime fan-out at most; beyond it publishers wait.
    pub fanout_buffer: usize,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct UploadSettings {
    pub max_bytes: u64,
    pub url_ttl_secs: u64,
}

#[derive(Clone, Deserialize, Serialize)]
pub struct RtcSettings {
    pub stun_urls: Vec<String>,
    pub turn_urls: Vec<String>,
    pub turn_secret: String,
    pub turn_ttl_secs: u64,
}

impl fmt::Debug for RtcSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtcSettings")
            .field("stun_urls", &self.stun_urls)
            .field("turn_urls", &self.turn_urls)
            .field("turn_secret", &"********")
            .field("turn_ttl_secs", &self.turn_ttl_secs)
            .finish()
    }
}

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

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct TelemetrySettings {
    pub otlp_endpoint: String,
    pub service_name: String,
}

/// A configuration problem, phrased as one line that names the key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Where to read settings from besides the compiled-in defaults.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// `--config PATH`; when absent, `config/local.yaml` is read if it exists.
    pub file: Option<PathBuf>,
    /// The environment to read overrides from (the process environment in `main`, a fixed list in tests).
    pub env: Vec<(String, String)>,
}

impl Settings {
    /// Layers defaults → YAML file → DATABASE_URL/REDIS_URL/PORT → CHATTER__* and validates the result.
    pub fn load(sources: &Sources) -> Result<Settings, ConfigError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_YAML, FileFormat::Yaml));
        match &sources.file {
            Some(path) => {
                if !path.is_file() {
                    return Err(ConfigError(format!(
                        "config file {} does not exist",
                        path.display()
                    )));
                }
                builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Yaml));
            }
            None => {
                builder = builder
                    .add_source(File::new("config/local.yaml", FileFormat::Yaml).required(false));
            }
        }
        let env: std::collections::HashMap<String, String> = sources.env.iter().cloned().collect();
        // The conventional platform variables come before CHATTER__*, so the specific name wins.
        let platform: std::collections::HashMap<String, String> = [
            ("DATABASE_URL", "DATABASE__URL"),
            ("REDIS_URL", "REDIS__URL"),
            ("PORT", "SERVER__PORT"),
        ]
        .into_iter()
        .filter_map(|(var, key)| env.get(var).map(|value| (key.to_string(), value.clone())))
        .collect();
        builder = builder.add_source(
            Environment::default()
                .separator("__")
                .try_parsing(true)
                .source(Some(platform)),
        );
        let chatter_env = Environment::with_prefix("CHATTER")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("server.allowed_origins")
            .with_list_parse_key("rtc.stun_urls")
            .with_list_parse_key("rtc.turn_urls")
            .try_parsing(true)
            .source(Some(env));
        let settings: Settings = builder
            .add_source(chatter_env)
            .build()
            .and_then(Config::try_deserialize)
            .map_err(describe)?;
        settings.validate()?;
        Ok(settings)
    }

    /// The compiled-in defaults alone, ignoring files and environment (tests start from here).
    pub fn defaults() -> Settings {
        Config::builder()
            .add_source(File::from_str(DEFAULT_YAML, FileFormat::Yaml))
            .build()
            .and_then(Config::try_deserialize)
            .expect("config/default.yaml is compiled in and must deserialize")
    }

    /// Checks the values serde cannot: ranges and formats. Each error names its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("{key}: {why}")));
        if self.server.host.parse::<std::net::IpAddr>().is_err() && self.server.host != "localhost"
        {
            return bad("server.host", "must be an IP address or localhost");
        }
        if url::Url::parse(&self.server.public_url).is_err() {
            return bad("server.public_url", "must be an absolute URL");
        }
        for origin in &self.server.allowed_origins {
            if origin.parse::<axum::http::HeaderValue>().is_err()
                || url::Url::parse(origin).is_err()
            {
                return bad(
                    "server.allowed_origins",
                    &format!("{origin:?} is not an origin like https://chat.example"),
                );
            }
        }
        if self.server.body_limit_bytes < 1024 {
            return bad("server.body_limit_bytes", "must be at least 1024");
        }
        if self.server.request_timeout_secs == 0 {
            return bad("server.request_timeout_secs", "must be at least 1");
        }
        if self.server.shutdown_timeout_secs == 0 {
            return bad("server.shutdown_timeout_secs", "must be at least 1");
        }
        let db = &self.database.url;
        if !(db.is_empty()
            || db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return bad("database.url", "must be empty, sqlite:… or postgres://…");
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections", "must be at least 1");
        }
        if !(1..=32).contains(&self.database.message_writers) {
            return bad("database.message_writers", "must be between 1 and 32");
        }
        let redis = &self.redis.url;
        if !(redis.is_empty() || redis.starts_with("redis://") || redis.starts_with("rediss://")) {
            return bad("redis.url", "must be empty or redis://…");
        }
        if self.redis.prefix.is_empty()
            || !self
                .redis
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return bad(
                "redis.prefix",
                "must be non-empty: letters, digits, '-', '_', '.', ':'",
            );
        }
        if !(3..=3600).contains(&self.redis.presence_ttl_secs) {
            return bad("redis.presence_ttl_secs", "must be between 3 and 3600");
        }
        if self.is_production() && self.auth.jwt_secret.is_empty() {
            return bad(
                "auth.jwt_secret",
                "must be set when environment is production",
            );
        }
        if !self.auth.jwt_secret.is_empty() && self.auth.jwt_secret.len() < 32 {
            return bad("auth.jwt_secret", "must be at least 32 bytes");
        }
        if self.auth.access_ttl_secs < 30 {
            return bad("auth.access_ttl_secs", "must be at least 30");
        }
        if self.auth.refresh_ttl_secs < self.auth.access_ttl_secs {
            return bad(
                "auth.refresh_ttl_secs",
                "must not be shorter than auth.access_ttl_secs",
            );
        }
        if self.auth.refresh_grace_secs > 300 {
            return bad(
                "auth.refresh_grace_secs",
                "must be at most 300 (a window for concurrent refreshes, not a second lifetime)",
            );
        }
        if self.auth.issuer.is_empty() || self.auth.audience.is_empty() {
            return bad(
                "auth.issuer",
                "auth.issuer and auth.audience must not be empty",
            );
        }
        for (key, value) in [
            (
                "rate_limit.auth_per_minute",
                self.rate_limit.auth_per_minute,
            ),
            (
                "rate_limit.failed_logins_per_hour",
                self.rate_limit.failed_logins_per_hour,
            ),
            (
                "rate_limit.rest_per_minute",
                self.rate_limit.rest_per_minute,
            ),
        ] {
            if value == 0 {
                return bad(key, "must be at least 1");
            }
        }
        if !(1..=100_000).contains(&self.messages.max_content_chars) {
            return bad("messages.max_content_chars", "must be between 1 and 100000");
        }
        if !(1..=1_000_000).contains(&self.messages.fanout_buffer) {
            return bad("messages.fanout_buffer", "must be between 1 and 1000000");
        }
        if self.uploads.max_bytes == 0 {
            return bad("uploads.max_bytes", "must be at least 1");
        }
        if self.uploads.url_ttl_secs < 10 {
            return bad("uploads.url_ttl_secs", "must be at least 10");
        }
        for url in &self.rtc.stun_urls {
            if !url.starts_with("stun:") && !url.starts_with("stuns:") {
                return bad(
                    "rtc.stun_urls",
                    &format!("{url:?} must start with stun: or stuns:"),
                );
            }
        }
        for url in &self.rtc.turn_urls {
            if !url.starts_with("turn:") && !url.starts_with("turns:") {
                return bad(
                    "rtc.turn_urls",
                    &format!("{url:?} must start with turn: or turns:"),
                );
            }
        }
        if !self.rtc.turn_urls.is_empty() && self.rtc.turn_secret.len() < 16 {
            return bad(
                "rtc.turn_secret",
                "must be at least 16 characters when rtc.turn_urls is set",
            );
        }
        if self.rtc.turn_ttl_secs < 60 {
            return bad("rtc.turn_ttl_secs", "must be at least 60");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return bad(
                "log.level",
                "is not a valid filter such as \"info\" or \"chatter=debug\"",
            );
        }
        if !self.telemetry.otlp_endpoint.is_empty()
            && url::Url::parse(&self.telemetry.otlp_endpoint).is_err()
        {
            return bad(
                "telemetry.otlp_endpoint",
                "must be empty or an absolute URL",
            );
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        let host = if self.server.host == "localhost" {
            "127.0.0.1"
        } else {
            &self.server.host
        };
        format!("{host}:{}", self.server.port)
            .parse()
            .map_err(|_| ConfigError("server.host: not a valid listen address".into()))
    }

    /// The database URL, with the SQLite default resolved against the data dir.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("chatter.db").display())
        } else {
            self.database.url.clone()
        }
    }

    pub fn is_production(&self) -> bool {
        self.environment == RunEnvironment::Production
    }

    pub fn cookies_secure(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }

    /// The effective configuration as YAML-ish JSON with every secret masked (`chatter config check`).
    pub fn masked(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        let mask = |v: &mut serde_json::Value| {
            if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
                *v = serde_json::Value::String(mask_url_or_secret(s));
            }
        };
        if let Some(v) = value.pointer_mut("/auth/jwt_secret") {
            mask(v);
        }
        if let Some(v) = value.pointer_mut("/database/url") {
            mask(v);
        }
        if let Some(v) = value.pointer_mut("/redis/url") {
            mask(v);
        }
        if let Some(v) = value.pointer_mut("/rtc/turn_secret") {
            mask(v);
        }
        value
    }

    pub fn data_path(&self, name: impl AsRef<Path>) -> PathBuf {
        self.data_dir.join(name)
    }
}

/// URLs keep scheme, host and path but lose their password; anything else becomes `********`.
fn mask_url_or_secret(value: &str) -> String {
    match url::Url::parse(value) {
        Ok(mut url) if url.has_host() => {
            if url.password().is_some() {
                let _ = url.set_password(Some("********"));
            }
            url.to_string()
        }
        Ok(url) if url.scheme() == "sqlite" => value.to_string(),
        _ => "********".to_string(),
    }
}

fn describe(err: config::ConfigError) -> ConfigError {
    ConfigError(err.to_string())
}

// Secrets must never reach a log line through `{:?}`.
impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &mask_url_or_secret(&self.url))
            .field("max_connections", &self.max_connections)
            .field("message_writers", &self.message_writers)
            .field("migrate_on_start", &self.migrate_on_start)
            .finish()
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &mask_url_or_secret(&self.url))
            .field("prefix", &self.prefix)
            .field("presence_ttl_secs", &self.presence_ttl_secs)
            .finish()
    }
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwt_secret", &"********")
            .field("access_ttl_secs", &self.access_ttl_secs)
            .field("refresh_ttl_secs", &self.refresh_ttl_secs)
            .field("refresh_grace_secs", &self.refresh_grace_secs)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_without_any_file() {
        let s = Settings::load(&Sources::default()).unwrap();
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.environment, RunEnvironment::Development);
    }

    #[test]
    fn chatter_env_beats_port_and_yaml() {
        let s = Settings::load(&Sources {
            file: None,
            env: env(&[
                ("PORT", "9000"),
                ("CHATTER__SERVER__PORT", "9001"),
                ("DATABASE_URL", "postgres://u:p@h/db"),
            ]),
        })
        .unwrap();
        assert_eq!(s.server.port, 9001);
        assert_eq!(s.database.url, "postgres://u:p@h/db");
    }

    #[test]
    fn lists_parse_from_env() {
        let s = Settings::load(&Sources {
            file: None,
            env: env(&[(
                "CHATTER__SERVER__ALLOWED_ORIGINS",
                "https://a.example,https://b.example",
            )]),
        })
        .unwrap();
        assert_eq!(
            s.server.allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = Settings::load(&Sources {
            file: None,
            env: env(&[("CHATTER__SERVER__PORT", "eighty")]),
        })
        .unwrap_err();
        assert!(err.to_string().contains("server.port"), "{err}");
        let err = Settings::load(&Sources {
            file: None,
            env: env(&[("CHATTER__LOG__FORMAT", "xml")]),
        })
        .unwrap_err();
        assert!(err.to_string().contains("log.format"), "{err}");
        let err = Settings::load(&Sources {
            file: None,
            env: env(&[("CHATTER__AUTH__JWT_SECRET", "short")]),
        })
        .unwrap_err();
        assert!(err.to_string().contains("auth.jwt_secret"), "{err}");
    }

    #[test]
    fn message_writers_are_bounded() {
        let load = |writers: &str| {
            Settings::load(&Sources {
                file: None,
                env: env(&[("CHATTER__DATABASE__MESSAGE_WRITERS", writers)]),
            })
        };
        assert_eq!(load("1").unwrap().database.message_writers, 1);
        assert_eq!(load("32").unwrap().database.message_writers, 32);
        for bad in ["0", "33"] {
            let err = load(bad).unwrap_err();
            assert!(
                err.to_string().contains("database.message_writers"),
                "{err}"
            );
        }
    }

    #[test]
    fn masked_config_hides_secrets() {
        let s = Settings::load(&Sources {
            file: None,
            env: env(&[
                (
                    "CHATTER__AUTH__JWT_SECRET",
                    "0123456789abcdef0123456789abcdef-secret",
                ),
                ("DATABASE_URL", "postgres://user:hunter2@db/chatter"),
            ]),
        })
        .unwrap();
        let text = s.masked().to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("abcdef-secret"),
            "{text}"
        );
        assert!(format!("{s:?}").contains("********"));
    }
}
