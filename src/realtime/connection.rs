//! One socket's life: authenticate, welcome, then a reader (this task) and a writer (its own
//! task draining the bounded queue), until either side ends it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::frames::handle_text;
use super::hub::Connection;
use super::protocol::{ClientFrame, ServerFrame, close};
use crate::auth::AuthUser;
use crate::service::access::RoomAccess;
use crate::service::rooms::my_rooms;
use crate::state::AppState;
use crate::views::Me;
use crate::views::SenderView;

pub const HEARTBEAT: Duration = Duration::from_secs(30);
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close frame may take to get out before the socket is just dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// A presence "offline" waits this long for a reconnect (a page reload, a network blip).
const OFFLINE_GRACE: Duration = Duration::from_secs(5);

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

pub async fn serve(state: AppState, socket: WebSocket, token: Option<String>, room: Option<Uuid>) {
    let (mut sink, mut stream) = socket.split();
    // The set-up steps are boxed: their (large) futures are freed once done instead of sizing
    // the task that lives as long as the socket.
    let Some(auth) = Box::pin(authenticate(&state, &mut sink, &mut stream, token)).await else {
        return;
    };
    let Ok(Some(user)) = Box::pin(state.store.user_by_id(auth.user_id)).await else {
        refuse(&mut sink, "the account no longer exists").await;
        return;
    };
    let sender = Arc::new(SenderView {
        id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
    });
    let (conn, queue) = Connection::new(sender, auth.session_id);
    let writer = tokio::spawn(write_loop(sink, queue, conn.clone()));
    state.hub.register(&conn);

    // Subscribe before the welcome goes out: nothing posted after the welcome is missed, and
    // anything delivered meanwhile waits behind the welcome (the connection's gate).
    let rooms = Box::pin(my_rooms(&state, user.id, None))
        .await
        .unwrap_or_default();
    // (room, followed as a member): a `?room=` may be a public room the user only views.
    let mut followed: Vec<(Uuid, bool)> = rooms.iter().map(|r| (r.id, true)).collect();
    let mut room_error = None;
    if let Some(room_id) = room {
        match Box::pin(RoomAccess::load(&state, &auth, room_id)).await {
            Ok(access) => followed.push((room_id, access.is_member())),
            Err(err) => room_error = Some(ServerFrame::api_error(&err).encode()),
        }
    }
    for (room_id, member) in &followed {
        state.hub.subscribe(&conn, *room_id, *member);
    }
    let welcome = ServerFrame::Welcome {
        connection_id: conn.id,
        user: &Me::new(&state, user),
        session_id: auth.session_id,
        rooms: &rooms,
        heartbeat_secs: HEARTBEAT.as_secs(),
    };
    conn.welcome(welcome.encode());
    if let Some(frame) = room_error {
        conn.send_text(frame);
    }
    let rooms = state.hub.member_rooms_of(conn.id);
    if Box::pin(state.presence.socket_opened(auth.user_id, &rooms)).await {
        super::announce_presence(&state, auth.user_id, &rooms, true, None);
    }

    read_loop(&state, &conn, &auth, &mut stream).await;

    conn.close(1000);
    let _ = tokio::time::timeout(CLOSE_GRACE + Duration::from_secs(1), writer).await;
    Box::pin(super::leave_all_calls(&state, &conn)).await;
    let rooms = state.hub.unregister(conn.id);
    if state.presence.socket_closed(auth.user_id) {
        tokio::spawn(went_offline(state.clone(), auth.user_id, rooms));
    }
}

/// Header or `?token=` given at upgrade, else the first frame within 10 s.
async fn authenticate(
    state: &AppState,
    sink: &mut Sink,
    stream: &mut Stream,
    token: Option<String>,
) -> Option<AuthUser> {
    let token = match token {
        Some(token) => token,
        None => {
            let _ = sink
                .send(Message::Text(ServerFrame::AuthRequired.encode()))
                .await;
            // Control frames (a client's ping) may come first; the auth frame is the first text frame.
            let first_text = async {
                loop {
                    match stream.next().await {
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        other => return other,
                    }
                }
            };
            match tokio::time::timeout(AUTH_TIMEOUT, first_text).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    match serde_json::from_str::<ClientFrame>(&text) {
                        Ok(ClientFrame::Auth { token }) => token,
                        _ => {
                            refuse(
                                sink,
                                "the first frame must be {\"type\":\"auth\",\"token\":\"…\"}",
                            )
                            .await;
                            return None;
                        }
                    }
                }
                Ok(_) => {
                    refuse(sink, "the first frame must be an auth frame").await;
                    return None;
                }
                Err(_) => {
                    refuse(sink, "no auth frame within 10 seconds").await;
                    return None;
                }
            }
        }
    };
    match AuthUser::from_token(state, &token).await {
        Ok(auth) => Some(auth),
        Err(err) => {
            refuse(sink, &err.to_string()).await;
            None
        }
    }
}

