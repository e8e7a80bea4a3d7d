//! My signed-in devices: list them, sign one out or all the others; and what I should know
//! about my account's security.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::extract::{ClientIp, Json, Path};
use super::{ErrorBody, Page};
use crate::auth::AuthUser;
use crate::auth::login_throttle::{self, LoginThrottle};
use crate::error::{ApiError, ApiResult};
use crate::events::RevokeReason;
use crate::service::accounts;
use crate::state::AppState;
use crate::time::{self, Timestamp};
use crate::views::SecurityNotice;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions, revoke_other_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(security_notices))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub device_id: String,
    pub user_agent: String,
    pub ip: String,
    #[serde(serialize_with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(serialize_with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: Timestamp,
    #[serde(serialize_with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// True for the session making this request.
    pub current: bool,
}

/// My signed-in devices, most recently active first.
#[utoipa::path(get, path = "/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ErrorBody)))]
async fn list_sessions(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<Vec<SessionView>>> {
    let sessions = state.store.list_sessions(auth.user_id).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.id == auth.session_id,
                id: s.id,
                device_id: s.device_id,
                user_agent: s.user_agent,
                ip: s.ip,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.expires_at,
            })
            .collect(),
    ))
}

/// Sign out one of my sessions.
#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "session id")),
    responses((status = 204, description = "revoked"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_session(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    if !state.store.revoke_session(auth.user_id, id).await? {
        return Err(ApiError::NotFound("no such session"));
    }
    state
        .sessions_revoked(auth.user_id, vec![id], RevokeReason::Revoked)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out every session but this one.
#[utoipa::path(delete, path = "/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "revoked"), (status = 401, body = ErrorBody)))]
async fn revoke_other_sessions(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<StatusCode> {
    accounts::sign_out_others(&state, &auth, RevokeReason::Revoked).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What I should know about my account's security now: sign-in throttled after failed attempts
/// (see docs/api.md, Login throttling). Empty when there is nothing to tell.
#[utoipa::path(get, path = "/auth/security-notices", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Page<SecurityNotice>), (status = 401, body = ErrorBody)))]
async fn security_notices(
    State(state): State<AppState>,
    auth: AuthUser,
    ip: ClientIp,
) -> ApiResult<Json<Page<SecurityNotice>>> {
    let account = login_throttle::account_key(Some(auth.user_id), "");
    let standing = state.limiter.login_standing(&account, ip.0).await;
    let notice = LoginThrottle::new(&state.settings.rate_limit).notice(standing.account);
    Ok(Json(Page {
        items: notice.into_iter().collect(),
        next_cursor: None,
    }))
}
