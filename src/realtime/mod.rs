//! The realtime hub: WebSocket connections, room fan-out, presence, typing and call signaling.

pub mod calls;
mod connection;
pub mod delivery;
mod fanout;
mod frames;
pub mod hub;
pub mod protocol;
mod recheck;
mod resume;
pub mod subscription;
pub mod typing;

pub use recheck::recheck_sockets;

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

use self::delivery::Delivery;
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

/// Starts the background work of the hub: domain-event fan-out, typing expiry and, with
/// Redis, the cluster bus and heartbeats.
pub fn start(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let fanout = tokio::spawn(fanout::run(state.clone()));
    let typing_state = state.clone();
    let typing = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let stopped: Vec<Delivery> = typing_state
                .typing
                .expire()
                .into_iter()
                .map(|(room_id, user_id)| {
                    let frame = encode(
                        &json!({"type": "typing", "room_id": room_id, "user_id": user_id, "active": false}),
                    );
                    Delivery::to_room(room_id, frame, None)
                })
                .collect();
            if !stopped.is_empty() {
                delivery::deliver(&typing_state, stopped);
            }
        }
    });
    let mut tasks = vec![fanout, typing];
    if let Some(cluster) = &state.cluster {
        tasks.extend(cluster.start(state));
    }
    tasks
}

/// Closes every socket with 1001 (server shutting down).
pub fn close_all(state: &AppState) {
    for conn in state.hub.all() {
        conn.close(close::GOING_AWAY);
    }
}

/// `presence` to this instance's sockets that share one of `rooms` with the user. Each
/// instance decides for its own sockets, from what it knows of the whole cluster.
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

/// `call_left` for everyone following the room, on every instance.
pub(crate) fn call_left(room_id: Uuid, conn_id: ConnId) -> Delivery {
    let frame = encode(&json!({"type": "call_left", "room_id": room_id, "connection_id": conn_id}));
    Delivery::to_room(room_id, frame, Some(conn_id))
}

/// Takes a connection out of a room's call in the cluster's view (this instance's own, or a
/// dead instance's being reaped) and tells the room.
pub(crate) async fn leave_call(state: &AppState, room_id: Uuid, conn_id: ConnId) {
    if let Some(cluster) = &state.cluster
        && let Err(err) = cluster.call_left(room_id, conn_id).await
    {
        cluster.redis_failed("calls", &err);
    }
    delivery::deliver_one(state, call_left(room_id, conn_id));
}

/// A closed socket leaves every call it was in.
pub(crate) async fn leave_all_calls(state: &AppState, conn: &Connection) {
    for room_id in state.calls.leave_everywhere(conn.id) {
        leave_call(state, room_id, conn.id).await;
    }
}

/// A user removed from a room leaves its call on every socket of this instance (each
/// instance applies the same delivery for its own sockets). The room hears it at once; the
/// cluster's view is updated in the background (the user cannot rejoin the call meanwhile).
pub(crate) fn leave_calls_of_user(state: &AppState, room_id: Uuid, user_id: Uuid) {
    let gone = state.calls.remove_user(room_id, user_id);
    if gone.is_empty() {
        return;
    }
    for conn_id in &gone {
        delivery::deliver_one(state, call_left(room_id, *conn_id));
    }
    if let Some(cluster) = state.cluster.clone() {
        tokio::spawn(async move {
            for conn_id in gone {
                if let Err(err) = cluster.call_left(room_id, conn_id).await {
                    cluster.redis_failed("calls", &err);
                }
            }
        });
    }
}
