//! Room membership: roles, joining and leaving (with ownership hand-over), bans.

use sqlx::FromRow;
use uuid::Uuid;

use super::users::User;
use super::{Store, StoreError, StoreResult, on_db};
use crate::domain::Role;
use crate::time::{self, Timestamp};

#[derive(Debug, Clone, FromRow)]
pub struct Membership {
    pub role: Role,
    pub joined_at: Timestamp,
    pub read_seq: i64,
    pub read_message_id: Option<Uuid>,
}

#[derive(Debug, Clone, FromRow)]
pub struct Member {
    #[sqlx(flatten)]
    pub user: User,
    pub role: Role,
    pub joined_at: Timestamp,
    pub read_message_id: Option<Uuid>,
}

#[derive(Debug, Clone, FromRow)]
pub struct Ban {
    pub user_id: Uuid,
    pub banned_by: Option<Uuid>,
    pub reason: String,
    pub until: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// What a departure changed besides the membership itself.
#[derive(Debug, Default)]
pub struct Departure {
    /// False when the user was not a member.
    pub left: bool,
    /// The owner left: this member now owns the room.
    pub new_owner: Option<Uuid>,
    /// The last member left: the room is gone.
    pub room_deleted: bool,
}

impl Store {
    pub async fn membership(
        &self,
        room_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<Membership>> {
        let sql = "SELECT role, joined_at, read_seq, read_message_id FROM room_members WHERE room_id = $1 AND user_id = $2";
        Ok(
            on_db!(self, pool => sqlx::query_as(sql).bind(room_id).bind(user_id).fetch_optional(pool).await)?,
        )
    }

    pub async fn member_ids(&self, room_id: Uuid) -> StoreResult<Vec<Uuid>> {
        let sql = "SELECT user_id FROM room_members WHERE room_id = $1";
        Ok(on_db!(self, pool => sqlx::query_scalar(sql).bind(room_id).fetch_all(pool).await)?)
    }

    /// The rooms a user belongs to (whom to tell when their presence changes).
    pub async fn room_ids_of(&self, user_id: Uuid) -> StoreResult<Vec<Uuid>> {
        let sql = "SELECT room_id FROM room_members WHERE user_id = $1";
        Ok(on_db!(self, pool => sqlx::query_scalar(sql).bind(user_id).fetch_all(pool).await)?)
    }

    /// Members by join order; `after` is the previous page's last (joined_at, user id).
    pub async fn members(
        &self,
        room_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<Member>> {
        let sql = "SELECT u.id, u.username, u.email, u.display_name, u.status_text, u.avatar_upload_id, u.created_at, \
                   u.updated_at, u.last_seen_at, m.role, m.joined_at, m.read_message_id \
                   FROM room_members m JOIN users u ON u.id = m.user_id \
                   WHERE m.room_id = $1 AND ($2 IS NULL OR m.user_id > $2) ORDER BY m.user_id LIMIT $3";
        Ok(
            on_db!(self, pool => sqlx::query_as(sql).bind(room_id).bind(after).bind(i64::from(limit)).fetch_all(pool).await)?,
        )
    }

    /// Adds members; returns those who were not members already. Unknown users fail the call.
    pub async fn add_members(
        &self,
        room_id: Uuid,
        user_ids: &[Uuid],
        role: Role,
    ) -> StoreResult<Vec<Uuid>> {
        let now = time::now();
        // Newcomers start caught up: the history before they joined does not count as unread.
        let insert = "INSERT INTO room_members (room_id, user_id, role, joined_at, read_seq) \
                      VALUES ($1, $2, $3, $4, (SELECT last_seq FROM rooms WHERE id = $1)) \
                      ON CONFLICT (room_id, user_id) DO NOTHING";
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(LOCK_ROOM).bind(room_id).execute(&mut *tx).await?;
            let mut added = Vec::new();
            for user in user_ids {
                let done = sqlx::query(insert).bind(room_id).bind(user).bind(role).bind(now).execute(&mut *tx).await;
                match done {
                    Ok(r) if r.rows_affected() > 0 => added.push(*user),
                    Ok(_) => {}
                    Err(err) if err.as_database_error().is_some_and(|e| e.is_foreign_key_violation()) => {
                        return Err(StoreError::UnknownUser);
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            sqlx::query("UPDATE rooms SET member_count = member_count + $2 WHERE id = $1")
                .bind(room_id)
                .bind(added.len() as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(added)
        })
    }

    /// Removes a member. When the owner leaves, the longest-standing admin (else member)
    /// becomes owner; when nobody is left, the room is deleted.
    pub async fn remove_member(&self, room_id: Uuid, user_id: Uuid) -> StoreResult<Departure> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(LOCK_ROOM).bind(room_id).execute(&mut *tx).await?;
            let role: Option<Role> =
                sqlx::query_scalar("DELETE FROM room_members WHERE room_id = $1 AND user_id = $2 RETURNING role")
                    .bind(room_id)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(role) = role else {
                return Ok(Departure::default());
            };
            let mut departure = Departure { left: true, ..Departure::default() };
            let remaining: i64 = sqlx::query_scalar("UPDATE rooms SET member_count = member_count - 1 WHERE id = $1 RETURNING member_count")
                .bind(room_id)
                .fetch_one(&mut *tx)
                .await?;
            if remaining <= 0 {
                sqlx::query("DELETE FROM rooms WHERE id = $1").bind(room_id).execute(&mut *tx).await?;
                departure.room_deleted = true;
            } else if role == Role::Owner {
                let heir: Option<Uuid> = sqlx::query_scalar(
                    "SELECT user_id FROM room_members WHERE room_id = $1 \
                     ORDER BY CASE role WHEN 'admin' THEN 0 ELSE 1 END, joined_at, user_id LIMIT 1",
                )
                .bind(room_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(heir) = heir {
                    sqlx::query("UPDATE room_members SET role = 'owner' WHERE room_id = $1 AND user_id = $2")
                        .bind(room_id)
                        .bind(heir)
                        .execute(&mut *tx)
                        .await?;
                    departure.new_owner = Some(heir);
                }
            }
            tx.commit().await?;
            Ok(departure)
        })
    }

    pub async fn set_role(&self, room_id: Uuid, user_id: Uuid, role: Role) -> StoreResult<bool> {
        let sql = "UPDATE room_members SET role = $3 WHERE room_id = $1 AND user_id = $2";
        let done = on_db!(self, pool => sqlx::query(sql).bind(room_id).bind(user_id).bind(role).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// The user's ban from the room, if one is in force now.
    pub async fn active_ban(&self, room_id: Uuid, user_id: Uuid) -> StoreResult<Option<Ban>> {
        let sql = "SELECT user_id, banned_by, reason, until, created_at FROM room_bans \
                   WHERE room_id = $1 AND user_id = $2 AND (until IS NULL OR until > $3)";
        Ok(
            on_db!(self, pool => sqlx::query_as(sql).bind(room_id).bind(user_id).bind(time::now()).fetch_optional(pool).await)?,
        )
    }

    /// Bans (or re-bans with new terms) and removes the user from the room.
    pub async fn ban(&self, room_id: Uuid, ban: &Ban) -> StoreResult<Departure> {
        let sql = "INSERT INTO room_bans (room_id, user_id, banned_by, reason, until, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                   ON CONFLICT (room_id, user_id) DO UPDATE SET banned_by = excluded.banned_by, reason = excluded.reason, \
                   until = excluded.until, created_at = excluded.created_at";
        on_db!(self, pool => sqlx::query(sql)
            .bind(room_id)
            .bind(ban.user_id)
            .bind(ban.banned_by)
            .bind(&ban.reason)
            .bind(ban.until)
            .bind(ban.created_at)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|err| {
            if err
                .as_database_error()
                .is_some_and(|e| e.is_foreign_key_violation())
            {
                StoreError::UnknownUser
            } else {
                StoreError::Database(err)
            }
        })?;
        self.remove_member(room_id, ban.user_id).await
    }

    pub async fn unban(&self, room_id: Uuid, user_id: Uuid) -> StoreResult<bool> {
        let sql = "DELETE FROM room_bans WHERE room_id = $1 AND user_id = $2";
        let done = on_db!(self, pool => sqlx::query(sql).bind(room_id).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Bans in force, newest first.
    pub async fn bans(&self, room_id: Uuid) -> StoreResult<Vec<Ban>> {
        let sql = "SELECT user_id, banned_by, reason, until, created_at FROM room_bans \
                   WHERE room_id = $1 AND (until IS NULL OR until > $2) ORDER BY created_at DESC";
        Ok(
            on_db!(self, pool => sqlx::query_as(sql).bind(room_id).bind(time::now()).fetch_all(pool).await)?,
        )
    }
}

/// Takes the room's row lock first, as the message writer does (the room, then its members):
/// a removal that locked the member's row first deadlocked with a batch of the member's own
/// messages on PostgreSQL (the batch holds the room and updates the sender's read cursor).
/// On SQLite the first write takes the database's write lock: the same order.
const LOCK_ROOM: &str = "UPDATE rooms SET member_count = member_count WHERE id = $1";
