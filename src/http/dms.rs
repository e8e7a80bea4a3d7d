//! `/dms`: one direct-message room per pair of people, created on first use.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ErrorBody;
use super::extract::Json;
use super::rooms::{RoomList, my_rooms};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::events::DomainEvent;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::rooms::NewRoom;
use crate::views::rooms::{RoomView, room_view};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(open_dm, list_dms))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OpenDm {
    /// The person to talk to.
    pub user_id: Uuid,
}

/// The key that makes a pair's room unique, whoever opens it.
fn dm_key(a: Uuid, b: Uuid) -> String {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
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
    if body.user_id == auth.user_id {
        return Err(ApiError::validation("user_id", "is you; pick someone else"));
    }
    if state.store.user_by_id(body.user_id).await?.is_none() {
        return Err(ApiError::NotFound("no such user"));
    }
    let key = dm_key(auth.user_id, body.user_id);
    let (room, status) = match state.store.room_by_dm_key(&key).await? {
        Some(room) => (room, StatusCode::OK),
        None => {
            let created = state
                .store
                .create_room(NewRoom {
                    kind: "direct",
                    name: "",
                    topic: "",
                    alias: None,
                    dm_key: Some(&key),
                    creator: auth.user_id,
                    creator_role: "member",
                    members: &[body.user_id],
                })
                .await;
            match created {
                Ok(room) => {
                    state.events.publish(DomainEvent::DmCreated {
                        room_id: room.id,
                        user_ids: [auth.user_id, body.user_id],
                    });
                    (room, StatusCode::CREATED)
                }
                // A concurrent request for the same pair created it first: one room, both answers agree.
                Err(StoreError::DmExists) => {
                    let room = state
                        .store
                        .room_by_dm_key(&key)
                        .await?
                        .ok_or(ApiError::NotFound("no such room"))?;
                    (room, StatusCode::OK)
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    let standing = state
        .store
        .membership(room.id, auth.user_id)
        .await?
        .map(|m| (m.role, m.read_seq));
    let view = room_view(&state, auth.user_id, room, standing).await?;
    Ok((status, Json(view)).into_response())
}

/// My direct-message rooms, newest activity first, each with the other person's profile.
#[utoipa::path(get, path = "/dms", tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = RoomList), (status = 401, body = ErrorBody)))]
async fn list_dms(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<RoomList>> {
    Ok(Json(RoomList {
        items: my_rooms(&state, auth.user_id, Some("direct")).await?,
        next_cursor: None,
    }))
}
