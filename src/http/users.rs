//! `/users`: my account, profile changes, password change, account deletion, search, profiles.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{Json, Path, Query};
use super::{ErrorBody, Page};
use crate::auth::AuthUser;
use crate::auth::passwords::password_problem;
use crate::domain::{DisplayName, Email, StatusText, Username};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::events::{DomainEvent, RevokeReason};
use crate::state::AppState;
use crate::store::users::{ProfileChanges, User};
use crate::uploads::sniff::IMAGE_TYPES;
use crate::views::{Me, PublicProfile};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, update_me, delete_me))
        .routes(routes!(change_password))
        .routes(routes!(search_users))
        .routes(routes!(get_user))
}

async fn load_me(state: &AppState, auth: AuthUser) -> ApiResult<User> {
    // A live session whose user is gone can only be a deletion racing this request.
    state
        .store
        .user_by_id(auth.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))
}

/// My account.
#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn get_me(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Me>> {
    Ok(Json(Me::new(&state, load_me(&state, auth).await?)))
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
    let mut errors = FieldErrors::new();
    let mut changes = ProfileChanges::default();
    let mut check = |field: &str, result: Result<String, &'static str>| match result {
        Ok(value) => Some(value),
        Err(why) => {
            errors.insert(field.into(), why.into());
            None
        }
    };
    if let Some(raw) = &body.username {
        changes.username = check("username", Username::parse(raw).map(Username::into_inner));
    }
    match &body.email {
        Some(Some(raw)) => {
            changes.email = check("email", Email::parse(raw).map(Email::into_inner)).map(Some)
        }
        Some(None) => changes.email = Some(None),
        None => {}
    }
    if let Some(raw) = &body.display_name {
        changes.display_name = check(
            "display_name",
            DisplayName::parse(raw).map(DisplayName::into_inner),
        );
    }
    if let Some(raw) = &body.status_text {
        changes.status_text = check(
            "status_text",
            StatusText::parse(raw).map(StatusText::into_inner),
        );
    }
    if let Some(Some(upload_id)) = body.avatar_upload_id {
        if let Err(why) = check_avatar(&state, auth.user_id, upload_id).await? {
            errors.insert("avatar_upload_id".into(), why.into());
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut user = state
        .store
        .update_profile(auth.user_id, changes)
        .await?
        .ok_or(ApiError::NotFound("no such user"))?;
    if let Some(avatar) = body.avatar_upload_id {
        user = state
            .store
            .set_avatar(auth.user_id, avatar)
            .await?
            .ok_or(ApiError::NotFound("no such user"))?;
    }
    state
        .events
        .publish(DomainEvent::UserUpdated { user_id: user.id });
    Ok(Json(Me::new(&state, user)))
}

/// An avatar must be an image the user uploaded themselves.
async fn check_avatar(
    state: &AppState,
    user_id: Uuid,
    upload_id: Uuid,
) -> ApiResult<Result<(), &'static str>> {
    let owned = state.store.uploads_owned_by(user_id, &[upload_id]).await?;
    Ok(match owned.first() {
        None => Err("must be the id of a file you uploaded"),
        Some(upload) if !IMAGE_TYPES.contains(&upload.content_type.as_str()) => {
            Err("must be a PNG, JPEG, GIF or WebP image")
        }
        Some(_) => Ok(()),
    })
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
    Json(body): Json<ChangePassword>,
) -> ApiResult<StatusCode> {
    let user = load_me(&state, auth).await?;
    verify_own_password(&state, &user, body.current_password, "current_password").await?;
    if let Some(why) = password_problem(&body.new_password, &user.username) {
        return Err(ApiError::validation("new_password", why));
    }
    let hash = state.passwords.hash(body.new_password).await?;
    state.store.set_password_hash(user.id, &hash).await?;
    let revoked = state
        .store
        .revoke_other_sessions(user.id, auth.session_id)
        .await?;
    state
        .sessions_revoked(user.id, revoked, RevokeReason::PasswordChanged)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Re-checks the signed-in user's password before a sensitive change. Failures count towards
/// the account's failed-login limit, so a stolen access token cannot brute-force it.
async fn verify_own_password(
    state: &AppState,
    user: &User,
    password: String,
    field: &str,
) -> ApiResult<()> {
    let account = user.id.to_string();
    if let Some(retry_after) = state.limiter.login_lockout(&account).await {
        return Err(ApiError::RateLimited { retry_after });
    }
    let hash = state.store.password_hash(user.id).await?;
    if !state.passwords.verify(password, hash).await? {
        state.limiter.record_failed_login(&account).await;
        return Err(ApiError::validation(field, "is incorrect"));
    }
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteMe {
    pub password: String,
}

/// Delete my account and every session of it.
#[utoipa::path(delete, path = "/users/me", tag = "users", security(("bearer" = [])), request_body = DeleteMe,
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn delete_me(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<DeleteMe>,
) -> ApiResult<StatusCode> {
    let user = load_me(&state, auth).await?;
    verify_own_password(&state, &user, body.password, "password").await?;
    let sessions = state.store.delete_user(user.id).await?;
    state
        .sessions_revoked(user.id, sessions, RevokeReason::AccountDeleted)
        .await;
    state
        .events
        .publish(DomainEvent::UserDeleted { user_id: user.id });
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
