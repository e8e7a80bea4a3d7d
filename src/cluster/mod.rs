//! Several instances behind a load balancer as one server, through Redis (`redis.url`).
//!
//! - `bus`: every delivery made on one instance (frames to rooms, users, connections, and the
//!   subscription changes that go with them) is published once and applied by the others.
//! - `liveness`: each instance refreshes a key with a TTL and lists its online users and call
//!   participants; when an instance's key runs out, another one takes its users offline and its
//!   connections out of calls.
//! - `calls`: who is in each room's call, cluster-wide, for `call_participants` and `webrtc`.
//! - `rate_limit`: the limits of SPEC §5 counted in Redis, so N instances do not mean N× the quota.
//!
//! When Redis goes away, each instance keeps serving its own clients from in-process state,
//! logs it once, reconnects with backoff, and `/ready` answers 503 naming Redis. Messages
//! published meanwhile are lost to the other instances; clients close such gaps with `since`.

pub mod bus;
pub mod calls;
pub mod liveness;
pub mod rate_limit;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::config::RedisSettings;

/// Bus messages waiting to be published; beyond this, new ones are dropped (and counted).
const OUTBOX_CAPACITY: usize = 16_384;
/// Longest a Redis command may take before the caller falls back to in-process state.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// A handle on the cluster; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    instance_id: Uuid,
    client: redis::Client,
    redis: ConnectionManager,
    keys: Keys,
    ttl: Duration,
    outbox: mpsc::Sender<Vec<u8>>,
    outbox_rx: std::sync::Mutex<Option<mpsc::Receiver<Vec<u8>>>>,
    up: AtomicBool,
    /// True while subscribed to the bus (and re-announced after joining it).
    following: AtomicBool,
    first_beat: AtomicBool,
}

/// Names of every key and channel, under the configured prefix.
#[derive(Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn bus(&self) -> String {
        format!("{}:bus", self.prefix)
    }
    /// Sorted set: instance id → last heartbeat (ms since the epoch).
    pub fn instances(&self) -> String {
        format!("{}:instances", self.prefix)
    }
    /// Exists while the instance is alive (it expires after `presence_ttl_secs`).
    pub fn alive(&self, instance: Uuid) -> String {
        format!("{}:instance:{instance}:alive", self.prefix)
    }
    /// Set of users with a socket on the instance.
    pub fn users(&self, instance: Uuid) -> String {
        format!("{}:instance:{instance}:users", self.prefix)
    }
    /// Set of `room_id/connection_id` the instance has in calls.
    pub fn calls_of(&self, instance: Uuid) -> String {
        format!("{}:instance:{instance}:calls", self.prefix)
    }
    /// Hash: connection id → participant (JSON), for one room's call.
    pub fn call(&self, room_id: Uuid) -> String {
        format!("{}:call:{room_id}", self.prefix)
    }
    pub fn rate(&self, kind: &str, key: &str) -> String {
        format!("{}:rate:{kind}:{key}", self.prefix)
    }
}

impl Cluster {
    /// Prepares the connection without waiting for Redis: an instance starts (and serves its
    /// own clients) even while Redis is down, and joins the cluster once it answers.
    pub fn new(settings: &RedisSettings) -> anyhow::Result<Cluster> {
        let client = redis::Client::open(settings.url.expose())
            .map_err(|err| anyhow::anyhow!("redis.url: {err}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let redis = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|err| anyhow::anyhow!("redis: {err}"))?;
        let (outbox, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
        Ok(Cluster {
            inner: Arc::new(Inner {
                instance_id: Uuid::now_v7(),
                client,
                redis,
                keys: Keys {
                    prefix: settings.prefix.clone(),
                },
                ttl: Duration::from_secs(settings.presence_ttl_secs),
                outbox,
                outbox_rx: std::sync::Mutex::new(Some(outbox_rx)),
                up: AtomicBool::new(false),
                following: AtomicBool::new(false),
                first_beat: AtomicBool::new(true),
            }),
        })
    }

    /// Starts the cluster's work: publishing, following the bus, heartbeats.
    pub fn start(&self, state: &crate::state::AppState) -> Vec<tokio::task::JoinHandle<()>> {
        // Present from the start (at zero), so rates and alerts work before the first event.
        for counter in [
            "cluster_bus_published_total",
            "cluster_bus_received_total",
            "cluster_bus_dropped_total",
        ] {
            metrics::counter!(counter).increment(0);
        }
        metrics::gauge!("cluster_redis_up").set(if self.is_up() { 1.0 } else { 0.0 });
        vec![
            tokio::spawn(bus::publish_loop(self.clone())),
            tokio::spawn(bus::subscribe_loop(state.clone(), self.clone())),
            tokio::spawn(liveness::heartbeat_loop(state.clone(), self.clone())),
        ]
    }

    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Acquire)
    }

    pub fn instance_id(&self) -> Uuid {
        self.inner.instance_id
    }

    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// A connection for commands (multiplexed, reconnecting by itself).
    pub fn redis(&self) -> ConnectionManager {
        self.inner.redis.clone()
    }

    /// A round trip to Redis, for `/ready`.
    pub async fn ping(&self) -> Result<(), String> {
        let mut redis = self.redis();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(COMMAND_TIMEOUT * 2, ping.query_async::<String>(&mut redis))
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    /// Records that Redis answered; logs the recovery once.
    pub fn redis_answered(&self) {
        if !self.inner.up.swap(true, Ordering::AcqRel) {
            metrics::gauge!("cluster_redis_up").set(1.0);
            tracing::info!(instance_id = %self.instance_id(), "connected to Redis: this instance is part of the cluster");
        }
    }

    /// Records that Redis failed; logs the outage once, not on every command.
    pub fn redis_failed(&self, what: &str, err: &dyn std::fmt::Display) {
        if self.inner.up.swap(false, Ordering::AcqRel) {
            metrics::gauge!("cluster_redis_up").set(0.0);
            tracing::error!(error = %err, what, "lost Redis: serving this instance's clients alone until it is back");
        } else {
            tracing::debug!(error = %err, what, "Redis still unavailable");
        }
    }

    /// Whether this instance hears the others: what `/ready` requires besides a PING.
    pub fn is_following(&self) -> bool {
        self.inner.following.load(Ordering::Acquire)
    }

    pub(crate) fn set_following(&self, following: bool) {
        self.inner.following.store(following, Ordering::Release);
    }
}
