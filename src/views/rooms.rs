//! Rooms as a given viewer sees them: their role, unread count, and for a direct room the other person.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::messages::{MessageView, message_views};
use super::users::PublicProfile;
use crate::domain::{Role, RoomKind};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::rooms::Room;
use crate::time::{self, Timestamp};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoomView {
    pub id: Uuid,
    pub kind: RoomKind,
    /// For direct rooms: the other person's display name.
    pub name: String,
    pub topic: String,
    pub alias: Option<String>,
    pub created_by: Option<Uuid>,
    #[serde(serialize_with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub member_count: i64,
    /// Absent when you are not a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_role: Option<Role>,
    /// Messages after your read cursor; absent when you are not a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<MessageView>,
    /// For direct rooms: the other person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_user: Option<PublicProfile>,
    /// Connect here to subscribe to this room's live events.
    pub ws_url: String,
}

impl RoomView {
    /// The room's own settings without the viewer's standing (role, unread count, their view
    /// of the last message): what a broadcast to every member may carry.
    pub fn for_everyone(self) -> RoomView {
        RoomView {
            my_role: None,
            unread_count: None,
            last_message: None,
            ..self
        }
    }
}

/// `(role, read_seq)` of the viewer, when a member.
pub type Standing = Option<(Role, i64)>;

/// Views of several rooms for `viewer`: last messages and DM partners fetched in one query each.
pub async fn room_views(
    state: &AppState,
    viewer: Uuid,
    rooms: Vec<(Room, Standing)>,
) -> ApiResult<Vec<RoomView>> {
    let last_ids: Vec<Uuid> = rooms
        .iter()
        .filter_map(|(r, _)| r.last_message_id)
        .collect();
    let last_messages = state.store.messages_by_ids(&last_ids).await?;
    let mut last: HashMap<Uuid, MessageView> = message_views(state, Some(viewer), last_messages)
        .await?
        .into_iter()
        .map(|m| (m.room_id, m))
        .collect();
    let direct: Vec<Uuid> = rooms
        .iter()
        .filter(|(r, _)| r.kind == RoomKind::Direct)
        .map(|(r, _)| r.id)
        .collect();
    let mut partners: HashMap<Uuid, PublicProfile> = HashMap::new();
    for (room_id, user) in state.store.dm_partners(viewer, &direct).await? {
        let online = state.presence.is_online(user.id);
        partners.insert(room_id, PublicProfile::new(state, user, online));
    }
    let ws_base = ws_base(&state.settings.server.public_url);
    Ok(rooms
        .into_iter()
        .map(|(room, standing)| {
            let other_user = partners.remove(&room.id);
            RoomView {
                name: other_user
                    .as_ref()
                    .map(|u| u.display_name.clone())
                    .unwrap_or(room.name),
                my_role: standing.map(|(role, _)| role),
                unread_count: standing.map(|(_, read)| (room.last_seq - read).max(0)),
                last_message: last.remove(&room.id),
                other_user,
                ws_url: format!("{ws_base}/ws/{}", room.id),
                id: room.id,
                kind: room.kind,
                topic: room.topic,
                alias: room.alias,
                created_by: room.created_by,
                created_at: room.created_at,
                member_count: room.member_count,
            }
        })
        .collect())
}

pub async fn room_view(
    state: &AppState,
    viewer: Uuid,
    room: Room,
    standing: Standing,
) -> ApiResult<RoomView> {
    room_views(state, viewer, vec![(room, standing)])
        .await?
        .pop()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a room view went missing")))
}

/// `http://host` → `ws://host`, `https://host` → `wss://host`.
fn ws_base(public_url: &str) -> String {
    let base = public_url.trim_end_matches('/');
    match base.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}"),
        None => format!("ws://{}", base.strip_prefix("http://").unwrap_or(base)),
    }
}
