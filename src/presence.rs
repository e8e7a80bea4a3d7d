//! Who is online: one `Presence` that counts open sockets per user on this instance and, with
//! a cluster, keeps its Redis side (this instance's list of users, the news on the bus) and
//! what the other instances announced. Socket code, the bus, the liveness work and the REST
//! routes all go through it. Reads are local and synchronous, so room and member lists never
//! wait on Redis. What news means for sockets (who is told) is realtime's.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::cluster::Cluster;
use crate::time::Timestamp;

#[derive(Clone)]
pub struct Presence {
    inner: Arc<Mutex<Inner>>,
    cluster: Option<Cluster>,
}

/// What a dead instance's users come to, once it is reaped.
pub struct Reaped {
    /// Offline everywhere now, as far as this instance knew them: to be announced.
    pub offline: Vec<Uuid>,
    /// Everyone it listed who is online nowhere now: their last_seen_at is to be stored.
    pub last_seen: Vec<Uuid>,
}

#[derive(Default)]
struct Inner {
    /// user → open sockets on this instance
    sockets: HashMap<Uuid, u32>,
    /// user → other instances where the user has a socket
    elsewhere: HashMap<Uuid, HashSet<Uuid>>,
    /// instance → its online users (the same facts, indexed for an instance that goes away)
    instances: HashMap<Uuid, HashSet<Uuid>>,
}

impl Inner {
    fn is_online(&self, user_id: Uuid) -> bool {
        self.sockets.contains_key(&user_id) || self.elsewhere.contains_key(&user_id)
    }

    fn forget_remote(&mut self, instance: Uuid, user_id: Uuid) {
        if let Some(where_) = self.elsewhere.get_mut(&user_id) {
            where_.remove(&instance);
            if where_.is_empty() {
                self.elsewhere.remove(&user_id);
            }
        }
    }
}

impl Presence {
    pub fn new(cluster: Option<Cluster>) -> Presence {
        Presence {
            inner: Arc::default(),
            cluster,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a new socket of a user who is a member of `rooms`; true when it is news: the
    /// user was offline everywhere. Their first socket here is announced to the cluster.
    pub async fn socket_opened(&self, user_id: Uuid, rooms: &[Uuid]) -> bool {
        let (first_here, news) = self.opened_here(user_id);
        if first_here && let Some(cluster) = &self.cluster {
            cluster.user_arrived(user_id, rooms.to_vec()).await;
        }
        news
    }

    /// (first socket here, first socket anywhere).
    fn opened_here(&self, user_id: Uuid) -> (bool, bool) {
        let mut inner = self.lock();
        let elsewhere = inner.elsewhere.contains_key(&user_id);
        let count = inner.sockets.entry(user_id).or_insert(0);
        *count += 1;
        (*count == 1, *count == 1 && !elsewhere)
    }

    /// Records a closed socket; true when it was the user's last here (then, after a grace
    /// period for a reconnect, `left`).
    pub fn socket_closed(&self, user_id: Uuid) -> bool {
        let mut inner = self.lock();
        match inner.sockets.get_mut(&user_id) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                inner.sockets.remove(&user_id);
                true
            }
            None => false,
        }
    }

    /// (users online, open sockets) on this instance.
    pub fn counts(&self) -> (u64, u64) {
        let inner = self.lock();
        (
            inner.sockets.len() as u64,
            inner.sockets.values().map(|&n| u64::from(n)).sum(),
        )
    }

    /// Online anywhere in the cluster.
    pub fn is_online(&self, user_id: Uuid) -> bool {
        self.lock().is_online(user_id)
    }

    /// The grace period after the user's last socket here closed is over: unless a socket
    /// came back, the cluster hears they left this instance. True when that is news: they
    /// are offline everywhere.
    pub async fn left(&self, user_id: Uuid, rooms: Vec<Uuid>, at: Timestamp) -> bool {
        if self.lock().sockets.contains_key(&user_id) {
            return false;
        }
        if let Some(cluster) = &self.cluster {
            cluster.user_departed(user_id, rooms, at).await;
        }
        !self.is_online(user_id)
    }

    /// Users with a socket on this instance.
    pub fn local_users(&self) -> Vec<Uuid> {
        self.lock().sockets.keys().copied().collect()
    }

    /// Tells the other instances every user here again (see `Cluster::publish_roster`).
    pub fn publish_roster(&self) {
        if let Some(cluster) = &self.cluster {
            cluster.publish_roster(self.local_users());
        }
    }

    /// After (re)joining the cluster, when news may have been lost both ways: the cluster
    /// hears this instance's users again, and the other instances' lists are read back.
    /// Returns (users now online who were offline everywhere, users now offline everywhere).
    pub async fn rejoin(&self) -> redis::RedisResult<(Vec<Uuid>, Vec<Uuid>)> {
        let Some(cluster) = &self.cluster else {
            return Ok((Vec::new(), Vec::new()));
        };
        cluster.replace_roster(self.local_users()).await?;
        let (mut came, mut went) = (Vec::new(), Vec::new());
        let mut seen = Vec::new();
        for (instance, users) in cluster.rosters().await? {
            let (c, w) = self.set_roster(instance, users);
            came.extend(c);
            went.extend(w);
            seen.push(instance);
        }
        // Instances still remembered but no longer alive are gone.
        for instance in self.known_instances() {
            if !seen.contains(&instance) {
                went.extend(self.instance_gone(instance));
            }
        }
        Ok((came, went))
    }

