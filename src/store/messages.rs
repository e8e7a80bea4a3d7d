//! Messages: idempotent posting, history pages, edits, soft deletes, reactions, read cursors
//! and full-text search.

use sqlx::FromRow;
use uuid::Uuid;

use super::ids::{Ids, IdsSql, ids_sql};
use super::{Backend, Store, StoreResult, on_db};
use crate::domain::MessageContent;
use crate::time::{self, Timestamp};

#[derive(Debug, Clone, FromRow)]
pub struct Message {
    pub id: Uuid,
    pub room_id: Uuid,
    pub seq: i64,
    pub sender_id: Option<Uuid>,
    pub sender_username: Option<String>,
    pub sender_display_name: Option<String>,
    pub content: String,
    pub reply_to_id: Option<Uuid>,
    pub reply_sender_id: Option<Uuid>,
    pub reply_content: Option<String>,
    pub client_msg_id: Option<String>,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

/// Messages with their sender and the message they reply to, ready to show. A macro, so the
/// fixed queries below are joined at compile time instead of formatted on every call.
macro_rules! select_messages {
    () => {
        "SELECT m.id, m.room_id, m.seq, m.sender_id, u.username AS sender_username, \
     u.display_name AS sender_display_name, m.content, m.reply_to_id, p.sender_id AS reply_sender_id, \
     CASE WHEN p.deleted_at IS NULL THEN p.content ELSE '' END AS reply_content, m.client_msg_id, \
     m.created_at, m.edited_at, m.deleted_at \
     FROM messages m LEFT JOIN users u ON u.id = m.sender_id LEFT JOIN messages p ON p.id = m.reply_to_id"
    };
}

/// One emoji on one message: how many reacted, and whether the viewer did.
#[derive(Debug, Clone, FromRow)]
pub struct ReactionCount {
    pub message_id: Uuid,
    pub emoji: String,
    pub count: i64,
    pub me: bool,
}

/// Which way a history page goes from its cursor.
#[derive(Debug, Clone, Copy)]
pub enum Page {
    Latest,
    Before(Uuid),
    After(Uuid),
}

impl Store {
    pub async fn message(&self, id: Uuid) -> StoreResult<Option<Message>> {
        let sql = concat!(select_messages!(), " WHERE m.id = $1");
        Ok(on_db!(self, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    /// Up to `limit` messages, oldest first, and whether more lie beyond in that direction.
    /// Each variant walks the (room_id, id) index from the cursor: no scan of the room.
    pub async fn history(
        &self,
        room_id: Uuid,
        page: Page,
        limit: u32,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let (sql, cursor) = match page {
            Page::Latest => (
                concat!(
                    select_messages!(),
                    " WHERE m.room_id = $1 AND $2 IS NULL ORDER BY m.id DESC LIMIT $3"
                ),
                None,
            ),
            Page::Before(id) => (
                concat!(
                    select_messages!(),
                    " WHERE m.room_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3"
                ),
                Some(id),
            ),
            Page::After(id) => (
                concat!(
                    select_messages!(),
                    " WHERE m.room_id = $1 AND m.id > $2 ORDER BY m.id ASC LIMIT $3"
                ),
                Some(id),
            ),
        };
        let mut rows: Vec<Message> = on_db!(self, pool => sqlx::query_as(sql)
            .bind(room_id)
            .bind(cursor)
            .bind(i64::from(limit) + 1)
            .fetch_all(pool)
            .await)?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        if !matches!(page, Page::After(_)) {
            rows.reverse();
        }
        Ok((rows, has_more))
    }

    pub async fn edit_message(
        &self,
        id: Uuid,
        content: &MessageContent,
    ) -> StoreResult<Option<Message>> {
        let sql =
            "UPDATE messages SET content = $2, edited_at = $3 WHERE id = $1 AND deleted_at IS NULL";
        let done = on_db!(self, pool => sqlx::query(sql).bind(id).bind(content.as_str()).bind(time::now()).execute(pool).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Ok(None);
        }
        self.message(id).await
    }

    /// Soft delete: the message keeps its id and times; its text, reactions and attachments go.
    pub async fn delete_message(&self, id: Uuid) -> StoreResult<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("UPDATE messages SET content = '', deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .bind(time::now())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM reactions WHERE message_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM message_attachments WHERE message_id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(done > 0)
        })
    }

    /// Adds a reaction; false when the user had already reacted with that emoji.
    pub async fn add_reaction(
        &self,
        message_id: Uuid,
        user_id: Uuid,
        emoji: &str,
    ) -> StoreResult<bool> {
        let sql = "INSERT INTO reactions (message_id, user_id, emoji, created_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (message_id, emoji, user_id) DO NOTHING";
        let done = on_db!(self, pool => sqlx::query(sql).bind(message_id).bind(user_id).bind(emoji).bind(time::now()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    pub async fn remove_reaction(
        &self,
        message_id: Uuid,
        user_id: Uuid,
        emoji: &str,
    ) -> StoreResult<bool> {
        let sql = "DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3";
        let done = on_db!(self, pool => sqlx::query(sql).bind(message_id).bind(user_id).bind(emoji).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Reaction counts for a page of messages, in the order each emoji first appeared.
    /// `me` is false throughout when there is no viewer (a view for everyone).
    pub async fn reactions_of(
        &self,
        message_ids: &[Uuid],
        viewer: Option<Uuid>,
    ) -> StoreResult<Vec<ReactionCount>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        const SQL: IdsSql = ids_sql!(
            [
                "SELECT message_id, emoji, COUNT(*) AS count, MAX(CASE WHEN user_id = $1 THEN 1 ELSE 0 END) = 1 AS me \
                 FROM reactions WHERE message_id"
            ],
            "$2",
            [" GROUP BY message_id, emoji ORDER BY message_id, MIN(created_at), emoji"]
        );
        let sql = SQL.on(self.backend());
        Ok(on_db!(self, pool => sqlx::query_as(sql)
            .bind(viewer)
            .bind(Ids(message_ids))
            .fetch_all(pool)
            .await)?)
    }

    /// Who reacted to a message with which emoji, oldest reaction first.
    pub async fn reactors(&self, message_id: Uuid) -> StoreResult<Vec<(String, Uuid)>> {
        let sql =
            "SELECT emoji, user_id FROM reactions WHERE message_id = $1 ORDER BY created_at, emoji";
        Ok(on_db!(self, pool => sqlx::query_as(sql).bind(message_id).fetch_all(pool).await)?)
    }

    /// Moves the user's read cursor forward to `message_id` (never back). Returns true when it moved.
    pub async fn mark_read(
        &self,
        room_id: Uuid,
        user_id: Uuid,
        message_id: Uuid,
    ) -> StoreResult<bool> {
        let sql = "UPDATE room_members SET read_seq = (SELECT seq FROM messages WHERE id = $3), read_message_id = $3 \
                   WHERE room_id = $1 AND user_id = $2 AND read_seq < (SELECT seq FROM messages WHERE id = $3 AND room_id = $1)";
        let done = on_db!(self, pool => sqlx::query(sql).bind(room_id).bind(user_id).bind(message_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Full-text search over the rooms `user_id` belongs to, newest first; `before` pages on.
    /// The two backends differ here for real: FTS5 `MATCH` and a tsvector with a GIN index.
    pub async fn search_messages(
        &self,
        user_id: Uuid,
        query: &str,
        room_id: Option<Uuid>,
        before: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(16)
            .map(str::to_lowercase)
            .collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        // The rooms `user_id` is in, optionally one of them, before the cursor; newest first.
        macro_rules! scope {
            () => {
                " AND m.deleted_at IS NULL \
                 AND m.room_id IN (SELECT room_id FROM room_members WHERE user_id = $2) \
                 AND ($3 IS NULL OR m.room_id = $3) AND ($4 IS NULL OR m.id < $4) \
                 ORDER BY m.id DESC LIMIT $5"
            };
        }
        // The words are bound (as `$1`), never part of the SQL text; formatting them only
        // quotes each word for the backend's query syntax.
        let (sql, terms) = match self.backend() {
            // Each word quoted (so no FTS syntax gets through), all required, the last as a prefix.
            Backend::Sqlite => (
                concat!(
                    select_messages!(),
                    " JOIN messages_fts f ON f.rowid = m.rowid WHERE messages_fts MATCH $1",
                    scope!()
                ),
                words
                    .iter()
                    .map(|w| format!("\"{w}\""))
                    .collect::<Vec<_>>()
                    .join(" ")
                    + "*",
            ),
            Backend::Postgres => (
                concat!(
                    select_messages!(),
                    " WHERE m.search @@ to_tsquery('simple', $1)",
                    scope!()
                ),
                words
                    .iter()
                    .map(|w| format!("'{w}'"))
                    .collect::<Vec<_>>()
                    .join(" & ")
                    + ":*",
            ),
        };
        Ok(on_db!(self, pool => sqlx::query_as(sql)
            .bind(&terms)
            .bind(user_id)
            .bind(room_id)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?)
    }
}

impl Store {
    /// The given messages (any order; missing ids are skipped).
    pub async fn messages_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        const SQL: IdsSql = ids_sql!([select_messages!(), " WHERE m.id"], "$1", []);
        let sql = SQL.on(self.backend());
        Ok(on_db!(self, pool => sqlx::query_as(sql).bind(Ids(ids)).fetch_all(pool).await)?)
    }
}
