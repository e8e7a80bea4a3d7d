//! Rooms: create (also on demand by alias), the directory, my rooms, settings, join and leave,
//! and the events a membership change publishes.

use std::sync::Arc;

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::access::RoomAccess;
use crate::auth::AuthUser;
use crate::domain::{Alias, Role, RoomKind, RoomName, Topic};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::events::DomainEvent;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::members::Departure;
use crate::store::rooms::{NewRoom, Room, RoomChanges};
use crate::views::PublicProfile;
use crate::views::rooms::{RoomView, room_view, room_views};

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

/// Creates a room with the caller as its owner (`true`), or finds the public room that already
/// has the alias (`false`).
pub async fn create(
    state: &AppState,
    auth: &AuthUser,
    body: CreateRoom,
) -> ApiResult<(RoomView, bool)> {
    let mut errors = FieldErrors::new();
    let kind = match body.kind.as_deref().map(RoomKind::parse) {
        None => RoomKind::Public,
        Some(Some(kind @ (RoomKind::Public | RoomKind::Private))) => kind,
        // A direct room is made with `POST /dms`, between two people.
        Some(Some(RoomKind::Direct) | None) => {
            errors.insert("kind".into(), "must be public or private".into());
            RoomKind::Public
        }
    };
    let name = RoomName::parse(&body.name)
        .map_err(|why| errors.insert("name".into(), why.into()))
        .ok();
    let topic = Topic::parse(body.topic.as_deref().unwrap_or(""))
        .map_err(|why| errors.insert("topic".into(), why.into()))
        .ok();
    let alias = match body.alias.as_deref() {
        Some(_) if kind != RoomKind::Public => {
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
        return Ok((existing_by_alias(state, auth, existing).await?, false));
    }
    let created = state
        .store
        .create_room(NewRoom {
            kind,
            name: Some(&name),
            topic: Some(&topic),
            alias: alias.as_ref(),
            dm_key: None,
            creator: auth.user_id,
            creator_role: Role::Owner,
            members: &body.member_ids,
        })
        .await;
    let room = match created {
        Ok(room) => room,
        Err(StoreError::UnknownUser) => {
            return Err(ApiError::validation(
                "member_ids",
                "names a user that does not exist",
            ));
        }
        // Two creators raced for the same alias: the loser gets the winner's room.
        Err(StoreError::AliasTaken) => {
            let alias = alias.as_ref().map(Alias::as_str).unwrap_or_default();
            let existing = state
                .store
                .room_by_alias(alias)
                .await?
                .ok_or(ApiError::Conflict {
                    code: "alias_taken",
                    message: "that alias already names another room",
                })?;
            return Ok((existing_by_alias(state, auth, existing).await?, false));
        }
        Err(err) => return Err(err.into()),
    };
    for member in state.store.member_ids(room.id).await? {
        publish_joined(state, room.id, member).await?;
    }
    let view = room_view(state, auth.user_id, room, Some((Role::Owner, 0))).await?;
    Ok((view, true))
}

async fn existing_by_alias(state: &AppState, auth: &AuthUser, room: Room) -> ApiResult<RoomView> {
    RoomAccess::load(state, auth, room.id).await?;
    as_seen(state, auth, room.id).await
}

/// The room as the caller sees it now, read afresh (its counters move with every message).
async fn as_seen(state: &AppState, auth: &AuthUser, id: Uuid) -> ApiResult<RoomView> {
    let room = state
        .store
        .room(id)
        .await?
        .ok_or(ApiError::NotFound("no such room"))?;
    seen_by(state, auth, room).await
}

/// `room` as the caller sees it, with their role and read cursor.
async fn seen_by(state: &AppState, auth: &AuthUser, room: Room) -> ApiResult<RoomView> {
    let standing = state
        .store
        .membership(room.id, auth.user_id)
        .await?
        .map(|m| (m.role, m.read_seq));
    room_view(state, auth.user_id, room, standing).await
}

/// A page of the public directory by name, after `(name, id)`; `true` when more follow.
pub async fn directory(
    state: &AppState,
    auth: &AuthUser,
    q: &str,
    after: Option<(String, Uuid)>,
    limit: u32,
) -> ApiResult<(Vec<RoomView>, bool)> {
    let q = q.trim();
    if q.chars().count() > 80 || q.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "q must be at most 80 characters without control characters".into(),
        ));
    }
    let mut rooms = state.store.public_rooms(q, after, limit + 1).await?;
    let has_more = rooms.len() > limit as usize;
    rooms.truncate(limit as usize);
    let mut standings = Vec::with_capacity(rooms.len());
    for room in rooms {
        let standing = state
            .store
            .membership(room.id, auth.user_id)
            .await?
            .map(|m| (m.role, m.read_seq));
        standings.push((room, standing));
    }
    Ok((room_views(state, auth.user_id, standings).await?, has_more))
}

