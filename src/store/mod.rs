//! The database: one `Store` that hides whether SQLite or PostgreSQL is behind it.
//!
//! SQL text is shared wherever it is portable (`$1` placeholders work on both through sqlx);
//! the `on_db!` macro runs the same query against whichever pool is configured, so each
//! query is written once and type-checked for both backends.

pub mod checkpoint;
mod columns;
pub(crate) mod ids;
pub mod members;
pub mod message_batch;
pub mod messages;
mod migrations;
pub mod rooms;
pub mod sessions;
pub mod uploads;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use migrations::{MigrationState, MigrationStatus};

use crate::config::Settings;

#[derive(Clone)]
pub struct Store {
    db: Db,
    /// Where new messages are written (see `message_batch`): connections of their own, opened
    /// at start, so a writer never waits behind readers for one, nor for a connection to open.
    writes: Writes,
}

#[derive(Clone)]
pub(crate) struct Writes {
    db: Db,
    /// Batches written side by side: PostgreSQL's `database.message_writers`, SQLite's 1.
    writers: usize,
}

#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool, once per backend.
macro_rules! on_db {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// Failures callers act on; everything else is a plain database error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("username taken")]
    UsernameTaken,
    #[error("email taken")]
    EmailTaken,
    #[error("alias taken")]
    AliasTaken,
    /// A direct-message room for that pair exists already (a concurrent create won).
    #[error("direct room exists")]
    DmExists,
    /// A user id that names no account (adding members, banning).
    #[error("unknown user")]
    UnknownUser,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// True when `err` is a unique violation of the named index. PostgreSQL reports the name;
/// SQLite only mentions it in the message ("UNIQUE constraint failed: index 'name'").
pub(crate) fn violates(err: &sqlx::Error, index: &str) -> bool {
    match err.as_database_error() {
        Some(db) if db.is_unique_violation() => {
            db.constraint() == Some(index) || db.message().contains(&format!("'{index}'"))
        }
        _ => false,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Store {
    /// How many message batches may be written at once.
    pub fn writers(&self) -> usize {
        self.writes.writers
    }

    /// Opens the configured database (creating the SQLite file and data dir when needed).
    pub async fn connect(settings: &Settings) -> anyhow::Result<Store> {
        let url = settings.database_url();
        let max = settings.database.max_connections;
        let acquire = Duration::from_secs(settings.database.acquire_timeout_secs);
        let (db, writes) = if url.starts_with("postgres") {
            let options = PgConnectOptions::from_str(&url)
                .context("database.url is not a valid PostgreSQL URL")?;
            let pool = PgPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(acquire)
                .connect_with(options.clone())
                .await
                .context("cannot connect to PostgreSQL")?;
            // Message batches PostgreSQL commits side by side, each on a connection of its own
            // (a commit is mostly waiting for the server). SQLite allows one write at a time.
            let writers = settings.database.message_writers as u32;
            let writer = PgPoolOptions::new()
                .max_connections(writers)
                .min_connections(writers)
                .acquire_timeout(acquire)
                .connect_with(options)
                .await
                .context("cannot connect to PostgreSQL")?;
            (Db::Postgres(pool), Db::Postgres(writer))
        } else {
            std::fs::create_dir_all(&settings.data_dir).with_context(|| {
                format!("cannot create data dir {}", settings.data_dir.display())
            })?;
            let options = SqliteConnectOptions::from_str(&url)
                .context("database.url is not a valid SQLite URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL makes NORMAL durable across application crashes; only an OS crash can lose the last commits.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                // No commit checkpoints the log: `checkpoint_wal` does, off the writers' path.
                .pragma("wal_autocheckpoint", "0");
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(acquire)
                .connect_with(options.clone())
                .await
                .with_context(|| format!("cannot open SQLite database {url}"))?;
            // An in-memory database exists once per pool: its writes stay in that pool.
            let writer = if url.contains(":memory:") || url.contains("mode=memory") {
                pool.clone()
            } else {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(acquire)
                    .connect_with(options)
                    .await
                    .with_context(|| format!("cannot open SQLite database {url}"))?
            };
            (Db::Sqlite(pool), Db::Sqlite(writer))
        };
        let writers = match writes {
            Db::Sqlite(_) => 1,
            Db::Postgres(_) => settings.database.message_writers,
        };
        Ok(Store {
            db,
            writes: Writes {
                db: writes,
                writers,
            },
        })
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// A trivial round trip, for `/ready`.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    /// Pool gauges for /metrics: (open connections, idle connections).
    pub fn pool_stats(&self) -> (u32, usize) {
        on_db!(self, pool => (pool.size(), pool.num_idle()))
    }

    pub async fn close(&self) {
        on_db!(self.writes, pool => pool.close().await);
        on_db!(self, pool => pool.close().await)
    }
}
