//! Who is online: a count of open sockets per user on this instance, and (with a cluster) which
//! other instances have each user online, as they announced it over the bus. Reads are local
//! and synchronous, so room and member lists never wait on Redis.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

#[derive(Clone, Default)]
pub struct Presence {
    inner: Arc<Mutex<Inner>>,
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
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a new socket; true when it is the user's first here (they came online here).
    pub fn socket_opened(&self, user_id: Uuid) -> bool {
        let mut inner = self.lock();
        let count = inner.sockets.entry(user_id).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// Records a closed socket; true when it was the user's last here.
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

    pub fn online_here(&self, user_id: Uuid) -> bool {
        self.lock().sockets.contains_key(&user_id)
    }

    pub fn online_elsewhere(&self, user_id: Uuid) -> bool {
        self.lock().elsewhere.contains_key(&user_id)
    }

    /// Users with a socket on this instance.
    pub fn local_users(&self) -> Vec<Uuid> {
        self.lock().sockets.keys().copied().collect()
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
    pub fn known_instances(&self) -> Vec<Uuid> {
        self.lock().instances.keys().copied().collect()
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

    #[test]
    fn online_on_other_instances_until_the_last_one_lets_go() {
        let presence = Presence::default();
        let (user, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert!(presence.remote_online(a, user), "first sighting is news");
        assert!(!presence.remote_online(b, user), "already online");
        assert!(presence.is_online(user) && !presence.online_here(user));
        assert!(!presence.remote_offline(a, user), "still on b");
        assert!(presence.socket_opened(user));
        assert!(!presence.remote_offline(b, user), "still here");
        assert!(presence.socket_closed(user));
        assert!(!presence.is_online(user));
    }

    #[test]
    fn a_gone_instance_takes_only_its_own_users_offline() {
        let presence = Presence::default();
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
