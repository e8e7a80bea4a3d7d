//! Rooms: public channels, private groups and direct messages in one model.

use sqlx::FromRow;
use uuid::Uuid;

use super::ids::{Ids, IdsSql, ids_sql};
use super::{Store, StoreError, StoreResult, on_db, violates};
use crate::domain::{Alias, Role, RoomKind, RoomName, Topic};
use crate::time::{self, Timestamp};

#[derive(Debug, Clone, FromRow)]
pub struct Room {
    pub id: Uuid,
    pub kind: RoomKind,
    pub name: String,
    pub topic: String,
    pub alias: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub member_count: i64,
    pub last_seq: i64,
    pub last_message_id: Option<Uuid>,
    pub last_activity_at: Timestamp,
}

/// A `Room`'s columns (of `rooms r`). A macro, so the queries below are joined at compile time.
macro_rules! room_columns {
    () => {
        "r.id, r.kind, r.name, r.topic, r.alias, r.created_by, r.created_at, r.updated_at, \
         r.member_count, r.last_seq, r.last_message_id, r.last_activity_at"
    };
}

pub struct NewRoom<'a> {
    pub kind: RoomKind,
    /// `None` for direct rooms: each side sees the other person's name.
    pub name: Option<&'a RoomName>,
    pub topic: Option<&'a Topic>,
    pub alias: Option<&'a Alias>,
    pub dm_key: Option<&'a str>,
    pub creator: Uuid,
    /// `owner` for rooms; `member` for direct messages, where nobody rules.
    pub creator_role: Role,
    /// Joined as plain members besides the creator (the owner).
    pub members: &'a [Uuid],
}

/// A room as one of its members sees it in their room list.
#[derive(Debug, Clone, FromRow)]
pub struct JoinedRoom {
    #[sqlx(flatten)]
    pub room: Room,
    pub role: Role,
    pub read_seq: i64,
}

#[derive(Default)]
pub struct RoomChanges {
    pub name: Option<RoomName>,
    pub topic: Option<Topic>,
    /// `Some(None)` removes the alias.
    pub alias: Option<Option<Alias>>,
}

fn alias_violation(err: sqlx::Error) -> StoreError {
    if violates(&err, "rooms_alias_key") {
        StoreError::AliasTaken
    } else if violates(&err, "rooms_dm_key")
        || err
            .as_database_error()
            .is_some_and(|e| e.message().contains("rooms.dm_key"))
    {
        StoreError::DmExists
    } else if err
        .as_database_error()
        .is_some_and(|e| e.is_foreign_key_violation())
    {
        StoreError::UnknownUser
    } else {
        StoreError::Database(err)
    }
}

