//! Device sessions and their refresh tokens (stored only as SHA-256 hashes).

use sqlx::FromRow;
use uuid::Uuid;

use super::{Backend, Store, StoreError, StoreResult, on_db, violates};
use crate::time::{self, Timestamp};

#[derive(Debug, Clone, FromRow)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub device_id: String,
    pub user_agent: String,
    pub ip: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A `Session`'s columns. A macro, so queries are joined at compile time.
macro_rules! session_columns {
    () => {
        "id, user_id, device_id, user_agent, ip, created_at, last_seen_at, expires_at"
    };
}

pub struct NewSession<'a> {
    pub user_id: Uuid,
    pub device_id: &'a str,
    pub user_agent: &'a str,
    pub ip: &'a str,
    pub refresh_hash: &'a [u8],
    pub expires_at: Timestamp,
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Refresh {
    /// The token was current: it is now retired and `new_hash` is the session's token. Also
    /// the answer to the token just rotated away, presented again within the grace window while
    /// `new_hash` is still current (two tabs refreshing at once).
    Rotated { session_id: Uuid, user_id: Uuid },
    /// The token had already been rotated away: the session has been revoked.
    Reused { session_id: Uuid, user_id: Uuid },
    /// Unknown or expired token.
    Invalid,
}

impl Store {
    /// Starts a session; an earlier session of the same user on the same device is replaced
    /// (its id is returned so its tokens and sockets can be cut off).
    pub async fn create_session(
        &self,
        new: NewSession<'_>,
    ) -> StoreResult<(Session, Option<Uuid>)> {
        // Logins of one user are serialised on the user's row (see `replace_device_session`), so
        // a conflict on the (user, device) index should not happen; if one still does, the loser
        // tries again and replaces the winner's session rather than failing the login.
        let mut attempt = 0;
        loop {
            match self.replace_device_session(&new).await {
                Err(StoreError::Database(err)) if attempt < 5 && is_device_conflict(&err) => {
                    attempt += 1
                }
                other => return other,
            }
        }
    }