    /// This instance found `instance` dead (see `cluster::liveness`): its users go offline
    /// unless they are online elsewhere.
    pub async fn reap(&self, instance: Uuid) -> Reaped {
        let listed = match &self.cluster {
            Some(cluster) => cluster.take_roster(instance).await.unwrap_or_else(|err| {
                cluster.redis_failed("presence", &err);
                Vec::new()
            }),
            None => Vec::new(),
        };
        let offline = self.instance_gone(instance);
        let last_seen = listed
            .into_iter()
            .filter(|user| !self.is_online(*user))
            .collect();
        Reaped { offline, last_seen }
    }

    /// Another instance says the user came online there; true when they were offline everywhere.
    pub fn remote_online(&self, instance: Uuid, user_id: Uuid) -> bool {
        let mut inner = self.lock();
        let was_online = inner.is_online(user_id);
        inner.elsewhere.entry(user_id).or_default().insert(instance);
        inner.instances.entry(instance).or_default().insert(user_id);
        !was_online
    }

    /// Another instance says the user's last socket there closed; true when that leaves them
    /// offline everywhere.
    pub fn remote_offline(&self, instance: Uuid, user_id: Uuid) -> bool {
        let mut inner = self.lock();
        let was_online = inner.is_online(user_id);
        inner.forget_remote(instance, user_id);
        if let Some(users) = inner.instances.get_mut(&instance) {
            users.remove(&user_id);
        }
        was_online && !inner.is_online(user_id)
    }

    /// Replaces what is known of one instance's users (its roster, sent when it (re)joins the
    /// cluster); returns (users now online who were offline everywhere, users now offline
    /// everywhere), the news that messages missed meanwhile would have carried.
    pub fn set_roster(
        &self,
        instance: Uuid,
        users: impl IntoIterator<Item = Uuid>,
    ) -> (Vec<Uuid>, Vec<Uuid>) {
        let mut inner = self.lock();
        let before = inner.instances.remove(&instance).unwrap_or_default();
        let users: HashSet<Uuid> = users.into_iter().collect();
        let came: Vec<Uuid> = users
            .iter()
            .filter(|u| !inner.is_online(**u))
            .copied()
            .collect();
        for user in &before {
            inner.forget_remote(instance, *user);
        }
        for user in &users {
            inner.elsewhere.entry(*user).or_default().insert(instance);
        }
        let went: Vec<Uuid> = before
            .iter()
            .filter(|u| !inner.is_online(**u))
            .copied()
            .collect();
        if !users.is_empty() {
            inner.instances.insert(instance, users);
        }
        (came, went)
    }

    /// An instance is gone (crashed or stopped); returns its users now offline everywhere.
    pub fn instance_gone(&self, instance: Uuid) -> Vec<Uuid> {
        let mut inner = self.lock();
        let users = inner.instances.remove(&instance).unwrap_or_default();
        let mut offline = Vec::new();
        for user in users {
            inner.forget_remote(instance, user);
            if !inner.is_online(user) {
                offline.push(user);
            }
        }
        offline
    }

    /// Instances other than this one that have users online.
    fn known_instances(&self) -> Vec<Uuid> {
        self.lock().instances.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn online_from_first_socket_to_last() {
        let presence = Presence::new(None);
        let user = Uuid::now_v7();
        assert!(!presence.is_online(user));
        assert!(presence.socket_opened(user, &[]).await);
        assert!(!presence.socket_opened(user, &[]).await);
        assert!(!presence.socket_closed(user));
        assert!(presence.is_online(user));
        assert!(presence.socket_closed(user));
        assert!(!presence.is_online(user));
        assert!(!presence.socket_closed(user));
        assert!(presence.left(user, Vec::new(), crate::time::now()).await);
    }

    #[tokio::test]
    async fn online_on_other_instances_until_the_last_one_lets_go() {
        let presence = Presence::new(None);
        let (user, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert!(presence.remote_online(a, user), "first sighting is news");
        assert!(!presence.remote_online(b, user), "already online");
        assert!(presence.is_online(user) && presence.local_users().is_empty());
        assert!(!presence.remote_offline(a, user), "still on b");
        assert!(
            !presence.socket_opened(user, &[]).await,
            "no news: online on b"
        );
        assert!(!presence.remote_offline(b, user), "still here");
        assert!(presence.socket_closed(user));
        assert!(!presence.is_online(user));
    }

    #[test]
    fn a_gone_instance_takes_only_its_own_users_offline() {
        let presence = Presence::new(None);
        let (alone, shared, a, b) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        presence.remote_online(a, alone);
        presence.remote_online(a, shared);
        presence.remote_online(b, shared);
        assert_eq!(presence.instance_gone(a), vec![alone]);
        assert!(presence.is_online(shared) && !presence.is_online(alone));
        assert_eq!(presence.set_roster(b, []), (vec![], vec![shared]));
        assert!(!presence.is_online(shared));
        assert_eq!(presence.set_roster(a, [alone]), (vec![alone], vec![]));
        assert_eq!(presence.set_roster(a, [alone]), (vec![], vec![]), "no news");
        presence.set_roster(a, []);
        assert!(presence.known_instances().is_empty());
    }
}
