//! A list of ids bound as one parameter, so a query for "these ids" has one fixed SQL text
//! whatever the list's length (nothing formatted per call; each connection prepares it once).
//!
//! The one place the backends differ: PostgreSQL takes a `uuid[]` and tests `= ANY($n)`.
//! SQLite has no arrays, so the list goes in as a JSON array of hex strings that `json_each`
//! unpacks and `unhex` turns back into the 16-byte BLOBs the id columns hold (SQLite ≥ 3.41;
//! sqlx bundles a newer one). A JSON array rather than a list of `$2, $3, …` placeholders:
//! the text then stays the same for every length, as on PostgreSQL.

use std::fmt::Write;

use sqlx::encode::{Encode, IsNull};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo};
use sqlx::{Postgres, Sqlite, Type};
use uuid::Uuid;

use super::Backend;

/// The ids to bind where [`ids_sql!`] put their parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ids<'a>(pub &'a [Uuid]);

/// A query's SQL text for each backend, as [`ids_sql!`] writes it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdsSql {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl IdsSql {
    pub(crate) fn on(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

/// `ids_sql!([head…], "$n", [tail…])`: the SQL texts `head… IN <the ids bound at $n> tail…`,
/// joined at compile time; the head ends with the column tested (`" WHERE m.id"`).
macro_rules! ids_sql {
    ([$($head:expr),* $(,)?], $param:literal, [$($tail:expr),* $(,)?]) => {
        $crate::store::ids::IdsSql {
            sqlite: concat!(
                $($head,)* " IN (SELECT unhex(value) FROM json_each(", $param, "))" $(, $tail)*
            ),
            postgres: concat!($($head,)* " = ANY(", $param, ")" $(, $tail)*),
        }
    };
}
pub(crate) use ids_sql;

impl Type<Postgres> for Ids<'_> {
    fn type_info() -> PgTypeInfo {
        <[Uuid] as Type<Postgres>>::type_info()
    }
}

impl<'q> Encode<'q, Postgres> for Ids<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&[Uuid] as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl Type<Sqlite> for Ids<'_> {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for Ids<'_> {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.json(), buf)
    }
}

impl Ids<'_> {
    /// `["0190…","0190…"]`: each id as 32 lowercase hex digits, what `unhex` reads.
    fn json(&self) -> String {
        let mut json = String::with_capacity(2 + 35 * self.0.len());
        json.push('[');
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            let _ = write!(json, "\"{}\"", id.simple());
        }
        json.push(']');
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_ids_go_to_sqlite_as_a_json_array_of_hex() {
        let a = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_00ab);
        let b = Uuid::from_u128(1);
        assert_eq!(Ids(&[]).json(), "[]");
        assert_eq!(
            Ids(&[a, b]).json(),
            r#"["019000000000700080000000000000ab","00000000000000000000000000000001"]"#
        );
    }

    #[test]
    fn store_ids_sql_differs_only_in_how_the_list_is_read() {
        const SQL: IdsSql = ids_sql!(["SELECT id FROM t WHERE id"], "$2", [" AND x = $1"]);
        assert_eq!(
            SQL.on(Backend::Sqlite),
            "SELECT id FROM t WHERE id IN (SELECT unhex(value) FROM json_each($2)) AND x = $1"
        );
        assert_eq!(
            SQL.on(Backend::Postgres),
            "SELECT id FROM t WHERE id = ANY($2) AND x = $1"
        );
    }
}
