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

impl ReplyView {
    /// `content` is None (or empty) when the replied-to message was deleted.
    fn new(id: Uuid, sender_id: Option<Uuid>, content: Option<&str>) -> ReplyView {
        ReplyView {
            id,
            sender_id,
            excerpt: content
                .unwrap_or_default()
                .chars()
                .take(EXCERPT_CHARS)
                .collect(),
        }
    }

    /// The reply to `parent`, as a new message shows it.
    pub fn of(parent: &Message) -> ReplyView {
        let content = parent
            .deleted_at
            .is_none()
            .then_some(parent.content.as_str());
        ReplyView::new(parent.id, parent.sender_id, content)
    }
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
    views_with(state, messages, reactions).await
}

/// Views of `messages` with the reactions given, attachments fetched in one query.
async fn views_with(
    state: &AppState,
    messages: Vec<Message>,
    mut reactions: HashMap<Uuid, Vec<ReactionView>>,
) -> ApiResult<Vec<MessageView>> {
    let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    let mut attachments: HashMap<Uuid, Vec<AttachmentView>> = HashMap::new();
    for (message_id, upload) in state.store.attachments_of(&ids).await? {
        attachments
            .entry(message_id)
            .or_default()
            .push(AttachmentView::new(state, &upload));
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
            reply_to: m
                .reply_to_id
                .map(|id| ReplyView::new(id, m.reply_sender_id, m.reply_content.as_deref())),
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

/// A message as it goes to everyone in its room: one view with every `me` false, and the
/// emojis each member reacted with, so that readers who reacted get their own `me` filled in.
#[derive(Debug, Clone)]
pub struct BroadcastMessage {
    pub view: MessageView,
    /// Per reader who reacted: the indexes in `view.reactions` of their emojis.
    reacted: HashMap<Uuid, Vec<usize>>,
}

impl BroadcastMessage {
    /// Counts and who reacted come from one read, so they always agree.
    pub async fn build(state: &AppState, message: Message) -> ApiResult<BroadcastMessage> {
        let mut reactions: Vec<ReactionView> = Vec::new();
        let mut reacted: HashMap<Uuid, Vec<usize>> = HashMap::new();
        // In reaction order, so emojis keep the order in which each first appeared.
        for (emoji, user_id) in state.store.reactors(message.id).await? {
            let index = match reactions.iter().position(|r| r.emoji == emoji) {
                Some(index) => index,
                None => {
                    reactions.push(ReactionView {
                        emoji,
                        count: 0,
                        me: false,
                    });
                    reactions.len() - 1
                }
            };
            reactions[index].count += 1;
            reacted.entry(user_id).or_default().push(index);
        }
        let reactions = HashMap::from([(message.id, reactions)]);
        let view = views_with(state, vec![message], reactions)
            .await?
            .pop()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a message view went missing")))?;
        Ok(BroadcastMessage { view, reacted })
    }

    /// The view as `reader` sees it.
    pub fn for_reader(&self, reader: Uuid) -> MessageView {
        self.with_mine(self.reacted.get(&reader).map_or(&[], Vec::as_slice))
    }

    fn with_mine(&self, mine: &[usize]) -> MessageView {
        let mut view = self.view.clone();
        for &index in mine {
            view.reactions[index].me = true;
        }
        view
    }

    /// The views that differ from the shared one, each with the readers who get it: one per
    /// distinct set of emojis, however many reacted.
    pub fn personal_views(&self) -> Vec<(Vec<Uuid>, MessageView)> {
        let mut readers: HashMap<Vec<usize>, Vec<Uuid>> = HashMap::new();
        for (user_id, mine) in &self.reacted {
            let mut mine = mine.clone();
            mine.sort_unstable();
            readers.entry(mine).or_default().push(*user_id);
        }
        readers
            .into_iter()
            .map(|(mine, user_ids)| (user_ids, self.with_mine(&mine)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(emojis: &[(&str, i64)]) -> MessageView {
        MessageView {
            id: Uuid::now_v7(),
            room_id: Uuid::now_v7(),
            sender: None,
            content: "plan".into(),
            reply_to: None,
            attachments: Vec::new(),
            reactions: emojis
                .iter()
                .map(|(emoji, count)| ReactionView {
                    emoji: emoji.to_string(),
                    count: *count,
                    me: false,
                })
                .collect(),
            client_msg_id: None,
            created_at: crate::time::now(),
            edited_at: None,
            deleted: false,
        }
    }

    fn mine(view: &MessageView) -> Vec<bool> {
        view.reactions.iter().map(|r| r.me).collect()
    }

    #[test]
    fn readers_who_reacted_alike_share_one_personal_view() {
        let (bob, alice, carol, dave) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        // 👍 by Bob and Alice, 🎉 by Carol and Alice (in another order).
        let message = BroadcastMessage {
            view: view(&[("👍", 2), ("🎉", 2)]),
            reacted: HashMap::from([(bob, vec![0]), (alice, vec![1, 0]), (carol, vec![1])]),
        };
        assert_eq!(mine(&message.for_reader(bob)), [true, false]);
        assert_eq!(mine(&message.for_reader(alice)), [true, true]);
        assert_eq!(mine(&message.for_reader(carol)), [false, true]);
        assert_eq!(mine(&message.for_reader(dave)), [false, false]);
        assert_eq!(mine(&message.view), [false, false]);

        let mut personal = message.personal_views();
        personal.sort_by_key(|(_, view)| mine(view));
        let groups: Vec<(usize, Vec<bool>)> = personal
            .iter()
            .map(|(readers, view)| (readers.len(), mine(view)))
            .collect();
        assert_eq!(
            groups,
            [
                (1, vec![false, true]),
                (1, vec![true, false]),
                (1, vec![true, true])
            ]
        );

        // Many readers with the same emoji: still one personal view.
        let crowd: HashMap<Uuid, Vec<usize>> =
            (0..500).map(|_| (Uuid::now_v7(), vec![0])).collect();
        let message = BroadcastMessage {
            view: view(&[("👍", 500)]),
            reacted: crowd,
        };
        let personal = message.personal_views();
        assert_eq!(personal.len(), 1);
        assert_eq!(personal[0].0.len(), 500);
        assert_eq!(mine(&personal[0].1), [true]);
    }
}
