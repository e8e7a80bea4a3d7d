//! The realtime hub: WebSocket connections, room fan-out, presence, typing and call signaling.

pub mod calls;
mod connection;
mod fanout;
mod frames;
pub mod hub;
pub mod protocol;
pub mod typing;

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use self::hub::{ConnId, Connection};
use self::protocol::{close, encode};
use crate::error::ApiError;
use crate::http::extract::{Path, Query};
use crate::state::AppState;
use crate::time::{self, Timestamp};

/// Largest inbound frame; bigger ones close the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

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
        .on_upgrade(move |socket| connection::serve(state, socket, token, room))
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

/// Starts the background work of the hub: domain-event fan-out and typing expiry.
pub fn start(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let fanout = tokio::spawn(fanout::run(state.clone()));
    let typing_state = state.clone();
    let typing = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            for (room_id, user_id) in typing_state.typing.expire() {
                let frame = encode(
                    &json!({"type": "typing", "room_id": room_id, "user_id": user_id, "active": false}),
                );
                typing_state.hub.to_room(room_id, None, &frame, None);
            }
        }
    });
    vec![fanout, typing]
}

/// Closes every socket with 1001 (server shutting down).
pub fn close_all(state: &AppState) {
    for conn in state.hub.all() {
        conn.close(close::GOING_AWAY);
    }
}

/// `presence` to everyone who shares one of `rooms` with the user.
pub(crate) fn announce_presence(
    state: &AppState,
    user_id: Uuid,
    rooms: &[Uuid],
    online: bool,
    last_seen_at: Option<Timestamp>,
) {
    let frame = encode(&json!({
        "type": "presence",
        "user_id": user_id,
        "status": if online { "online" } else { "offline" },
        "last_seen_at": last_seen_at.as_ref().map(time::format),
    }));
    state.hub.to_rooms_once(rooms, &frame, Some(user_id));
}

pub(crate) fn announce_call_left(state: &AppState, room_id: Uuid, conn_id: ConnId) {
    let frame = encode(&json!({"type": "call_left", "room_id": room_id, "connection_id": conn_id}));
    state.hub.to_room(room_id, None, &frame, Some(conn_id));
}

/// A closed socket leaves every call it was in.
pub(crate) fn leave_all_calls(state: &AppState, conn: &Connection) {
    for room_id in state.calls.leave_everywhere(conn.id) {
        announce_call_left(state, room_id, conn.id);
    }
}

/// A user removed from a room leaves its call on every socket.
pub(crate) fn leave_calls_of_user(state: &AppState, room_id: Uuid, user_id: Uuid) {
    for conn_id in state.calls.remove_user(room_id, user_id) {
        announce_call_left(state, room_id, conn_id);
    }
}
