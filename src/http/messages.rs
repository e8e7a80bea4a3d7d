//! `/rooms/{id}/messages`, `/messages/{id}`, reactions, read cursors and search: parse, call
//! `service::messages`, render.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ErrorBody;
use super::extract::{Json, Path, Query};
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::service::messages::{self, PostMessage};
use crate::state::AppState;
use crate::views::MessageView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_messages, post_message))
        .routes(routes!(get_message, edit_message, delete_message))
        .routes(routes!(add_reaction, remove_reaction))
        .routes(routes!(mark_read))
        .routes(routes!(search_messages))
}

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
    let history = messages::history(
        &state,
        &auth,
        room_id,
        params.before,
        params.after,
        params.limit,
    )
    .await?;
    Ok(Json(HistoryPage {
        items: history.items,
        has_more: history.has_more,
        next_cursor: history.next_cursor,
    }))
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
    let (view, created) = messages::post(&state, &auth, room_id, body).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)).into_response())
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
    Ok(Json(messages::get(&state, &auth, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EditMessage {
    pub content: String,
}

/// Edit the content of your own message, within `messages.edit_window_secs` of sending it.
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
    Ok(Json(
        messages::edit(&state, &auth, id, &body.content).await?,
    ))
}

/// Delete a message (the sender, or an admin of its room). The tombstone stays in history.
#[utoipa::path(delete, path = "/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "message id")),
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn delete_message(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    messages::delete(&state, &auth, id).await?;
    Ok(StatusCode::NO_CONTENT)
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
    messages::react(&state, &auth, id, &emoji, true).await?;
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
    messages::react(&state, &auth, id, &emoji, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MarkRead {
    pub message_id: Uuid,
}

/// Move your read cursor in a room forward (it never moves back).
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
    messages::read(&state, &auth, room_id, body.message_id).await?;
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
    let (items, next_cursor) = messages::search(
        &state,
        &auth,
        &params.q,
        params.room_id,
        params.cursor,
        params.limit,
    )
    .await?;
    Ok(Json(SearchPage { items, next_cursor }))
}
