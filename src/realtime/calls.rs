//! Who is in each room's call, with their media state: one `CallRegistry` that keeps this
//! instance's participants in memory and, with a cluster, the cluster-wide view in Redis.
//! Socket code, the liveness work and shutdown all go through it; none of them touches
//! the two halves on its own. While Redis is away, it answers from this instance alone.
//! Signaling is relayed only between connections that are both in the same room's call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::hub::ConnId;
use crate::cluster::Cluster;
use crate::views::SenderView;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Participant {
    pub connection_id: ConnId,
    pub user: Arc<SenderView>,
    pub audio: bool,
    pub video: bool,
    pub screen: bool,
}

/// Where the addressee of a signal is.
pub enum Peer {
    Here,
    Elsewhere,
    Missing,
}

#[derive(Clone)]
pub struct CallRegistry {
    /// This instance's participants, by room.
    local: Arc<Mutex<HashMap<Uuid, Vec<Participant>>>>,
    cluster: Option<Cluster>,
}

impl CallRegistry {
    pub fn new(cluster: Option<Cluster>) -> CallRegistry {
        CallRegistry {
            local: Arc::default(),
            cluster,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<Participant>>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or refreshes) a participant; returns the others already in the call, on every
    /// instance (this instance's alone while Redis is away).
    pub async fn join(&self, room_id: Uuid, participant: Participant) -> Vec<Participant> {
        let connection_id = participant.connection_id;
        let local_others = {
            let mut rooms = self.lock();
            let call = rooms.entry(room_id).or_default();
            call.retain(|p| p.connection_id != connection_id);
            let others = call.clone();
            call.push(participant.clone());
            others
        };
        let Some(cluster) = &self.cluster else {
            return local_others;
        };
        let everyone = async {
            cluster
                .call_joined(room_id, connection_id, &participant)
                .await?;
            cluster.call_participants::<Participant>(room_id).await
        };
        match everyone.await {
            Ok(everyone) => everyone
                .into_iter()
                .filter(|p| p.connection_id != connection_id)
                .collect(),
            Err(err) => {
                cluster.redis_failed("calls", &err);
                local_others
            }
        }
    }

    /// New media flags of a connection in the call; None when it is not in it.
    pub async fn set_media(
        &self,
        room_id: Uuid,
        conn: ConnId,
        [audio, video, screen]: [bool; 3],
    ) -> Option<Participant> {
        let participant = {
            let mut rooms = self.lock();
            let p = rooms
                .get_mut(&room_id)?
                .iter_mut()
                .find(|p| p.connection_id == conn)?;
            (p.audio, p.video, p.screen) = (audio, video, screen);
            p.clone()
        };
        if let Some(cluster) = &self.cluster
            && let Err(err) = cluster.call_joined(room_id, conn, &participant).await
        {
            cluster.redis_failed("calls", &err);
        }
        Some(participant)
    }

    /// Takes a connection out of a room's call; true if it was in it.
    pub async fn leave(&self, room_id: Uuid, conn: ConnId) -> bool {
        let left = {
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
        };
        if left {
            self.forget_in_cluster(vec![(room_id, conn)]).await;
        }
        left
    }

    /// Takes a connection out of every call (its socket closed); returns the rooms it left.
    pub async fn leave_everywhere(&self, conn: ConnId) -> Vec<Uuid> {
        let mut left = Vec::new();
        self.lock().retain(|room_id, call| {
            let before = call.len();
            call.retain(|p| p.connection_id != conn);
            if call.len() < before {
                left.push(*room_id);
            }
            !call.is_empty()
        });
        self.forget_in_cluster(left.iter().map(|room| (*room, conn)).collect())
            .await;
        left
    }

    /// Takes a user's connections here out of a room's call (removed or banned); returns
    /// them. The cluster's view follows in the background: the caller tells the room at
    /// once, and the user cannot rejoin the call meanwhile.
    pub fn remove_user(&self, room_id: Uuid, user_id: Uuid) -> Vec<ConnId> {
        let gone: Vec<ConnId> = {
            let mut rooms = self.lock();
            let Some(call) = rooms.get_mut(&room_id) else {
                return Vec::new();
            };
            let gone = call
                .iter()
                .filter(|p| p.user.id == user_id)
                .map(|p| p.connection_id)
                .collect();
            call.retain(|p| p.user.id != user_id);
            if call.is_empty() {
                rooms.remove(&room_id);
            }
            gone
        };
        if !gone.is_empty() && self.cluster.is_some() {
            let registry = self.clone();
            let left = gone.iter().map(|conn| (room_id, *conn)).collect();
            tokio::spawn(async move { registry.forget_in_cluster(left).await });
        }
        gone
    }

    /// Where `to` is, for a signal from `from`: both must be in the room's call.
    pub async fn peer(&self, room_id: Uuid, from: ConnId, to: ConnId) -> Peer {
        if !self.in_call_here(room_id, from) {
            return Peer::Missing;
        }
        if self.in_call_here(room_id, to) {
            return Peer::Here;
        }
        let Some(cluster) = &self.cluster else {
            return Peer::Missing;
        };
        match cluster.in_call(room_id, to).await {
            Ok(true) => Peer::Elsewhere,
            Ok(false) => Peer::Missing,
            Err(err) => {
                cluster.redis_failed("calls", &err);
                Peer::Missing
            }
        }
    }

    fn in_call_here(&self, room_id: Uuid, conn: ConnId) -> bool {
        self.lock()
            .get(&room_id)
            .is_some_and(|call| call.iter().any(|p| p.connection_id == conn))
    }

    /// Every participant on this instance, with its room.
    fn all_here(&self) -> Vec<(Uuid, Participant)> {
        self.lock()
            .iter()
            .flat_map(|(room_id, call)| call.iter().map(|p| (*room_id, p.clone())))
            .collect()
    }

    async fn forget_in_cluster(&self, left: Vec<(Uuid, ConnId)>) {
        if let Some(cluster) = &self.cluster
            && let Err(err) = cluster.calls_left(cluster.instance_id(), &left).await
        {
            cluster.redis_failed("calls", &err);
        }
    }

    /// After (re)joining the cluster: its view of this instance's calls becomes exactly what
    /// is here (removals lost while Redis was away would otherwise stay forever).
    pub async fn rejoin(&self) -> redis::RedisResult<()> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        let here = self.all_here();
        let stale: Vec<(Uuid, ConnId)> = cluster
            .calls_of(cluster.instance_id())
            .await?
            .into_iter()
            .filter(|(room_id, conn)| {
                !here
                    .iter()
                    .any(|(room, p)| room == room_id && p.connection_id == *conn)
            })
            .collect();
        cluster.calls_left(cluster.instance_id(), &stale).await?;
        for (room_id, participant) in &here {
            cluster
                .call_joined(*room_id, participant.connection_id, participant)
                .await?;
        }
        Ok(())
    }

