//! Direct messages: one room per pair of people, created on first use.

use uuid::Uuid;

use crate::auth::AuthUser;
use crate::domain::{Role, RoomKind};
use crate::error::{ApiError, ApiResult};
use crate::events::DomainEvent;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::rooms::NewRoom;
use crate::views::rooms::{RoomView, room_view};

/// The key that makes a pair's room unique, whoever opens it.
fn dm_key(a: Uuid, b: Uuid) -> String {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}

/// Gets or creates the direct-message room with someone: `true` when new (they get
/// `dm_created`), `false` when it existed.
pub async fn open(state: &AppState, auth: &AuthUser, user_id: Uuid) -> ApiResult<(RoomView, bool)> {
    if user_id == auth.user_id {
        return Err(ApiError::validation("user_id", "is you; pick someone else"));
    }
    if state.store.user_by_id(user_id).await?.is_none() {
        return Err(ApiError::NotFound("no such user"));
    }
    let key = dm_key(auth.user_id, user_id);
    let (room, created) = match state.store.room_by_dm_key(&key).await? {
        Some(room) => (room, false),
        None => {
            let created = state
                .store
                .create_room(NewRoom {
                    kind: RoomKind::Direct,
                    name: None,
                    topic: None,
                    alias: None,
                    dm_key: Some(&key),
                    creator: auth.user_id,
                    creator_role: Role::Member,
                    members: &[user_id],
                })
                .await;
            match created {
                Ok(room) => {
                    state
                        .events
                        .publish(DomainEvent::DmCreated {
                            room_id: room.id,
                            user_ids: [auth.user_id, user_id],
                        })
                        .await;
                    (room, true)
                }
                // A concurrent request for the same pair created it first: one room, both answers agree.
                Err(StoreError::DmExists) => {
                    let room = state
                        .store
                        .room_by_dm_key(&key)
                        .await?
                        .ok_or(ApiError::NotFound("no such room"))?;
                    (room, false)
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    let standing = state
        .store
        .membership(room.id, auth.user_id)
        .await?
        .map(|m| (m.role, m.read_seq));
    Ok((
        room_view(state, auth.user_id, room, standing).await?,
        created,
    ))
}
