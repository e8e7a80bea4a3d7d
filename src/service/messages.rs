//! Messages: history, posting (idempotent), edits, deletes, reactions, read cursors, search.
//! Each use-case checks the caller's standing, changes the store and publishes what changed.

use std::sync::Arc;

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::access::{Role, RoomAccess};
use super::page_limit;
use super::writer::{OnStored, Pending, Submission, Written};
use crate::auth::AuthUser;
use crate::domain::MessageContent;
use crate::error::{ApiError, ApiResult};
use crate::events::DomainEvent;
use crate::state::AppState;
use crate::store::message_batch::Post;
use crate::store::messages::{Message, Page};
use crate::time;
use crate::views::messages::{
    BroadcastMessage, MessageView, ReplyView, message_view, message_views,
};
use crate::views::uploads::AttachmentView;

const MAX_ATTACHMENTS: usize = 10;

/// A page of a room's history, oldest first.
pub struct History {
    pub items: Vec<MessageView>,
    /// More messages lie beyond this page in the direction asked for.
    pub has_more: bool,
    /// The id to pass as `before` (or `after`, when paging forward) for the next page.
    pub next_cursor: Option<Uuid>,
}

/// The latest messages of a room, or those `before` or `after` an id (not both).
pub async fn history(
    state: &AppState,
    auth: &AuthUser,
    room_id: Uuid,
    before: Option<Uuid>,
    after: Option<Uuid>,
    limit: Option<u32>,
) -> ApiResult<History> {
    RoomAccess::load(state, auth, room_id).await?;
    let limit = page_limit(limit)?;
    let page = match (before, after) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give before or after, not both".into(),
            ));
        }
        (Some(id), None) => Page::Before(id),
        (None, Some(id)) => Page::After(id),
        (None, None) => Page::Latest,
    };
    let (messages, has_more) = state.store.history(room_id, page, limit).await?;
    let next_cursor = match page {
        _ if !has_more => None,
        Page::After(_) => messages.last().map(|m| m.id),
        _ => messages.first().map(|m| m.id),
    };
    let items = message_views(state, Some(auth.user_id), messages).await?;
    Ok(History {
        items,
        has_more,
        next_cursor,
    })
}

/// A new message, as REST's body and the WebSocket `send_message` frame carry it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PostMessage {
    pub content: String,
    pub reply_to_id: Option<Uuid>,
    #[serde(default)]
    pub attachment_ids: Vec<Uuid>,
    /// Your own id for this message: retries with the same one never create a second message.
    pub client_msg_id: Option<String>,
}

/// Posts a message; `true` when it is new, `false` when `client_msg_id` named an earlier one.
pub async fn post(
    state: &AppState,
    auth: &AuthUser,
    room_id: Uuid,
    body: PostMessage,
) -> ApiResult<(MessageView, bool)> {
    submit(state, auth, room_id, body, None)
        .await?
        .outcome(state, auth)
        .await
}

/// Checks a post and hands it to the writer, behind every post submitted before it; the
/// returned `PendingPost` gives the outcome once it is committed. A socket submits its sends
/// in the order they came and goes on reading while they commit.
///
/// A plain message reaches the writer without a read of its own: the writer checks the
/// sender's membership inside the batch's transaction. Replies and attachments are read first,
/// after the usual access check, and so are invalid posts (so a stranger learns nothing more
/// from a bad request than from a good one).
///
/// `on_stored` answers the sender from the writer as soon as a new message is stored (see
/// `Submission`); the outcome still comes, for the other cases.
pub async fn submit(
    state: &AppState,
    auth: &AuthUser,
    room_id: Uuid,
    body: PostMessage,
    on_stored: Option<OnStored>,
) -> ApiResult<PendingPost> {
    let checked = check_post(state, &body);
    if checked.is_err() || body.reply_to_id.is_some() || !body.attachment_ids.is_empty() {
        RoomAccess::load(state, auth, room_id)
            .await?
            .require_member()?;
    }
    let (content, attachment_ids) = checked?;
    let reply_to = match body.reply_to_id {
        None => None,
        Some(reply_to) => {
            let parent = state.store.message(reply_to).await?;
            match parent {
                Some(parent) if parent.room_id == room_id => Some(ReplyView::of(&parent)),
                _ => {
                    return Err(ApiError::validation(
                        "reply_to_id",
                        "is not a message in this room",
                    ));
                }
            }
        }
    };
    let uploads = state
        .store
        .uploads_owned_by(auth.user_id, &attachment_ids)
        .await?;
    if uploads.len() != attachment_ids.len() {
        return Err(ApiError::validation(
            "attachment_ids",
            "must be uploads of yours",
        ));
    }
    let submission = Submission {
        post: Post {
            room_id,
            sender_id: auth.user_id,
            content,
            reply_to_id: body.reply_to_id,
            client_msg_id: body.client_msg_id,
            attachment_ids,
        },
        reply_to,
        attachments: uploads
            .iter()
            .map(|upload| AttachmentView::new(state, upload))
            .collect(),
        on_stored,
    };
    Ok(PendingPost {
        pending: state.writer.enqueue(submission).await?,
        room_id,
    })
}

