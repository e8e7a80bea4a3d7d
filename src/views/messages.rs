//! Messages as clients see them, built in batches (attachments and reactions in one query each).

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::uploads::AttachmentView;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::messages::Message;
use crate::time::{self, Timestamp};

const EXCERPT_CHARS: usize = 100;

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct SenderView {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplyView {
    pub id: Uuid,
    pub sender_id: Option<Uuid>,
    /// The start of the replied-to message (empty if it was deleted).
    pub excerpt: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReactionView {
    pub emoji: String,
    pub count: i64,
    /// Whether the viewer reacted with this emoji.
    pub me: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    pub room_id: Uuid,
    /// Null when the sender deleted their account.
    pub sender: Option<SenderView>,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyView>,
    pub attachments: Vec<AttachmentView>,
    pub reactions: Vec<ReactionView>,
    pub client_msg_id: Option<String>,
    #[serde(serialize_with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(
        serialize_with = "time::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub edited_at: Option<Timestamp>,
    pub deleted: bool,
}

/// Turns stored messages into views for `viewer`, with attachments and reactions fetched for
/// the whole batch in two queries. Without a viewer every `me` is false: a view for everyone.
pub async fn message_views(
    state: &AppState,
    viewer: Option<Uuid>,
    messages: Vec<Message>,
) -> ApiResult<Vec<MessageView>> {
    let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    let mut attachments: HashMap<Uuid, Vec<AttachmentView>> = HashMap::new();
    for (message_id, upload) in state.store.attachments_of(&ids).await? {
        attachments
            .entry(message_id)
            .or_default()
            .push(AttachmentView::new(state, &upload));
    }
    let mut reactions: HashMap<Uuid, Vec<ReactionView>> = HashMap::new();
    for r in state.store.reactions_of(&ids, viewer).await? {
        reactions
            .entry(r.message_id)
            .or_default()
            .push(ReactionView {
                emoji: r.emoji,
                count: r.count,
                me: r.me,
            });
    }
    Ok(messages
        .into_iter()
        .map(|m| MessageView {
            sender: match (m.sender_id, m.sender_username, m.sender_display_name) {
                (Some(id), Some(username), Some(display_name)) => Some(SenderView {
                    id,
                    username,
                    display_name,
                }),
                _ => None,
            },
            reply_to: m.reply_to_id.map(|id| ReplyView {
                id,
                sender_id: m.reply_sender_id,
                excerpt: m
                    .reply_content
                    .unwrap_or_default()
                    .chars()
                    .take(EXCERPT_CHARS)
                    .collect(),
            }),
            attachments: attachments.remove(&m.id).unwrap_or_default(),
            reactions: reactions.remove(&m.id).unwrap_or_default(),
            id: m.id,
            room_id: m.room_id,
            content: m.content,
            client_msg_id: m.client_msg_id,
            created_at: m.created_at,
            edited_at: m.edited_at,
            deleted: m.deleted_at.is_some(),
        })
        .collect())
}

pub async fn message_view(
    state: &AppState,
    viewer: Option<Uuid>,
    message: Message,
) -> ApiResult<MessageView> {
    let mut views = message_views(state, viewer, vec![message]).await?;
    views
        .pop()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a message view went missing")))
}

/// A message as it goes to everyone in its room: one view with every `me` false, and who
/// reacted with what, so each receiver who reacted gets the view with their own `me` filled in.
#[derive(Debug, Clone)]
pub struct BroadcastMessage {
    pub view: MessageView,
    reactors: Vec<(String, Uuid)>,
}

impl BroadcastMessage {
    pub async fn build(state: &AppState, message: Message) -> ApiResult<BroadcastMessage> {
        let reactors = state.store.reactors(message.id).await?;
        let view = message_view(state, None, message).await?;
        Ok(BroadcastMessage { view, reactors })
    }

    /// Those whose view differs from the shared one (each reacted at least once).
    pub fn reactors(&self) -> Vec<Uuid> {
        let mut users: Vec<Uuid> = self.reactors.iter().map(|(_, user)| *user).collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// The view as `reader` sees it.
    pub fn for_reader(&self, reader: Uuid) -> MessageView {
        let mut view = self.view.clone();
        for reaction in &mut view.reactions {
            reaction.me = self
                .reactors
                .iter()
                .any(|(emoji, user)| *user == reader && *emoji == reaction.emoji);
        }
        view
    }
}