impl Store {
    /// Creates a room with its creator as owner and `members` as members. Unknown member ids
    /// fail the whole creation (`UnknownUser`).
    pub async fn create_room(&self, new: NewRoom<'_>) -> StoreResult<Room> {
        let now = time::now();
        let id = Uuid::now_v7();
        let mut members: Vec<Uuid> = new
            .members
            .iter()
            .copied()
            .filter(|m| *m != new.creator)
            .collect();
        members.sort();
        members.dedup();
        let insert = "INSERT INTO rooms (id, kind, name, topic, alias, dm_key, created_by, created_at, updated_at, member_count, last_activity_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $8)";
        let member =
            "INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)";
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(insert)
                .bind(id)
                .bind(new.kind)
                .bind(new.name.map_or("", RoomName::as_str))
                .bind(new.topic.map_or("", Topic::as_str))
                .bind(new.alias)
                .bind(new.dm_key)
                .bind(new.creator)
                .bind(now)
                .bind(1 + members.len() as i64)
                .execute(&mut *tx)
                .await
                .map_err(alias_violation)?;
            sqlx::query(member).bind(id).bind(new.creator).bind(new.creator_role).bind(now).execute(&mut *tx).await?;
            for user in &members {
                sqlx::query(member).bind(id).bind(user).bind(Role::Member).bind(now).execute(&mut *tx).await.map_err(alias_violation)?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.room(id)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    pub async fn room(&self, id: Uuid) -> StoreResult<Option<Room>> {
        let sql = concat!("SELECT ", room_columns!(), " FROM rooms r WHERE r.id = $1");
        Ok(on_db!(self, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    /// The room's kind, or `None` when there is no such room.
    pub async fn room_kind(&self, id: Uuid) -> StoreResult<Option<RoomKind>> {
        let sql = "SELECT kind FROM rooms WHERE id = $1";
        Ok(on_db!(self, pool => sqlx::query_scalar(sql).bind(id).fetch_optional(pool).await)?)
    }

    pub async fn room_by_alias(&self, alias: &str) -> StoreResult<Option<Room>> {
        let sql = concat!(
            "SELECT ",
            room_columns!(),
            " FROM rooms r WHERE lower(r.alias) = $1"
        );
        Ok(on_db!(self, pool => sqlx::query_as(sql)
            .bind(alias.to_lowercase())
            .fetch_optional(pool)
            .await)?)
    }

    pub async fn room_by_dm_key(&self, key: &str) -> StoreResult<Option<Room>> {
        let sql = concat!(
            "SELECT ",
            room_columns!(),
            " FROM rooms r WHERE r.dm_key = $1"
        );
        Ok(on_db!(self, pool => sqlx::query_as(sql).bind(key).fetch_optional(pool).await)?)
    }

    pub async fn update_room(&self, id: Uuid, changes: RoomChanges) -> StoreResult<Option<Room>> {
        let sql = "UPDATE rooms SET name = COALESCE($2, name), topic = COALESCE($3, topic), \
                   alias = CASE WHEN $4 THEN $5 ELSE alias END, updated_at = $6 WHERE id = $1";
        let (alias_changed, alias) = match changes.alias {
            Some(alias) => (true, alias),
            None => (false, None),
        };
        let updated = on_db!(self, pool => sqlx::query(sql)
            .bind(id)
            .bind(changes.name)
            .bind(changes.topic)
            .bind(alias_changed)
            .bind(alias)
            .bind(time::now())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(alias_violation)?;
        if updated == 0 {
            return Ok(None);
        }
        self.room(id).await
    }

    /// Deletes the room and everything in it; returns who were its members.
    pub async fn delete_room(&self, id: Uuid) -> StoreResult<Vec<Uuid>> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let members: Vec<Uuid> = sqlx::query_scalar("SELECT user_id FROM room_members WHERE room_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM rooms WHERE id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(members)
        })
    }

    /// Public rooms whose name or alias contains `q`, by name; `after` is (name, id)
    /// of the previous page's last room.
    pub async fn public_rooms(
        &self,
        q: &str,
        after: Option<(String, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<Room>> {
        let pattern = format!("%{}%", super::users::escape_like(&q.to_lowercase()));
        let (after_name, after_id) = match after {
            Some((name, id)) => (Some(name), Some(id)),
            None => (None, None),
        };
        let sql = concat!(
            "SELECT ",
            room_columns!(),
            " FROM rooms r WHERE r.kind = 'public' \
               AND (lower(r.name) LIKE $1 ESCAPE '\\' OR lower(COALESCE(r.alias, '')) LIKE $1 ESCAPE '\\') \
               AND ($2 IS NULL OR lower(r.name) > lower($2) OR (lower(r.name) = lower($2) AND r.id > $3)) \
             ORDER BY lower(r.name), r.id LIMIT $4"
        );
        Ok(on_db!(self, pool => sqlx::query_as(sql)
            .bind(&pattern)
            .bind(&after_name)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?)
    }

    /// Every room the user belongs to (DMs included), newest activity first. Unread counts
    /// come from `last_seq - read_seq`: no scan of the room's messages.
    pub async fn joined_rooms(
        &self,
        user_id: Uuid,
        kind: Option<RoomKind>,
    ) -> StoreResult<Vec<JoinedRoom>> {
        let sql = concat!(
            "SELECT ",
            room_columns!(),
            ", m.role, m.read_seq FROM room_members m JOIN rooms r ON r.id = m.room_id \
             WHERE m.user_id = $1 AND ($2 IS NULL OR r.kind = $2) ORDER BY r.last_activity_at DESC, r.id DESC"
        );
        Ok(on_db!(self, pool => sqlx::query_as(sql)
            .bind(user_id)
            .bind(kind)
            .fetch_all(pool)
            .await)?)
    }
}

impl Store {
    /// For each of the given direct rooms, the member who is not `viewer`.
    pub async fn dm_partners(
        &self,
        viewer: Uuid,
        room_ids: &[Uuid],
    ) -> StoreResult<Vec<(Uuid, super::users::User)>> {
        if room_ids.is_empty() {
            return Ok(Vec::new());
        }
        #[derive(FromRow)]
        struct Row {
            room_id: Uuid,
            #[sqlx(flatten)]
            user: super::users::User,
        }
        const SQL: IdsSql = ids_sql!(
            [
                "SELECT m.room_id, u.id, u.username, u.email, u.display_name, u.status_text, u.avatar_upload_id, u.created_at, \
                 u.updated_at, u.last_seen_at FROM room_members m JOIN users u ON u.id = m.user_id \
                 WHERE m.user_id <> $1 AND m.room_id"
            ],
            "$2",
            []
        );
        let sql = SQL.on(self.backend());
        let rows: Vec<Row> = on_db!(self, pool => sqlx::query_as(sql)
            .bind(viewer)
            .bind(Ids(room_ids))
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(|r| (r.room_id, r.user)).collect())
    }
}
