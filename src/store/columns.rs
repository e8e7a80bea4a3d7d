//! Domain values stored as text columns. Kinds and roles are written with `as_str` and read back
//! with `parse`: a value the code does not know (a row written by a newer version, a hand edit)
//! is a decode error, never silently another kind or role. Names and texts are written as the
//! text they hold; they are parsed when they come in, so the store writes only valid ones.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::domain::{
    Alias, DisplayName, Email, Role, RoomKind, RoomName, StatusText, Topic, Username,
};

/// A text column's type, whatever the backend.
macro_rules! text_type {
    ($name:ident) => {
        impl<DB: Database> Type<DB> for $name
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }
    };
}

macro_rules! text_column {
    ($name:ident, $what:literal) => {
        text_type!($name);

        impl<'q, DB: Database> Encode<'q, DB> for $name
        where
            &'q str: Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                <&'q str as Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $name
        where
            &'r str: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&'r str as Decode<'r, DB>>::decode(value)?;
                $name::parse(text).ok_or_else(|| format!("unknown {} {text:?}", $what).into())
            }
        }
    };
}

text_column!(RoomKind, "room kind");
text_column!(Role, "role");

/// Written only: rows are read back as plain text (what was stored was valid when written).
macro_rules! text_value {
    ($($name:ident),*) => {$(
        text_type!($name);

        impl<'q, DB: Database> Encode<'q, DB> for $name
        where
            String: Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                // Owned: the argument buffer may outlive `self` (a rare write, not a hot path).
                <String as Encode<'q, DB>>::encode(self.as_str().to_owned(), buf)
            }
        }
    )*};
}

text_value!(
    Username,
    Email,
    DisplayName,
    StatusText,
    RoomName,
    Topic,
    Alias
);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn store_reads_kinds_and_roles_back_and_refuses_unknown_ones() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let role: Role = sqlx::query_scalar("SELECT $1")
            .bind(Role::Admin)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(role, Role::Admin);
        let kind: RoomKind = sqlx::query_scalar("SELECT 'direct'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(kind, RoomKind::Direct);
        let unknown = sqlx::query_scalar::<_, Role>("SELECT 'moderator'")
            .fetch_one(&pool)
            .await
            .unwrap_err();
        assert!(
            unknown.to_string().contains("unknown role \"moderator\""),
            "{unknown}"
        );
        let name: String = sqlx::query_scalar("SELECT $1")
            .bind(RoomName::parse(" General ").unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(name, "General");
    }
}
