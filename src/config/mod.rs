//! Typed settings: compiled-in defaults (config/default.yaml), an optional YAML file, then the environment.
//!
//! One file per section (`server`, `database`, `redis`, `auth`, `rate_limit`, `messages`,
//! `uploads`, `rtc`, `log`, `telemetry`), each with its own `validate()`; secrets are [`Secret`]s.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ::config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};

mod auth;
mod database;
mod log;
mod messages;
mod rate_limit;
mod redis;
mod rtc;
mod secret;
mod server;
mod telemetry;
mod uploads;

pub use auth::AuthSettings;
pub use database::DatabaseSettings;
pub use log::{LogFormat, LogSettings};
pub use messages::MessageSettings;
pub use rate_limit::RateLimitSettings;
pub use redis::RedisSettings;
pub use rtc::RtcSettings;
pub use secret::Secret;
pub use server::ServerSettings;
pub use telemetry::TelemetrySettings;
pub use uploads::UploadSettings;

/// The documented defaults. Compiled in so the binary runs from any directory with no config file.
pub const DEFAULT_YAML: &str = include_str!("../../config/default.yaml");

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

    /// Checks the values serde cannot: ranges and formats, section by section. Each error names its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.database.validate()?;
        self.redis.validate()?;
        self.auth.validate(self.environment)?;
        self.rate_limit.validate()?;
        self.messages.validate()?;
        self.uploads.validate()?;
        self.rtc.validate()?;
        self.log.validate()?;
        self.telemetry.validate()?;
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
            self.database.url.expose().to_string()
        }
    }

    pub fn is_production(&self) -> bool {
        self.environment == RunEnvironment::Production
    }

    pub fn cookies_secure(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }

    /// The effective configuration as YAML-ish JSON with every secret masked (`chatter config check`):
    /// secrets are [`Secret`]s, which serialize masked.
    pub fn masked(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    pub fn data_path(&self, name: impl AsRef<Path>) -> PathBuf {
        self.data_dir.join(name)
    }
}

fn describe(err: config::ConfigError) -> ConfigError {
    ConfigError(err.to_string())
}

/// A validation failure: `key: why`.
fn bad(key: &str, why: &str) -> Result<(), ConfigError> {
    Err(ConfigError(format!("{key}: {why}")))
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
        assert_eq!(s.database.url.expose(), "postgres://u:p@h/db");
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

    #[test]
    fn debug_and_serialize_never_show_a_secret() {
        let mut s = Settings::defaults();
        s.auth.jwt_secret = "jwt-0123456789abcdef0123456789abcdef".into();
        s.rtc.turn_secret = "turn-north-wind-secret".into();
        s.database.url = "postgres://chatter:hunter2@db:5432/chatter".into();
        s.redis.url = "redis://:redispass99@cache:6379/0".into();
        s.validate().unwrap();
        let debug = format!("{s:?}");
        let pretty = format!("{s:#?}");
        let json = serde_json::to_string(&s).unwrap();
        let masked = s.masked().to_string();
        for shown in [&debug, &pretty, &json, &masked] {
            for secret in ["jwt-0123456789", "north-wind", "hunter2", "redispass99"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains("db:5432/chatter"), "{shown}");
            assert!(shown.contains("cache:6379/0"), "{shown}");
        }
        assert_eq!(s.masked()["auth"]["jwt_secret"], "********");
        assert_eq!(s.masked()["rtc"]["turn_secret"], "********");
        assert_eq!(
            s.auth.jwt_secret.expose(),
            "jwt-0123456789abcdef0123456789abcdef"
        );
        // Unset secrets show as unset.
        let defaults = Settings::defaults().masked();
        assert_eq!(defaults["auth"]["jwt_secret"], "");
        assert_eq!(defaults["database"]["url"], "");
    }

    #[test]
    fn settings_validate_runs_every_section() {
        let mut s = Settings::defaults();
        s.telemetry.otlp_endpoint = "not a url".into();
        let err = s.validate().unwrap_err();
        assert!(err.to_string().contains("telemetry.otlp_endpoint"), "{err}");
        let mut s = Settings::defaults();
        s.environment = RunEnvironment::Production;
        let err = s.validate().unwrap_err();
        assert!(err.to_string().contains("auth.jwt_secret"), "{err}");
    }
}
