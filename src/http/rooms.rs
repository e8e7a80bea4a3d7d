//! `/rooms`: create (also on demand by alias), directory, my rooms, settings, join and leave:
//! parse, call `service::rooms`, render.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{Json, Path, Query};
use super::{ErrorBody, Page, decode_cursor, encode_cursor, page_limit};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::service::rooms::{self, CreateRoom, RoomSettings};
use crate::state::AppState;
use crate::views::RoomView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_room, directory))
        .routes(routes!(joined_rooms))
        .routes(routes!(get_room, update_room, delete_room))
        .routes(routes!(join_room))
        .routes(routes!(leave_room))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DirectoryParams {
    /// Part of a room's name or alias (case-insensitive).
    #[serde(default)]
    pub q: String,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// All of the caller's rooms at once (the list shape, always a single page).
#[derive(Serialize, ToSchema)]
pub struct RoomList {
    pub items: Vec<RoomView>,
    /// Always null: the whole list fits one page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoom {
    pub name: Option<String>,
    pub topic: Option<String>,
    /// Public rooms only; null removes it.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub alias: Option<Option<String>>,
}

/// Create a room (you become its owner), or get the public room that has this alias.
#[utoipa::path(post, path = "/rooms", tag = "rooms", security(("bearer" = [])), request_body = CreateRoom,
    responses((status = 201, body = RoomView), (status = 200, body = RoomView, description = "the public room with this alias"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_room(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<CreateRoom>,
) -> ApiResult<Response> {
    let (view, created) = rooms::create(&state, &auth, body).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)).into_response())
}

/// The public room directory, by name.
#[utoipa::path(get, path = "/rooms", tag = "rooms", security(("bearer" = [])), params(DirectoryParams),
    responses((status = 200, body = Page<RoomView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn directory(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(params): Query<DirectoryParams>,
) -> ApiResult<Json<Page<RoomView>>> {
    let limit = page_limit(params.limit)?;
    let after = match params.cursor.as_deref() {
        Some(cursor) => {
            let raw = decode_cursor(cursor)?;
            let (name, id) = raw
                .rsplit_once('\u{1f}')
                .ok_or_else(|| ApiError::BadRequest("bad cursor".into()))?;
            Some((
                name.to_string(),
                id.parse()
                    .map_err(|_| ApiError::BadRequest("bad cursor".into()))?,
            ))
        }
        None => None,
    };
    let (items, has_more) = rooms::directory(&state, &auth, &params.q, after, limit).await?;
    // Public rooms show their own name, so the last view gives the directory's sort key.
    let next_cursor = items
        .last()
        .filter(|_| has_more)
        .map(|r| encode_cursor(&format!("{}\u{1f}{}", r.name, r.id)));
    Ok(Json(Page { items, next_cursor }))
}

/// The rooms I belong to, direct messages included, newest activity first.
#[utoipa::path(get, path = "/rooms/joined", tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = RoomList), (status = 401, body = ErrorBody)))]
async fn joined_rooms(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<RoomList>> {
    Ok(Json(RoomList {
        items: rooms::my_rooms(&state, auth.user_id, None).await?,
        next_cursor: None,
    }))
}

/// A room.
#[utoipa::path(get, path = "/rooms/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id")),
    responses((status = 200, body = RoomView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn get_room(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<RoomView>> {
    Ok(Json(rooms::get(&state, &auth, id).await?))
}

/// Rename a room, change its topic or alias (admins).
#[utoipa::path(patch, path = "/rooms/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id")), request_body = UpdateRoom,
    responses((status = 200, body = RoomView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_room(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateRoom>,
) -> ApiResult<Json<RoomView>> {
    let settings = RoomSettings {
        name: body.name.as_deref(),
        topic: body.topic.as_deref(),
        alias: body.alias.as_ref().map(Option::as_deref),
    };
    Ok(Json(rooms::update(&state, &auth, id, settings).await?))
}

/// Delete a room and everything in it (owner).
#[utoipa::path(delete, path = "/rooms/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id")),
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn delete_room(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    rooms::delete(&state, &auth, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Join a public room.
#[utoipa::path(post, path = "/rooms/{id}/join", tag = "rooms", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id")),
    responses((status = 200, body = RoomView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn join_room(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<RoomView>> {
    Ok(Json(rooms::join(&state, &auth, id).await?))
}

/// Leave a room. When the owner leaves, the longest-standing admin (else member) takes over;
/// the last one out deletes the room. Direct messages cannot be left.
#[utoipa::path(post, path = "/rooms/{id}/leave", tag = "rooms", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id")),
    responses((status = 204, description = "left"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn leave_room(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    rooms::leave(&state, &auth, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
