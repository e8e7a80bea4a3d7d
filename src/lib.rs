//! Chatter: accounts, rooms, messages and calls over REST and WebSocket, in one binary.
//!
//! `run` starts the server on a listener it is given and stops when the shutdown future
//! resolves, so `main` and the tests start it the same way.

pub mod auth;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod presence;
pub mod rate_limit;
pub mod realtime;
pub mod service;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod time;
pub mod uploads;
pub mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

pub use config::Settings;
pub use state::AppState;
pub use store::Store;

/// The application router for a given state.
pub fn app(state: AppState) -> Router {
    http::router(state)
}

/// Opens the database, applies migrations when configured, and assembles the state.
pub async fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    let store = Store::connect(&settings).await?;
    if settings.database.migrate_on_start {
        store
            .migrate_up()
            .await
            .context("applying database migrations")?;
    }
    AppState::new(settings, store).await
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish for
/// up to `server.shutdown_timeout_secs`, and returns.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = build_state(settings).await?;
    serve(state, listener, shutdown).await
}

pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let chores = tokio::spawn(expire_sessions(state.clone()));
    let checkpoints = tokio::spawn(state.store.clone().checkpoint_wal());
    let realtime = realtime::start(&state);
    // One second of the budget is kept for closing the database after the drain.
    let drain = Duration::from_secs(state.settings.server.shutdown_timeout_secs)
        .saturating_sub(Duration::from_secs(1));
    let (stopping_tx, mut stopping) = tokio::sync::watch::channel(false);
    let closing = state.clone();
    // Chat frames are small and wanted now: without TCP_NODELAY, Nagle's algorithm holds one
    // back until the client's (delayed) ACK of the previous one, ~20 ms on every ack.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
    });
    let server = axum::serve(
        listener,
        app(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        realtime::close_all(&closing);
        let _ = stopping_tx.send(true);
    });
    let deadline = async move {
        let _ = stopping.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        result = server.into_future() => result.context("server failed")?,
        () = deadline => tracing::warn!("in-flight requests did not finish within the shutdown timeout; dropping them"),
    }
    chores.abort();
    checkpoints.abort();
    for task in realtime {
        task.abort();
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), realtime::leave_cluster(&state)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), state.store.close()).await;
    Ok(())
}

/// Expired sessions are refused anyway; this keeps the table from growing forever.
async fn expire_sessions(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match state.store.delete_expired_sessions().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "expired sessions removed"),
            Err(err) => tracing::warn!(error = %err, "could not remove expired sessions"),
        }
    }
}
