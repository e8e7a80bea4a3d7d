//! Who is in a room, with which role, and who may not be: members, roles and bans.

use uuid::Uuid;

use super::access::{Role, RoomAccess};
use super::page_limit;
use super::rooms::{publish_departure, publish_joined};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::events::DomainEvent;
use crate::state::AppState;
use crate::store::members::{Ban, Member};
use crate::time;

/// A page of a room's members after `cursor` (a user id); `true` when more follow.
pub async fn list(
    state: &AppState,
    auth: &AuthUser,
    room_id: Uuid,
    cursor: Option<Uuid>,
    limit: Option<u32>,
) -> ApiResult<(Vec<Member>, bool)> {
    RoomAccess::load(state, auth, room_id).await?;
    let limit = page_limit(limit)?;
    let mut members = state.store.members(room_id, cursor, limit + 1).await?;
    let has_more = members.len() > limit as usize;
    members.truncate(limit as usize);
    Ok((members, has_more))
}

/// Adds people to a room (admins); returns those who were not members before. Banned users must be
/// unbanned first.
pub async fn add(
    state: &AppState,
    auth: &AuthUser,
    room_id: Uuid,
    user_ids: &[Uuid],
) -> ApiResult<Vec<Uuid>> {
    let access = RoomAccess::load(state, auth, room_id).await?;
    access.require_admin()?;
    if user_ids.is_empty() || user_ids.len() > 100 {
        return Err(ApiError::validation("user_ids", "must list 1 to 100 users"));
    }
    for user in user_ids {
        if state.store.active_ban(room_id, *user).await?.is_some() {
            return Err(ApiError::validation(
                "user_ids",
                format!("{user} is banned from this room"),
            ));
        }
    }
    let added = state
        .store
        .add_members(room_id, user_ids, Role::Member)
        .await?;
    for user in &added {
        publish_joined(state, room_id, *user).await?;
    }
    Ok(added)
}

/// Checks that `actor` outranks `target` (owners outrank admins outrank members).
async fn outranks(state: &AppState, access: &RoomAccess, target: Uuid) -> ApiResult<Role> {
    let actor = access.require_admin()?;
    let target_role = state
        .store
        .membership(access.room_id, target)
        .await?
        .map(|m| m.role);
    match target_role {
        Some(role) if role >= actor => Err(ApiError::Forbidden(
            "you may only act on members below your role",
        )),
        Some(role) => Ok(role),
        None => Err(ApiError::NotFound("no such member")),
    }
}

/// Removes a member (admins; owners may remove admins), or the caller (the same as leaving).
pub async fn remove(
    state: &AppState,
    auth: &AuthUser,
    room_id: Uuid,
    user_id: Uuid,
) -> ApiResult<()> {
    let access = RoomAccess::load(state, auth, room_id).await?;
    access.require_member()?;
    if access.is_direct() {
        return Err(ApiError::Forbidden(
            "direct messages have no member management",
        ));
    }
    if user_id != auth.user_id {
        outranks(state, &access, user_id).await?;
    }
    let departure = state.store.remove_member(room_id, user_id).await?;
    publish_departure(state, room_id, user_id, &departure).await;
    Ok(())
}

/// Makes a member an admin, or an admin a member (owner).
pub async fn change_role(
    state: &AppState,
    auth: &AuthUser,
    room_id: Uuid,
    user_id: Uuid,
    role: &str,
) -> ApiResult<()> {
    let access = RoomAccess::load(state, auth, room_id).await?;
    access.require_owner()?;
    // Ownership passes only when the owner leaves.
    let role = match Role::parse(role) {
        Some(role @ (Role::Admin | Role::Member)) => role,
        _ => return Err(ApiError::validation("role", "must be admin or member")),
    };
    if user_id == auth.user_id {
        return Err(ApiError::Forbidden("the owner's role cannot be changed"));
    }
    if !state.store.set_role(room_id, user_id, role).await? {
        return Err(ApiError::NotFound("no such member"));
    }
    state
        .events
        .publish(DomainEvent::MemberRoleChanged {
            room_id,
            user_id,
            role,
        })
        .await;
    Ok(())
}

/// Bans someone (admins) for `duration_secs`, or for good: they are removed and cannot join,
/// post or read until the ban ends.
pub async fn ban(
    state: &AppState,
    auth: &AuthUser,
    room_id: Uuid,
    user_id: Uuid,
    duration_secs: Option<u64>,
    reason: Option<String>,
) -> ApiResult<Ban> {
    let access = RoomAccess::load(state, auth, room_id).await?;
    access.require_admin()?;
    if user_id == auth.user_id {
        return Err(ApiError::validation("user_id", "you cannot ban yourself"));
    }
    // Members must rank below the banner; non-members (e.g. visitors of a public room) may be banned too.
    if state.store.membership(room_id, user_id).await?.is_some() {
        outranks(state, &access, user_id).await?;
    }
    let reason = reason.unwrap_or_default();
    if reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "reason",
            "must be at most 500 characters without control characters",
        ));
    }
    let until = match duration_secs {
        Some(0) => return Err(ApiError::validation("duration_secs", "must be at least 1")),
        Some(secs) if secs > 10 * 365 * 86_400 => {
            return Err(ApiError::validation(
                "duration_secs",
                "must be at most ten years",
            ));
        }
        Some(secs) => Some(time::now() + chrono::Duration::seconds(secs as i64)),
        None => None,
    };
    let ban = Ban {
        user_id,
        banned_by: Some(auth.user_id),
        reason,
        until,
        created_at: time::now(),
    };
    let departure = state.store.ban(room_id, &ban).await?;
    state
        .events
        .publish(DomainEvent::Banned {
            room_id,
            user_id: ban.user_id,
            until: ban.until,
            reason: ban.reason.clone(),
        })
        .await;
    publish_departure(state, room_id, ban.user_id, &departure).await;
    Ok(ban)
}

/// Lists the bans in force (admins).
pub async fn bans(state: &AppState, auth: &AuthUser, room_id: Uuid) -> ApiResult<Vec<Ban>> {
    let access = RoomAccess::load(state, auth, room_id).await?;
    access.require_admin()?;
    Ok(state.store.bans(room_id).await?)
}

/// Lifts a ban (admins).
pub async fn unban(
    state: &AppState,
    auth: &AuthUser,
    room_id: Uuid,
    user_id: Uuid,
) -> ApiResult<()> {
    let access = RoomAccess::load(state, auth, room_id).await?;
    access.require_admin()?;
    if !state.store.unban(room_id, user_id).await? {
        return Err(ApiError::NotFound("no such ban"));
    }
    state
        .events
        .publish(DomainEvent::Unbanned { room_id, user_id })
        .await;
    Ok(())
}
