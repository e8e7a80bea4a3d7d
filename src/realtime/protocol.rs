//! The WebSocket protocol's frames: what clients send, and how server frames are encoded.

use axum::extract::ws::Utf8Bytes;
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

/// The `ref` of a frame, read before (and even when) the rest fails to parse.
#[derive(Deserialize)]
pub struct FrameRef {
    #[serde(rename = "ref")]
    pub reference: Option<serde_json::Value>,
}

/// `message_new` and the `ack` of a `send_message`, the two frames of every message: written
/// straight from the view (a `json!` would copy the whole message into a `Value` first).
#[derive(Serialize)]
pub struct MessageFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<&'a serde_json::Value>,
    pub message: &'a crate::views::MessageView,
}

impl<'a> MessageFrame<'a> {
    pub fn new(message: &'a crate::views::MessageView) -> MessageFrame<'a> {
        MessageFrame {
            kind: "message_new",
            reference: None,
            message,
        }
    }

    pub fn ack(
        reference: Option<&'a serde_json::Value>,
        message: &'a crate::views::MessageView,
    ) -> MessageFrame<'a> {
        MessageFrame {
            kind: "ack",
            reference,
            message,
        }
    }
}

/// Encodes a server frame once; the bytes are shared (reference-counted) by every receiver.
pub fn encode(frame: &impl Serialize) -> Utf8Bytes {
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

/// `{"type":"error", ref?, code, message, retry_after_ms?}`
pub fn error_frame(
    reference: Option<&serde_json::Value>,
    code: &str,
    message: &str,
    retry_after_ms: Option<u64>,
) -> Utf8Bytes {
    #[derive(Serialize)]
    struct ErrorFrame<'a> {
        r#type: &'static str,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a serde_json::Value>,
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    }
    encode(&ErrorFrame {
        r#type: "error",
        reference,
        code,
        message,
        retry_after_ms,
    })
}

/// Close codes of the protocol.
pub mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const UNAUTHENTICATED: u16 = 4001;
    pub const SESSION_REVOKED: u16 = 4003;
    pub const TOO_SLOW: u16 = 4009;
}
