//! The cluster's view of every room's call, as plain data: one hash per room (connection id →
//! participant, serialised by the caller) and one set per instance of what it has in calls,
//! so whoever reaps a dead instance knows which participants to remove. What a participant is
//! belongs to the caller (`realtime::calls`); this side only stores it.

use redis::AsyncCommands;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::Cluster;

fn entry(room_id: Uuid, connection_id: Uuid) -> String {
    format!("{room_id}/{connection_id}")
}

/// `room_id/connection_id` back into its parts.
fn parse_entry(entry: &str) -> Option<(Uuid, Uuid)> {
    let (room, conn) = entry.split_once('/')?;
    Some((Uuid::parse_str(room).ok()?, Uuid::parse_str(conn).ok()?))
}

impl Cluster {
    /// Adds or updates one of this instance's participants.
    pub async fn call_joined<P: Serialize>(
        &self,
        room_id: Uuid,
        connection_id: Uuid,
        participant: &P,
    ) -> redis::RedisResult<()> {
        let keys = self.keys();
        let json = serde_json::to_string(participant).map_err(|err| {
            redis::RedisError::from((
                redis::ErrorKind::Client,
                "cannot encode a call participant",
                err.to_string(),
            ))
        })?;
        redis::pipe()
            .hset(keys.call(room_id), connection_id.to_string(), json)
            .ignore()
            .sadd(
                keys.calls_of(self.instance_id()),
                entry(room_id, connection_id),
            )
            .ignore()
            .query_async(&mut self.redis())
            .await
    }

    /// Removes participants from their rooms' calls: this instance's own, or those of
    /// `instance`, a dead one being reaped.
    pub async fn calls_left(
        &self,
        instance: Uuid,
        left: &[(Uuid, Uuid)],
    ) -> redis::RedisResult<()> {
        if left.is_empty() {
            return Ok(());
        }
        let keys = self.keys();
        let mut pipe = redis::pipe();
        for (room_id, connection_id) in left {
            pipe.hdel(keys.call(*room_id), connection_id.to_string())
                .ignore()
                .srem(keys.calls_of(instance), entry(*room_id, *connection_id))
                .ignore();
        }
        pipe.query_async(&mut self.redis()).await
    }

    /// Everyone in the room's call, on every instance (entries this version cannot read are
    /// skipped: a newer instance during a rolling upgrade).
    pub async fn call_participants<P: DeserializeOwned>(
        &self,
        room_id: Uuid,
    ) -> redis::RedisResult<Vec<P>> {
        let all: Vec<(String, String)> = self.redis().hgetall(self.keys().call(room_id)).await?;
        Ok(all
            .into_iter()
            .filter_map(|(_, json)| serde_json::from_str(&json).ok())
            .collect())
    }

    pub async fn in_call(&self, room_id: Uuid, connection_id: Uuid) -> redis::RedisResult<bool> {
        self.redis()
            .hexists(self.keys().call(room_id), connection_id.to_string())
            .await
    }

    /// `(room_id, connection_id)` of every participant an instance has listed as its own.
    pub async fn calls_of(&self, instance: Uuid) -> redis::RedisResult<Vec<(Uuid, Uuid)>> {
        let listed: Vec<String> = self
            .redis()
            .smembers(self.keys().calls_of(instance))
            .await?;
        Ok(listed.iter().filter_map(|e| parse_entry(e)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let (room, conn) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(parse_entry(&entry(room, conn)), Some((room, conn)));
        assert_eq!(parse_entry("nonsense"), None);
    }
}
