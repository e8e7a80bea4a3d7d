//! The realtime hub: WebSocket connections, room fan-out, presence, typing and call signaling.

pub mod calls;
mod connection;
pub mod delivery;
mod fanout;
mod frames;
pub mod hub;
mod node;
pub mod protocol;
mod recheck;
pub mod subscription;
pub mod typing;

pub use node::leave_cluster;
pub use recheck::recheck_sockets;

use std::time::Duration;

use uuid::Uuid;

use self::delivery::Delivery;
use self::hub::{ConnId, Connection};
use self::protocol::{Presence, ServerFrame, close};
use crate::state::AppState;
use crate::time::Timestamp;

/// Largest inbound frame; bigger ones close the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Serves an upgraded socket of a user holding `token` (checked first), optionally
/// subscribed to `room` from the start.
pub async fn serve(
    state: AppState,
    socket: axum::extract::ws::WebSocket,
    token: Option<String>,
    room: Option<Uuid>,
) {
    connection::serve(state, socket, token, room).await
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
                    let stopped = ServerFrame::Typing {
                        room_id,
                        user_id,
                        active: false,
                    };
                    Delivery::to_room(room_id, stopped.encode(), None)
                })
                .collect();
            if !stopped.is_empty() {
                delivery::publish(&typing_state, stopped);
            }
        }
    });
    let mut tasks = vec![fanout, typing];
    if let Some(cluster) = &state.cluster {
        tasks.extend(cluster.start(node::Node::new(state.clone())));
    }
    tasks
}

/// Closes every socket with 1001 (server shutting down).
pub fn close_all(state: &AppState) {
    for conn in state.hub.all() {
        conn.close(close::GOING_AWAY);
    }
}

/// `presence` to this instance's sockets that share one of `rooms` (the user's own, as a member)
/// with the user as members. Each instance decides for its own sockets, from what it knows of
/// the whole cluster.
pub(crate) fn announce_presence(
    state: &AppState,
    user_id: Uuid,
    rooms: &[Uuid],
    online: bool,
    last_seen_at: Option<Timestamp>,
) {
    let frame = ServerFrame::Presence {
        user_id,
        status: if online {
            Presence::Online
        } else {
            Presence::Offline
        },
        last_seen_at,
    }
    .encode();
    state.hub.to_members_once(rooms, &frame, Some(user_id));
}

/// `call_left` for everyone following the room, on every instance, but the socket that left.
pub(crate) fn call_left_delivery(room_id: Uuid, conn_id: ConnId) -> Delivery {
    let frame = ServerFrame::CallLeft {
        room_id,
        connection_id: conn_id,
    }
    .encode();
    Delivery::to_room(room_id, frame, Some(conn_id))
}

/// Tells the room, on every instance, that a connection left its call (the registry has
/// already taken it out).
pub(crate) fn call_left(state: &AppState, room_id: Uuid, conn_id: ConnId) {
    delivery::publish_one(state, call_left_delivery(room_id, conn_id));
}

/// A closed socket leaves every call it was in.
pub(crate) async fn leave_all_calls(state: &AppState, conn: &Connection) {
    for room_id in state.calls.leave_everywhere(conn.id).await {
        call_left(state, room_id, conn.id);
    }
}

/// A user removed from a room leaves its call on every socket of this instance (each
/// instance routes the same delivery to its own sockets).
pub(crate) fn leave_calls_of_user(state: &AppState, room_id: Uuid, user_id: Uuid) {
    for conn_id in state.calls.remove_user(room_id, user_id) {
        call_left(state, room_id, conn_id);
    }
}
