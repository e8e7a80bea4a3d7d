//! The wire shapes clients receive over REST and WebSocket, and their builders. A view sent to
//! many readers (a broadcast) carries nothing that depends on who reads it.

pub mod members;
pub mod messages;
pub mod rooms;
pub mod uploads;
pub mod users;

pub use messages::{MessageView, SenderView};
pub use rooms::RoomView;
pub use users::{Me, PublicProfile, SecurityNotice};
