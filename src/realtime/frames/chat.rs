//! Chat frames: send, edit and delete a message, move the read cursor, type.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::Instrument;
use uuid::Uuid;

use super::{ack_if_asked, to_room_but};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::realtime::hub::Connection;
use crate::realtime::protocol::{Acked, ServerFrame};
use crate::service::access::RoomAccess;
use crate::service::messages::{self, PostMessage};
use crate::state::AppState;
use crate::views::MessageView;

/// Pipelined: handed to the writer in the order they came (so one socket's messages keep their
/// order), acknowledged as each commits, while the socket reads on.
pub(super) async fn send_message(
    state: &AppState,
    conn: &Arc<Connection>,
    auth: &AuthUser,
    sends: &Arc<Semaphore>,
    reference: Option<&Value>,
    room_id: Uuid,
    body: PostMessage,
) -> Result<(), ApiError> {
    let in_flight = sends
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("the socket's send gate closed")))?;
    // A new message is acknowledged by the writer itself, the moment it is stored.
    let acknowledge = {
        let (conn, reference) = (conn.clone(), reference.cloned());
        Box::new(move |message: &MessageView| {
            conn.send_text(ServerFrame::Ack(Acked::Message { message }).reply(reference.as_ref()));
        })
    };
    let pending = messages::submit(state, auth, room_id, body, Some(acknowledge)).await?;
    let (state, conn, auth) = (state.clone(), conn.clone(), *auth);
    let reference = reference.cloned();
    tokio::spawn(
        async move {
            // Only what the writer did not acknowledge: a repeated `client_msg_id`, a refusal.
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
    Ok(())
}

pub(super) async fn edit_message(
    state: &AppState,
    conn: &Connection,
    auth: &AuthUser,
    reference: Option<&Value>,
    message_id: Uuid,
    content: &str,
) -> Result<(), ApiError> {
    let message = messages::edit(state, auth, message_id, content).await?;
    conn.send_text(ServerFrame::Ack(Acked::Message { message: &message }).reply(reference));
    Ok(())
}

pub(super) async fn delete_message(
    state: &AppState,
    conn: &Connection,
    auth: &AuthUser,
    reference: Option<&Value>,
    message_id: Uuid,
) -> Result<(), ApiError> {
    messages::delete(state, auth, message_id).await?;
    conn.send_text(ServerFrame::Ack(Acked::Deleted { message_id }).reply(reference));
    Ok(())
}

pub(super) async fn read(
    state: &AppState,
    conn: &Connection,
    auth: &AuthUser,
    reference: Option<&Value>,
    room_id: Uuid,
    message_id: Uuid,
) -> Result<(), ApiError> {
    messages::read(state, auth, room_id, message_id).await?;
    conn.send_text(ServerFrame::Ack(Acked::Room { room_id }).reply(reference));
    Ok(())
}

/// `typing` to the room but this socket, when the indicator changes (not on every keystroke).
pub(super) async fn typing(
    state: &AppState,
    conn: &Connection,
    auth: &AuthUser,
    reference: Option<&Value>,
    room_id: Uuid,
    active: bool,
) -> Result<(), ApiError> {
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
    ack_if_asked(conn, reference);
    Ok(())
}
