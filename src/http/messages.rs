//! Messages: history, posting (idempotent), edits, deletes, reactions, read cursors, search.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{Json, Path, Query};
use super::{ErrorBody, page_limit};
use crate::auth::AuthUser;
use crate::domain::MessageContent;
use crate::error::{ApiError, ApiResult};
use crate::events::DomainEvent;
use crate::service::access::{Role, RoomAccess};
use crate::state::AppState;
use crate::store::messages::{Message, NewMessage, Page};
use crate::time;
use crate::views::messages::{MessageView, message_view, message_views};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_messages, post_message))
        .routes(routes!(get_message, edit_message, delete_message))
        .routes(routes!(add_reaction, remove_reaction))
        .routes(routes!(mark_read))
        .routes(routes!(search_messages))
}

const MAX_ATTACHMENTS: usize = 10;
#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryParams {
    /// Messages older than this id.
    pub before: Option<Uuid>,
    /// Messages newer than this id.
    pub after: Option<Uuid>,
    /// 1–100, default 50.
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryPage {
    /// Oldest first.
    pub items: Vec<MessageView>,
    /// More messages lie beyond this page in the direction asked for.
    pub has_more: bool,
    /// The id to pass as `before` (or `after`, when paging forward) for the next page.
    pub next_cursor: Option<Uuid>,
}