    async fn replace_device_session(
        &self,
        new: &NewSession<'_>,
    ) -> StoreResult<(Session, Option<Uuid>)> {
        let now = time::now();
        let insert = "INSERT INTO sessions (id, user_id, device_id, user_agent, ip, refresh_hash, created_at, last_seen_at, expires_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) \
                      RETURNING id, user_id, device_id, user_agent, ip, created_at, last_seen_at, expires_at";
        // Without a lock, two logins on one device can both find no earlier session under
        // PostgreSQL's read committed and collide on insert. Locking the user's row first makes
        // the second wait for the first and then replace its session. SQLite needs no lock: the
        // DELETE below takes the database's single write lock.
        let lock_user = match self.backend() {
            Backend::Postgres => Some("SELECT id FROM users WHERE id = $1 FOR UPDATE"),
            Backend::Sqlite => None,
        };
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            if let Some(lock_user) = lock_user {
                sqlx::query(lock_user).bind(new.user_id).execute(&mut *tx).await?;
            }
            let replaced: Option<Uuid> =
                sqlx::query_scalar("DELETE FROM sessions WHERE user_id = $1 AND device_id = $2 RETURNING id")
                    .bind(new.user_id)
                    .bind(new.device_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let session: Session = sqlx::query_as(insert)
                .bind(Uuid::now_v7())
                .bind(new.user_id)
                .bind(new.device_id)
                .bind(new.user_agent)
                .bind(new.ip)
                .bind(new.refresh_hash)
                .bind(now)
                .bind(new.expires_at)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok((session, replaced))
        })
    }

    /// The owner of a live session, marking it as seen now. None when revoked or expired.
    pub async fn touch_session(&self, session_id: Uuid) -> StoreResult<Option<Uuid>> {
        let sql = "UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND expires_at > $2 RETURNING user_id";
        Ok(
            on_db!(self, pool => sqlx::query_scalar(sql).bind(session_id).bind(time::now()).fetch_optional(pool).await)?,
        )
    }

    /// Swaps `old_hash` for `new_hash` atomically: of many concurrent callers with the same
    /// token exactly one rotates. The others find it retired: within `grace` of its rotation,
    /// and while `new_hash` (derived from the token, so the same for every caller) is still
    /// the session's, they get the same rotation; otherwise the token was reused and the
    /// session is revoked.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        expires_at: Timestamp,
        grace: chrono::Duration,
    ) -> StoreResult<Refresh> {
        let now = time::now();
        let rotate = "UPDATE sessions SET refresh_hash = $2, last_seen_at = $3, expires_at = $4 \
                      WHERE refresh_hash = $1 AND expires_at > $3 RETURNING id, user_id";
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let rotated: Option<(Uuid, Uuid)> = sqlx::query_as(rotate)
                .bind(old_hash)
                .bind(new_hash)
                .bind(now)
                .bind(expires_at)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some((session_id, user_id)) = rotated {
                sqlx::query("INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at) VALUES ($1, $2, $3)")
                    .bind(old_hash)
                    .bind(session_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(Refresh::Rotated { session_id, user_id });
            }
            tx.rollback().await?;
            let retired: Option<(Uuid, Uuid, Timestamp, Vec<u8>, Timestamp)> = sqlx::query_as(
                "SELECT s.id, s.user_id, r.retired_at, s.refresh_hash, s.expires_at \
                 FROM retired_refresh_tokens r JOIN sessions s ON s.id = r.session_id \
                 WHERE r.token_hash = $1",
            )
            .bind(old_hash)
            .fetch_optional(pool)
            .await?;
            if let Some((session_id, user_id, retired_at, current, session_expires)) = retired
                && retired_at + grace > now
                && session_expires > now
                && current.as_slice() == new_hash
            {
                return Ok(Refresh::Rotated { session_id, user_id });
            }
            let reused: Option<(Uuid, Uuid)> = sqlx::query_as(
                "DELETE FROM sessions WHERE id = (SELECT session_id FROM retired_refresh_tokens WHERE token_hash = $1) \
                 RETURNING id, user_id",
            )
            .bind(old_hash)
            .fetch_optional(pool)
            .await?;
            Ok(match reused {
                Some((session_id, user_id)) => Refresh::Reused { session_id, user_id },
                None => Refresh::Invalid,
            })
        })
    }

    pub async fn list_sessions(&self, user_id: Uuid) -> StoreResult<Vec<Session>> {
        let sql = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC"
        );
        Ok(on_db!(self, pool => sqlx::query_as(sql)
            .bind(user_id)
            .bind(time::now())
            .fetch_all(pool)
            .await)?)
    }

    /// Revokes one of the user's sessions; false when the user has no such session.
    pub async fn revoke_session(&self, user_id: Uuid, session_id: Uuid) -> StoreResult<bool> {
        let sql = "DELETE FROM sessions WHERE id = $1 AND user_id = $2";
        let done = on_db!(self, pool => sqlx::query(sql).bind(session_id).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Revokes every session of the user but `keep`; returns the revoked ids.
    pub async fn revoke_other_sessions(&self, user_id: Uuid, keep: Uuid) -> StoreResult<Vec<Uuid>> {
        let sql = "DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING id";
        Ok(
            on_db!(self, pool => sqlx::query_scalar(sql).bind(user_id).bind(keep).fetch_all(pool).await)?,
        )
    }

    /// Drops sessions past their expiry (a periodic chore; expired sessions are refused anyway).
    pub async fn delete_expired_sessions(&self) -> StoreResult<u64> {
        let sql = "DELETE FROM sessions WHERE expires_at <= $1";
        let done = on_db!(self, pool => sqlx::query(sql).bind(time::now()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }
}

fn is_device_conflict(err: &sqlx::Error) -> bool {
    violates(err, "sessions_user_device_key")
        || err
            .as_database_error()
            .is_some_and(|e| e.is_unique_violation() && e.message().contains("sessions.device_id"))
}
