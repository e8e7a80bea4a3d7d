//! Who is online on this instance: a count of open sockets per user. The realtime hub opens
//! and closes entries; profiles read them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

#[derive(Clone, Default)]
pub struct Presence {
    sockets: Arc<Mutex<HashMap<Uuid, u32>>>,
}

impl Presence {
    /// Records a new socket; true when it is the user's first (they just came online).
    pub fn socket_opened(&self, user_id: Uuid) -> bool {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let count = sockets.entry(user_id).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// Records a closed socket; true when it was the user's last (they just went offline).
    pub fn socket_closed(&self, user_id: Uuid) -> bool {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        match sockets.get_mut(&user_id) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                sockets.remove(&user_id);
                true
            }
            None => false,
        }
    }

    /// (users online, open sockets) on this instance.
    pub fn counts(&self) -> (u64, u64) {
        let sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        (
            sockets.len() as u64,
            sockets.values().map(|&n| u64::from(n)).sum(),
        )
    }

    pub fn is_online(&self, user_id: Uuid) -> bool {
        self.sockets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_from_first_socket_to_last() {
        let presence = Presence::default();
        let user = Uuid::now_v7();
        assert!(!presence.is_online(user));
        assert!(presence.socket_opened(user));
        assert!(!presence.socket_opened(user));
        assert!(!presence.socket_closed(user));
        assert!(presence.is_online(user));
        assert!(presence.socket_closed(user));
        assert!(!presence.is_online(user));
        assert!(!presence.socket_closed(user));
    }
}
