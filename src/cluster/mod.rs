//! Several instances behind a load balancer as one server, through Redis (`redis.url`).
//!
//! The cluster is transport: it knows Redis and plain data, never sockets or HTTP. What it
//! hears it hands to a `ClusterHandler`, which realtime implements (as centrifuge's broker
//! hands events to its node).
//!
//! - `bus`: typed envelopes on one pub/sub channel: the deliveries one instance made, published
//!   once and routed by the others to their sockets, and presence news.
//! - `liveness`: each instance refreshes a key with a TTL; when an instance's key runs out,
//!   exactly one other instance claims it and has its handler clean up after it.
//! - `presence`, `calls`: the Redis side of `Presence` and of realtime's `CallRegistry` (each
//!   instance's users and call participants), which own it.
//! - `rate_limit`: the limits of SPEC §5 counted in Redis, so N instances do not mean N× the quota.
//!
//! When Redis goes away, each instance keeps serving its own clients from in-process state,
//! logs it once, reconnects with backoff, and `/ready` answers 503 naming Redis. Messages
//! published meanwhile are lost to the other instances; clients close such gaps with `since`.

pub mod bus;
pub mod calls;
pub mod liveness;
pub mod presence;
pub mod rate_limit;

pub use bus::Envelope;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::config::RedisSettings;

/// Bus messages waiting to be published; beyond this, new ones are dropped (and counted).
const OUTBOX_CAPACITY: usize = 16_384;
/// Longest a Redis command may take before the caller falls back to in-process state.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// The bookkeeping sets outlive a dead instance long enough to be cleaned up by the others.
const BOOKKEEPING_TTL_SECS: i64 = 24 * 3600;

/// What an instance does with what the cluster tells it. The cluster calls it; realtime
/// implements it.
pub trait ClusterHandler: Send + Sync + 'static {
    /// What the node ships of its own on the bus (realtime's deliveries).
    type Delivery: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// An envelope another instance published, in the order it was published. The bus reader
    /// waits for it: nothing slow belongs here.
    fn receive(
        &self,
        from: Uuid,
        envelope: Envelope<Vec<Self::Delivery>>,
    ) -> impl Future<Output = ()> + Send;

    /// This instance (re)joined the cluster after a gap, or learnt the others took it for
    /// dead: tell them again what is here, and read back what is there.
    fn rejoin(&self) -> impl Future<Output = redis::RedisResult<()>> + Send;

    /// The bus is heard from now on (true), or no longer (false).
    fn following(&self, following: bool);

    /// Once per TTL: what the others should know of this instance, again (news is published
    /// at most once, and may have been lost).
    fn repeat(&self);

    /// This instance claimed `instance`, found dead: clean up after it.
    fn reap(&self, instance: Uuid) -> impl Future<Output = ()> + Send;
}

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

    /// Starts the cluster's work: publishing, following the bus, heartbeats; what they hear
    /// goes to `handler`.
    pub fn start<H: ClusterHandler>(&self, handler: H) -> Vec<tokio::task::JoinHandle<()>> {
        let handler = Arc::new(handler);
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
            tokio::spawn(bus::subscribe_loop(handler.clone(), self.clone())),
            tokio::spawn(liveness::heartbeat_loop(handler, self.clone())),
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
