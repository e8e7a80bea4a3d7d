//! The WebSocket protocol (docs/protocol.md): the frames clients send, the frames the server
//! sends, and the close codes.

mod client;
#[cfg(test)]
mod documented;
mod server;

pub use client::{ClientFrame, SignalAction};
pub use server::{Acked, Presence, ServerFrame};

use serde::Deserialize;

/// The `ref` of a frame, read before (and even when) the rest fails to parse.
#[derive(Deserialize)]
pub struct FrameRef {
    #[serde(rename = "ref")]
    pub reference: Option<serde_json::Value>,
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
