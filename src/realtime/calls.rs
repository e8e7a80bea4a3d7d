//! Who is in each room's call, with their media state. Signaling is relayed only between
//! connections that are both in the same room's call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::hub::ConnId;
use crate::views::SenderView;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Participant {
    pub connection_id: ConnId,
    pub user: Arc<SenderView>,
    pub audio: bool,
    pub video: bool,
    pub screen: bool,
}

#[derive(Clone, Default)]
pub struct Calls {
    rooms: Arc<Mutex<HashMap<Uuid, Vec<Participant>>>>,
}

impl Calls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<Participant>>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or refreshes) a participant; returns the others already in the call.
    pub fn join(&self, room_id: Uuid, participant: Participant) -> Vec<Participant> {
        let mut rooms = self.lock();
        let call = rooms.entry(room_id).or_default();
        call.retain(|p| p.connection_id != participant.connection_id);
        let others = call.clone();
        call.push(participant);
        others
    }

    /// Updates media flags; false when the connection is not in the call.
    pub fn set_media(
        &self,
        room_id: Uuid,
        conn: ConnId,
        audio: bool,
        video: bool,
        screen: bool,
    ) -> Option<Participant> {
        let mut rooms = self.lock();
        let p = rooms
            .get_mut(&room_id)?
            .iter_mut()
            .find(|p| p.connection_id == conn)?;
        (p.audio, p.video, p.screen) = (audio, video, screen);
        Some(p.clone())
    }

    /// Removes a connection from a room's call; true if it was in it.
    pub fn leave(&self, room_id: Uuid, conn: ConnId) -> bool {
        let mut rooms = self.lock();
        let Some(call) = rooms.get_mut(&room_id) else {
            return false;
        };
        let before = call.len();
        call.retain(|p| p.connection_id != conn);
        let left = call.len() < before;
        if call.is_empty() {
            rooms.remove(&room_id);
        }
        left
    }

    /// Removes a connection from every call; returns the rooms whose call it left.
    pub fn leave_everywhere(&self, conn: ConnId) -> Vec<Uuid> {
        let mut rooms = self.lock();
        let mut left = Vec::new();
        rooms.retain(|room_id, call| {
            let before = call.len();
            call.retain(|p| p.connection_id != conn);
            if call.len() < before {
                left.push(*room_id);
            }
            !call.is_empty()
        });
        left
    }

    /// Removes a user's connections from a room's call (removed or banned); returns them.
    pub fn remove_user(&self, room_id: Uuid, user_id: Uuid) -> Vec<ConnId> {
        let mut rooms = self.lock();
        let Some(call) = rooms.get_mut(&room_id) else {
            return Vec::new();
        };
        let gone: Vec<ConnId> = call
            .iter()
            .filter(|p| p.user.id == user_id)
            .map(|p| p.connection_id)
            .collect();
        call.retain(|p| p.user.id != user_id);
        if call.is_empty() {
            rooms.remove(&room_id);
        }
        gone
    }

    pub fn in_call(&self, room_id: Uuid, conn: ConnId) -> bool {
        self.lock()
            .get(&room_id)
            .is_some_and(|call| call.iter().any(|p| p.connection_id == conn))
    }

    /// Every call participant on this instance, with its room.
    pub fn all(&self) -> Vec<(Uuid, Participant)> {
        self.lock()
            .iter()
            .flat_map(|(room_id, call)| call.iter().map(|p| (*room_id, p.clone())))
            .collect()
    }

    pub fn participants(&self, room_id: Uuid) -> Vec<Participant> {
        self.lock().get(&room_id).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn participant(conn: ConnId, user: Uuid) -> Participant {
        let user = Arc::new(SenderView {
            id: user,
            username: "u".into(),
            display_name: "U".into(),
        });
        Participant {
            connection_id: conn,
            user,
            audio: true,
            video: false,
            screen: false,
        }
    }

    #[test]
    fn join_media_leave() {
        let calls = Calls::default();
        let (room, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert!(calls.join(room, participant(a, Uuid::now_v7())).is_empty());
        assert_eq!(calls.join(room, participant(b, Uuid::now_v7())).len(), 1);
        assert!(calls.in_call(room, a) && calls.in_call(room, b));
        assert!(
            calls
                .set_media(room, a, false, true, true)
                .is_some_and(|p| p.video && p.screen)
        );
        assert!(calls.leave(room, a));
        assert!(!calls.leave(room, a));
        assert!(calls.leave(room, b));
        assert!(calls.participants(room).is_empty());
    }
}
