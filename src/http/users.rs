//! `/users`: my account, profile changes, password change, account deletion (through
//! `service::accounts`), search and profiles.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{ClientIp, Json, Path, Query};
use super::{ErrorBody, Page};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::service::accounts::{self, ProfileUpdate};
use crate::state::AppState;
use crate::views::{Me, PublicProfile};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, update_me, delete_me))
        .routes(routes!(change_password))
        .routes(routes!(search_users))
        .routes(routes!(get_user))
}

/// My account.
#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn get_me(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Me>> {
    Ok(Json(Me::new(&state, accounts::me(&state, &auth).await?)))
}

/// `null` and absent differ for `email` and `avatar_upload_id`: null removes, absent leaves.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    pub username: Option<String>,
    /// `null` removes the email address.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    pub display_name: Option<String>,
    pub status_text: Option<String>,
    /// An image (PNG, JPEG, GIF or WebP) I uploaded; `null` removes the avatar.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub avatar_upload_id: Option<Option<Uuid>>,
}

/// Change my profile. Only the fields given change.
#[utoipa::path(patch, path = "/users/me", tag = "users", security(("bearer" = [])), request_body = UpdateMe,
    responses((status = 200, body = Me), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_me(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<UpdateMe>,
) -> ApiResult<Json<Me>> {
    let update = ProfileUpdate {
        username: body.username.as_deref(),
        email: body.email.as_ref().map(Option::as_deref),
        display_name: body.display_name.as_deref(),
        status_text: body.status_text.as_deref(),
        avatar_upload_id: body.avatar_upload_id,
    };
    let user = accounts::update_profile(&state, &auth, update).await?;
    Ok(Json(Me::new(&state, user)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// Change my password. Every other session is signed out.
#[utoipa::path(put, path = "/users/me/password", tag = "users", security(("bearer" = [])), request_body = ChangePassword,
    responses((status = 204, description = "changed"), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    ip: ClientIp,
    Json(body): Json<ChangePassword>,
) -> ApiResult<StatusCode> {
    accounts::change_password(
        &state,
        &auth,
        body.current_password,
        body.new_password,
        ip.0,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteMe {
    pub password: String,
}

/// Delete my account and every session of it.
#[utoipa::path(delete, path = "/users/me", tag = "users", security(("bearer" = [])), request_body = DeleteMe,
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn delete_me(
    State(state): State<AppState>,
    auth: AuthUser,
    ip: ClientIp,
    Json(body): Json<DeleteMe>,
) -> ApiResult<StatusCode> {
    accounts::delete_account(&state, &auth, body.password, ip.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchParams {
    /// Prefix of a username or display name (case-insensitive). Empty lists everyone.
    #[serde(default)]
    pub q: String,
    /// 1–100, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Find users by username or display-name prefix.
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])), params(SearchParams),
    responses((status = 200, body = Page<PublicProfile>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn search_users(
    State(state): State<AppState>,
    _auth: AuthUser,
    Query(params): Query<SearchParams>,
) -> ApiResult<Json<Page<PublicProfile>>> {
    let q = params.q.trim();
    if q.chars().count() > 64 || q.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "q must be at most 64 characters without control characters".into(),
        ));
    }
    let limit = super::page_limit(params.limit)?;
    let after = params
        .cursor
        .as_deref()
        .map(super::decode_cursor)
        .transpose()?;
    let mut users = state
        .store
        .search_users(q, after.as_deref(), limit + 1)
        .await?;
    let next_cursor = if users.len() > limit as usize {
        users.truncate(limit as usize);
        users.last().map(|u| super::encode_cursor(&u.username))
    } else {
        None
    };
    let items = users
        .into_iter()
        .map(|u| {
            let online = state.presence.is_online(u.id);
            PublicProfile::new(&state, u, online)
        })
        .collect();
    Ok(Json(Page { items, next_cursor }))
}

/// A user's public profile.
#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "user id")),
    responses((status = 200, body = PublicProfile), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    _auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<PublicProfile>> {
    let user = state
        .store
        .user_by_id(id)
        .await?
        .ok_or(ApiError::NotFound("no such user"))?;
    let online = state.presence.is_online(user.id);
    Ok(Json(PublicProfile::new(&state, user, online)))
}
