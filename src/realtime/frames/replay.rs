//! `subscribe`: following a room's live events and, with `since`, catching up on what the
//! socket missed, without a gap and without sending any message twice (see `subscription`).

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::realtime::hub::Connection;
use crate::realtime::protocol::ServerFrame;
use crate::service::access::RoomAccess;
use crate::state::AppState;
use crate::store::messages::Page;
use crate::views::messages::message_views;

/// Messages replayed by one `subscribe` with `since`; beyond, `has_more` sends the client to REST.
const REPLAY_LIMIT: u32 = 100;

/// Follows a room's live events; with `since`, first replays what was missed, in order, with
/// live events held back meanwhile.
pub async fn subscribe(
    state: &AppState,
    conn: &Arc<Connection>,
    auth: &AuthUser,
    reference: Option<&Value>,
    room_id: Option<Uuid>,
    alias: Option<String>,
    since: Option<Uuid>,
) -> Result<(), ApiError> {
    let room_id = match (room_id, alias) {
        (Some(id), _) => id,
        (None, Some(alias)) => {
            state
                .store
                .room_by_alias(&alias)
                .await?
                .ok_or(ApiError::NotFound("no such room"))?
                .id
        }
        (None, None) => {
            return Err(ApiError::validation(
                "room_id",
                "room_id or alias is required",
            ));
        }
    };
    let member = RoomAccess::load(state, auth, room_id).await?.is_member();
    // `since` says where the client stands: it must be a message of this room.
    if let Some(since) = since
        && state
            .store
            .message(since)
            .await?
            .is_none_or(|m| m.room_id != room_id)
    {
        return Err(ApiError::validation(
            "since",
            "is not a message in this room",
        ));
    }
    let following = match since {
        None => state.hub.subscribe(conn, room_id, member),
        Some(_) => state.hub.subscribe_held(conn, room_id, member),
    };
    let Some(subscription) = following else {
        return Ok(()); // the socket is closing
    };
    // A removal applied between the access check and the subscription would have missed it:
    // checked again now that the subscription is in place (a later removal ends it).
    if let Err(err) = RoomAccess::load(state, auth, room_id).await {
        state.hub.unsubscribe(conn.id, room_id);
        return Err(err);
    }
    let Some(since) = since else {
        let subscribed = ServerFrame::Subscribed {
            room_id,
            replayed: 0,
            has_more: false,
        };
        conn.send_text(subscribed.reply(reference));
        return Ok(());
    };
    // Live frames are held from before the history read, so every message is either in the
    // replay or live after it; the subscription drops the copies.
    let (missed, has_more) = match missed_since(state, auth, room_id, since).await {
        Ok(page) => page,
        Err(err) => {
            subscription.abandon_replay();
            return Err(err);
        }
    };
    let followed = subscription.finish_replay(missed, |replayed| {
        let subscribed = ServerFrame::Subscribed {
            room_id,
            replayed,
            has_more,
        };
        subscribed.reply(reference)
    });
    if !followed {
        // Removed from the room (or banned) while the replay was read.
        return Err(ApiError::NotFound("no such room"));
    }
    Ok(())
}

/// Up to `REPLAY_LIMIT` messages after `since`, oldest first, encoded as `message_new` with
/// their numbers; and whether more follow.
async fn missed_since(
    state: &AppState,
    auth: &AuthUser,
    room_id: Uuid,
    since: Uuid,
) -> Result<(Vec<(i64, Utf8Bytes)>, bool), ApiError> {
    let (missed, has_more) = state
        .store
        .history(room_id, Page::After(since), REPLAY_LIMIT)
        .await?;
    let seqs: Vec<i64> = missed.iter().map(|m| m.seq).collect();
    let frames = message_views(state, Some(auth.user_id), missed)
        .await?
        .into_iter()
        .zip(seqs)
        .map(|(message, seq)| {
            let frame = ServerFrame::MessageNew { message: &message }.encode();
            (seq, frame)
        })
        .collect();
    Ok((frames, has_more))
}
