//! Operations: liveness, readiness, Prometheus metrics and live stats.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ErrorBody;
use super::extract::Json;
use crate::error::error_response;
use crate::state::AppState;

/// Routes without the /api/v1 prefix.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}

/// Routes under /api/v1.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stats))
}

#[derive(Serialize, ToSchema)]
struct Health {
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
struct Ready {
    status: &'static str,
    database: &'static str,
    /// "ok", or "not_configured" when this instance runs alone.
    redis: &'static str,
}

/// Readiness: 200 when the database (and Redis, if configured) answer, else 503 naming what
/// is down.
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses((status = 200, body = Ready), (status = 503, body = ErrorBody)))]
async fn ready(State(state): State<AppState>) -> Response {
    let database = tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await;
    let database_down = match database {
        Ok(Ok(())) => None,
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: database is down");
            Some("database is not answering")
        }
        Err(_) => Some("database timed out"),
    };
    let redis_down = match &state.cluster {
        None => None,
        Some(cluster) => match cluster.ping().await {
            Ok(()) if !cluster.is_following() => Some("not yet following the cluster bus"),
            Ok(()) => None,
            Err(err) => {
                tracing::warn!(error = %err, "readiness: Redis is down");
                Some("redis is not answering")
            }
        },
    };
    let down: Vec<&str> = [database_down, redis_down].into_iter().flatten().collect();
    if !down.is_empty() {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("not ready: {}", down.join("; ")),
        );
    }
    Json(Ready {
        status: "ready",
        database: "ok",
        redis: if state.cluster.is_some() {
            "ok"
        } else {
            "not_configured"
        },
    })
    .into_response()
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> Response {
    let body = crate::telemetry::render_metrics(&state);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

#[derive(Serialize, ToSchema)]
struct Stats {
    /// Open WebSocket connections on this instance.
    connections: u64,
    /// Users with at least one open connection on this instance.
    online_users: u64,
    /// Rooms with at least one live subscriber on this instance.
    live_rooms: u64,
    uptime_secs: u64,
}

/// Live numbers of this instance.
#[utoipa::path(get, path = "/stats", tag = "ops", responses((status = 200, body = Stats)))]
async fn stats(State(state): State<AppState>) -> Json<Stats> {
    let (online_users, connections) = state.presence.counts();
    let (_, live_rooms) = state.hub.counts();
    Json(Stats {
        connections,
        online_users,
        live_rooms: live_rooms as u64,
        uptime_secs: state.started_at.elapsed().as_secs(),
    })
}
