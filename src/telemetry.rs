//! Logs (tracing), trace export (OTLP) and metrics (Prometheus), set up once per process.

use std::sync::OnceLock;
use std::time::Instant;

use anyhow::Context;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, Settings};

/// Flushes buffered spans when dropped (at shutdown).
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("trace export did not flush cleanly: {err}");
        }
    }
}

/// Installs the global tracing subscriber: readable or JSON logs, plus OTLP export when
/// `telemetry.otlp_endpoint` is set.
pub fn init(settings: &Settings) -> anyhow::Result<TelemetryGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log.level));
    let logs = match settings.log.format {
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    };
    let mut provider = None;
    let traces = if settings.telemetry.otlp_endpoint.is_empty() {
        None
    } else {
        let endpoint = format!(
            "{}/v1/traces",
            settings.telemetry.otlp_endpoint.trim_end_matches('/')
        );
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()
            .context("cannot build the OTLP exporter for telemetry.otlp_endpoint")?;
        let tracer_provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(settings.telemetry.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = tracer_provider.tracer("chatter");
        provider = Some(tracer_provider);
        Some(tracing_opentelemetry::layer().with_tracer(tracer))
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(traces)
        .try_init()
        .context("a tracing subscriber is already installed")?;
    Ok(TelemetryGuard { provider })
}

/// The process-wide Prometheus recorder (metrics has one global recorder, so every server in
/// this process, including those tests start, shares it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const LATENCY: &[f64] = &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            const SIZE: &[f64] = &[
                64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), SIZE))
                .expect("bucket lists are non-empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            describe_metrics();
            // Present from the start (at zero), so a rate of them means something at once.
            metrics::counter!("ws_duplicate_messages_dropped_total").increment(0);
            metrics_process::Collector::default().describe();
            handle
        })
        .clone()
}

fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        "HTTP requests by method, route template and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method and route"
    );
    describe_histogram!(
        "http_response_size_bytes",
        Unit::Bytes,
        "HTTP response body size by method and route"
    );
    describe_gauge!(
        "db_pool_connections",
        "Open database connections in the pool"
    );
    describe_gauge!(
        "db_pool_idle_connections",
        "Idle database connections in the pool"
    );
    describe_gauge!(
        "ws_connections",
        "Open WebSocket connections on this instance"
    );
    describe_counter!(
        "ws_frames_in_total",
        "WebSocket frames received, by frame type"
    );
    describe_counter!("ws_frames_out_total", "WebSocket frames queued to sockets");
    describe_counter!(
        "ws_slow_consumer_closes_total",
        "Sockets closed with 4009 for not keeping up"
    );
    describe_counter!(
        "ws_duplicate_messages_dropped_total",
        "message_new frames not sent because the socket already had that message (a live copy racing a replay)"
    );
    describe_histogram!(
        "message_batch_size",
        "New messages stored per write transaction (group commit)"
    );
    describe_histogram!(
        "message_commit_duration_seconds",
        Unit::Seconds,
        "Time to store one batch of new messages, from its first statement to its commit"
    );
    describe_gauge!(
        "sqlite_wal_pages",
        "Pages in SQLite's write-ahead log at the last checkpoint (one a second)"
    );
    describe_histogram!(
        "ws_fanout_duration_seconds",
        Unit::Seconds,
        "Time to queue one event to every subscriber of a room"
    );
    describe_counter!(
        "cluster_bus_published_total",
        "Messages this instance published on the cluster bus (Redis pub/sub)"
    );
    describe_counter!(
        "cluster_bus_received_total",
        "Messages from other instances received on the cluster bus"
    );
    describe_counter!(
        "cluster_bus_dropped_total",
        "Cluster bus messages that could not be published (Redis away or the outbox full)"
    );
    describe_gauge!(
        "cluster_redis_up",
        "1 while Redis answers this instance, 0 while it serves its clients alone"
    );
}

/// Refreshes the gauges that are sampled rather than counted, then renders the text format.
pub fn render_metrics(state: &crate::state::AppState) -> String {
    let (open, idle) = state.store.pool_stats();
    metrics::gauge!("db_pool_connections").set(f64::from(open));
    metrics::gauge!("db_pool_idle_connections").set(idle as f64);
    metrics_process::Collector::default().collect();
    state.metrics.render()
}

/// Operational endpoints are polled constantly; their access lines go to DEBUG.
fn is_probe(route: &str) -> bool {
    matches!(route, "/health" | "/ready" | "/metrics")
}

/// Per-request metrics and the access log line, labelled by route template (never the raw
/// path, which would give one time series per id).
pub async fn track_http(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    let labels = [("method", method.to_string()), ("route", route.clone())];
    metrics::counter!("http_requests_total", "method" => method.to_string(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    if let Some(size) = axum::body::HttpBody::size_hint(response.body()).exact() {
        metrics::histogram!("http_response_size_bytes", &labels).record(size as f64);
    }
    let span = tracing::Span::current();
    span.record("http.response.status_code", status);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if is_probe(&route) {
        tracing::debug!(%method, %route, status, latency_ms, "request");
    } else {
        tracing::info!(%method, %route, status, latency_ms, "request");
    }
    response
}