/// A post in the writer's hands.
pub struct PendingPost {
    pending: Pending,
    room_id: Uuid,
}

impl PendingPost {
    /// The message, once committed: `true` when it is new, `false` for an earlier one with
    /// the same `client_msg_id`.
    pub async fn outcome(
        self,
        state: &AppState,
        auth: &AuthUser,
    ) -> ApiResult<(MessageView, bool)> {
        let room_id = self.room_id;
        match self.pending.written().await? {
            Written::Stored(view) => Ok((*view, true)),
            Written::Earlier(id) => {
                let earlier = state
                    .store
                    .message(id)
                    .await?
                    .ok_or(ApiError::NotFound("no such message"))?;
                if earlier.room_id != room_id {
                    // The same client_msg_id was used earlier in another room: not the same message.
                    return Err(ApiError::Conflict {
                        code: "client_msg_id_reused",
                        message: "that client_msg_id was used in another room",
                    });
                }
                // An earlier message may have reactions: it is shown to its poster as they see it.
                Ok((
                    message_view(state, Some(auth.user_id), earlier).await?,
                    false,
                ))
            }
            Written::NotMember => {
                // The precise refusal (a stranger to a private room gets 404, a banned user 403).
                RoomAccess::load(state, auth, room_id)
                    .await?
                    .require_member()?;
                Err(ApiError::Forbidden("join the room first"))
            }
        }
    }
}

/// The checks of a post that need no database: content, `client_msg_id`, attachment count.
fn check_post(state: &AppState, body: &PostMessage) -> ApiResult<(String, Vec<Uuid>)> {
    // A message of attachments alone may have no text; otherwise text is required.
    let content = if body.content.trim().is_empty() && !body.attachment_ids.is_empty() {
        String::new()
    } else {
        MessageContent::parse(&body.content, state.settings.messages.max_content_chars)
            .map_err(|why| ApiError::validation("content", why))?
            .into_inner()
    };
    if let Some(id) = &body.client_msg_id
        && (id.is_empty() || id.len() > 64 || id.chars().any(char::is_control))
    {
        return Err(ApiError::validation(
            "client_msg_id",
            "must be 1 to 64 characters",
        ));
    }
    let mut attachment_ids = body.attachment_ids.clone();
    attachment_ids.dedup();
    if attachment_ids.len() > MAX_ATTACHMENTS {
        return Err(ApiError::validation(
            "attachment_ids",
            format!("at most {MAX_ATTACHMENTS} attachments"),
        ));
    }
    Ok((content, attachment_ids))
}

/// Loads a message the caller may see, with the caller's standing in its room.
async fn visible_message(
    state: &AppState,
    auth: &AuthUser,
    id: Uuid,
) -> ApiResult<(Message, RoomAccess)> {
    let message = state
        .store
        .message(id)
        .await?
        .ok_or(ApiError::NotFound("no such message"))?;
    let access = RoomAccess::load(state, auth, message.room_id)
        .await
        .map_err(|err| match err {
            ApiError::NotFound(_) => ApiError::NotFound("no such message"),
            other => other,
        })?;
    Ok((message, access))
}

/// One message the caller may see.
pub async fn get(state: &AppState, auth: &AuthUser, id: Uuid) -> ApiResult<MessageView> {
    let (message, _) = visible_message(state, auth, id).await?;
    message_view(state, Some(auth.user_id), message).await
}

