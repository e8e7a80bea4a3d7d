//! The hub: which sockets are open, which rooms each follows, and delivery to them.
//!
//! Delivery never waits on a socket: each has a bounded queue, and a socket whose queue is
//! full is closed with 4009 instead of slowing the sender or anyone else in the room.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use uuid::Uuid;

use super::delivery::Personal;
use super::protocol::close;
use super::subscription::Subscription;

mod connection;

pub use connection::{Connection, QUEUE_FRAMES};

pub type ConnId = Uuid;

static FANOUT_DURATION: LazyLock<metrics::Histogram> =
    LazyLock::new(|| metrics::histogram!("ws_fanout_duration_seconds"));

#[derive(Default)]
struct Registry {
    connections: HashMap<ConnId, Arc<Connection>>,
    by_user: HashMap<Uuid, Vec<ConnId>>,
    /// room → its subscribers
    rooms: HashMap<Uuid, HashMap<ConnId, Arc<Subscription>>>,
    /// connection → rooms it follows (to clean up on close)
    subscriptions: HashMap<ConnId, HashSet<Uuid>>,
}

/// Open sockets on this instance and their subscriptions.
#[derive(Clone, Default)]
pub struct Hub {
    registry: Arc<RwLock<Registry>>,
}

impl Hub {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self, conn: &Arc<Connection>) {
        let mut registry = self.write();
        registry.connections.insert(conn.id, conn.clone());
        registry
            .by_user
            .entry(conn.user.id)
            .or_default()
            .push(conn.id);
        metrics::gauge!("ws_connections").increment(1.0);
    }

    /// Forgets a socket and its subscriptions; returns the rooms it followed.
    pub fn unregister(&self, conn_id: ConnId) -> Vec<Uuid> {
        let mut registry = self.write();
        let Some(conn) = registry.connections.remove(&conn_id) else {
            return Vec::new();
        };
        if let Some(ids) = registry.by_user.get_mut(&conn.user.id) {
            ids.retain(|id| *id != conn_id);
            if ids.is_empty() {
                registry.by_user.remove(&conn.user.id);
            }
        }
        let followed = registry.subscriptions.remove(&conn_id).unwrap_or_default();
        let mut member_of = Vec::with_capacity(followed.len());
        for room in followed {
            if let Some(subscribers) = registry.rooms.get_mut(&room) {
                if let Some(subscription) = subscribers.remove(&conn_id) {
                    subscription.end();
                    if subscription.is_member() {
                        member_of.push(room);
                    }
                }
                if subscribers.is_empty() {
                    registry.rooms.remove(&room);
                }
            }
        }
        metrics::gauge!("ws_connections").decrement(1.0);
        member_of
    }

    /// Makes the socket follow the room; following it already keeps the subscription as it is.
    /// None once the socket is gone.
    pub fn subscribe(
        &self,
        conn: &Arc<Connection>,
        room_id: Uuid,
        member: bool,
    ) -> Option<Arc<Subscription>> {
        self.follow(conn, room_id, member, false)
    }

    /// Like `subscribe`, for a replay: live frames are held from the moment the socket follows
    /// the room (a new subscription gets none before the replay).
    pub fn subscribe_held(
        &self,
        conn: &Arc<Connection>,
        room_id: Uuid,
        member: bool,
    ) -> Option<Arc<Subscription>> {
        self.follow(conn, room_id, member, true)
    }

    fn follow(
        &self,
        conn: &Arc<Connection>,
        room_id: Uuid,
        member: bool,
        held: bool,
    ) -> Option<Arc<Subscription>> {
        let mut registry = self.write();
        if !registry.connections.contains_key(&conn.id) {
            return None;
        }
        let subscription = registry
            .rooms
            .entry(room_id)
            .or_default()
            .entry(conn.id)
            .or_insert_with(|| Arc::new(Subscription::new(conn.clone(), room_id, member)))
            .clone();
        subscription.set_member(member);
        if held {
            // Under the registry's lock: no fan-out can reach a new subscription before this.
            subscription.start_replay();
        }
        registry
            .subscriptions
            .entry(conn.id)
            .or_default()
            .insert(room_id);
        Some(subscription)
    }

    pub fn unsubscribe(&self, conn_id: ConnId, room_id: Uuid) {
        let mut registry = self.write();
        if let Some(subscribers) = registry.rooms.get_mut(&room_id) {
            if let Some(subscription) = subscribers.remove(&conn_id) {
                subscription.end();
            }
            if subscribers.is_empty() {
                registry.rooms.remove(&room_id);
            }
        }
        if let Some(rooms) = registry.subscriptions.get_mut(&conn_id) {
            rooms.remove(&room_id);
        }
    }

    /// Marks an existing subscription as a member's or a viewer's; never creates one (a removal
    /// may have ended it meanwhile).
    pub fn set_member(&self, conn_id: ConnId, room_id: Uuid, member: bool) {
        if let Some(subscription) = self
            .read()
            .rooms
            .get(&room_id)
            .and_then(|subs| subs.get(&conn_id))
        {
            subscription.set_member(member);
        }
    }

    /// Subscribes every socket of `user_id` to the room as a member (they just joined it).
    pub fn subscribe_user(&self, user_id: Uuid, room_id: Uuid) {
        for conn in self.user_connections(user_id) {
            self.subscribe(&conn, room_id, true);
        }
    }

    /// Unsubscribes every socket of `user_id` from the room (left, removed or banned).
    pub fn unsubscribe_user(&self, user_id: Uuid, room_id: Uuid) {
        for conn in self.user_connections(user_id) {
            self.unsubscribe(conn.id, room_id);
        }
    }

    pub fn drop_room(&self, room_id: Uuid) {
        let mut registry = self.write();
        if let Some(subscribers) = registry.rooms.remove(&room_id) {
            for (conn_id, subscription) in &subscribers {
                subscription.end();
                if let Some(rooms) = registry.subscriptions.get_mut(conn_id) {
                    rooms.remove(&room_id);
                }
            }
        }
    }

    pub fn is_subscribed(&self, conn_id: ConnId, room_id: Uuid) -> bool {
        self.read()
            .subscriptions
            .get(&conn_id)
            .is_some_and(|rooms| rooms.contains(&room_id))
    }

    pub fn connection(&self, conn_id: ConnId) -> Option<Arc<Connection>> {
        self.read().connections.get(&conn_id).cloned()
    }

    pub fn user_connections(&self, user_id: Uuid) -> Vec<Arc<Connection>> {
        let registry = self.read();
        registry
            .by_user
            .get(&user_id)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| registry.connections.get(id).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The rooms the socket follows as a member (presence is announced to these).
    pub fn member_rooms_of(&self, conn_id: ConnId) -> Vec<Uuid> {
        let registry = self.read();
        let Some(rooms) = registry.subscriptions.get(&conn_id) else {
            return Vec::new();
        };
        rooms
            .iter()
            .filter(|room| {
                registry
                    .rooms
                    .get(room)
                    .and_then(|subs| subs.get(&conn_id))
                    .is_some_and(|s| s.is_member())
            })
            .copied()
            .collect()
    }

    pub fn rooms_of(&self, conn_id: ConnId) -> Vec<Uuid> {
        self.read()
            .subscriptions
            .get(&conn_id)
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Sends one encoded frame to every subscriber of a room (but `except`), or a user's own
    /// frame from `personal`; `seq` numbers a `message_new`. Each delivery is a non-blocking
    /// enqueue (a reference to the shared bytes), so the registry stays read-locked for the
    /// whole room rather than copying out its subscriber list on every broadcast.
    pub fn to_room(
        &self,
        room_id: Uuid,
        seq: Option<i64>,
        frame: &Utf8Bytes,
        except: Option<ConnId>,
        personal: &[Personal],
    ) {
        let start = Instant::now();
        let own_frames: Option<HashMap<Uuid, &Utf8Bytes>> = (!personal.is_empty()).then(|| {
            personal
                .iter()
                .flat_map(|p| p.user_ids.iter().map(|user| (*user, &p.frame.0)))
                .collect()
        });
        let registry = self.read();
        let Some(subscribers) = registry.rooms.get(&room_id) else {
            return;
        };
        for (conn_id, subscription) in subscribers {
            if Some(*conn_id) == except {
                continue;
            }
            let own = own_frames
                .as_ref()
                .and_then(|frames| frames.get(&subscription.conn.user.id).copied());
            subscription.deliver(seq, own.unwrap_or(frame));
        }
        drop(registry);
        FANOUT_DURATION.record(start.elapsed().as_secs_f64());
    }

    pub fn to_user(&self, user_id: Uuid, frame: &Utf8Bytes) {
        for conn in self.user_connections(user_id) {
            conn.send_text(frame.clone());
        }
    }

    /// Sends a frame once to each socket that follows any of `rooms` as a member (presence
    /// goes to everyone who shares a room as a member, once; viewers of a public room get none).
    pub fn to_members_once(&self, rooms: &[Uuid], frame: &Utf8Bytes, except_user: Option<Uuid>) {
        let targets: HashMap<ConnId, Arc<Connection>> = {
            let registry = self.read();
            rooms
                .iter()
                .filter_map(|room| registry.rooms.get(room))
                .flat_map(|subs| {
                    subs.iter()
                        .filter(|(_, s)| s.is_member())
                        .map(|(id, s)| (*id, s.conn.clone()))
                })
                .collect()
        };
        for conn in targets.values().filter(|c| Some(c.user.id) != except_user) {
            conn.send_text(frame.clone());
        }
    }

    /// Closes the sockets of the given sessions after telling them why.
    pub fn revoke_sessions(&self, user_id: Uuid, session_ids: &[Uuid], frame: &Utf8Bytes) {
        for conn in self.user_connections(user_id) {
            if session_ids.contains(&conn.session_id) {
                conn.send_text(frame.clone());
                conn.close(close::SESSION_REVOKED);
            }
        }
    }

    /// Every socket, e.g. to close them all at shutdown.
    pub fn all(&self) -> Vec<Arc<Connection>> {
        self.read().connections.values().cloned().collect()
    }

    /// (open sockets, rooms with live subscribers).
    pub fn counts(&self) -> (usize, usize) {
        let registry = self.read();
        (registry.connections.len(), registry.rooms.len())
    }
}
