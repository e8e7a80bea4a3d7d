//! Typing indicators: throttled on the way in, and expired by the server when a client stops
//! refreshing them (a closed laptop never leaves "… is typing" behind).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// An indicator not refreshed for this long is over.
pub const TYPING_TTL: Duration = Duration::from_secs(6);
/// Repeated `active: true` within this interval are absorbed (only the expiry moves).
pub const TYPING_THROTTLE: Duration = Duration::from_secs(2);

#[derive(Clone, Default)]
pub struct Typing {
    active: Arc<Mutex<HashMap<(Uuid, Uuid), Indicator>>>,
}

struct Indicator {
    expires: Instant,
    last_sent: Instant,
}

impl Typing {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, Uuid), Indicator>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a typing frame; true when it should be broadcast.
    pub fn update(&self, room_id: Uuid, user_id: Uuid, active: bool) -> bool {
        let now = Instant::now();
        let mut map = self.lock();
        if !active {
            return map.remove(&(room_id, user_id)).is_some();
        }
        match map.get_mut(&(room_id, user_id)) {
            Some(indicator) => {
                indicator.expires = now + TYPING_TTL;
                if now.duration_since(indicator.last_sent) >= TYPING_THROTTLE {
                    indicator.last_sent = now;
                    true
                } else {
                    false
                }
            }
            None => {
                map.insert(
                    (room_id, user_id),
                    Indicator {
                        expires: now + TYPING_TTL,
                        last_sent: now,
                    },
                );
                true
            }
        }
    }

    /// Indicators whose time ran out, removed: (room, user) pairs to announce as stopped.
    pub fn expire(&self) -> Vec<(Uuid, Uuid)> {
        let now = Instant::now();
        let mut map = self.lock();
        let expired: Vec<(Uuid, Uuid)> = map
            .iter()
            .filter(|(_, i)| i.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in &expired {
            map.remove(key);
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_and_stops() {
        let typing = Typing::default();
        let (room, user) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(typing.update(room, user, true));
        assert!(!typing.update(room, user, true), "throttled");
        assert!(typing.update(room, user, false));
        assert!(!typing.update(room, user, false), "already stopped");
        assert!(typing.expire().is_empty());
    }
}
