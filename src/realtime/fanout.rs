//! Turns domain events into WebSocket frames for exactly the sockets allowed to see them:
//! each event is encoded once and the same bytes go to every receiver.

use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::protocol::encode;
use crate::events::DomainEvent;
use crate::http::rooms::room_view;
use crate::state::AppState;
use crate::time;

/// Runs until the event bus closes (the process ends).
pub async fn run(state: AppState) {
    let mut events = state.events.subscribe();
    loop {
        match events.recv().await {
            Ok(event) => deliver(&state, &event).await,
            Err(RecvError::Lagged(missed)) => {
                // Sockets may have missed events; clients close such gaps with `since`.
                tracing::warn!(missed, "the realtime fan-out fell behind the event bus");
            }
            Err(RecvError::Closed) => break,
        }
    }
}

async fn deliver(state: &AppState, event: &DomainEvent) {
    let hub = &state.hub;
    match event {
        DomainEvent::MessageCreated { room_id, message } => {
            let frame = encode(&json!({"type": "message_new", "message": &**message}));
            hub.to_room(*room_id, Some(message.id), &frame, None);
        }
        DomainEvent::MessageEdited { room_id, message } => {
            hub.to_room(
                *room_id,
                None,
                &encode(&json!({"type": "message_edited", "message": &**message})),
                None,
            );
        }
        DomainEvent::MessageDeleted {
            room_id,
            message_id,
        } => {
            let frame = encode(
                &json!({"type": "message_deleted", "room_id": room_id, "message_id": message_id}),
            );
            hub.to_room(*room_id, None, &frame, None);
        }
        DomainEvent::Reaction {
            room_id,
            message_id,
            emoji,
            user_id,
            added,
        } => {
            let frame = encode(&json!({
                "type": "reaction", "room_id": room_id, "message_id": message_id,
                "emoji": emoji, "user_id": user_id, "added": added,
            }));
            hub.to_room(*room_id, None, &frame, None);
        }
        DomainEvent::Read {
            room_id,
            user_id,
            message_id,
        } => {
            let frame = encode(
                &json!({"type": "read", "room_id": room_id, "user_id": user_id, "message_id": message_id}),
            );
            hub.to_room(*room_id, None, &frame, None);
        }
        DomainEvent::MemberJoined { room_id, user } => {
            // Subscribe first, so the newcomer's sockets get this event and everything after it.
            hub.subscribe_user(user.id, *room_id);
            let frame =
                encode(&json!({"type": "member_joined", "room_id": room_id, "user": &**user}));
            hub.to_room(*room_id, None, &frame, None);
        }
        DomainEvent::MemberLeft { room_id, user_id } => {
            let frame =
                encode(&json!({"type": "member_left", "room_id": room_id, "user_id": user_id}));
            hub.to_room(*room_id, None, &frame, None);
            hub.unsubscribe_user(*user_id, *room_id);
            super::leave_calls_of_user(state, *room_id, *user_id);
        }
        DomainEvent::MemberRoleChanged {
            room_id,
            user_id,
            role,
        } => {
            let frame = encode(
                &json!({"type": "member_role_changed", "room_id": room_id, "user_id": user_id, "role": role}),
            );
            hub.to_room(*room_id, None, &frame, None);
        }
        DomainEvent::RoomUpdated { room } => {
            hub.to_room(
                room.id,
                None,
                &encode(&json!({"type": "room_updated", "room": &**room})),
                None,
            );
        }
        DomainEvent::RoomDeleted {
            room_id,
            member_ids,
        } => {
            let frame = encode(&json!({"type": "room_deleted", "room_id": room_id}));
            hub.to_room(*room_id, None, &frame, None);
            for member in member_ids {
                // Members not subscribed on some socket still learn it there.
                for conn in hub.user_connections(*member) {
                    if !hub.is_subscribed(conn.id, *room_id) {
                        conn.send_text(frame.clone());
                    }
                }
            }
            hub.drop_room(*room_id);
        }
        DomainEvent::DmCreated { room_id, user_ids } => {
            for user_id in user_ids {
                hub.subscribe_user(*user_id, *room_id);
                let Ok(Some(room)) = state.store.room(*room_id).await else {
                    continue;
                };
                let standing = state
                    .store
                    .membership(*room_id, *user_id)
                    .await
                    .ok()
                    .flatten()
                    .map(|m| (m.role, m.read_seq));
                match room_view(state, *user_id, room, standing).await {
                    Ok(view) => hub.to_user(
                        *user_id,
                        &encode(&json!({"type": "dm_created", "room": view})),
                    ),
                    Err(err) => tracing::warn!(error = %err, "could not build dm_created"),
                }
            }
        }
        DomainEvent::Banned {
            room_id,
            user_id,
            until,
            reason,
        } => {
            let until = until.as_ref().map(time::format);
            let frame = encode(
                &json!({"type": "banned", "room_id": room_id, "until": until, "reason": reason}),
            );
            hub.to_user(*user_id, &frame);
            hub.unsubscribe_user(*user_id, *room_id);
            super::leave_calls_of_user(state, *room_id, *user_id);
        }
        DomainEvent::SessionsRevoked {
            user_id,
            session_ids,
            reason,
        } => {
            let frame = encode(&json!({"type": "session_revoked", "reason": reason}));
            hub.revoke_sessions(*user_id, session_ids, &frame);
        }
        DomainEvent::UserUpdated { .. } | DomainEvent::UserDeleted { .. } => {}
    }
}
