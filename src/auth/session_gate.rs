//! "Is this session still live?" — asked on every authenticated request, answered from a short
//! in-memory cache in front of the sessions table. Revocation clears the entry at once, so a
//! revoked session's access tokens stop working immediately rather than at expiry.

use std::time::Duration;

use uuid::Uuid;

use crate::store::{Store, StoreResult};

#[derive(Clone)]
pub struct SessionGate {
    /// session id → owner, for sessions known to be live within the last few seconds.
    live: moka::future::Cache<Uuid, Uuid>,
}

impl SessionGate {
    pub fn new(ttl: Duration) -> SessionGate {
        SessionGate {
            live: moka::future::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// True when the session exists, has not expired and belongs to `user_id`.
    pub async fn is_live(
        &self,
        store: &Store,
        session_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<bool> {
        if let Some(owner) = self.live.get(&session_id).await {
            return Ok(owner == user_id);
        }
        match store.touch_session(session_id).await? {
            Some(owner) => {
                self.live.insert(session_id, owner).await;
                Ok(owner == user_id)
            }
            None => Ok(false),
        }
    }

    /// Forgets sessions that were just revoked, here and (through the caller) cluster-wide.
    pub async fn forget(&self, session_ids: &[Uuid]) {
        for id in session_ids {
            self.live.invalidate(id).await;
        }
    }
}