/// Edits the content of the caller's own message, within `messages.edit_window_secs` of sending it.
pub async fn edit(
    state: &AppState,
    auth: &AuthUser,
    id: Uuid,
    content: &str,
) -> ApiResult<MessageView> {
    let (message, access) = visible_message(state, auth, id).await?;
    access.require_member()?;
    if message.sender_id != Some(auth.user_id) {
        return Err(ApiError::Forbidden("only the sender may edit a message"));
    }
    if message.deleted_at.is_some() {
        return Err(ApiError::NotFound("the message was deleted"));
    }
    let window = chrono::Duration::seconds(state.settings.messages.edit_window_secs as i64);
    if time::now() - message.created_at > window {
        return Err(ApiError::Forbidden(
            "the edit window for this message has passed",
        ));
    }
    let content = MessageContent::parse(content, state.settings.messages.max_content_chars)
        .map_err(|why| ApiError::validation("content", why))?;
    let edited = state
        .store
        .edit_message(id, &content)
        .await?
        .ok_or(ApiError::NotFound("the message was deleted"))?;
    let edited = BroadcastMessage::build(state, edited).await?;
    let view = edited.for_reader(auth.user_id);
    state
        .events
        .publish(DomainEvent::MessageEdited {
            room_id: view.room_id,
            message: Arc::new(edited),
        })
        .await;
    Ok(view)
}

/// Deletes a message (the sender, or an admin of its room). The tombstone stays in history.
pub async fn delete(state: &AppState, auth: &AuthUser, id: Uuid) -> ApiResult<()> {
    let (message, access) = visible_message(state, auth, id).await?;
    let role = access.require_member()?;
    if message.sender_id != Some(auth.user_id) && role < Role::Admin {
        return Err(ApiError::Forbidden(
            "only the sender or a room admin may delete a message",
        ));
    }
    if state.store.delete_message(id).await? {
        state
            .events
            .publish(DomainEvent::MessageDeleted {
                room_id: message.room_id,
                message_id: id,
            })
            .await;
    }
    Ok(())
}

/// An emoji is a short run of visible characters (a grapheme or a `:shortcode:`).
fn parse_emoji(raw: &str) -> ApiResult<&str> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(raw)
    } else {
        Err(ApiError::validation(
            "emoji",
            "must be 1 to 64 bytes without spaces",
        ))
    }
}

/// Adds (`added`) or takes back the caller's reaction; both are idempotent.
pub async fn react(
    state: &AppState,
    auth: &AuthUser,
    id: Uuid,
    emoji: &str,
    added: bool,
) -> ApiResult<()> {
    let emoji = parse_emoji(emoji)?;
    let (message, access) = visible_message(state, auth, id).await?;
    access.require_member()?;
    if message.deleted_at.is_some() {
        return Err(ApiError::NotFound("the message was deleted"));
    }
    let changed = if added {
        state.store.add_reaction(id, auth.user_id, emoji).await?
    } else {
        state.store.remove_reaction(id, auth.user_id, emoji).await?
    };
    if changed {
        state
            .events
            .publish(DomainEvent::Reaction {
                room_id: message.room_id,
                message_id: id,
                emoji: emoji.to_string(),
                user_id: auth.user_id,
                added,
            })
            .await;
    }
    Ok(())
}

/// Moves the caller's read cursor in a room forward (it never moves back).
pub async fn read(
    state: &AppState,
    auth: &AuthUser,
    room_id: Uuid,
    message_id: Uuid,
) -> ApiResult<()> {
    let access = RoomAccess::load(state, auth, room_id).await?;
    access.require_member()?;
    let message = state.store.message(message_id).await?;
    if message.is_none_or(|m| m.room_id != room_id) {
        return Err(ApiError::validation(
            "message_id",
            "is not a message in this room",
        ));
    }
    if state
        .store
        .mark_read(room_id, auth.user_id, message_id)
        .await?
    {
        state
            .events
            .publish(DomainEvent::Read {
                room_id,
                user_id: auth.user_id,
                message_id,
            })
            .await;
    }
    Ok(())
}

/// Full-text search over the caller's rooms (or one room they may see), newest first:
/// up to `limit` messages, and the cursor of the next page when there is one.
pub async fn search(
    state: &AppState,
    auth: &AuthUser,
    q: &str,
    room_id: Option<Uuid>,
    cursor: Option<Uuid>,
    limit: Option<u32>,
) -> ApiResult<(Vec<MessageView>, Option<Uuid>)> {
    let q = q.trim();
    if q.is_empty() || q.chars().count() > 200 {
        return Err(ApiError::BadRequest("q must be 1 to 200 characters".into()));
    }
    if let Some(room_id) = room_id {
        RoomAccess::load(state, auth, room_id).await?;
    }
    let limit = page_limit(limit)?;
    let mut found = state
        .store
        .search_messages(auth.user_id, q, room_id, cursor, limit + 1)
        .await?;
    let next_cursor = if found.len() > limit as usize {
        found.truncate(limit as usize);
        found.last().map(|m| m.id)
    } else {
        None
    };
    Ok((
        message_views(state, Some(auth.user_id), found).await?,
        next_cursor,
    ))
}
