//! Accounts: creation, lookup, profile changes, search and deletion.

use sqlx::FromRow;
use uuid::Uuid;

use super::{Store, StoreError, StoreResult, on_db, violates};
use crate::domain::{DisplayName, Email, StatusText, Username};
use crate::time::{self, Timestamp};

#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub display_name: String,
    pub status_text: String,
    pub avatar_upload_id: Option<Uuid>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_seen_at: Option<Timestamp>,
}

/// A `User`'s columns. A macro, so the queries below are joined at compile time.
macro_rules! user_columns {
    () => {
        "id, username, email, display_name, status_text, avatar_upload_id, created_at, updated_at, last_seen_at"
    };
}

pub struct NewUser<'a> {
    pub username: &'a Username,
    pub email: Option<&'a Email>,
    pub display_name: &'a DisplayName,
    pub password_hash: &'a str,
}

/// What a deleted account took with it (the cascade leaves no rows to ask afterwards).
#[derive(Debug)]
pub struct DeletedUser {
    /// The sessions that died with it.
    pub session_ids: Vec<Uuid>,
    /// The rooms it was a member of.
    pub room_ids: Vec<Uuid>,
}

/// Fields a user may change about themselves; `None` leaves a field as it is.
#[derive(Default)]
pub struct ProfileChanges {
    pub username: Option<Username>,
    /// `Some(None)` removes the email address.
    pub email: Option<Option<Email>>,
    pub display_name: Option<DisplayName>,
    pub status_text: Option<StatusText>,
}

fn unique_violation(err: sqlx::Error) -> StoreError {
    if violates(&err, "users_username_key") {
        StoreError::UsernameTaken
    } else if violates(&err, "users_email_key")
        || err
            .as_database_error()
            .is_some_and(|e| e.message().contains("users.email_key"))
    {
        StoreError::EmailTaken
    } else {
        StoreError::Database(err)
    }
}

impl Store {
    pub async fn create_user(&self, new: NewUser<'_>) -> StoreResult<User> {
        let now = time::now();
        let sql = "INSERT INTO users (id, username, email, email_key, display_name, display_name_key, password_hash, created_at, updated_at) \
                   VALUES ($1, $2, $3, $7, $4, $8, $5, $6, $6) \
                   RETURNING id, username, email, display_name, status_text, avatar_upload_id, created_at, updated_at, last_seen_at";
        on_db!(self, pool => sqlx::query_as(sql)
            .bind(Uuid::now_v7())
            .bind(new.username)
            .bind(new.email)
            .bind(new.display_name)
            .bind(new.password_hash)
            .bind(now)
            .bind(new.email.map(|email| fold(email.as_str())))
            .bind(fold(new.display_name.as_str()))
            .fetch_one(pool)
            .await)
        .map_err(unique_violation)
    }

    pub async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
        Ok(on_db!(self, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    /// The account a login names, by username or email (both case-insensitive), with its password hash.
    pub async fn credentials_by_login(&self, login: &str) -> StoreResult<Option<(User, String)>> {
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: User,
            password_hash: String,
        }
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM users WHERE lower(username) = $1 OR email_key = $1 LIMIT 1"
        );
        let login = fold(login);
        let row: Option<Row> =
            on_db!(self, pool => sqlx::query_as(sql).bind(&login).fetch_optional(pool).await)?;
        Ok(row.map(|r| (r.user, r.password_hash)))
    }

    pub async fn password_hash(&self, id: Uuid) -> StoreResult<Option<String>> {
        let sql = "SELECT password_hash FROM users WHERE id = $1";
        Ok(on_db!(self, pool => sqlx::query_scalar(sql).bind(id).fetch_optional(pool).await)?)
    }

    pub async fn update_profile(
        &self,
        id: Uuid,
        changes: ProfileChanges,
    ) -> StoreResult<Option<User>> {
        // Each column keeps its value unless a change is given: one statement, no dynamic SQL.
        let sql = concat!(
            "UPDATE users SET \
               username = COALESCE($2, username), \
               email = CASE WHEN $3 THEN $4 ELSE email END, \
               email_key = CASE WHEN $3 THEN $8 ELSE email_key END, \
               display_name = COALESCE($5, display_name), \
               display_name_key = COALESCE($9, display_name_key), \
               status_text = COALESCE($6, status_text), \
               updated_at = $7 \
             WHERE id = $1 RETURNING ",
            user_columns!()
        );
        let (email_changed, email) = match changes.email {
            Some(email) => (true, email),
            None => (false, None),
        };
        let email_key = email.as_ref().map(|email| fold(email.as_str()));
        let display_name_key = changes
            .display_name
            .as_ref()
            .map(|name| fold(name.as_str()));
        on_db!(self, pool => sqlx::query_as(sql)
            .bind(id)
            .bind(changes.username)
            .bind(email_changed)
            .bind(email)
            .bind(changes.display_name)
            .bind(changes.status_text)
            .bind(time::now())
            .bind(email_key)
            .bind(display_name_key)
            .fetch_optional(pool)
            .await)
        .map_err(unique_violation)
    }

    /// Sets (or with None clears) the avatar; the caller has checked the upload is an image
    /// the user owns.
    pub async fn set_avatar(&self, id: Uuid, upload_id: Option<Uuid>) -> StoreResult<Option<User>> {
        let sql = concat!(
            "UPDATE users SET avatar_upload_id = $2, updated_at = $3 WHERE id = $1 RETURNING ",
            user_columns!()
        );
        Ok(on_db!(self, pool => sqlx::query_as(sql)
            .bind(id)
            .bind(upload_id)
            .bind(time::now())
            .fetch_optional(pool)
            .await)?)
    }

    pub async fn set_password_hash(&self, id: Uuid, hash: &str) -> StoreResult<()> {
        let sql = "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1";
        on_db!(self, pool => sqlx::query(sql).bind(id).bind(hash).bind(time::now()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn touch_last_seen(&self, id: Uuid, at: Timestamp) -> StoreResult<()> {
        let sql = "UPDATE users SET last_seen_at = $2 WHERE id = $1";
        on_db!(self, pool => sqlx::query(sql).bind(id).bind(at).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Deletes the account and (by cascade) its sessions and memberships; returns what died
    /// with it, read in the same transaction so nothing joins or signs in between.
    pub async fn delete_user(&self, id: Uuid) -> StoreResult<DeletedUser> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let session_ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM sessions WHERE user_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            let room_ids: Vec<Uuid> = sqlx::query_scalar("SELECT room_id FROM room_members WHERE user_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(DeletedUser { session_ids, room_ids })
        })
    }

    /// Users whose username or display name starts with `prefix` (case-insensitive), ordered by
    /// username; `after` is the last username of the previous page.
    pub async fn search_users(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let pattern = format!("{}%", escape_like(&fold(prefix)));
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users \
             WHERE (lower(username) LIKE $1 ESCAPE '\\' OR display_name_key LIKE $1 ESCAPE '\\') \
               AND ($2 IS NULL OR lower(username) > $2) \
             ORDER BY lower(username) LIMIT $3"
        );
        let after = after.map(str::to_lowercase);
        Ok(on_db!(self, pool => sqlx::query_as(sql)
            .bind(&pattern)
            .bind(&after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?)
    }
}

/// The case-insensitive key of a name or email, folded the same way on both backends.
pub(crate) fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// Makes `%`, `_` and `\` match themselves in a LIKE pattern.
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
