//! Domain events: every state change is published here once, and whoever needs to react
//! (the realtime hub, the cluster bus) subscribes, so handlers never know their audience.

use std::sync::Arc;

use std::sync::Mutex;

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::domain::Role;
use crate::service::standings::Standings;
use crate::time::Timestamp;
use crate::views::MessageView;
use crate::views::PublicProfile;
use crate::views::RoomView;
use crate::views::SecurityNotice;
use crate::views::messages::BroadcastMessage;

#[derive(Debug, Clone)]
pub enum DomainEvent {
    /// Sessions stopped being valid: logout, revoke, password change, account deletion,
    /// a new login on the same device, or refresh-token reuse.
    SessionsRevoked {
        user_id: Uuid,
        session_ids: Vec<Uuid>,
        reason: RevokeReason,
    },
    /// A user's public profile changed.
    UserUpdated {
        user_id: Uuid,
    },
    /// `room_ids`: the rooms they were a member of, since the membership rows are gone with
    /// the account.
    UserDeleted {
        user_id: Uuid,
        room_ids: Vec<Uuid>,
    },
    /// The owner should know: sent to every socket of theirs.
    SecurityNotice {
        user_id: Uuid,
        notice: SecurityNotice,
    },

    MessageCreated {
        room_id: Uuid,
        /// The message's number in its room (gapless, in commit order).
        seq: i64,
        message: Arc<MessageView>,
    },
    MessageEdited {
        room_id: Uuid,
        message: Arc<BroadcastMessage>,
    },
    MessageDeleted {
        room_id: Uuid,
        message_id: Uuid,
    },
    Reaction {
        room_id: Uuid,
        message_id: Uuid,
        emoji: String,
        user_id: Uuid,
        added: bool,
    },
    /// A member's read cursor moved forward.
    Read {
        room_id: Uuid,
        user_id: Uuid,
        message_id: Uuid,
    },
    MemberJoined {
        room_id: Uuid,
        user: Arc<PublicProfile>,
    },
    /// Left, removed or banned: the user no longer receives the room's events.
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
        room: Arc<RoomView>,
    },
    /// `member_ids`: who belonged to it, since the membership rows are gone with it.
    RoomDeleted {
        room_id: Uuid,
        member_ids: Vec<Uuid>,
    },
    /// A new direct-message room; `user_ids` are its two members.
    DmCreated {
        room_id: Uuid,
        user_ids: [Uuid; 2],
    },
    Banned {
        room_id: Uuid,
        user_id: Uuid,
        until: Option<Timestamp>,
        reason: String,
    },
    /// A ban was lifted (nothing is sent; access checks forget the ban).
    Unbanned {
        room_id: Uuid,
        user_id: Uuid,
    },
}

impl DomainEvent {
    /// The room an event belongs to, for fan-out by room.
    pub fn room_id(&self) -> Option<Uuid> {
        match self {
            DomainEvent::MessageCreated { room_id, .. }
            | DomainEvent::MessageEdited { room_id, .. }
            | DomainEvent::MessageDeleted { room_id, .. }
            | DomainEvent::Reaction { room_id, .. }
            | DomainEvent::Read { room_id, .. }
            | DomainEvent::MemberJoined { room_id, .. }
            | DomainEvent::MemberLeft { room_id, .. }
            | DomainEvent::MemberRoleChanged { room_id, .. }
            | DomainEvent::RoomDeleted { room_id, .. }
            | DomainEvent::DmCreated { room_id, .. }
            | DomainEvent::Banned { room_id, .. }
            | DomainEvent::Unbanned { room_id, .. } => Some(*room_id),
            DomainEvent::RoomUpdated { room } => Some(room.id),
            DomainEvent::SessionsRevoked { .. }
            | DomainEvent::UserUpdated { .. }
            | DomainEvent::UserDeleted { .. }
            | DomainEvent::SecurityNotice { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    Logout,
    Revoked,
    PasswordChanged,
    AccountDeleted,
    ReplacedOnDevice,
    RefreshTokenReused,
}

/// The channel from the use-cases to the realtime fan-out. Bounded, and a publisher waits
/// while it is full: the fan-out can fall behind a burst but never skip an event (with a
/// broadcast channel, a lagging receiver lost events and every socket missed them silently).
/// Publishing also forgets, at once, the access-check entries the event changes
/// (`Standings`), so nothing is acknowledged before this instance's checks see it.
#[derive(Clone)]
pub struct EventBus {
    tx: mpsc::Sender<Arc<DomainEvent>>,
    rx: Arc<Mutex<Option<mpsc::Receiver<Arc<DomainEvent>>>>>,
    standings: Arc<Standings>,
}

impl EventBus {
    pub fn new(capacity: usize, standings: Arc<Standings>) -> EventBus {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        EventBus {
            tx,
            rx: Arc::new(Mutex::new(Some(rx))),
            standings,
        }
    }

    /// Hands an event to the fan-out, waiting while it is behind by the channel's capacity.
    pub async fn publish(&self, event: DomainEvent) {
        self.standings.follow(&event);
        // Err only once the fan-out has stopped (the process is ending).
        let _ = self.tx.send(Arc::new(event)).await;
    }

    /// The fan-out's end of the channel; there is one, taken once.
    pub fn take_receiver(&self) -> Option<mpsc::Receiver<Arc<DomainEvent>>> {
        self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}
