//! The `chatter` command: serve, migrate, check config.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chatter::config::{Settings, Sources};
use chatter::store::{MigrationState, Store};
use clap::{Parser, Subcommand};

/// mimalloc returns freed memory to the OS more readily than glibc's malloc and fragments
/// less under many small, long-lived per-socket allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "chatter",
    version,
    about = "Real-time chat and video-call server"
)]
struct Cli {
    /// YAML file layered over the built-in defaults (instead of config/local.yaml).
    #[arg(long, global = true, value_name = "PATH", env = "CHATTER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP and WebSocket (the default).
    Serve,
    /// Database schema migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the most recent migration.
    Down,
    /// List migrations, applied or pending.
    Status,
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the effective configuration (secrets masked) and exit 0 if it is valid.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let sources = Sources {
        file: cli.config.clone(),
        env: std::env::vars().collect(),
    };
    let settings = match Settings::load(&sources) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("chatter: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("chatter: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings).await,
            Command::Migrate { action } => migrate(settings, action).await,
            Command::Config {
                action: ConfigAction::Check,
            } => {
                println!("{}", serde_json::to_string_pretty(&settings.masked())?);
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chatter: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let _telemetry = chatter::telemetry::init(&settings)?;
    let addr = settings.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(%addr, environment = ?settings.environment, "chatter listening on http://{addr}");
    chatter::run(settings, listener, shutdown_signal()).await
}

async fn migrate(settings: Settings, action: MigrateAction) -> anyhow::Result<()> {
    let store = Store::connect(&settings).await?;
    match action {
        MigrateAction::Up => {
            store.migrate_up().await?;
            println!("migrations applied");
        }
        MigrateAction::Down => match store.migrate_down().await? {
            Some(version) => println!("reverted migration {version}"),
            None => println!("no migration to revert"),
        },
        MigrateAction::Status => {
            for m in store.migration_status().await? {
                let state = match m.state {
                    MigrationState::Applied => "applied",
                    MigrationState::Pending => "pending",
                };
                println!("{:04} {:<8} {}", m.version, state, m.description);
            }
        }
    }
    store.close().await;
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM (docker stop, systemd, Kubernetes).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
