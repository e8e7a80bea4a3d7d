//! `/dms`: one direct-message room per pair of people: parse, call `service::dms`, render.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ErrorBody;
use super::extract::Json;
use super::rooms::RoomList;
use crate::auth::AuthUser;
use crate::domain::RoomKind;
use crate::error::ApiResult;
use crate::service::{dms, rooms};
use crate::state::AppState;
use crate::views::RoomView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(open_dm, list_dms))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OpenDm {
    /// The person to talk to.
    pub user_id: Uuid,
}

/// Get or create the direct-message room with someone: 201 when new (they get `dm_created`), 200 when it existed.
#[utoipa::path(post, path = "/dms", tag = "rooms", security(("bearer" = [])), request_body = OpenDm,
    responses((status = 201, body = RoomView), (status = 200, body = RoomView, description = "the existing room"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn open_dm(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<OpenDm>,
) -> ApiResult<Response> {
    let (view, created) = dms::open(&state, &auth, body.user_id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)).into_response())
}

/// My direct-message rooms, newest activity first, each with the other person's profile.
#[utoipa::path(get, path = "/dms", tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = RoomList), (status = 401, body = ErrorBody)))]
async fn list_dms(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<RoomList>> {
    Ok(Json(RoomList {
        items: rooms::my_rooms(&state, auth.user_id, Some(RoomKind::Direct)).await?,
        next_cursor: None,
    }))
}
