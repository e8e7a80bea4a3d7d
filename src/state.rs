//! AppState: everything a request handler may reach, cheap to clone (Arcs inside).

use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use uuid::Uuid;

use crate::auth::passwords::PasswordHasherPool;
use crate::auth::session_gate::SessionGate;
use crate::auth::tokens::{TokenKeys, resolve_jwt_secret};
use crate::cluster::Cluster;
use crate::cluster::rate_limit::RedisRateLimiter;
use crate::config::Settings;
use crate::events::{DomainEvent, EventBus, RevokeReason};
use crate::presence::Presence;
use crate::rate_limit::{LocalRateLimiter, RateLimiter};
use crate::realtime::calls::CallRegistry;
use crate::realtime::hub::Hub;
use crate::realtime::typing::Typing;
use crate::service::standings::Standings;
use crate::service::writer::MessageWriter;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub tokens: Arc<TokenKeys>,
    /// Signs upload URLs; derived from the JWT secret so one secret configures both.
    pub url_key: Arc<[u8]>,
    pub passwords: PasswordHasherPool,
    pub sessions: SessionGate,
    pub limiter: Arc<dyn RateLimiter>,
    /// Set when `redis.url` is: the other instances of this server.
    pub cluster: Option<Cluster>,
    pub events: EventBus,
    /// Who stands where in which room, for access checks; kept exact by `events`.
    pub standings: Arc<Standings>,
    /// Stores new messages in batches (group commit) and publishes them in order.
    pub writer: MessageWriter,
    pub presence: Presence,
    pub hub: Hub,
    /// Who is in which room's call, here and (with a cluster) everywhere.
    pub calls: CallRegistry,
    pub typing: Typing,
    pub metrics: PrometheusHandle,
    pub started_at: Instant,
}

impl AppState {
    pub async fn new(settings: Settings, store: Store) -> anyhow::Result<AppState> {
        let secret = resolve_jwt_secret(&settings)?;
        let tokens = Arc::new(TokenKeys::new(&secret, &settings));
        let url_key = crate::uploads::derive_url_key(&secret);
        // Two hashes per core in flight: enough to keep the cores busy, bounded in memory (19 MiB each).
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let passwords = PasswordHasherPool::new(cores * 2)?;
        let sessions = SessionGate::new(Duration::from_secs(settings.auth.session_cache_secs));
        let cluster = if settings.redis.url.is_empty() {
            None
        } else {
            Some(Cluster::new(&settings.redis)?)
        };
        let limiter: Arc<dyn RateLimiter> = match &cluster {
            Some(cluster) => RedisRateLimiter::new(cluster.clone(), &settings.rate_limit),
            None => LocalRateLimiter::new(&settings.rate_limit),
        };
        let standings = Arc::new(Standings::new(cluster.is_some()));
        let events = EventBus::new(settings.messages.fanout_buffer, standings.clone());
        let calls = CallRegistry::new(cluster.clone());
        let presence = Presence::new(cluster.clone());
        let writer = MessageWriter::start(store.clone(), events.clone())
            .map_err(|err| anyhow::anyhow!("cannot start the message writer: {err}"))?;
        Ok(AppState {
            settings: Arc::new(settings),
            store,
            tokens,
            url_key,
            passwords,
            sessions,
            limiter,
            cluster,
            events,
            standings,
            writer,
            presence,
            hub: Hub::default(),
            calls,
            typing: Typing::default(),
            metrics: crate::telemetry::metrics_handle(),
            started_at: Instant::now(),
        })
    }

    /// Cuts sessions off everywhere: their access tokens stop working now, and their sockets
    /// are told through the `SessionsRevoked` event.
    pub async fn sessions_revoked(
        &self,
        user_id: Uuid,
        session_ids: Vec<Uuid>,
        reason: RevokeReason,
    ) {
        if session_ids.is_empty() {
            return;
        }
        self.sessions.forget(&session_ids).await;
        tracing::info!(%user_id, count = session_ids.len(), ?reason, "sessions revoked");
        self.events
            .publish(DomainEvent::SessionsRevoked {
                user_id,
                session_ids,
                reason,
            })
            .await;
    }
}
