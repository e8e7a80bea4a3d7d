//! Which instances are alive, and what happens to the users and calls of one that is not.
//!
//! Every third of `presence_ttl_secs` an instance sets its `alive` key (expiring after the full
//! TTL) and its heartbeat in the `instances` sorted set. It also looks for instances whose
//! heartbeat is older than the TTL and whose `alive` key is gone; the first to remove such an
//! instance from the set (ZREM returns 1 to exactly one caller) tells everyone it is gone,
//! stores its users' last_seen_at and takes its connections out of calls.

use std::sync::atomic::Ordering;

use redis::AsyncCommands;
use uuid::Uuid;

use super::Cluster;
use super::bus::BusMessage;
use crate::state::AppState;

/// The bookkeeping sets outlive a dead instance long enough to be cleaned up by the others.
const BOOKKEEPING_TTL_SECS: i64 = 24 * 3600;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Heartbeats and reaping, for as long as the process runs.
pub async fn heartbeat_loop(state: AppState, cluster: Cluster) {
    let mut tick = tokio::time::interval(cluster.ttl() / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beats: u64 = 0;
    loop {
        tick.tick().await;
        beats += 1;
        match beat(&cluster).await {
            Ok(rejoined) => {
                cluster.redis_answered();
                if rejoined {
                    // The others took this instance for dead (a long pause or a Redis outage)
                    // and took its users offline: tell them again who is here.
                    tracing::warn!("this instance had been declared gone; re-announcing it");
                    if let Err(err) = rejoin(&state, &cluster).await {
                        cluster.redis_failed("rejoin", &err);
                    }
                } else if beats % 3 == 0 {
                    // Once per TTL the full list of users here, so presence messages lost on
                    // the way (pub/sub delivers at most once) are repaired within a TTL.
                    cluster.publish(&BusMessage::Roster {
                        user_ids: state.presence.local_users(),
                    });
                }
            }
            Err(err) => {
                cluster.redis_failed("heartbeat", &err);
                continue;
            }
        }
        match dead_instances(&cluster).await {
            Ok(dead) => {
                for instance in dead {
                    // Database work per user: not in this loop, whose heartbeats must not stall.
                    let (state, cluster) = (state.clone(), cluster.clone());
                    tokio::spawn(async move { reap(&state, &cluster, instance).await });
                }
            }
            Err(err) => cluster.redis_failed("reaper", &err),
        }
    }
}

/// Refreshes this instance's keys; true when it had been removed from the set meanwhile.
async fn beat(cluster: &Cluster) -> redis::RedisResult<bool> {
    let (keys, me) = (cluster.keys(), cluster.instance_id());
    let ttl_ms = cluster.ttl().as_millis() as u64;
    let (added,): (i64,) = redis::pipe()
        .cmd("SET")
        .arg(keys.alive(me))
        .arg(1)
        .arg("PX")
        .arg(ttl_ms)
        .ignore()
        .zadd(keys.instances(), me.to_string(), now_ms())
        .expire(keys.users(me), BOOKKEEPING_TTL_SECS)
        .ignore()
        .expire(keys.calls_of(me), BOOKKEEPING_TTL_SECS)
        .ignore()
        .query_async(&mut cluster.redis())
        .await?;
    // The first heartbeat always adds the instance; only a later addition means it was reaped.
    let first = cluster.inner.first_beat.swap(false, Ordering::AcqRel);
    Ok(added == 1 && !first)
}

/// Instances whose heartbeat is older than the TTL and whose alive key expired, each claimed
/// by exactly one caller.
async fn dead_instances(cluster: &Cluster) -> redis::RedisResult<Vec<Uuid>> {
    let keys = cluster.keys();
    let mut redis = cluster.redis();
    let stale: Vec<String> = redis
        .zrangebyscore(
            keys.instances(),
            "-inf",
            now_ms() - cluster.ttl().as_millis() as i64,
        )
        .await?;
    let mut dead = Vec::new();
    for instance in stale.iter().filter_map(|s| Uuid::parse_str(s).ok()) {
        if instance == cluster.instance_id() {
            continue;
        }
        let alive: bool = redis.exists(keys.alive(instance)).await?;
        if alive {
            continue;
        }
        let claimed: i64 = redis.zrem(keys.instances(), instance.to_string()).await?;
        if claimed == 1 {
            dead.push(instance);
        }
    }
    Ok(dead)
}

/// Cleans up after an instance this one found dead.
async fn reap(state: &AppState, cluster: &Cluster, instance: Uuid) {
    tracing::warn!(%instance, "an instance stopped answering: taking its users offline");
    cluster.publish(&BusMessage::InstanceGone {
        instance_id: instance,
    });
    let keys = cluster.keys();
    let mut redis = cluster.redis();
    let users: Vec<String> = redis
        .smembers(keys.users(instance))
        .await
        .unwrap_or_default();
    instance_gone(state, instance).await;
    let now = crate::time::now();
    for user in users.iter().filter_map(|u| Uuid::parse_str(u).ok()) {
        if !state.presence.is_online(user)
            && let Err(err) = state.store.touch_last_seen(user, now).await
        {
            tracing::warn!(error = %err, "could not store last_seen_at");
        }
    }
    let calls: Vec<String> = redis
        .smembers(keys.calls_of(instance))
        .await
        .unwrap_or_default();
    for entry in calls {
        let Some((room_id, connection_id)) = super::calls::parse_entry(&entry) else {
            continue;
        };
        crate::realtime::leave_call(state, room_id, connection_id).await;
    }
    let _: redis::RedisResult<()> = redis
        .del(&[keys.users(instance), keys.calls_of(instance)])
        .await;
}

/// Another instance is gone: its users who are online nowhere else go offline for this
/// instance's sockets.
pub async fn instance_gone(state: &AppState, instance: Uuid) {
    let offline = state.presence.instance_gone(instance);
    announce_from_store(state, &offline, false).await;
}

/// Presence news about users whose rooms this instance does not have at hand (they are on
/// another instance): the rooms come from the database.
pub async fn announce_from_store(state: &AppState, users: &[Uuid], online: bool) {
    if users.is_empty() || state.hub.counts().0 == 0 {
        // Nobody here to tell (e.g. this instance just started).
        return;
    }
    let now = crate::time::now();
    for user in users {
        match state.store.room_ids_of(*user).await {
            Ok(rooms) => {
                let last_seen = (!online).then_some(now);
                crate::realtime::announce_presence(state, *user, &rooms, online, last_seen);
            }
            Err(err) => tracing::warn!(error = %err, "could not announce a user's presence"),
        }
    }
}

/// After (re)joining the bus: publish this instance's roster and calls again, and read the
/// other instances' rosters, since messages sent while away were lost.
pub async fn rejoin(state: &AppState, cluster: &Cluster) -> redis::RedisResult<()> {
    let (keys, me) = (cluster.keys(), cluster.instance_id());
    let mut redis = cluster.redis();
    let local = state.presence.local_users();
    let mut pipe = redis::pipe();
    pipe.atomic().del(keys.users(me)).ignore();
    if !local.is_empty() {
        pipe.sadd(
            keys.users(me),
            local.iter().map(|u| u.to_string()).collect::<Vec<_>>(),
        )
        .ignore();
    }
    pipe.expire(keys.users(me), BOOKKEEPING_TTL_SECS).ignore();
    pipe.query_async::<()>(&mut redis).await?;
    cluster.publish(&BusMessage::Roster { user_ids: local });
    // The cluster's view of this instance's calls: exactly what is here (entries whose removal
    // was lost while Redis was away would otherwise stay forever).
    let local_calls = state.calls.all();
    let listed: Vec<String> = redis.smembers(keys.calls_of(me)).await?;
    for entry in &listed {
        let Some((room_id, connection_id)) = super::calls::parse_entry(entry) else {
            continue;
        };
        if !local_calls
            .iter()
            .any(|(room, p)| *room == room_id && p.connection_id == connection_id)
        {
            cluster.call_left(room_id, connection_id).await?;
        }
    }
    for (room_id, participant) in &local_calls {
        cluster.call_joined(*room_id, participant).await?;
    }

    // Alive means an alive key, not a recent score: after a Redis restart from disk, scores
    // are old while the instances are fine.
    let instances: Vec<String> = redis.zrange(keys.instances(), 0, -1).await?;
    let mut seen = Vec::new();
    for instance in instances.iter().filter_map(|s| Uuid::parse_str(s).ok()) {
        if instance == me {
            continue;
        }
        let alive: bool = redis.exists(keys.alive(instance)).await?;
        if !alive {
            continue;
        }
        let users: Vec<String> = redis.smembers(keys.users(instance)).await?;
        let (came, went) = state.presence.set_roster(
            instance,
            users.iter().filter_map(|u| Uuid::parse_str(u).ok()),
        );
        announce_from_store(state, &came, true).await;
        announce_from_store(state, &went, false).await;
        seen.push(instance);
    }
    // Instances this one still remembers but that are no longer in the set are gone.
    for instance in state.presence.known_instances() {
        if !seen.contains(&instance) {
            instance_gone(state, instance).await;
        }
    }
    Ok(())
}

/// The user's first socket here opened: record it and tell the others.
pub async fn came_online(cluster: &Cluster, user_id: Uuid, rooms: Vec<Uuid>) {
    let mut redis = cluster.redis();
    let me = cluster.instance_id();
    if let Err(err) = redis
        .sadd::<_, _, ()>(cluster.keys().users(me), user_id.to_string())
        .await
    {
        cluster.redis_failed("presence", &err);
    }
    cluster.publish(&BusMessage::Online { user_id, rooms });
}

/// The user's last socket here closed (after the grace period): record it and tell the others.
pub async fn went_offline(
    cluster: &Cluster,
    user_id: Uuid,
    rooms: Vec<Uuid>,
    last_seen_at: crate::time::Timestamp,
) {
    let mut redis = cluster.redis();
    let me = cluster.instance_id();
    if let Err(err) = redis
        .srem::<_, _, ()>(cluster.keys().users(me), user_id.to_string())
        .await
    {
        cluster.redis_failed("presence", &err);
    }
    cluster.publish(&BusMessage::Offline {
        user_id,
        rooms,
        last_seen_at,
    });
}

/// A graceful stop: leave every call and tell the others this instance is gone, so its users
/// go offline now rather than when its key expires. Published directly, not through the
/// outbox, so the goodbye is out before the process exits.
pub async fn leave(state: &AppState, cluster: &Cluster) {
    let (keys, me) = (cluster.keys(), cluster.instance_id());
    let mut pipe = redis::pipe();
    for (room_id, participant) in state.calls.all() {
        let connection_id = participant.connection_id;
        pipe.hdel(keys.call(room_id), connection_id.to_string())
            .ignore();
        let left = BusMessage::Deliveries {
            deliveries: vec![crate::realtime::call_left(room_id, connection_id)],
        };
        if let Some(payload) = cluster.encode(&left) {
            pipe.cmd("PUBLISH").arg(keys.bus()).arg(payload).ignore();
        }
    }
    if let Some(payload) = cluster.encode(&BusMessage::InstanceGone { instance_id: me }) {
        pipe.cmd("PUBLISH").arg(keys.bus()).arg(payload).ignore();
    }
    pipe.del(&[keys.alive(me), keys.users(me), keys.calls_of(me)])
        .ignore()
        .zrem(keys.instances(), me.to_string())
        .ignore();
    if let Err(err) = pipe.query_async::<()>(&mut cluster.redis()).await {
        tracing::warn!(error = %err, "could not say goodbye to the cluster; the others will notice within the TTL");
    }
}
