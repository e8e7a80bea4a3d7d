//! Which instances are alive, and what happens to the users and calls of one that is not.
//!
//! Every third of `presence_ttl_secs` an instance sets its `alive` key (expiring after the full
//! TTL) and its heartbeat in the `instances` sorted set. It also looks for instances whose
//! heartbeat is older than the TTL and whose `alive` key is gone; the first to remove such an
//! instance from the set (ZREM returns 1 to exactly one caller) tells everyone it is gone and
//! has its handler reap it (store its users' last_seen_at, take its connections out of calls).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use redis::AsyncCommands;
use serde::Serialize;
use uuid::Uuid;

use super::bus::{Envelope, News};
use super::{BOOKKEEPING_TTL_SECS, Cluster, ClusterHandler};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Heartbeats and reaping, for as long as the process runs.
pub async fn heartbeat_loop<H: ClusterHandler>(handler: Arc<H>, cluster: Cluster) {
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
                    if let Err(err) = handler.rejoin().await {
                        cluster.redis_failed("rejoin", &err);
                    }
                } else if beats % 3 == 0 {
                    // Once per TTL, so news lost on the way is repaired within a TTL.
                    handler.repeat();
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
                    tracing::warn!(%instance, "an instance stopped answering: taking its users offline");
                    cluster.publish(&News::InstanceGone {
                        instance_id: instance,
                    });
                    // Database work per user: not in this loop, whose heartbeats must not stall.
                    let handler = handler.clone();
                    tokio::spawn(async move { handler.reap(instance).await });
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

/// A graceful stop: `last_words` (the calls this instance's sockets leave) and the news that
/// this instance is gone, so its users go offline now rather than when its key expires.
/// Published directly, not through the outbox, so the goodbye is out before the process exits.
pub async fn leave<D: Serialize>(cluster: &Cluster, last_words: &[D]) {
    let (keys, me) = (cluster.keys(), cluster.instance_id());
    let mut pipe = redis::pipe();
    let mut goodbye = Vec::with_capacity(2);
    if !last_words.is_empty() {
        goodbye.extend(cluster.encode(&Envelope::Deliveries {
            deliveries: last_words,
        }));
    }
    goodbye.extend(cluster.encode(&News::InstanceGone { instance_id: me }));
    for payload in goodbye {
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
