//! `/rooms`: create (also on demand by alias), directory, my rooms, settings, join and leave.

use std::sync::Arc;

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
use crate::domain::{Alias, RoomName, Topic};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::events::DomainEvent;
use crate::service::access::RoomAccess;
use crate::state::AppState;
use crate::store::rooms::{NewRoom, Room, RoomChanges};
use crate::views::PublicProfile;
use crate::views::rooms::{RoomView, room_view, room_views};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_room, directory))
        .routes(routes!(joined_rooms))
        .routes(routes!(get_room, update_room, delete_room))
        .routes(routes!(join_room))
        .routes(routes!(leave_room))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateRoom {
    pub name: String,
    /// public (default) or private
    pub kind: Option<String>,
    pub topic: Option<String>,
    /// Public rooms only: a unique short name. If it already names a public room, that room is returned (200).
    pub alias: Option<String>,
    /// Users to add as members.
    #[serde(default)]
    pub member_ids: Vec<Uuid>,
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
    let mut errors = FieldErrors::new();
    let kind = body.kind.as_deref().unwrap_or("public");
    if !matches!(kind, "public" | "private") {
        errors.insert("kind".into(), "must be public or private".into());
    }
    let name = RoomName::parse(&body.name)
        .map_err(|why| errors.insert("name".into(), why.into()))
        .ok();
    let topic = Topic::parse(body.topic.as_deref().unwrap_or(""))
        .map_err(|why| errors.insert("topic".into(), why.into()))
        .ok();
    let alias = match body.alias.as_deref() {
        Some(_) if kind != "public" => {
            errors.insert("alias".into(), "only public rooms have an alias".into());
            None
        }
        Some(raw) => Alias::parse(raw)
            .map_err(|why| errors.insert("alias".into(), why.into()))
            .ok(),
        None => None,
    };
    if body.member_ids.len() > 100 {
        errors.insert("member_ids".into(), "at most 100 at once".into());
    }
    let (Some(name), Some(topic)) = (name, topic) else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // Rooms on demand: an alias that already names a public room gets you that room.
    if let Some(alias) = &alias
        && let Some(existing) = state.store.room_by_alias(alias.as_str()).await?
    {
        return existing_by_alias(&state, &auth, existing).await;
    }
    let created = state
        .store
        .create_room(NewRoom {
            kind,
            name: name.as_str(),
            topic: topic.as_str(),
            alias: alias.as_ref().map(Alias::as_str),
            dm_key: None,
            creator: auth.user_id,
            creator_role: "owner",
            members: &body.member_ids,
        })
        .await;
    let room = match created {
        Ok(room) => room,
        Err(crate::store::StoreError::UnknownUser) => {
            return Err(ApiError::validation(
                "member_ids",
                "names a user that does not exist",
            ));
        }
        // Two creators raced for the same alias: the loser gets the winner's room.
        Err(crate::store::StoreError::AliasTaken) => {
            let alias = alias.as_ref().map(Alias::as_str).unwrap_or_default();
            let existing = state
                .store
                .room_by_alias(alias)
                .await?
                .ok_or(ApiError::Conflict {
                    code: "alias_taken",
                    message: "that alias already names another room",
                })?;
            return existing_by_alias(&state, &auth, existing).await;
        }
        Err(err) => return Err(err.into()),
    };
    for member in state.store.member_ids(room.id).await? {
        if let Some(user) = state.store.user_by_id(member).await? {
            let online = state.presence.is_online(user.id);
            state.events.publish(DomainEvent::MemberJoined {
                room_id: room.id,
                user: Arc::new(PublicProfile::new(&state, user, online)),
            });
        }
    }
    let view = room_view(&state, auth.user_id, room, Some(("owner".into(), 0))).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn existing_by_alias(state: &AppState, auth: &AuthUser, room: Room) -> ApiResult<Response> {
    let access = RoomAccess::load(state, auth, room.id).await?;
    let standing = access.membership.map(|m| (m.role, m.read_seq));
    Ok((
        StatusCode::OK,
        Json(room_view(state, auth.user_id, access.room, standing).await?),
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DirectoryParams {
    /// Part of a room's name or alias (case-insensitive).
    #[serde(default)]
    pub q: String,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The public room directory, by name.
#[utoipa::path(get, path = "/rooms", tag = "rooms", security(("bearer" = [])), params(DirectoryParams),
    responses((status = 200, body = Page<RoomView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn directory(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(params): Query<DirectoryParams>,
) -> ApiResult<Json<Page<RoomView>>> {
    let q = params.q.trim();
    if q.chars().count() > 80 || q.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "q must be at most 80 characters without control characters".into(),
        ));
    }
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
    let mut rooms = state.store.public_rooms(q, after, limit + 1).await?;
    let next_cursor = if rooms.len() > limit as usize {
        rooms.truncate(limit as usize);
        rooms
            .last()
            .map(|r| encode_cursor(&format!("{}\u{1f}{}", r.name, r.id)))
    } else {
        None
    };
    let mut standings = Vec::with_capacity(rooms.len());
    for room in rooms {
        let standing = state
            .store
            .membership(room.id, auth.user_id)
            .await?
            .map(|m| (m.role, m.read_seq));
        standings.push((room, standing));
    }
    Ok(Json(Page {
        items: room_views(&state, auth.user_id, standings).await?,
        next_cursor,
    }))
}

/// All of the caller's rooms at once (the list shape, always a single page).
#[derive(Serialize, ToSchema)]
pub struct RoomList {
    pub items: Vec<RoomView>,
    /// Always null: the whole list fits one page.
    pub next_cursor: Option<String>,
}

pub async fn my_rooms(
    state: &AppState,
    viewer: Uuid,
    kind: Option<&str>,
) -> ApiResult<Vec<RoomView>> {
    let joined = state.store.joined_rooms(viewer, kind).await?;
    let rooms = joined
        .into_iter()
        .map(|j| (j.room, Some((j.role, j.read_seq))))
        .collect();
    room_views(state, viewer, rooms).await
}

/// The rooms I belong to, direct messages included, newest activity first.
#[utoipa::path(get, path = "/rooms/joined", tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = RoomList), (status = 401, body = ErrorBody)))]
async fn joined_rooms(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<RoomList>> {
    Ok(Json(RoomList {
        items: my_rooms(&state, auth.user_id, None).await?,
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
    let access = RoomAccess::load(&state, &auth, id).await?;
    let standing = access.membership.map(|m| (m.role, m.read_seq));
    Ok(Json(
        room_view(&state, auth.user_id, access.room, standing).await?,
    ))
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
    let access = RoomAccess::load(&state, &auth, id).await?;
    access.require_admin()?;
    let mut errors = FieldErrors::new();
    let mut changes = RoomChanges::default();
    if let Some(raw) = &body.name {
        changes.name = RoomName::parse(raw)
            .map_err(|why| errors.insert("name".into(), why.into()))
            .ok()
            .map(RoomName::into_inner);
    }
    if let Some(raw) = &body.topic {
        changes.topic = Topic::parse(raw)
            .map_err(|why| errors.insert("topic".into(), why.into()))
            .ok()
            .map(Topic::into_inner);
    }
    match &body.alias {
        Some(_) if access.room.kind != "public" => {
            errors.insert("alias".into(), "only public rooms have an alias".into());
        }
        Some(Some(raw)) => {
            changes.alias = Alias::parse(raw)
                .map_err(|why| errors.insert("alias".into(), why.into()))
                .ok()
                .map(|a| Some(a.into_inner()));
        }
        Some(None) => changes.alias = Some(None),
        None => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let room = state
        .store
        .update_room(id, changes)
        .await?
        .ok_or(ApiError::NotFound("no such room"))?;
    let standing = access.membership.map(|m| (m.role, m.read_seq));
    let view = room_view(&state, auth.user_id, room, standing).await?;
    let mut public = view.clone();
    (public.my_role, public.unread_count) = (None, None);
    state.events.publish(DomainEvent::RoomUpdated {
        room: Arc::new(public),
    });
    Ok(Json(view))
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
    let access = RoomAccess::load(&state, &auth, id).await?;
    access.require_owner()?;
    let member_ids = state.store.delete_room(id).await?;
    state.events.publish(DomainEvent::RoomDeleted {
        room_id: id,
        member_ids,
    });
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
    let access = RoomAccess::load(&state, &auth, id).await?;
    if access.membership.is_none() {
        if access.room.kind != "public" {
            return Err(ApiError::NotFound("no such room"));
        }
        if !state
            .store
            .add_members(id, &[auth.user_id], "member")
            .await?
            .is_empty()
        {
            publish_joined(&state, id, auth.user_id).await?;
        }
    }
    let room = state
        .store
        .room(id)
        .await?
        .ok_or(ApiError::NotFound("no such room"))?;
    let standing = state
        .store
        .membership(id, auth.user_id)
        .await?
        .map(|m| (m.role, m.read_seq));
    Ok(Json(room_view(&state, auth.user_id, room, standing).await?))
}

pub async fn publish_joined(state: &AppState, room_id: Uuid, user_id: Uuid) -> ApiResult<()> {
    if let Some(user) = state.store.user_by_id(user_id).await? {
        let online = state.presence.is_online(user.id);
        state.events.publish(DomainEvent::MemberJoined {
            room_id,
            user: Arc::new(PublicProfile::new(state, user, online)),
        });
    }
    Ok(())
}

/// Publishes what a departure changed: the member left, maybe a new owner, maybe no room.
pub fn publish_departure(
    state: &AppState,
    room_id: Uuid,
    user_id: Uuid,
    departure: &crate::store::members::Departure,
) {
    if !departure.left {
        return;
    }
    state
        .events
        .publish(DomainEvent::MemberLeft { room_id, user_id });
    if let Some(owner) = departure.new_owner {
        state.events.publish(DomainEvent::MemberRoleChanged {
            room_id,
            user_id: owner,
            role: "owner",
        });
    }
    if departure.room_deleted {
        state.events.publish(DomainEvent::RoomDeleted {
            room_id,
            member_ids: vec![],
        });
    }
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
    let access = RoomAccess::load(&state, &auth, id).await?;
    access.require_member()?;
    if access.is_direct() {
        return Err(ApiError::Forbidden("direct messages cannot be left"));
    }
    let departure = state.store.remove_member(id, auth.user_id).await?;
    publish_departure(&state, id, auth.user_id, &departure);
    Ok(StatusCode::NO_CONTENT)
}
