//! `akin serve`: bind, start the trainer thread, serve until Ctrl-C or SIGTERM.

use std::sync::Arc;

use akin_store::blobs::BlobStore;
use akin_trainer::{TrainerHandle, TrainerSettings};
use akin_web::{AppState, Orchestrator, Settings};
use anyhow::Context;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(?settings, "starting");
    let db = akin_store::connect(&settings.database_url, 16)
        .await
        .context("while connecting to the database and migrating it")?;
    let stale = akin_store::rounds::fail_unfinished(
        &db,
        "the server stopped while this round was running; start a new round",
    )
    .await?;
    if !stale.is_empty() {
        tracing::warn!(rounds = ?stale, "marked {} interrupted rounds failed", stale.len());
    }

    let trainer = TrainerHandle::spawn(TrainerSettings {
        device: settings.device,
        threads: settings.trainer_threads,
    });
    tracing::info!(device = %trainer.device_name(), "trainer thread ready");
    let state = AppState {
        db: db.clone(),
        blobs: BlobStore::new(settings.data_dir.join("images")),
        orchestrator: Orchestrator {
            db,
            trainer,
            data_dir: settings.data_dir.clone(),
            train_steps: settings.train_steps,
            queries_per_round: settings.queries_per_round,
        },
        settings: Arc::new(settings),
    };

    let listener = tokio::net::TcpListener::bind(state.settings.bind)
        .await
        .with_context(|| format!("while binding {}", state.settings.bind))?;
    let address = listener.local_addr()?;
    println!("akin listening on http://{address}");
    tracing::info!(%address, "listening on http://{address}");

    axum::serve(listener, akin_web::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("while serving")?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