    /// Takes a dead instance's participants out of the cluster's calls; returns them, for the
    /// rooms to be told.
    pub async fn reap(&self, instance: Uuid) -> Vec<(Uuid, ConnId)> {
        let Some(cluster) = &self.cluster else {
            return Vec::new();
        };
        let gone = async {
            let gone = cluster.calls_of(instance).await?;
            cluster.calls_left(instance, &gone).await?;
            Ok::<_, redis::RedisError>(gone)
        };
        match gone.await {
            Ok(gone) => gone,
            Err(err) => {
                cluster.redis_failed("calls", &err);
                Vec::new()
            }
        }
    }

    /// A graceful stop: every participant here leaves the cluster's calls; returns them, for
    /// the rooms to be told.
    pub async fn leave_all(&self) -> Vec<(Uuid, ConnId)> {
        let left: Vec<(Uuid, ConnId)> = self
            .all_here()
            .into_iter()
            .map(|(room_id, p)| (room_id, p.connection_id))
            .collect();
        self.lock().clear();
        self.forget_in_cluster(left.clone()).await;
        left
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

    #[tokio::test]
    async fn join_media_leave() {
        let calls = CallRegistry::new(None);
        let (room, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert!(
            calls
                .join(room, participant(a, Uuid::now_v7()))
                .await
                .is_empty()
        );
        assert_eq!(
            calls.join(room, participant(b, Uuid::now_v7())).await.len(),
            1
        );
        assert!(matches!(calls.peer(room, a, b).await, Peer::Here));
        assert!(
            calls
                .set_media(room, a, [false, true, true])
                .await
                .is_some_and(|p| p.video && p.screen)
        );
        assert!(calls.leave(room, a).await);
        assert!(!calls.leave(room, a).await);
        assert!(matches!(calls.peer(room, b, a).await, Peer::Missing));
        assert_eq!(calls.leave_everywhere(b).await, vec![room]);
        assert!(calls.all_here().is_empty());
    }
}
