//! The cluster's side of presence, as plain data: per instance, the set of users with a socket
//! there (what a reaper reads when the instance dies), and the news published on the bus when
//! a user's first socket on an instance opens or its last one closes. What the news means for
//! sockets is the caller's (`Presence`, and realtime).

use redis::AsyncCommands;
use uuid::Uuid;

use super::bus::News;
use super::{BOOKKEEPING_TTL_SECS, Cluster};
use crate::time::Timestamp;

impl Cluster {
    /// The user's first socket here opened: list them and tell the others.
    pub async fn user_arrived(&self, user_id: Uuid, rooms: Vec<Uuid>) {
        let users = self.keys().users(self.instance_id());
        if let Err(err) = self
            .redis()
            .sadd::<_, _, ()>(users, user_id.to_string())
            .await
        {
            self.redis_failed("presence", &err);
        }
        self.publish(&News::Online { user_id, rooms });
    }

    /// The user's last socket here closed (after the grace period): unlist them and tell the
    /// others.
    pub async fn user_departed(&self, user_id: Uuid, rooms: Vec<Uuid>, last_seen_at: Timestamp) {
        let users = self.keys().users(self.instance_id());
        if let Err(err) = self
            .redis()
            .srem::<_, _, ()>(users, user_id.to_string())
            .await
        {
            self.redis_failed("presence", &err);
        }
        self.publish(&News::Offline {
            user_id,
            rooms,
            last_seen_at,
        });
    }

    /// Every user here, to the others: repairs presence news lost on the way (pub/sub
    /// delivers at most once).
    pub fn publish_roster(&self, user_ids: Vec<Uuid>) {
        self.publish(&News::Roster { user_ids });
    }

    /// After (re)joining: the cluster's list of this instance's users becomes exactly `users`,
    /// and the others hear it.
    pub async fn replace_roster(&self, users: Vec<Uuid>) -> redis::RedisResult<()> {
        let key = self.keys().users(self.instance_id());
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key).ignore();
        if !users.is_empty() {
            pipe.sadd(&key, users.iter().map(Uuid::to_string).collect::<Vec<_>>())
                .ignore();
        }
        pipe.expire(&key, BOOKKEEPING_TTL_SECS).ignore();
        pipe.query_async::<()>(&mut self.redis()).await?;
        self.publish_roster(users);
        Ok(())
    }

    /// The users of every other instance that is alive. Alive means an alive key, not a
    /// recent heartbeat: after a Redis restart from disk, scores are old while the instances
    /// are fine.
    pub async fn rosters(&self) -> redis::RedisResult<Vec<(Uuid, Vec<Uuid>)>> {
        let keys = self.keys();
        let mut redis = self.redis();
        let instances: Vec<String> = redis.zrange(keys.instances(), 0, -1).await?;
        let mut rosters = Vec::new();
        for instance in instances.iter().filter_map(|s| Uuid::parse_str(s).ok()) {
            if instance == self.instance_id() {
                continue;
            }
            let alive: bool = redis.exists(keys.alive(instance)).await?;
            if !alive {
                continue;
            }
            let users: Vec<String> = redis.smembers(keys.users(instance)).await?;
            let users = users
                .iter()
                .filter_map(|u| Uuid::parse_str(u).ok())
                .collect();
            rosters.push((instance, users));
        }
        Ok(rosters)
    }

    /// The users a dead instance had listed; its list is removed.
    pub async fn take_roster(&self, instance: Uuid) -> redis::RedisResult<Vec<Uuid>> {
        let key = self.keys().users(instance);
        let mut redis = self.redis();
        let users: Vec<String> = redis.smembers(&key).await?;
        redis.del::<_, ()>(&key).await?;
        Ok(users
            .iter()
            .filter_map(|u| Uuid::parse_str(u).ok())
            .collect())
    }
}
