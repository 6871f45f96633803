//! `akin serve`: bind, start the round worker (unless `AKIN_WORKER=off`), serve until Ctrl-C
//! or SIGTERM, then hand any running round back to the queue.

use std::sync::Arc;

use akin_store::blobs::BlobStore;
use akin_trainer::{TrainerHandle, TrainerSettings};
use akin_web::{AppState, Orchestrator, RoundWorker, Settings};
use anyhow::Context;
use tokio::sync::watch;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(?settings, "starting");
    let db = akin_store::connect(&settings.database_url, 16)
        .await
        .context("while connecting to the database and migrating it")?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = settings.worker.then(|| {
        let trainer = TrainerHandle::spawn(TrainerSettings {
            device: settings.device,
            threads: settings.trainer_threads,
        });
        tracing::info!(device = %trainer.device_name(), "trainer thread ready");
        RoundWorker::new(db.clone(), trainer, &settings)
    });
    if worker.is_none() {
        tracing::info!(
            "no worker in this process (AKIN_WORKER=off): rounds wait for `akin worker`"
        );
    }
    let state = AppState {
        db: db.clone(),
        blobs: BlobStore::new(settings.data_dir.join("images")),
        orchestrator: Orchestrator {
            db,
            wake: worker.as_ref().map(RoundWorker::waker),
        },
        settings: Arc::new(settings),
    };

    let listener = tokio::net::TcpListener::bind(state.settings.bind)
        .await
        .with_context(|| format!("while binding {}", state.settings.bind))?;
    let address = listener.local_addr()?;
    println!("akin listening on http://{address}");
    tracing::info!(%address, "listening on http://{address}");

    let worker = worker.map(|worker| tokio::spawn(worker.run(stop_rx)));
    let served = axum::serve(listener, akin_web::router(state))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            stop_tx.send_replace(true);
        })
        .await;
    if let Some(worker) = worker {
        worker.await.context("while stopping the worker")?;
    }
    served.context("while serving")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
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
