//! `/rooms/{id}/members` and `/rooms/{id}/bans`: parse, call `service::members`, render.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{Json, Path, Query};
use super::{ErrorBody, Page};
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::service::members;
use crate::state::AppState;
use crate::views::members::{BanView, MemberView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members, add_members))
        .routes(routes!(remove_member, change_role))
        .routes(routes!(ban_user, list_bans))
        .routes(routes!(unban_user))
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
    let (found, has_more) = members::list(&state, &auth, id, params.cursor, params.limit).await?;
    let next_cursor = found
        .last()
        .filter(|_| has_more)
        .map(|m| m.user.id.to_string());
    let items = found
        .into_iter()
        .map(|m| MemberView::new(&state, m))
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
    let added = members::add(&state, &auth, id, &body.user_ids).await?;
    Ok(Json(Added { added }))
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
    members::remove(&state, &auth, id, user_id).await?;
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
    members::change_role(&state, &auth, id, user_id, &body.role).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BanRequest {
    pub user_id: Uuid,
    /// Omit for a ban without end.
    pub duration_secs: Option<u64>,
    pub reason: Option<String>,
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
    let ban = members::ban(
        &state,
        &auth,
        id,
        body.user_id,
        body.duration_secs,
        body.reason,
    )
    .await?;
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
    // Bans in force are few; they come as one page.
    let items = members::bans(&state, &auth, id)
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
    members::unban(&state, &auth, id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
