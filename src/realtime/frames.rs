//! What each client frame does. Chat frames go through the same functions as the REST routes,
//! so the rules (membership, limits, idempotency) are the same on both paths.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use governor::{DefaultDirectRateLimiter, Quota};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tracing::Instrument;
use uuid::Uuid;

use super::calls::Participant;
use super::delivery::{self, Delivery, Frame};
use super::hub::{ConnId, Connection};
use super::protocol::{ClientFrame, FrameRef, MessageFrame, close, encode, error_frame};
use super::resume;
use crate::auth::AuthUser;
use crate::error::ApiError;
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

fn api_error(reference: Option<&Value>, err: &ApiError) -> Utf8Bytes {
    let retry = match err {
        ApiError::RateLimited { retry_after } => Some(retry_after.as_millis() as u64),
        _ => None,
    };
    let message = match err {
        ApiError::Internal(_) => "something went wrong on our side".to_string(),
        ApiError::Validation(fields) => fields
            .iter()
            .map(|(f, why)| format!("{f}: {why}"))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    if let ApiError::Internal(inner) = err {
        tracing::error!(error = ?inner, "websocket frame failed");
    }
    error_frame(reference, err.code(), &message, retry)
}

fn ack(reference: Option<&Value>, extra: Value) -> Utf8Bytes {
    let mut frame = json!({"type": "ack"});
    if let Some(reference) = reference {
        frame["ref"] = reference.clone();
    }
    if let (Value::Object(frame), Value::Object(extra)) = (&mut frame, extra) {
        frame.extend(extra);
    }
    encode(&frame)
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
            conn.send_text(error_frame(
                reference,
                "bad_frame",
                &format!("unreadable frame: {err}"),
                None,
            ));
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
        conn.send_text(error_frame(
            reference,
            "rate_limited",
            "too many frames; slow down",
            Some(wait.as_millis() as u64),
        ));
        if guard.refused() {
            tracing::warn!(connection_id = %conn.id, user_id = %auth.user_id, "closing an abusive socket");
            conn.close(close::POLICY);
        }
        return;
    }
    // After the rate limit: a refused frame still counts towards it.
    if let Err(field) = text::check_json(text.as_bytes()) {
        let refused = ApiError::validation(&field, text::REASON);
        conn.send_text(api_error(reference, &refused));
        return;
    }
    let span = tracing::info_span!("ws.frame", frame.type = kind, connection_id = %conn.id, user.id = %auth.user_id);
    if let Err(err) = dispatch(state, conn, auth, &guard.sends, reference, frame)
        .instrument(span)
        .await
    {
        conn.send_text(api_error(reference, &err));
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
            conn.send_text(error_frame(
                reference,
                "bad_frame",
                "already authenticated",
                None,
            ));
        }
        ClientFrame::Ping => {
            let mut pong = json!({"type": "pong"});
            if let Some(reference) = reference {
                pong["ref"] = reference.clone();
            }
            conn.send_text(encode(&pong));
        }
        ClientFrame::Subscribe {
            room_id,
            alias,
            since,
        } => resume::subscribe(state, conn, auth, reference, room_id, alias, since).await?,
        ClientFrame::Unsubscribe { room_id } => {
            state.hub.unsubscribe(conn.id, room_id);
            conn.send_text(ack(reference, json!({"room_id": room_id})));
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
                    conn.send_text(encode(&MessageFrame::ack(reference.as_ref(), message)));
                })
            };
            let pending = messages::submit(state, auth, room_id, body, Some(acknowledge)).await?;
            let (state, conn, auth) = (state.clone(), conn.clone(), *auth);
            let reference = reference.cloned();
            tokio::spawn(
                async move {
                    let frame = match pending.outcome(&state, &auth).await {
                        Ok((_, true)) => None,
                        Ok((message, false)) => {
                            Some(encode(&MessageFrame::ack(reference.as_ref(), &message)))
                        }
                        Err(err) => Some(api_error(reference.as_ref(), &err)),
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
            conn.send_text(ack(reference, json!({"message": message})));
        }
        ClientFrame::DeleteMessage { message_id } => {
            messages::delete(state, auth, message_id).await?;
            conn.send_text(ack(reference, json!({"message_id": message_id})));
        }
        ClientFrame::Read {
            room_id,
            message_id,
        } => {
            messages::read(state, auth, room_id, message_id).await?;
            conn.send_text(ack(reference, json!({"room_id": room_id})));
        }
        ClientFrame::Typing { room_id, active } => {
            RoomAccess::load(state, auth, room_id)
                .await?
                .require_member()?;
            if state.typing.update(room_id, auth.user_id, active) {
                let frame = encode(
                    &json!({"type": "typing", "room_id": room_id, "user_id": auth.user_id, "active": active}),
                );
                to_room_but(state, room_id, frame, conn.id);
            }
            if reference.is_some() {
                conn.send_text(ack(reference, json!({})));
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
            let mut reply =
                json!({"type": "call_participants", "room_id": room_id, "participants": others});
            if let Some(reference) = reference {
                reply["ref"] = reference.clone();
            }
            conn.send_text(encode(&reply));
            let joined =
                encode(&json!({"type": "call_joined", "room_id": room_id, "participant": me}));
            to_room_but(state, room_id, joined, conn.id);
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
                conn.send_text(error_frame(
                    reference,
                    "not_in_call",
                    "join the call first",
                    None,
                ));
                return Ok(());
            };
            if let Some(cluster) = &state.cluster
                && let Err(err) = cluster.call_joined(room_id, &me).await
            {
                cluster.redis_failed("calls", &err);
            }
            let frame = encode(&json!({
                "type": "call_media", "room_id": room_id, "connection_id": conn.id, "user_id": me.user.id,
                "audio": audio, "video": video, "screen": screen,
            }));
            to_room_but(state, room_id, frame, conn.id);
            if reference.is_some() {
                conn.send_text(ack(reference, json!({})));
            }
        }
        ClientFrame::CallLeave { room_id } => {
            if state.calls.leave(room_id, conn.id) {
                super::leave_call(state, room_id, conn.id).await;
            }
            if reference.is_some() {
                conn.send_text(ack(reference, json!({})));
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
                conn.send_text(error_frame(
                    reference,
                    "peer_not_found",
                    "no such connection in this room's call",
                    None,
                ));
                return Ok(());
            }
            let mut signal = json!({"type": "webrtc", "room_id": room_id, "from": conn.id, "from_user": &*conn.user, "action": action});
            if let Some(sdp) = sdp {
                signal["sdp"] = sdp;
            }
            if let Some(candidate) = candidate {
                signal["candidate"] = candidate;
            }
            let frame = encode(&signal);
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
                conn.send_text(ack(reference, json!({})));
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