async fn refuse(sink: &mut Sink, message: &str) {
    let _ = sink
        .send(Message::Text(
            ServerFrame::error("unauthorized", message).encode(),
        ))
        .await;
    let frame = CloseFrame {
        code: close::UNAUTHENTICATED,
        reason: Utf8Bytes::from_static("unauthenticated"),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
}

async fn read_loop(state: &AppState, conn: &Arc<Connection>, auth: &AuthUser, stream: &mut Stream) {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    let mut last_heard = Instant::now();
    let mut guard = super::frames::FrameGuard::new();
    loop {
        tokio::select! {
            frame = stream.next() => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        // Boxed: the handler's future is large, the idle reader stays small.
                        Box::pin(handle_text(state, conn, auth, &mut guard, text)).await;
                    }
                    Some(Ok(Message::Binary(_))) => {
                        conn.send_text(ServerFrame::error("bad_frame", "frames are JSON text").encode());
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(err)) => {
                        // tungstenite reports an oversized frame as a capacity error.
                        let text = err.to_string();
                        if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                            conn.close(close::TOO_BIG);
                        }
                        break;
                    }
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    tracing::debug!(connection_id = %conn.id, "closing a silent socket");
                    conn.close(close::GOING_AWAY);
                    break;
                }
                conn.send(Message::Ping(Default::default()));
            }
            _ = conn.closed() => break,
        }
    }
}

/// Writes queued frames, all that are waiting before one flush, until told to close. The
/// close signal is one future for the socket's life: making a new one per wake-up registered
/// and dropped a waiter on every frame.
async fn write_loop(mut sink: Sink, mut queue: mpsc::Receiver<Message>, conn: Arc<Connection>) {
    let closed = conn.closed();
    tokio::pin!(closed);
    let code = loop {
        let first = tokio::select! {
            biased;
            code = &mut closed => break code,
            frame = queue.recv() => match frame {
                Some(frame) => frame,
                None => return,
            },
        };
        let write = async {
            sink.feed(first).await?;
            while let Ok(next) = queue.try_recv() {
                sink.feed(next).await?;
            }
            sink.flush().await
        };
        tokio::pin!(write);
        // Only "too slow" interrupts a write in progress (the client is not reading, so it
        // would never finish); any other close waits for these frames to go out.
        let (written, closing) = tokio::select! {
            written = &mut write => (written, None),
            code = &mut closed => {
                if code == close::TOO_SLOW {
                    break code;
                }
                ((&mut write).await, Some(code))
            }
        };
        if written.is_err() {
            return;
        }
        if let Some(code) = closing {
            break code;
        }
    };
    // Frames already queued (e.g. `session_revoked`) go out before the close, unless the
    // reason for closing is that the client is not reading them.
    if code != close::TOO_SLOW {
        while let Ok(next) = queue.try_recv() {
            if sink.feed(next).await.is_err() {
                return;
            }
        }
    }
    let reason = match code {
        close::GOING_AWAY => "going away",
        close::POLICY => "policy violation",
        close::TOO_BIG => "frame too big",
        close::SESSION_REVOKED => "session revoked",
        close::TOO_SLOW => "too slow to keep up",
        _ => "",
    };
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
}

/// After the grace period, if no socket of the user came back here and the user is online on
/// no other instance: store last_seen_at and tell everyone here who shares a room (the other
/// instances do the same for their sockets).
async fn went_offline(state: AppState, user_id: Uuid, rooms: Vec<Uuid>) {
    tokio::time::sleep(OFFLINE_GRACE).await;
    let now = crate::time::now();
    if !state.presence.left(user_id, rooms.clone(), now).await {
        return;
    }
    if let Err(err) = state.store.touch_last_seen(user_id, now).await {
        tracing::warn!(error = %err, "could not store last_seen_at");
    }
    super::announce_presence(&state, user_id, &rooms, false, Some(now));
}
