//! `/rooms/{id}/members` and `/rooms/{id}/bans`: who is in a room, with which role, and who may not be.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{Json, Path, Query};
use super::rooms::{publish_departure, publish_joined};
use super::{ErrorBody, Page, page_limit};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::events::DomainEvent;
use crate::service::access::{Role, RoomAccess};
use crate::state::AppState;
use crate::store::members::Ban;
use crate::time::{self, Timestamp};
use crate::views::PublicProfile;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members, add_members))
        .routes(routes!(remove_member, change_role))
        .routes(routes!(ban_user, list_bans))
        .routes(routes!(unban_user))
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub user: PublicProfile,
    pub role: String,
    #[serde(serialize_with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: Timestamp,
    /// How far this member has read (read receipts).
    pub read_up_to: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MemberParams {
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

/// The members of a room.
#[utoipa::path(get, path = "/rooms/{id}/members", tag = "members", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id"), MemberParams),
    responses((status = 200, body = Page<MemberView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn list_members(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Query(params): Query<MemberParams>,
) -> ApiResult<Json<Page<MemberView>>> {
    RoomAccess::load(&state, &auth, id).await?;
    let limit = page_limit(params.limit)?;
    let mut members = state.store.members(id, params.cursor, limit + 1).await?;
    let next_cursor = if members.len() > limit as usize {
        members.truncate(limit as usize);
        members.last().map(|m| m.user.id.to_string())
    } else {
        None
    };
    let items = members
        .into_iter()
        .map(|m| {
            let online = state.presence.is_online(m.user.id);
            MemberView {
                user: PublicProfile::new(&state, m.user, online),
                role: m.role,
                joined_at: m.joined_at,
                read_up_to: m.read_message_id,
            }
        })
        .collect();
    Ok(Json(Page { items, next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddMembers {
    pub user_ids: Vec<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct Added {
    /// Those who were not members before.
    pub added: Vec<Uuid>,
}

/// Add people to a room (admins). Banned users must be unbanned first.
#[utoipa::path(post, path = "/rooms/{id}/members", tag = "members", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id")), request_body = AddMembers,
    responses((status = 200, body = Added), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_members(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<AddMembers>,
) -> ApiResult<Json<Added>> {
    let access = RoomAccess::load(&state, &auth, id).await?;
    access.require_admin()?;
    if body.user_ids.is_empty() || body.user_ids.len() > 100 {
        return Err(ApiError::validation("user_ids", "must list 1 to 100 users"));
    }
    for user in &body.user_ids {
        if state.store.active_ban(id, *user).await?.is_some() {
            return Err(ApiError::validation(
                "user_ids",
                format!("{user} is banned from this room"),
            ));
        }
    }
    let added = state
        .store
        .add_members(id, &body.user_ids, "member")
        .await?;
    for user in &added {
        publish_joined(&state, id, *user).await?;
    }
    Ok(Json(Added { added }))
}

/// Checks that `actor` outranks `target` (owners outrank admins outrank members).
async fn outranks(state: &AppState, access: &RoomAccess, target: Uuid) -> ApiResult<Role> {
    let actor = access.require_admin()?;
    let target_role = state
        .store
        .membership(access.room.id, target)
        .await?
        .map(|m| Role::parse(&m.role));
    match target_role {
        Some(role) if role >= actor => Err(ApiError::Forbidden(
            "you may only act on members below your role",
        )),
        Some(role) => Ok(role),
        None => Err(ApiError::NotFound("no such member")),
    }
}

/// Remove a member (admins; owners may remove admins), or yourself (the same as leaving).
#[utoipa::path(delete, path = "/rooms/{id}/members/{user_id}", tag = "members", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id"), ("user_id" = Uuid, Path, description = "member")),
    responses((status = 204, description = "removed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn remove_member(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let access = RoomAccess::load(&state, &auth, id).await?;
    access.require_member()?;
    if access.is_direct() {
        return Err(ApiError::Forbidden(
            "direct messages have no member management",
        ));
    }
    if user_id != auth.user_id {
        outranks(&state, &access, user_id).await?;
    }
    let departure = state.store.remove_member(id, user_id).await?;
    publish_departure(&state, id, user_id, &departure);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangeRole {
    /// admin or member
    pub role: String,
}

/// Make a member an admin, or an admin a member (owner).
#[utoipa::path(patch, path = "/rooms/{id}/members/{user_id}", tag = "members", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id"), ("user_id" = Uuid, Path, description = "member")),
    request_body = ChangeRole,
    responses((status = 204, description = "changed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_role(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<ChangeRole>,
) -> ApiResult<StatusCode> {
    let access = RoomAccess::load(&state, &auth, id).await?;
    access.require_owner()?;
    let role = match body.role.as_str() {
        "admin" => "admin",
        "member" => "member",
        _ => return Err(ApiError::validation("role", "must be admin or member")),
    };
    if user_id == auth.user_id {
        return Err(ApiError::Forbidden("the owner's role cannot be changed"));
    }
    if !state.store.set_role(id, user_id, role).await? {
        return Err(ApiError::NotFound("no such member"));
    }
    state.events.publish(DomainEvent::MemberRoleChanged {
        room_id: id,
        user_id,
        role,
    });
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BanRequest {
    pub user_id: Uuid,
    /// Omit for a ban without end.
    pub duration_secs: Option<u64>,
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BanView {
    pub user_id: Uuid,
    pub banned_by: Option<Uuid>,
    pub reason: String,
    #[serde(serialize_with = "time::rfc3339_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<Timestamp>,
    #[serde(serialize_with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<Ban> for BanView {
    fn from(ban: Ban) -> BanView {
        BanView {
            user_id: ban.user_id,
            banned_by: ban.banned_by,
            reason: ban.reason,
            until: ban.until,
            created_at: ban.created_at,
        }
    }
}

/// Ban someone (admins): they are removed and cannot join, post or read until the ban ends.
#[utoipa::path(post, path = "/rooms/{id}/bans", tag = "members", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id")), request_body = BanRequest,
    responses((status = 201, body = BanView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn ban_user(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<BanRequest>,
) -> ApiResult<(StatusCode, Json<BanView>)> {
    let access = RoomAccess::load(&state, &auth, id).await?;
    access.require_admin()?;
    if body.user_id == auth.user_id {
        return Err(ApiError::validation("user_id", "you cannot ban yourself"));
    }
    // Members must rank below the banner; non-members (e.g. visitors of a public room) may be banned too.
    if state.store.membership(id, body.user_id).await?.is_some() {
        outranks(&state, &access, body.user_id).await?;
    }
    let reason = body.reason.unwrap_or_default();
    if reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "reason",
            "must be at most 500 characters without control characters",
        ));
    }
    let until = match body.duration_secs {
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
        user_id: body.user_id,
        banned_by: Some(auth.user_id),
        reason,
        until,
        created_at: time::now(),
    };
    let departure = state.store.ban(id, &ban).await?;
    state.events.publish(DomainEvent::Banned {
        room_id: id,
        user_id: ban.user_id,
        until: ban.until,
        reason: ban.reason.clone(),
    });
    publish_departure(&state, id, ban.user_id, &departure);
    Ok((StatusCode::CREATED, Json(ban.into())))
}

/// Bans in force (admins).
#[utoipa::path(get, path = "/rooms/{id}/bans", tag = "members", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id")),
    responses((status = 200, body = Page<BanView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn list_bans(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Page<BanView>>> {
    let access = RoomAccess::load(&state, &auth, id).await?;
    access.require_admin()?;
    // Bans in force are few; they come as one page.
    let items = state
        .store
        .bans(id)
        .await?
        .into_iter()
        .map(BanView::from)
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

/// Lift a ban (admins).
#[utoipa::path(delete, path = "/rooms/{id}/bans/{user_id}", tag = "members", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "room id"), ("user_id" = Uuid, Path, description = "banned user")),
    responses((status = 204, description = "lifted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn unban_user(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let access = RoomAccess::load(&state, &auth, id).await?;
    access.require_admin()?;
    if !state.store.unban(id, user_id).await? {
        return Err(ApiError::NotFound("no such ban"));
    }
    Ok(StatusCode::NO_CONTENT)
}
