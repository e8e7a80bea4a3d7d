//! Each room's call, cluster-wide: a hash per room (connection id → participant) that every
//! instance writes for its own connections, plus a set per instance of what it has in calls,
//! so whoever reaps a dead instance knows which participants to remove.

use redis::AsyncCommands;
use uuid::Uuid;

use super::Cluster;
use crate::realtime::calls::Participant;
use crate::realtime::hub::ConnId;

fn entry(room_id: Uuid, connection_id: ConnId) -> String {
    format!("{room_id}/{connection_id}")
}

/// `room_id/connection_id` back into its parts.
pub fn parse_entry(entry: &str) -> Option<(Uuid, ConnId)> {
    let (room, conn) = entry.split_once('/')?;
    Some((Uuid::parse_str(room).ok()?, Uuid::parse_str(conn).ok()?))
}

impl Cluster {
    /// Adds or updates one of this instance's participants.
    pub async fn call_joined(
        &self,
        room_id: Uuid,
        participant: &Participant,
    ) -> redis::RedisResult<()> {
        let keys = self.keys();
        let json = serde_json::to_string(participant).unwrap_or_default();
        redis::pipe()
            .hset(
                keys.call(room_id),
                participant.connection_id.to_string(),
                json,
            )
            .ignore()
            .sadd(
                keys.calls_of(self.instance_id()),
                entry(room_id, participant.connection_id),
            )
            .ignore()
            .query_async(&mut self.redis())
            .await
    }

    pub async fn call_left(&self, room_id: Uuid, connection_id: ConnId) -> redis::RedisResult<()> {
        let keys = self.keys();
        redis::pipe()
            .hdel(keys.call(room_id), connection_id.to_string())
            .ignore()
            .srem(
                keys.calls_of(self.instance_id()),
                entry(room_id, connection_id),
            )
            .ignore()
            .query_async(&mut self.redis())
            .await
    }

    /// Everyone in the room's call, on every instance.
    pub async fn call_participants(&self, room_id: Uuid) -> redis::RedisResult<Vec<Participant>> {
        let all: Vec<(String, String)> = self.redis().hgetall(self.keys().call(room_id)).await?;
        Ok(all
            .into_iter()
            .filter_map(|(_, json)| serde_json::from_str(&json).ok())
            .collect())
    }

    pub async fn in_call(&self, room_id: Uuid, connection_id: ConnId) -> redis::RedisResult<bool> {
        self.redis()
            .hexists(self.keys().call(room_id), connection_id.to_string())
            .await
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
