//! Call frames: join and leave a room's call, share media flags, relay WebRTC signaling to
//! one peer (on this instance or another).

use serde_json::Value;
use uuid::Uuid;

use super::{ack_if_asked, to_room_but};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::realtime::calls::{Participant, Peer};
use crate::realtime::delivery::{Delivery, Frame};
use crate::realtime::hub::{ConnId, Connection};
use crate::realtime::protocol::{ServerFrame, SignalAction};
use crate::service::access::RoomAccess;
use crate::state::AppState;

/// Joins the room's call: `call_participants` (who was already there) to this socket,
/// `call_joined` to the rest of the room.
pub(super) async fn join(
    state: &AppState,
    conn: &Connection,
    auth: &AuthUser,
    reference: Option<&Value>,
    room_id: Uuid,
    audio: bool,
    video: bool,
) -> Result<(), ApiError> {
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
    let others = state.calls.join(room_id, me.clone()).await;
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
    Ok(())
}

/// New media flags (`[audio, video, screen]`) of a socket in the call, to the rest of the room.
pub(super) async fn media(
    state: &AppState,
    conn: &Connection,
    reference: Option<&Value>,
    room_id: Uuid,
    flags: [bool; 3],
) {
    let Some(me) = state.calls.set_media(room_id, conn.id, flags).await else {
        let refused = ServerFrame::error("not_in_call", "join the call first");
        conn.send_text(refused.reply(reference));
        return;
    };
    let [audio, video, screen] = flags;
    let media = ServerFrame::CallMedia {
        room_id,
        connection_id: conn.id,
        user_id: me.user.id,
        audio,
        video,
        screen,
    };
    to_room_but(state, room_id, media.encode(), conn.id);
    ack_if_asked(conn, reference);
}

pub(super) async fn leave(
    state: &AppState,
    conn: &Connection,
    reference: Option<&Value>,
    room_id: Uuid,
) {
    if state.calls.leave(room_id, conn.id).await {
        crate::realtime::call_left(state, room_id, conn.id);
    }
    ack_if_asked(conn, reference);
}

/// A `webrtc` frame's signaling payload and its addressee.
pub(super) struct Signal {
    pub to: ConnId,
    pub action: SignalAction,
    pub sdp: Option<Value>,
    pub candidate: Option<Value>,
}

/// Relays a signal to one peer. Both ends must be in this room's call; `from` is always the
/// sender's own id.
pub(super) async fn webrtc(
    state: &AppState,
    conn: &Connection,
    reference: Option<&Value>,
    room_id: Uuid,
    signal: Signal,
) {
    let to = signal.to;
    let peer = state.calls.peer(room_id, conn.id, to).await;
    if let Peer::Missing = peer {
        let refused =
            ServerFrame::error("peer_not_found", "no such connection in this room's call");
        conn.send_text(refused.reply(reference));
        return;
    }
    let frame = ServerFrame::Webrtc {
        room_id,
        from: conn.id,
        from_user: &conn.user,
        action: signal.action,
        sdp: signal.sdp.as_ref(),
        candidate: signal.candidate.as_ref(),
    }
    .encode();
    match (peer, &state.cluster) {
        (Peer::Elsewhere, Some(cluster)) => {
            cluster.publish_deliveries(&[Delivery::ToConnection {
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
    ack_if_asked(conn, reference);
}
