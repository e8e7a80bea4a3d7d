//! What the server sends: every frame is a `ServerFrame`, encoded once (a broadcast's bytes are
//! shared by every receiver). The wire format is docs/protocol.md's, checked by `documented`.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::SignalAction;
use crate::domain::Role;
use crate::error::{ApiError, ErrorBody};
use crate::events::RevokeReason;
use crate::realtime::calls::Participant;
use crate::realtime::hub::ConnId;
use crate::time::{self, Timestamp};
use crate::views::{Me, MessageView, PublicProfile, RoomView, SecurityNotice, SenderView};

/// A frame from the server. Borrowed: a frame is built to be encoded, right away, once.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// Right after an upgrade that carried no token: the client has 10 s to send `auth`.
    AuthRequired,
    Welcome {
        connection_id: ConnId,
        user: &'a Me,
        session_id: Uuid,
        rooms: &'a [RoomView],
        heartbeat_secs: u64,
    },
    /// The reply to `subscribe`, after any replayed `message_new`.
    Subscribed {
        room_id: Uuid,
        replayed: usize,
        has_more: bool,
    },
    Pong,
    Ack(Acked<'a>),
    Error {
        #[serde(flatten)]
        error: ErrorBody<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },

    MessageNew {
        message: &'a MessageView,
    },
    MessageEdited {
        message: &'a MessageView,
    },
    MessageDeleted {
        room_id: Uuid,
        message_id: Uuid,
    },
    Reaction {
        room_id: Uuid,
        message_id: Uuid,
        emoji: &'a str,
        user_id: Uuid,
        added: bool,
    },
    Read {
        room_id: Uuid,
        user_id: Uuid,
        message_id: Uuid,
    },
    Typing {
        room_id: Uuid,
        user_id: Uuid,
        active: bool,
    },
    Presence {
        user_id: Uuid,
        status: Presence,
        #[serde(serialize_with = "time::rfc3339_opt")]
        last_seen_at: Option<Timestamp>,
    },
    /// A user's display name, status text or avatar changed: to everyone sharing a room with them.
    UserUpdated {
        user: &'a PublicProfile,
    },

    MemberJoined {
        room_id: Uuid,
        user: &'a PublicProfile,
    },
    MemberLeft {
        room_id: Uuid,
        user_id: Uuid,
    },
    MemberRoleChanged {
        room_id: Uuid,
        user_id: Uuid,
        role: Role,
    },
    RoomUpdated {
        room: &'a RoomView,
    },
    RoomDeleted {
        room_id: Uuid,
    },
    DmCreated {
        room: &'a RoomView,
    },
    Banned {
        room_id: Uuid,
        #[serde(serialize_with = "time::rfc3339_opt")]
        until: Option<Timestamp>,
        reason: &'a str,
    },
    SessionRevoked {
        reason: RevokeReason,
    },
    /// The notice's own fields (`kind` and what it carries) beside `type`.
    SecurityNotice(&'a SecurityNotice),

    CallParticipants {
        room_id: Uuid,
        participants: &'a [Participant],
    },
    CallJoined {
        room_id: Uuid,
        participant: &'a Participant,
    },
    CallMedia {
        room_id: Uuid,
        connection_id: ConnId,
        user_id: Uuid,
        audio: bool,
        video: bool,
        screen: bool,
    },
    CallLeft {
        room_id: Uuid,
        connection_id: ConnId,
    },
    Webrtc {
        room_id: Uuid,
        /// Set by the server: the sender's own connection and user.
        from: ConnId,
        from_user: &'a SenderView,
        action: SignalAction,
        #[serde(skip_serializing_if = "Option::is_none")]
        sdp: Option<&'a Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        candidate: Option<&'a Value>,
    },
}

/// What an `ack` carries besides `type` and `ref`: the table in docs/protocol.md.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Acked<'a> {
    /// `send_message`, `edit_message`.
    Message { message: &'a MessageView },
    /// `delete_message`.
    Deleted { message_id: Uuid },
    /// `read`, `unsubscribe`.
    Room { room_id: Uuid },
    /// `typing`, `call_media`, `call_leave`, `webrtc`.
    Done,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Offline,
}

/// A frame answering a client frame: the `ref` it carried, echoed verbatim (the only place
/// `ref` is written).
#[derive(Serialize)]
struct Reply<'a> {
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<&'a Value>,
    #[serde(flatten)]
    frame: &'a ServerFrame<'a>,
}

impl<'a> ServerFrame<'a> {
    /// The `error` telling a client why its frame was not done, worded as over HTTP.
    pub fn api_error(err: &'a ApiError) -> ServerFrame<'a> {
        ServerFrame::Error {
            error: err.body(),
            retry_after_ms: err.retry_after().map(|wait| wait.as_millis() as u64),
        }
    }

    /// An `error` the protocol itself raises (`bad_frame`, `not_in_call`, …).
    pub fn error(code: &'a str, message: impl Into<String>) -> ServerFrame<'a> {
        ServerFrame::Error {
            error: ErrorBody::new(code, message),
            retry_after_ms: None,
        }
    }

    /// Encodes the frame once; the bytes are shared (reference-counted) by every receiver.
    pub fn encode(&self) -> Utf8Bytes {
        encode(self)
    }

    /// Encodes the frame as the answer to a client frame that carried `reference`.
    pub fn reply(&self, reference: Option<&Value>) -> Utf8Bytes {
        encode(&Reply {
            reference,
            frame: self,
        })
    }
}

fn encode(frame: &impl Serialize) -> Utf8Bytes {
    match serde_json::to_string(frame) {
        Ok(text) => Utf8Bytes::from(text),
        Err(err) => {
            tracing::error!(error = %err, "a server frame failed to encode");
            Utf8Bytes::from_static(
                r#"{"type":"error","code":"internal","message":"encoding failed"}"#,
            )
        }
    }
}
