//! What clients send.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A frame from a client. Every frame may carry `ref`, echoed by the `ack`/`error` it causes.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Auth {
        token: String,
    },
    Subscribe {
        room_id: Option<Uuid>,
        alias: Option<String>,
        since: Option<Uuid>,
    },
    Unsubscribe {
        room_id: Uuid,
    },
    SendMessage {
        room_id: Uuid,
        content: String,
        client_msg_id: Option<String>,
        reply_to_id: Option<Uuid>,
        #[serde(default)]
        attachment_ids: Vec<Uuid>,
    },
    EditMessage {
        message_id: Uuid,
        content: String,
    },
    DeleteMessage {
        message_id: Uuid,
    },
    Typing {
        room_id: Uuid,
        active: bool,
    },
    Read {
        room_id: Uuid,
        message_id: Uuid,
    },
    CallJoin {
        room_id: Uuid,
        #[serde(default)]
        audio: bool,
        #[serde(default)]
        video: bool,
    },
    CallMedia {
        room_id: Uuid,
        #[serde(default)]
        audio: bool,
        #[serde(default)]
        video: bool,
        #[serde(default)]
        screen: bool,
    },
    CallLeave {
        room_id: Uuid,
    },
    Webrtc {
        room_id: Uuid,
        to: Uuid,
        action: SignalAction,
        sdp: Option<serde_json::Value>,
        candidate: Option<serde_json::Value>,
    },
    Ping,
}

impl ClientFrame {
    /// The frame's type, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientFrame::Auth { .. } => "auth",
            ClientFrame::Subscribe { .. } => "subscribe",
            ClientFrame::Unsubscribe { .. } => "unsubscribe",
            ClientFrame::SendMessage { .. } => "send_message",
            ClientFrame::EditMessage { .. } => "edit_message",
            ClientFrame::DeleteMessage { .. } => "delete_message",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::Read { .. } => "read",
            ClientFrame::CallJoin { .. } => "call_join",
            ClientFrame::CallMedia { .. } => "call_media",
            ClientFrame::CallLeave { .. } => "call_leave",
            ClientFrame::Webrtc { .. } => "webrtc",
            ClientFrame::Ping => "ping",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignalAction {
    Offer,
    Answer,
    Ice,
    Bye,
}
