//! SQLite's write-ahead log is copied back into the database file (a checkpoint) here, on a
//! timer and on a reading connection, instead of by whichever commit happens to grow the log
//! past 1,000 pages. A checkpoint syncs the files to disk, and left to the commits that wait
//! fell on the message writer, with every sender queued behind it (15 syncs in 5 s at 300
//! messages/s). A checkpoint runs beside writers in WAL mode, so here it costs them nothing. On
//! this machine's virtual disk a sync is quick and the benchmark's latencies did not move
//! measurably (docs/api.md, Performance); on a disk with slow syncs each one held every sender.
//!
//! PostgreSQL has no such thing to do; there the task ends at once.

use std::time::Duration;

use super::{Db, Store, StoreError, StoreResult};

/// How often the log is copied back: the log holds about this long of writes at most.
const EVERY: Duration = Duration::from_secs(1);

/// What one checkpoint found and did, in pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalCheckpoint {
    /// Pages in the log.
    pub log: i64,
    /// Pages of it now in the database file.
    pub copied: i64,
}

impl Store {
    /// Checkpoints SQLite's log every second until the pool closes (at shutdown); on
    /// PostgreSQL it returns at the first tick, which comes at once.
    pub async fn checkpoint_wal(self) {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.checkpoint_once().await {
                Ok(Some(done)) => {
                    metrics::gauge!("sqlite_wal_pages").set(done.log as f64);
                    if done.copied < done.log {
                        tracing::debug!(?done, "WAL checkpoint held back by readers");
                    }
                }
                Ok(None) | Err(StoreError::Database(sqlx::Error::PoolClosed)) => return,
                Err(err) => tracing::warn!(error = %err, "WAL checkpoint failed"),
            }
        }
    }

    /// One checkpoint of SQLite's log (`None` on PostgreSQL). PASSIVE: it copies what it can
    /// without waiting for readers or writers; a later one finishes what a long read held back.
    /// With nothing to copy it costs no sync.
    pub async fn checkpoint_once(&self) -> StoreResult<Option<WalCheckpoint>> {
        let Db::Sqlite(pool) = &self.db else {
            return Ok(None);
        };
        // (busy, pages in the log, pages copied); -1 for a database without a log (in memory).
        let (_, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(pool)
            .await?;
        Ok(Some(WalCheckpoint {
            log: log.max(0),
            copied: copied.max(0),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[tokio::test]
    async fn commits_leave_the_log_to_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::defaults();
        settings.data_dir = dir.path().to_path_buf();
        let store = Store::connect(&settings).await.unwrap();
        let Db::Sqlite(pool) = &store.db else {
            unreachable!("the default database is SQLite")
        };
        // Every connection, the message writer's too, leaves the log alone.
        for db in [&store.db, &store.writes.db] {
            let Db::Sqlite(pool) = db else { unreachable!() };
            let pages: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(pages, 0);
        }
        // Past the 1,000 pages at which a commit would have checkpointed by itself.
        sqlx::query("CREATE TABLE filler (data BLOB)")
            .execute(pool)
            .await
            .unwrap();
        for _ in 0..40 {
            sqlx::query("INSERT INTO filler VALUES (zeroblob(120000))")
                .execute(pool)
                .await
                .unwrap();
        }
        let done = store.checkpoint_once().await.unwrap().unwrap();
        assert!(done.log > 1_000, "{done:?}");
        assert_eq!(done.copied, done.log);
        store.close().await;
    }
}
