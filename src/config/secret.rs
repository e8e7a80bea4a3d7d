//! A configured secret: readable only through [`Secret::expose`], masked everywhere else.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret setting (a signing key, or a URL that may carry a password).
///
/// `Debug` and `Serialize` show it masked: URLs keep scheme, host and path but lose their
/// password, anything else becomes `********`; an unset (empty) secret stays empty, so the
/// effective configuration tells "unset" from "set". `Deserialize` reads a plain string.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself. Every read of the real value goes through here.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What `Debug` and `Serialize` show.
    pub fn masked(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            mask_url_or_secret(&self.0)
        }
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_string())
    }
}

// Secrets must never reach a log line through `{:?}`.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.masked(), f)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_secrets_are_masked_in_debug_and_serialize() {
        let secret = Secret::from("0123456789abcdef-hunter2");
        assert_eq!(format!("{secret:?}"), "\"********\"");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"********\"");
        assert_eq!(secret.expose(), "0123456789abcdef-hunter2");
    }

    #[test]
    fn urls_lose_only_their_password() {
        let secret = Secret::from("postgres://user:hunter2@db:5432/chatter");
        let shown = format!("{secret:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("postgres://user:********@db:5432/chatter"),
            "{shown}"
        );
        let secret = Secret::from("redis://:redispass99@cache:6379");
        let json = serde_json::to_string(&secret).unwrap();
        assert!(!json.contains("redispass99"), "{json}");
        assert!(json.contains("cache:6379"), "{json}");
        let sqlite = Secret::from("sqlite://data/chatter.db");
        assert_eq!(sqlite.masked(), "sqlite://data/chatter.db");
    }

    #[test]
    fn unset_stays_empty_and_deserialize_reads_a_plain_string() {
        assert_eq!(Secret::default().masked(), "");
        let secret: Secret = serde_json::from_str("\"s3cret-value\"").unwrap();
        assert_eq!(secret.expose(), "s3cret-value");
        assert!(!format!("{secret:?}").contains("s3cret"));
    }
}
