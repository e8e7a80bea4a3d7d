//! Schema migrations, embedded per backend (migrations/sqlite, migrations/postgres).

use serde::Serialize;
use sqlx::migrate::{Migrate, Migrator};

use super::{Db, Store, on_db};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// sqlx's bookkeeping table.
const TABLE: &str = "_sqlx_migrations";

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub state: MigrationState,
}

#[derive(Debug, Serialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum MigrationState {
    Applied,
    Pending,
}

impl Store {
    fn migrator(&self) -> &'static Migrator {
        match self.db {
            Db::Sqlite(_) => &SQLITE,
            Db::Postgres(_) => &POSTGRES,
        }
    }

    /// Applies every pending migration.
    pub async fn migrate_up(&self) -> anyhow::Result<()> {
        let migrator = self.migrator();
        on_db!(self, pool => migrator.run(pool).await)?;
        Ok(())
    }

    /// Reverts the most recently applied migration; returns its version, or None when nothing is applied.
    pub async fn migrate_down(&self) -> anyhow::Result<Option<i64>> {
        let applied: Vec<i64> = self
            .migration_status()
            .await?
            .into_iter()
            .filter(|m| m.state == MigrationState::Applied)
            .map(|m| m.version)
            .collect();
        let Some(&last) = applied.last() else {
            return Ok(None);
        };
        let target = applied.iter().rev().nth(1).copied().unwrap_or(0);
        let migrator = self.migrator();
        on_db!(self, pool => migrator.undo(pool, target).await)?;
        Ok(Some(last))
    }

    /// Every known migration, applied or pending, in version order.
    pub async fn migration_status(&self) -> anyhow::Result<Vec<MigrationStatus>> {
        let applied = on_db!(self, pool => {
            let mut conn = pool.acquire().await?;
            conn.ensure_migrations_table(TABLE).await?;
            conn.list_applied_migrations(TABLE).await?
        });
        Ok(self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| MigrationStatus {
                version: m.version,
                description: m.description.to_string(),
                state: if applied.iter().any(|a| a.version == m.version) {
                    MigrationState::Applied
                } else {
                    MigrationState::Pending
                },
            })
            .collect())
    }
}
