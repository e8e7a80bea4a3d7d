//! After a gap on the cluster bus (Redis was away), revocations, removals and additions made on
//! other instances may never have reached this one. Every socket here is checked against the
//! database again: revoked sessions are closed, rooms the user may no longer see are dropped,
//! rooms the user joined meanwhile are followed.

use std::collections::HashMap;

use uuid::Uuid;

use super::protocol::{ServerFrame, close};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::events::RevokeReason;
use crate::service::access::RoomAccess;
use crate::state::AppState;

pub async fn recheck_sockets(state: AppState) {
    let revoked = ServerFrame::SessionRevoked {
        reason: RevokeReason::Revoked,
    }
    .encode();
    let mut member_rooms: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    let (mut closed, mut dropped, mut added) = (0usize, 0usize, 0usize);
    for conn in state.hub.all() {
        match state.store.touch_session(conn.session_id).await {
            Ok(Some(owner)) if owner == conn.user.id => {}
            Ok(_) => {
                conn.send_text(revoked.clone());
                conn.close(close::SESSION_REVOKED);
                closed += 1;
                continue;
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not re-check a socket's session");
                continue;
            }
        }
        let auth = AuthUser {
            user_id: conn.user.id,
            session_id: conn.session_id,
        };
        let followed = state.hub.rooms_of(conn.id);
        for room_id in &followed {
            match RoomAccess::load(&state, &auth, *room_id).await {
                // Still allowed; a viewer who joined meanwhile (or a member who left a public
                // room) follows it as what they are now.
                Ok(access) => {
                    state.hub.set_member(conn.id, *room_id, access.is_member());
                }
                Err(ApiError::NotFound(_) | ApiError::Forbidden(_)) => {
                    state.hub.unsubscribe(conn.id, *room_id);
                    if state.calls.leave(*room_id, conn.id).await {
                        super::call_left(&state, *room_id, conn.id);
                    }
                    dropped += 1;
                }
                Err(_) => {}
            }
        }
        let rooms = match member_rooms.get(&conn.user.id) {
            Some(rooms) => rooms.clone(),
            None => match state.store.room_ids_of(conn.user.id).await {
                Ok(rooms) => {
                    member_rooms.insert(conn.user.id, rooms.clone());
                    rooms
                }
                Err(_) => continue,
            },
        };
        for room_id in rooms.iter().filter(|r| !followed.contains(r)) {
            state.hub.subscribe(&conn, *room_id, true);
            added += 1;
        }
    }
    if closed + dropped + added > 0 {
        tracing::info!(
            closed,
            dropped,
            added,
            "sockets re-checked after a gap on the cluster bus"
        );
    }
}
