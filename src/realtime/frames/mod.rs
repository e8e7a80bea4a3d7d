//! What each client frame does: `handle_text` reads and rate-limits a frame, `dispatch` hands it
//! to its concern (chat, calls, replay). Chat frames go through the same functions as the REST
//! routes, so the rules (membership, limits, idempotency) are the same on both paths.

mod calls;
mod chat;
mod replay;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use governor::{DefaultDirectRateLimiter, Quota};
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::Instrument;
use uuid::Uuid;

use super::delivery::{self, Delivery};
use super::hub::{ConnId, Connection};
use super::protocol::{Acked, ClientFrame, FrameRef, ServerFrame, close};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::service::messages::PostMessage;
use crate::state::AppState;
use crate::text;

/// Frames other than send_message, per connection per second.
const FRAMES_PER_SEC: u32 = 50;
/// This many refused frames within `ABUSE_WINDOW` and the socket is closed with 1008.
const ABUSE_LIMIT: u32 = 100;
const ABUSE_WINDOW: Duration = Duration::from_secs(10);

/// Sends of one socket waiting for their commit at most; beyond it the socket's frames wait.
const SENDS_IN_FLIGHT: u32 = 64;

/// Per-connection rate state: the frame bucket, the count of refusals, the sends in flight.
pub struct FrameGuard {
    frames: DefaultDirectRateLimiter,
    sends: Arc<Semaphore>,
    refused: u32,
    window_start: Instant,
}

impl FrameGuard {
    pub fn new() -> FrameGuard {
        let quota = Quota::per_second(NonZeroU32::new(FRAMES_PER_SEC).unwrap_or(NonZeroU32::MIN));
        FrameGuard {
            frames: DefaultDirectRateLimiter::direct(quota),
            sends: Arc::new(Semaphore::new(SENDS_IN_FLIGHT as usize)),
            refused: 0,
            window_start: Instant::now(),
        }
    }

    /// Counts a refusal; true when the connection has crossed into abuse.
    fn refused(&mut self) -> bool {
        if self.window_start.elapsed() > ABUSE_WINDOW {
            self.window_start = Instant::now();
            self.refused = 0;
        }
        self.refused += 1;
        self.refused > ABUSE_LIMIT
    }
}

pub async fn handle_text(
    state: &AppState,
    conn: &Arc<Connection>,
    auth: &AuthUser,
    guard: &mut FrameGuard,
    text: Utf8Bytes,
) {
    let reference = serde_json::from_str::<FrameRef>(&text)
        .ok()
        .and_then(|f| f.reference);
    let reference = reference.as_ref();
    let frame: ClientFrame = match serde_json::from_str(&text) {
        Ok(frame) => frame,
        Err(err) => {
            metrics::counter!("ws_frames_in_total", "type" => "invalid").increment(1);
            let refused = ServerFrame::error("bad_frame", format!("unreadable frame: {err}"));
            conn.send_text(refused.reply(reference));
            return;
        }
    };
    let kind = frame.kind();
    metrics::counter!("ws_frames_in_total", "type" => kind).increment(1);
    let limited = match &frame {
        ClientFrame::SendMessage { .. } => state.limiter.check_ws_send(auth.user_id).await.err(),
        _ => guard.frames.check().err().map(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        }),
    };
    if let Some(wait) = limited {
        let refused = ServerFrame::Error {
            error: ErrorBody::new("rate_limited", "too many frames; slow down"),
            retry_after_ms: Some(wait.as_millis() as u64),
        };
        conn.send_text(refused.reply(reference));
        if guard.refused() {
            tracing::warn!(connection_id = %conn.id, user_id = %auth.user_id, "closing an abusive socket");
            conn.close(close::POLICY);
        }
        return;
    }
    // After the rate limit: a refused frame still counts towards it.
    if let Err(field) = text::check_json(text.as_bytes()) {
        let refused = ApiError::validation(&field, text::REASON);
        conn.send_text(ServerFrame::api_error(&refused).reply(reference));
        return;
    }
    let span = tracing::info_span!("ws.frame", frame.type = kind, connection_id = %conn.id, user.id = %auth.user_id);
    if let Err(err) = dispatch(state, conn, auth, &guard.sends, reference, frame)
        .instrument(span)
        .await
    {
        conn.send_text(ServerFrame::api_error(&err).reply(reference));
    }
}

async fn dispatch(
    state: &AppState,
    conn: &Arc<Connection>,
    auth: &AuthUser,
    sends: &Arc<Semaphore>,
    reference: Option<&Value>,
    frame: ClientFrame,
) -> Result<(), ApiError> {
    match frame {
        ClientFrame::Auth { .. } => {
            let refused = ServerFrame::error("bad_frame", "already authenticated");
            conn.send_text(refused.reply(reference));
        }
        ClientFrame::Ping => {
            conn.send_text(ServerFrame::Pong.reply(reference));
        }
        ClientFrame::Subscribe {
            room_id,
            alias,
            since,
        } => replay::subscribe(state, conn, auth, reference, room_id, alias, since).await?,
        ClientFrame::Unsubscribe { room_id } => {
            state.hub.unsubscribe(conn.id, room_id);
            conn.send_text(ServerFrame::Ack(Acked::Room { room_id }).reply(reference));
        }
        ClientFrame::SendMessage {
            room_id,
            content,
            client_msg_id,
            reply_to_id,
            attachment_ids,
        } => {
            let body = PostMessage {
                content,
                reply_to_id,
                attachment_ids,
                client_msg_id,
            };
            chat::send_message(state, conn, auth, sends, reference, room_id, body).await?;
        }
        ClientFrame::EditMessage {
            message_id,
            content,
        } => chat::edit_message(state, conn, auth, reference, message_id, &content).await?,
        ClientFrame::DeleteMessage { message_id } => {
            chat::delete_message(state, conn, auth, reference, message_id).await?
        }
        ClientFrame::Read {
            room_id,
            message_id,
        } => chat::read(state, conn, auth, reference, room_id, message_id).await?,
        ClientFrame::Typing { room_id, active } => {
            chat::typing(state, conn, auth, reference, room_id, active).await?
        }
        ClientFrame::CallJoin {
            room_id,
            audio,
            video,
        } => calls::join(state, conn, auth, reference, room_id, audio, video).await?,
        ClientFrame::CallMedia {
            room_id,
            audio,
            video,
            screen,
        } => calls::media(state, conn, reference, room_id, [audio, video, screen]).await,
        ClientFrame::CallLeave { room_id } => calls::leave(state, conn, reference, room_id).await,
        ClientFrame::Webrtc {
            room_id,
            to,
            action,
            sdp,
            candidate,
        } => {
            let signal = calls::Signal {
                to,
                action,
                sdp,
                candidate,
            };
            calls::webrtc(state, conn, reference, room_id, signal).await
        }
    }
    Ok(())
}

/// The bare `ack` of a frame whose effect is seen elsewhere, sent only when the client asked
/// (gave a `ref`).
fn ack_if_asked(conn: &Connection, reference: Option<&Value>) {
    if reference.is_some() {
        conn.send_text(ServerFrame::Ack(Acked::Done).reply(reference));
    }
}

/// A frame for the room's followers on every instance, but the sending connection.
fn to_room_but(state: &AppState, room_id: Uuid, frame: Utf8Bytes, except: ConnId) {
    delivery::publish_one(state, Delivery::to_room(room_id, frame, Some(except)));
}
