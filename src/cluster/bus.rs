//! The cluster bus: one Redis pub/sub channel that every instance publishes to and follows.
//!
//! A message is the sender's instance id (36 bytes, so an instance skips its own messages
//! without parsing them) followed by a JSON `Envelope`. One task publishes, in order and in
//! pipelined batches; one task reads, in order, so a room's messages keep their order across
//! instances. The bus is transport: what arrives is handed to the `ClusterHandler`.

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Cluster, ClusterHandler};
use crate::time::Timestamp;

/// Messages published per pipelined round trip, at most.
const PUBLISH_BATCH: usize = 256;
const RECONNECT_MIN: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// How often the bus connection is asked to PING, and how long it may take to answer.
const HEALTH_CHECK: Duration = Duration::from_secs(5);

/// What travels on the bus. `D` is what the node ships of its own (realtime's deliveries):
/// the bus carries it without looking inside.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Envelope<D> {
    /// Apply these to your sockets.
    Deliveries { deliveries: D },
    /// The user's first socket on the sender opened; `rooms` are whom to tell.
    Online { user_id: Uuid, rooms: Vec<Uuid> },
    /// The user's last socket on the sender closed (after the grace period).
    Offline {
        user_id: Uuid,
        rooms: Vec<Uuid>,
        last_seen_at: Timestamp,
    },
    /// Every user online on the sender, after it (re)joined the bus and once per TTL:
    /// repairs missed messages.
    Roster { user_ids: Vec<Uuid> },
    /// The instance stopped, or its liveness key ran out.
    InstanceGone { instance_id: Uuid },
}

/// An envelope of the cluster's own, carrying no deliveries.
pub(super) type News = Envelope<()>;

impl Cluster {
    /// Queues a message for the other instances without waiting; dropped (and counted) when
    /// the outbox is full, e.g. while Redis is away.
    pub(super) fn publish<D: Serialize>(&self, envelope: &Envelope<D>) {
        let Some(payload) = self.encode(envelope) else {
            return;
        };
        if self.inner.outbox.try_send(payload).is_err() {
            metrics::counter!("cluster_bus_dropped_total").increment(1);
        }
    }

    /// Ships deliveries made here to the other instances, which route them to their sockets.
    pub fn publish_deliveries<D: Serialize>(&self, deliveries: &[D]) {
        self.publish(&Envelope::Deliveries { deliveries });
    }

    /// The wire form: this instance's id, then the envelope as JSON.
    pub(super) fn encode<D: Serialize>(&self, envelope: &Envelope<D>) -> Option<Vec<u8>> {
        let mut payload = Vec::with_capacity(256);
        payload.extend_from_slice(
            self.instance_id()
                .hyphenated()
                .encode_lower(&mut Uuid::encode_buffer())
                .as_bytes(),
        );
        match serde_json::to_writer(&mut payload, envelope) {
            Ok(()) => Some(payload),
            Err(err) => {
                tracing::error!(error = %err, "could not encode a bus message");
                None
            }
        }
    }
}

/// Publishes queued messages, all that are waiting in one pipeline.
pub async fn publish_loop(cluster: Cluster) {
    let Some(mut outbox) = cluster
        .inner
        .outbox_rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    else {
        return;
    };
    let channel = cluster.keys().bus();
    let mut redis = cluster.redis();
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while outbox.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for payload in &batch {
            pipe.cmd("PUBLISH").arg(&channel).arg(payload).ignore();
        }
        match pipe.query_async::<()>(&mut redis).await {
            Ok(()) => {
                cluster.redis_answered();
                metrics::counter!("cluster_bus_published_total").increment(batch.len() as u64);
            }
            Err(err) => {
                cluster.redis_failed("publish", &err);
                metrics::counter!("cluster_bus_dropped_total").increment(batch.len() as u64);
            }
        }
        batch.clear();
    }
}

/// Follows the bus for as long as the process runs, reconnecting with backoff.
pub async fn subscribe_loop<H: ClusterHandler>(handler: std::sync::Arc<H>, cluster: Cluster) {
    let channel = cluster.keys().bus();
    let mut backoff = RECONNECT_MIN;
    loop {
        let connect = async {
            let mut pubsub = cluster.inner.client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(Duration::from_secs(3), connect).await {
            Ok(Ok(pubsub)) => {
                cluster.redis_answered();
                // Whatever was published while this instance was away is lost: re-announce
                // this instance and read the others' state. Only then does this instance
                // count as following (and `/ready` say so).
                if let Err(err) = handler.rejoin().await {
                    cluster.redis_failed("rejoin", &err);
                } else {
                    backoff = RECONNECT_MIN;
                    cluster.set_following(true);
                    handler.following(true);
                    tracing::info!(channel, "following the cluster bus");
                    follow(&*handler, &cluster, pubsub).await;
                    cluster.set_following(false);
                    handler.following(false);
                }
            }
            Ok(Err(err)) => cluster.redis_failed("subscribe", &err),
            Err(_) => cluster.redis_failed("subscribe", &"connecting timed out"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
}

/// Reads the bus until the connection ends or stops answering: a PING every few seconds
/// catches a connection that died without a reset (a failover, a partition), which reading
/// alone would wait on forever.
async fn follow<H: ClusterHandler>(handler: &H, cluster: &Cluster, pubsub: redis::aio::PubSub) {
    let (mut sink, mut stream) = pubsub.split();
    let mut health = tokio::time::interval(HEALTH_CHECK);
    health.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => receive(handler, cluster, message.get_payload_bytes()).await,
                None => {
                    cluster.redis_failed("subscribe", &"the bus connection closed");
                    return;
                }
            },
            _ = health.tick() => {
                let ping = tokio::time::timeout(HEALTH_CHECK, sink.ping::<redis::Value>()).await;
                if !matches!(ping, Ok(Ok(_))) {
                    cluster.redis_failed("subscribe", &"the bus connection stopped answering");
                    return;
                }
            }
        }
    }
}

async fn receive<H: ClusterHandler>(handler: &H, cluster: &Cluster, payload: &[u8]) {
    let Some((from, body)) = payload.split_at_checked(36) else {
        return;
    };
    let Some(from) = std::str::from_utf8(from)
        .ok()
        .and_then(|s| Uuid::parse_str(s).ok())
    else {
        tracing::warn!("ignoring a bus message without a sender");
        return;
    };
    if from == cluster.instance_id() {
        return;
    }
    metrics::counter!("cluster_bus_received_total").increment(1);
    match serde_json::from_slice::<Envelope<Vec<H::Delivery>>>(body) {
        Ok(envelope) => handler.receive(from, envelope).await,
        // A newer instance during a rolling upgrade may send what this one cannot read.
        Err(err) => tracing::warn!(error = %err, %from, "ignoring an unreadable bus message"),
    }
}