/// The viewer's rooms (of one kind, or all), newest activity first.
pub async fn my_rooms(
    state: &AppState,
    viewer: Uuid,
    kind: Option<RoomKind>,
) -> ApiResult<Vec<RoomView>> {
    let joined = state.store.joined_rooms(viewer, kind).await?;
    let rooms = joined
        .into_iter()
        .map(|j| (j.room, Some((j.role, j.read_seq))))
        .collect();
    room_views(state, viewer, rooms).await
}

/// A room the caller may see, as they see it.
pub async fn get(state: &AppState, auth: &AuthUser, id: Uuid) -> ApiResult<RoomView> {
    RoomAccess::load(state, auth, id).await?;
    as_seen(state, auth, id).await
}

/// What `PATCH /rooms/{id}` may change; `None` leaves a setting, `alias: Some(None)` removes it.
#[derive(Debug, Default)]
pub struct RoomSettings<'a> {
    pub name: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub alias: Option<Option<&'a str>>,
}

/// Renames a room, changes its topic or alias (admins).
pub async fn update(
    state: &AppState,
    auth: &AuthUser,
    id: Uuid,
    settings: RoomSettings<'_>,
) -> ApiResult<RoomView> {
    let access = RoomAccess::load(state, auth, id).await?;
    access.require_admin()?;
    let mut errors = FieldErrors::new();
    let mut changes = RoomChanges::default();
    if let Some(raw) = settings.name {
        changes.name = RoomName::parse(raw)
            .map_err(|why| errors.insert("name".into(), why.into()))
            .ok();
    }
    if let Some(raw) = settings.topic {
        changes.topic = Topic::parse(raw)
            .map_err(|why| errors.insert("topic".into(), why.into()))
            .ok();
    }
    match settings.alias {
        Some(_) if access.kind != RoomKind::Public => {
            errors.insert("alias".into(), "only public rooms have an alias".into());
        }
        Some(Some(raw)) => {
            changes.alias = Alias::parse(raw)
                .map_err(|why| errors.insert("alias".into(), why.into()))
                .ok()
                .map(Some);
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
    let view = seen_by(state, auth, room).await?;
    state
        .events
        .publish(DomainEvent::RoomUpdated {
            room: Arc::new(view.clone().for_everyone()),
        })
        .await;
    Ok(view)
}

/// Deletes a room and everything in it (owner).
pub async fn delete(state: &AppState, auth: &AuthUser, id: Uuid) -> ApiResult<()> {
    let access = RoomAccess::load(state, auth, id).await?;
    access.require_owner()?;
    let member_ids = state.store.delete_room(id).await?;
    state
        .events
        .publish(DomainEvent::RoomDeleted {
            room_id: id,
            member_ids,
        })
        .await;
    Ok(())
}

/// Joins a public room (a member already is one); returns the room as the caller now sees it.
pub async fn join(state: &AppState, auth: &AuthUser, id: Uuid) -> ApiResult<RoomView> {
    let access = RoomAccess::load(state, auth, id).await?;
    if !access.is_member() {
        if access.kind != RoomKind::Public {
            return Err(ApiError::NotFound("no such room"));
        }
        if !state
            .store
            .add_members(id, &[auth.user_id], Role::Member)
            .await?
            .is_empty()
        {
            publish_joined(state, id, auth.user_id).await?;
        }
    }
    as_seen(state, auth, id).await
}

/// Leaves a room. When the owner leaves, the longest-standing admin (else member) takes over;
/// the last one out deletes the room. Direct messages cannot be left.
pub async fn leave(state: &AppState, auth: &AuthUser, id: Uuid) -> ApiResult<()> {
    let access = RoomAccess::load(state, auth, id).await?;
    access.require_member()?;
    if access.is_direct() {
        return Err(ApiError::Forbidden("direct messages cannot be left"));
    }
    let departure = state.store.remove_member(id, auth.user_id).await?;
    publish_departure(state, id, auth.user_id, &departure).await;
    Ok(())
}

/// Publishes that `user_id` joined, with their public profile.
pub async fn publish_joined(state: &AppState, room_id: Uuid, user_id: Uuid) -> ApiResult<()> {
    if let Some(user) = state.store.user_by_id(user_id).await? {
        let online = state.presence.is_online(user.id);
        state
            .events
            .publish(DomainEvent::MemberJoined {
                room_id,
                user: Arc::new(PublicProfile::new(state, user, online)),
            })
            .await;
    }
    Ok(())
}

/// Publishes what a departure changed: the member left, maybe a new owner, maybe no room.
pub async fn publish_departure(
    state: &AppState,
    room_id: Uuid,
    user_id: Uuid,
    departure: &Departure,
) {
    if !departure.left {
        return;
    }
    state
        .events
        .publish(DomainEvent::MemberLeft { room_id, user_id })
        .await;
    if let Some(owner) = departure.new_owner {
        state
            .events
            .publish(DomainEvent::MemberRoleChanged {
                room_id,
                user_id: owner,
                role: Role::Owner,
            })
            .await;
    }
    if departure.room_deleted {
        state
            .events
            .publish(DomainEvent::RoomDeleted {
                room_id,
                member_ids: vec![],
            })
            .await;
    }
}
