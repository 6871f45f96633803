//! `akin worker`: claim queued rounds from Postgres and train them on this machine until
//! Ctrl-C or SIGTERM. It needs the database (for the items' pixels and the answers) and a
//! data folder for checkpoints; it serves nothing.

use akin_trainer::{TrainerHandle, TrainerSettings};
use akin_web::{RoundWorker, Settings};
use anyhow::Context;
use tokio::sync::watch;

use crate::serve::shutdown_signal;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(?settings, "starting a worker");
    let db = akin_store::connect(&settings.database_url, 4)
        .await
        .context("while connecting to the database and migrating it")?;
    let trainer = TrainerHandle::spawn(TrainerSettings {
        device: settings.device,
        threads: settings.trainer_threads,
    });
    tracing::info!(device = %trainer.device_name(), "trainer thread ready");
    let worker = RoundWorker::new(db, trainer, &settings);
    println!("akin worker {} ready", worker.name());

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        stop_tx.send_replace(true);
    });
    worker.run(stop_rx).await;
    Ok(())
}
