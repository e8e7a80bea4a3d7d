//! Who stands where: each room's kind and each user's place in a room (a member with a role,
//! banned, or outside), kept in memory for the access check of every REST route and WebSocket
//! frame, so a typing frame, a call signal or a page of history costs no database read.
//!
//! Exact on this instance: every change of membership, role or ban and every room deletion
//! publishes a domain event, and publishing forgets the entries the event touches before the
//! change is acknowledged to anyone (`EventBus::publish`); the next check reads the database.
//! A read that raced with such a change is not kept (the epoch, below). Other instances forget
//! the same entries when the change reaches them over the cluster bus, and everything after a
//! gap on the bus. Until then another instance may still grant a typing frame or a call signal
//! for the time the bus takes (milliseconds); a message never: the writer checks the sender's
//! membership inside the transaction that stores it, so a send racing with a removal on any
//! instance is refused once the removal is acknowledged.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::{Role, RoomKind};
use crate::events::DomainEvent;
use crate::store::{Store, StoreResult};
use crate::time::{self, Timestamp};

/// Rooms and places remembered at most; the least used are dropped beyond it.
const CAPACITY: u64 = 200_000;
/// An entry not asked for this long is dropped (memory goes back after a burst of lookups).
const IDLE: Duration = Duration::from_secs(30 * 60);

#[derive(Clone, Copy)]
struct Fill {
    epoch: u64,
    heard: bool,
}

/// A user's place in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Member(Role),
    /// Not a member, and banned until then (for good: `None`).
    Banned {
        until: Option<Timestamp>,
    },
    Outside,
}

impl Place {
    /// A ban that ran out counts as none.
    fn now(self) -> Place {
        match self {
            Place::Banned { until: Some(until) } if until <= time::now() => Place::Outside,
            place => place,
        }
    }
}

pub struct Standings {
    kinds: Cache<Uuid, RoomKind>,
    places: Cache<(Uuid, Uuid), Place>,
    /// Counts the forgets. A lookup that missed notes it before reading the database and keeps
    /// what it read only if no forget came in between (checked under this lock, which forgets
    /// take too): else it could put back what a removal just forgot.
    epoch: Mutex<u64>,
    /// False while changes made on other instances may go unheard (an instance of a cluster
    /// that is not following the bus): then every check reads the database.
    heard: AtomicBool,
}

impl Standings {
    /// `clustered`: changes made elsewhere are not heard until the cluster bus is followed.
    pub fn new(clustered: bool) -> Standings {
        Standings {
            kinds: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(IDLE)
                .build(),
            places: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(IDLE)
                .build(),
            epoch: Mutex::new(0),
            heard: AtomicBool::new(!clustered),
        }
    }

    fn epoch(&self) -> std::sync::MutexGuard<'_, u64> {
        self.epoch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Taken before a lookup reads the database: what `keep` checks afterwards.
    fn before_read(&self) -> Fill {
        Fill {
            epoch: *self.epoch(),
            heard: self.heard.load(Ordering::Acquire),
        }
    }

    /// Keeps what a lookup read, unless a forget came in between or changes elsewhere were
    /// not being heard (under the lock forgets take, so none can slip in before `insert`).
    fn keep(&self, fill: Fill, insert: impl FnOnce()) {
        let epoch = self.epoch();
        if fill.heard && *epoch == fill.epoch {
            insert();
        }
    }

    /// The room's kind; `None` when there is no such room.
    pub async fn kind(&self, store: &Store, room_id: Uuid) -> StoreResult<Option<RoomKind>> {
        if let Some(kind) = self.kinds.get(&room_id) {
            return Ok(Some(kind));
        }
        let fill = self.before_read();
        let Some(kind) = store.room_kind(room_id).await? else {
            // Not remembered: ids are never reused, but a room may be created on another
            // instance just after a client learned its id.
            return Ok(None);
        };
        self.keep(fill, || self.kinds.insert(room_id, kind));
        Ok(Some(kind))
    }

    /// The user's place in the room (whether or not the room exists: ask `kind` first).
    pub async fn place(&self, store: &Store, room_id: Uuid, user_id: Uuid) -> StoreResult<Place> {
        let key = (room_id, user_id);
        if let Some(place) = self.places.get(&key) {
            return Ok(place.now());
        }
        let fill = self.before_read();
        let place = match store.membership(room_id, user_id).await? {
            Some(membership) => Place::Member(membership.role),
            None => match store.active_ban(room_id, user_id).await? {
                Some(ban) => Place::Banned { until: ban.until },
                None => Place::Outside,
            },
        };
        self.keep(fill, || self.places.insert(key, place));
        Ok(place.now())
    }

    /// Forgets what changed. Each instance does it for the changes it hears of.
    pub fn forget(&self, changes: &[Forget]) {
        let mut epoch = self.epoch();
        *epoch += 1;
        for change in changes {
            match *change {
                Forget::Place { room_id, user_id } => self.places.invalidate(&(room_id, user_id)),
                // The places in a deleted room are never asked for again (its kind is asked
                // first, and is gone): they age out.
                Forget::Room { room_id } => self.kinds.invalidate(&room_id),
                Forget::Everything => {
                    self.kinds.invalidate_all();
                    self.places.invalidate_all();
                }
            }
        }
    }

    /// Whether changes made on other instances reach this one (the cluster bus is followed).
    /// Either way everything known is forgotten: what changed meanwhile was not heard.
    pub fn set_heard(&self, heard: bool) {
        self.heard.store(heard, Ordering::Release);
        self.forget(&[Forget::Everything]);
    }

    /// Forgets what an event changed.
    pub fn follow(&self, event: &DomainEvent) {
        let changes = Forget::after(event);
        if !changes.is_empty() {
            self.forget(&changes);
        }
    }
}

/// An entry to forget, as plain data: it crosses the cluster bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "forget", rename_all = "snake_case")]
pub enum Forget {
    Place {
        room_id: Uuid,
        user_id: Uuid,
    },
    Room {
        room_id: Uuid,
    },
    /// After a gap on the cluster bus, or an account deleted with all its memberships.
    Everything,
}

impl Forget {
    /// What an event changes in who stands where.
    pub fn after(event: &DomainEvent) -> Vec<Forget> {
        let place = |room_id: &Uuid, user_id: &Uuid| Forget::Place {
            room_id: *room_id,
            user_id: *user_id,
        };
        match event {
            DomainEvent::MemberJoined { room_id, user } => vec![place(room_id, &user.id)],
            DomainEvent::MemberLeft { room_id, user_id }
            | DomainEvent::MemberRoleChanged {
                room_id, user_id, ..
            }
            | DomainEvent::Banned {
                room_id, user_id, ..
            }
            | DomainEvent::Unbanned { room_id, user_id } => vec![place(room_id, user_id)],
            DomainEvent::DmCreated { room_id, user_ids } => {
                user_ids.iter().map(|user| place(room_id, user)).collect()
            }
            DomainEvent::RoomDeleted { room_id, .. } => vec![Forget::Room { room_id: *room_id }],
            DomainEvent::UserDeleted { .. } => vec![Forget::Everything],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_that_ran_out_counts_as_none() {
        let past = time::now() - chrono::Duration::seconds(1);
        let future = time::now() + chrono::Duration::seconds(60);
        assert_eq!(Place::Banned { until: Some(past) }.now(), Place::Outside);
        assert_eq!(
            Place::Banned {
                until: Some(future)
            }
            .now(),
            Place::Banned {
                until: Some(future)
            }
        );
        assert_eq!(
            Place::Banned { until: None }.now(),
            Place::Banned { until: None }
        );
    }
}
