//! Uploaded files' metadata (the bytes live content-addressed under data_dir/uploads).

use std::collections::HashMap;

use sqlx::FromRow;
use uuid::Uuid;

use super::ids::{Ids, IdsSql, ids_sql};
use super::{Store, StoreResult, on_db};
use crate::time::{self, Timestamp};

/// An `Upload`'s columns. A macro, so the queries below are joined at compile time.
macro_rules! upload_columns {
    () => {
        "id, uploader_id, filename, content_type, size, sha256, created_at"
    };
}

/// A stored file about to get its row.
pub struct NewUpload<'a> {
    pub uploader_id: Uuid,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size: i64,
    pub sha256: &'a str,
}

#[derive(Debug, Clone, FromRow)]
pub struct Upload {
    pub id: Uuid,
    pub uploader_id: Option<Uuid>,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: Timestamp,
}

impl Store {
    pub async fn create_upload(&self, new: NewUpload<'_>) -> StoreResult<Upload> {
        let sql = concat!(
            "INSERT INTO uploads (id, uploader_id, filename, content_type, size, sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            upload_columns!()
        );
        Ok(on_db!(self, pool => sqlx::query_as(sql)
            .bind(Uuid::now_v7())
            .bind(new.uploader_id)
            .bind(new.filename)
            .bind(new.content_type)
            .bind(new.size)
            .bind(new.sha256)
            .bind(time::now())
            .fetch_one(pool)
            .await)?)
    }

    /// Any upload, whoever may see it: for serving a signed URL, whose signature is the permission.
    pub async fn upload_by_id(&self, id: Uuid) -> StoreResult<Option<Upload>> {
        let sql = concat!("SELECT ", upload_columns!(), " FROM uploads WHERE id = $1");
        Ok(on_db!(self, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    /// The upload if `user_id` may see it: they uploaded it, or it is attached to a message
    /// (not deleted) in a room they are a member of.
    pub async fn upload_visible_to(
        &self,
        upload_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<Upload>> {
        let sql = concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads u WHERE u.id = $1 AND ( \
               u.uploader_id = $2 OR EXISTS ( \
                 SELECT 1 FROM message_attachments a \
                 JOIN messages m ON m.id = a.message_id \
                 JOIN room_members rm ON rm.room_id = m.room_id \
                 WHERE a.upload_id = u.id AND m.deleted_at IS NULL AND rm.user_id = $2))"
        );
        Ok(on_db!(self, pool => sqlx::query_as(sql)
            .bind(upload_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await)?)
    }

    /// Those of `ids` that `user_id` uploaded, in the order of `ids` (a message's attachments
    /// keep it; an id given twice is there twice): one query for all of them.
    pub async fn uploads_owned_by(&self, user_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<Upload>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        const SQL: IdsSql = ids_sql!(
            [
                "SELECT ",
                upload_columns!(),
                " FROM uploads WHERE uploader_id = $1 AND id"
            ],
            "$2",
            []
        );
        let sql = SQL.on(self.backend());
        let rows: Vec<Upload> = on_db!(self, pool => sqlx::query_as(sql)
            .bind(user_id)
            .bind(Ids(ids))
            .fetch_all(pool)
            .await)?;
        // The rows come in no particular order: put them back in that of `ids`.
        let by_id: HashMap<Uuid, Upload> = rows.into_iter().map(|u| (u.id, u)).collect();
        Ok(ids.iter().filter_map(|id| by_id.get(id).cloned()).collect())
    }

    /// The attachments of the given messages, as (message id, upload), in attachment order.
    pub async fn attachments_of(&self, message_ids: &[Uuid]) -> StoreResult<Vec<(Uuid, Upload)>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        #[derive(FromRow)]
        struct Row {
            message_id: Uuid,
            #[sqlx(flatten)]
            upload: Upload,
        }
        // One query for a whole page: the ids go in as one bound list.
        const SQL: IdsSql = ids_sql!(
            [
                "SELECT a.message_id, u.id, u.uploader_id, u.filename, u.content_type, u.size, u.sha256, u.created_at \
                 FROM message_attachments a JOIN uploads u ON u.id = a.upload_id WHERE a.message_id"
            ],
            "$1",
            [" ORDER BY a.message_id, a.position"]
        );
        let sql = SQL.on(self.backend());
        let rows: Vec<Row> =
            on_db!(self, pool => sqlx::query_as(sql).bind(Ids(message_ids)).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|r| (r.message_id, r.upload)).collect())
    }
}
