//! What each client frame does. Chat frames go through the same functions as the REST routes,
//! so the rules (membership, limits, idempotency) are the same on both paths.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use governor::{DefaultDirectRateLimiter, Quota};
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::Instrument;
use uuid::Uuid;

use super::calls::Participant;
use super::delivery::{self, Delivery, Frame};
use super::hub::{ConnId, Connection};
use super::protocol::{Acked, ClientFrame, FrameRef, ServerFrame, close};
use super::resume;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::service::access::RoomAccess;
use crate::service::messages::{self, PostMessage};
use crate::state::AppState;
use crate::text;
use crate::views::MessageView;

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
        } => resume::subscribe(state, conn, auth, reference, room_id, alias, since).await?,
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
            // Pipelined: handed to the writer in the order they came (so one socket's messages
            // keep their order), acknowledged as each commits, while the socket reads on.
            let in_flight = sends.clone().acquire_owned().await.map_err(|_| {
                ApiError::Internal(anyhow::anyhow!("the socket's send gate closed"))
            })?;
            // A new message is acknowledged by the writer itself, the moment it is stored.
            let acknowledge = {
                let (conn, reference) = (conn.clone(), reference.cloned());
                Box::new(move |message: &MessageView| {
                    conn.send_text(
                        ServerFrame::Ack(Acked::Message { message }).reply(reference.as_ref()),
                    );
                })
            };
            let pending = messages::submit(state, auth, room_id, body, Some(acknowledge)).await?;
            let (state, conn, auth) = (state.clone(), conn.clone(), *auth);
            let reference = reference.cloned();
            tokio::spawn(
                async move {
                    let frame = match pending.outcome(&state, &auth).await {
                        Ok((_, true)) => None,
                        Ok((message, false)) => Some(
                            ServerFrame::Ack(Acked::Message { message: &message })
                                .reply(reference.as_ref()),
                        ),
                        Err(err) => Some(ServerFrame::api_error(&err).reply(reference.as_ref())),
                    };
                    if let Some(frame) = frame {
                        conn.send_text(frame);
                    }
                    drop(in_flight);
                }
                .in_current_span(),
            );
        }
        ClientFrame::EditMessage {
            message_id,
            content,
        } => {
            let message = messages::edit(state, auth, message_id, &content).await?;
            conn.send_text(ServerFrame::Ack(Acked::Message { message: &message }).reply(reference));
        }
        ClientFrame::DeleteMessage { message_id } => {
            messages::delete(state, auth, message_id).await?;
            conn.send_text(ServerFrame::Ack(Acked::Deleted { message_id }).reply(reference));
        }
        ClientFrame::Read {
            room_id,
            message_id,
        } => {
            messages::read(state, auth, room_id, message_id).await?;
            conn.send_text(ServerFrame::Ack(Acked::Room { room_id }).reply(reference));
        }
        ClientFrame::Typing { room_id, active } => {
            RoomAccess::load(state, auth, room_id)
                .await?
                .require_member()?;
            if state.typing.update(room_id, auth.user_id, active) {
                let typing = ServerFrame::Typing {
                    room_id,
                    user_id: auth.user_id,
                    active,
                };
                to_room_but(state, room_id, typing.encode(), conn.id);
            }
            if reference.is_some() {
                conn.send_text(ServerFrame::Ack(Acked::Done).reply(reference));
            }
        }
        ClientFrame::CallJoin {
            room_id,
            audio,
            video,
        } => {
            RoomAccess::load(state, auth, room_id)
                .await?
                .require_member()?;
            let me = Participant {
                connection_id: conn.id,
                user: conn.user.clone(),
                audio,
                video,
                screen: false,
            };
            let mut others = state.calls.join(room_id, me.clone());
            if let Some(cluster) = &state.cluster {
                // Participants on every instance; this instance's own list if Redis is away.
                let everyone = async {
                    cluster.call_joined(room_id, &me).await?;
                    cluster.call_participants(room_id).await
                };
                match everyone.await {
                    Ok(everyone) => {
                        others = everyone
                            .into_iter()
                            .filter(|p| p.connection_id != conn.id)
                            .collect();
                    }
                    Err(err) => cluster.redis_failed("calls", &err),
                }
            }
            let reply = ServerFrame::CallParticipants {
                room_id,
                participants: &others,
            };
            conn.send_text(reply.reply(reference));
            let joined = ServerFrame::CallJoined {
                room_id,
                participant: &me,
            };
            to_room_but(state, room_id, joined.encode(), conn.id);
        }
        ClientFrame::CallMedia {
            room_id,
            audio,
            video,
            screen,
        } => {
            let Some(me) = state
                .calls
                .set_media(room_id, conn.id, audio, video, screen)
            else {
                let refused = ServerFrame::error("not_in_call", "join the call first");
                conn.send_text(refused.reply(reference));
                return Ok(());
            };
            if let Some(cluster) = &state.cluster
                && let Err(err) = cluster.call_joined(room_id, &me).await
            {
                cluster.redis_failed("calls", &err);
            }
            let media = ServerFrame::CallMedia {
                room_id,
                connection_id: conn.id,
                user_id: me.user.id,
                audio,
                video,
                screen,
            };
            to_room_but(state, room_id, media.encode(), conn.id);
            if reference.is_some() {
                conn.send_text(ServerFrame::Ack(Acked::Done).reply(reference));
            }
        }
        ClientFrame::CallLeave { room_id } => {
            if state.calls.leave(room_id, conn.id) {
                super::leave_call(state, room_id, conn.id).await;
            }
            if reference.is_some() {
                conn.send_text(ServerFrame::Ack(Acked::Done).reply(reference));
            }
        }
        ClientFrame::Webrtc {
            room_id,
            to,
            action,
            sdp,
            candidate,
        } => {
            // Both ends must be in this room's call; `from` is always the sender's own id.
            let peer = if !state.calls.in_call(room_id, conn.id) {
                Peer::Missing
            } else if state.calls.in_call(room_id, to) {
                Peer::Here
            } else {
                match &state.cluster {
                    Some(cluster) => match cluster.in_call(room_id, to).await {
                        Ok(true) => Peer::Elsewhere,
                        Ok(false) => Peer::Missing,
                        Err(err) => {
                            cluster.redis_failed("calls", &err);
                            Peer::Missing
                        }
                    },
                    None => Peer::Missing,
                }
            };
            if let Peer::Missing = peer {
                let refused =
                    ServerFrame::error("peer_not_found", "no such connection in this room's call");
                conn.send_text(refused.reply(reference));
                return Ok(());
            }
            let frame = ServerFrame::Webrtc {
                room_id,
                from: conn.id,
                from_user: &conn.user,
                action,
                sdp: sdp.as_ref(),
                candidate: candidate.as_ref(),
            }
            .encode();
            match (peer, &state.cluster) {
                (Peer::Elsewhere, Some(cluster)) => {
                    cluster.publish_deliveries(vec![Delivery::ToConnection {
                        connection_id: to,
                        frame: Frame(frame),
                    }]);
                }
                _ => {
                    if let Some(target) = state.hub.connection(to) {
                        target.send_text(frame);
                    }
                }
            }
            if reference.is_some() {
                conn.send_text(ServerFrame::Ack(Acked::Done).reply(reference));
            }
        }
    }
    Ok(())
}

/// Where the addressee of a `webrtc` frame is.
enum Peer {
    Here,
    Elsewhere,
    Missing,
}

/// A frame for the room's followers on every instance, but the sending connection.
fn to_room_but(state: &AppState, room_id: Uuid, frame: Utf8Bytes, except: ConnId) {
    delivery::deliver_one(state, Delivery::to_room(room_id, frame, Some(except)));
}