/// A page of a room's history: the latest messages, or those before or after an id.
#[utoipa::path(get, path = "/rooms/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id"), HistoryParams),
    responses((status = 200, body = HistoryPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_messages(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<Uuid>,
    Query(params): Query<HistoryParams>,
) -> ApiResult<Json<HistoryPage>> {
    RoomAccess::load(&state, &auth, room_id).await?;
    let limit = page_limit(params.limit)?;
    let page = match (params.before, params.after) {
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
    let items = message_views(&state, auth.user_id, messages).await?;
    Ok(Json(HistoryPage {
        items,
        has_more,
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PostMessage {
    pub content: String,
    pub reply_to_id: Option<Uuid>,
    #[serde(default)]
    pub attachment_ids: Vec<Uuid>,
    /// Your own id for this message: retries with the same one never create a second message.
    pub client_msg_id: Option<String>,
}

/// Posting locks are striped by room: enough stripes that unrelated rooms rarely wait on
/// each other, few enough to cost nothing.
fn room_lock(room_id: Uuid) -> &'static tokio::sync::Mutex<()> {
    static STRIPES: std::sync::LazyLock<Vec<tokio::sync::Mutex<()>>> =
        std::sync::LazyLock::new(|| (0..128).map(|_| tokio::sync::Mutex::new(())).collect());
    &STRIPES[(room_id.as_u128() % STRIPES.len() as u128) as usize]
}

/// Validated input of a new message, shared by REST and the WebSocket `send_message` frame.
pub async fn post(
    state: &AppState,
    auth: &AuthUser,
    room_id: Uuid,
    body: PostMessage,
) -> ApiResult<(MessageView, bool)> {
    let access = RoomAccess::load(state, auth, room_id).await?;
    access.require_member()?;
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
    if let Some(reply_to) = body.reply_to_id {
        let parent = state.store.message(reply_to).await?;
        if parent.is_none_or(|p| p.room_id != room_id) {
            return Err(ApiError::validation(
                "reply_to_id",
                "is not a message in this room",
            ));
        }
    }
    let mut attachment_ids = body.attachment_ids;
    attachment_ids.dedup();
    if attachment_ids.len() > MAX_ATTACHMENTS {
        return Err(ApiError::validation(
            "attachment_ids",
            format!("at most {MAX_ATTACHMENTS} attachments"),
        ));
    }
    if state
        .store
        .uploads_owned_by(auth.user_id, &attachment_ids)
        .await?
        .len()
        != attachment_ids.len()
    {
        return Err(ApiError::validation(
            "attachment_ids",
            "must be uploads of yours",
        ));
    }
    // Commit and publish under the room's lock, so live events leave in id order even when
    // posts race (the database orders the commits; this keeps the publishing in that order).
    let _ordered = room_lock(room_id).lock().await;
    let (message, created) = state
        .store
        .post_message(NewMessage {
            room_id,
            sender_id: auth.user_id,
            content: &content,
            reply_to_id: body.reply_to_id,
            client_msg_id: body.client_msg_id.as_deref(),
            attachment_ids: &attachment_ids,
        })
        .await?;
    if message.room_id != room_id {
        // The same client_msg_id was used earlier in another room: not the same message.
        return Err(ApiError::Conflict {
            code: "client_msg_id_reused",
            message: "that client_msg_id was used in another room",
        });
    }
    let seq = message.seq;
    let view = message_view(state, auth.user_id, message).await?;
    if created {
        state.events.publish(DomainEvent::MessageCreated {
            room_id,
            seq,
            message: Arc::new(view.clone()),
        });
    }
    Ok((view, created))
}

/// Post a message. Retrying with the same `client_msg_id` returns the original (200).
#[utoipa::path(post, path = "/rooms/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id")), request_body = PostMessage,
    responses((status = 201, body = MessageView), (status = 200, body = MessageView, description = "an earlier message with this client_msg_id"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_message(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<Uuid>,
    Json(body): Json<PostMessage>,
) -> ApiResult<Response> {
    let (view, created) = post(&state, &auth, room_id, body).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)).into_response())
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

/// One message.
#[utoipa::path(get, path = "/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "message id")),
    responses((status = 200, body = MessageView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_message(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<MessageView>> {
    let (message, _) = visible_message(&state, &auth, id).await?;
    Ok(Json(message_view(&state, auth.user_id, message).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EditMessage {
    pub content: String,
}

/// Edit the content of your own message, within `messages.edit_window_secs` of sending it.
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
        .edit_message(id, content.as_str())
        .await?
        .ok_or(ApiError::NotFound("the message was deleted"))?;
    let view = message_view(state, auth.user_id, edited).await?;
    state.events.publish(DomainEvent::MessageEdited {
        room_id: view.room_id,
        message: Arc::new(view.clone()),
    });
    Ok(view)
}

#[utoipa::path(patch, path = "/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "message id")), request_body = EditMessage,
    responses((status = 200, body = MessageView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn edit_message(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<EditMessage>,
) -> ApiResult<Json<MessageView>> {
    Ok(Json(edit(&state, &auth, id, &body.content).await?))
}

/// Delete a message (the sender, or an admin of its room). The tombstone stays in history.
pub async fn delete(state: &AppState, auth: &AuthUser, id: Uuid) -> ApiResult<()> {
    let (message, access) = visible_message(state, auth, id).await?;
    let role = access.require_member()?;
    if message.sender_id != Some(auth.user_id) && role < Role::Admin {
        return Err(ApiError::Forbidden(
            "only the sender or a room admin may delete a message",
        ));
    }
    if state.store.delete_message(id).await? {
        state.events.publish(DomainEvent::MessageDeleted {
            room_id: message.room_id,
            message_id: id,
        });
    }
    Ok(())
}

#[utoipa::path(delete, path = "/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "message id")),
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn delete_message(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    delete(&state, &auth, id).await?;
    Ok(StatusCode::NO_CONTENT)
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

async fn react(
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
        state.events.publish(DomainEvent::Reaction {
            room_id: message.room_id,
            message_id: id,
            emoji: emoji.to_string(),
            user_id: auth.user_id,
            added,
        });
    }
    Ok(())
}

/// React with an emoji (idempotent).
#[utoipa::path(put, path = "/messages/{id}/reactions/{emoji}", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "message id"), ("emoji" = String, Path, description = "the emoji, URL-encoded")),
    responses((status = 204, description = "reacted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_reaction(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, emoji)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    react(&state, &auth, id, &emoji, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take a reaction back (idempotent).
#[utoipa::path(delete, path = "/messages/{id}/reactions/{emoji}", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "message id"), ("emoji" = String, Path, description = "the emoji, URL-encoded")),
    responses((status = 204, description = "removed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn remove_reaction(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, emoji)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    react(&state, &auth, id, &emoji, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MarkRead {
    pub message_id: Uuid,
}

/// Move your read cursor in a room forward (it never moves back).
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
        state.events.publish(DomainEvent::Read {
            room_id,
            user_id: auth.user_id,
            message_id,
        });
    }
    Ok(())
}

#[utoipa::path(post, path = "/rooms/{id}/read", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id")), request_body = MarkRead,
    responses((status = 204, description = "cursor at or past the message"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn mark_read(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<Uuid>,
    Json(body): Json<MarkRead>,
) -> ApiResult<StatusCode> {
    read(&state, &auth, room_id, body.message_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchParams {
    /// Words to find (all of them; the last one also as a prefix).
    pub q: String,
    /// Only this room.
    pub room_id: Option<Uuid>,
    /// 1–100, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchPage {
    /// Newest first.
    pub items: Vec<MessageView>,
    pub next_cursor: Option<Uuid>,
}

/// Full-text search over the messages of your rooms.
#[utoipa::path(get, path = "/search/messages", tag = "messages", security(("bearer" = [])), params(SearchParams),
    responses((status = 200, body = SearchPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn search_messages(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(params): Query<SearchParams>,
) -> ApiResult<Json<SearchPage>> {
    let q = params.q.trim();
    if q.is_empty() || q.chars().count() > 200 {
        return Err(ApiError::BadRequest("q must be 1 to 200 characters".into()));
    }
    if let Some(room_id) = params.room_id {
        RoomAccess::load(&state, &auth, room_id).await?;
    }
    let limit = page_limit(params.limit)?;
    let mut found = state
        .store
        .search_messages(auth.user_id, q, params.room_id, params.cursor, limit + 1)
        .await?;
    let next_cursor = if found.len() > limit as usize {
        found.truncate(limit as usize);
        found.last().map(|m| m.id)
    } else {
        None
    };
    let items = message_views(&state, auth.user_id, found).await?;
    Ok(Json(SearchPage { items, next_cursor }))
}
