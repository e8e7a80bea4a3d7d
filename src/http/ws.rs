//! `/ws` and `/ws/{room_id}`: the WebSocket upgrade (origin check, token from the header or
//! the query, socket buffer sizes); the protocol itself lives in `realtime`.

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{Path, Query};
use crate::error::ApiError;
use crate::realtime::{self, MAX_FRAME_BYTES};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ws", get(upgrade))
        .route("/ws/{room_id}", get(upgrade_into_room))
}

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
}

async fn upgrade(
    state: State<AppState>,
    headers: HeaderMap,
    query: Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    accept(state, headers, query, ws, None)
}

async fn upgrade_into_room(
    state: State<AppState>,
    headers: HeaderMap,
    query: Query<WsQuery>,
    Path(room_id): Path<Uuid>,
    ws: WebSocketUpgrade,
) -> Response {
    accept(state, headers, query, ws, Some(room_id))
}

fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<WsQuery>,
    ws: WebSocketUpgrade,
    room: Option<Uuid>,
) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok())
        && !origin_allowed(
            &state,
            origin,
            headers.get(header::HOST).and_then(|h| h.to_str().ok()),
        )
    {
        return ApiError::Forbidden("this origin may not open WebSockets here").into_response();
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string())
        .or(query.token);
    // tungstenite's defaults (128 KiB read buffer, 64 MiB messages) would cost far too much per
    // socket; chat frames are small.
    ws.read_buffer_size(1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(4 * 1024 * 1024)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| realtime::serve(state, socket, token, room))
}

/// An Origin is allowed when it is configured, is the server's own public origin, or is the
/// very host the request was sent to (the web app served by this binary, however it is reached).
fn origin_allowed(state: &AppState, origin: &str, host: Option<&str>) -> bool {
    let origin = origin.trim_end_matches('/');
    let public = state.settings.server.public_url.trim_end_matches('/');
    let same_host = host.is_some_and(|host| {
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            == Some(host)
    });
    same_host
        || origin == public
        || state
            .settings
            .server
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/') == origin)
}
