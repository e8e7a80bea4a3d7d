//! The two backends' migrations build the same schema: the same tables with the same columns
//! (column types are each backend's own and not compared).

use std::collections::{BTreeMap, BTreeSet};

use chatter::Store;

use crate::common::{Backend, TestEnv};

/// Table name → its column names.
type Schema = BTreeMap<String, BTreeSet<String>>;

/// Where the backends differ on purpose: full-text search. SQLite keeps it in an FTS5 table
/// (`messages_fts`, whose shadow tables are named after it); PostgreSQL in a generated
/// tsvector column on `messages`.
fn sqlite_only_table(table: &str) -> bool {
    table == "messages_fts" || table.starts_with("messages_fts_")
}
const POSTGRES_ONLY_COLUMNS: &[(&str, &str)] = &[("messages", "search")];

fn schema_of(rows: Vec<(String, String)>) -> Schema {
    let mut schema = Schema::new();
    for (table, column) in rows {
        schema.entry(table).or_default().insert(column);
    }
    schema
}

/// A fresh database of `backend`, migrated up the way the server does it; returns its schema.
async fn migrated_schema(backend: &Backend) -> Schema {
    let env = TestEnv::new(backend).await;
    let store = Store::connect(&env.settings).await.expect("connect");
    store.migrate_up().await.expect("migrate up");
    store.close().await;
    let url = env.settings.database_url();
    let rows: Vec<(String, String)> = match backend {
        // `sqlite_%` tables are SQLite's own; `_sqlx_migrations` is sqlx's bookkeeping.
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.expect("open SQLite");
            let rows = sqlx::query_as(
                "SELECT t.name, c.name FROM sqlite_master t JOIN pragma_table_info(t.name) c \
                 WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                   AND t.name <> '_sqlx_migrations'",
            )
            .fetch_all(&pool)
            .await
            .expect("SQLite tables");
            pool.close().await;
            rows
        }
        Backend::Postgres(_) => {
            let pool = sqlx::PgPool::connect(&url).await.expect("open PostgreSQL");
            let rows = sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(&pool)
            .await
            .expect("PostgreSQL columns");
            pool.close().await;
            rows
        }
    };
    schema_of(rows)
}

/// Every difference between the two schemas, one line each, naming the table (and column).
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let tables: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    for table in tables {
        match (sqlite.get(table), postgres.get(table)) {
            (Some(_), None) if sqlite_only_table(table) => {}
            (Some(_), None) => out.push(format!("table {table}: only on SQLite")),
            (None, Some(_)) => out.push(format!("table {table}: only on PostgreSQL")),
            (Some(lite), Some(pg)) => {
                for column in lite.difference(pg) {
                    out.push(format!("column {table}.{column}: only on SQLite"));
                }
                for column in pg.difference(lite) {
                    if !POSTGRES_ONLY_COLUMNS.contains(&(table.as_str(), column.as_str())) {
                        out.push(format!("column {table}.{column}: only on PostgreSQL"));
                    }
                }
            }
            (None, None) => unreachable!(),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_migrations_give_both_backends_the_same_tables_and_columns() {
    let Some(postgres) = Backend::postgres() else {
        eprintln!("TEST_DATABASE_URL is not set: PostgreSQL test skipped");
        return;
    };
    let sqlite = migrated_schema(&Backend::Sqlite).await;
    let postgres = migrated_schema(&postgres).await;
    // Not vacuous: both list the tables every part of the server uses.
    for schema in [&sqlite, &postgres] {
        for table in [
            "users",
            "sessions",
            "rooms",
            "room_members",
            "messages",
            "uploads",
        ] {
            assert!(schema.contains_key(table), "{table} in {schema:?}");
        }
        assert!(!schema.contains_key("_sqlx_migrations"));
    }
    let differences = differences(&sqlite, &postgres);
    assert!(
        differences.is_empty(),
        "the SQLite and PostgreSQL migrations build different schemas:\n  {}",
        differences.join("\n  ")
    );
}
