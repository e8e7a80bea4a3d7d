//! `database`: which database (SQLite or PostgreSQL) and its pool.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret, bad};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DatabaseSettings {
    /// May carry a password (postgres://user:pass@host/db): masked when shown.
    pub url: Secret,
    pub max_connections: u32,
    /// PostgreSQL: message batches committed side by side, each on a connection of its own.
    pub message_writers: usize,
    pub acquire_timeout_secs: u64,
    pub migrate_on_start: bool,
}

impl DatabaseSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let db = self.url.expose();
        if !(db.is_empty()
            || db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return bad("database.url", "must be empty, sqlite:… or postgres://…");
        }
        if self.max_connections == 0 {
            return bad("database.max_connections", "must be at least 1");
        }
        if !(1..=32).contains(&self.message_writers) {
            return bad("database.message_writers", "must be between 1 and 32");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    #[test]
    fn url_must_be_sqlite_or_postgres() {
        let mut database = Settings::defaults().database;
        database.validate().unwrap();
        database.url = "mysql://u:p@h/db".into();
        let err = database.validate().unwrap_err().to_string();
        assert!(err.contains("database.url"), "{err}");
        assert!(!err.contains("mysql://u:p@"), "{err}");
    }
}
