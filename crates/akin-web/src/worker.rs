//! The round worker: claims queued rounds from Postgres and runs them on this process's
//! trainer thread: train from the previous checkpoint on the answers given so far with the
//! project's loss, save the model and its embeddings, measure them, choose the next pairs,
//! open the round. It talks only to Postgres and its own data folder, so it can run in
//! `akin serve` (the default) or on another machine as `akin worker`. While it runs a round
//! it refreshes the round's heartbeat; any worker takes a round whose heartbeat went stale
//! away from its holder.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use akin_core::consensus::AuditBudget;
use akin_store::claims::{self, Claim};
use akin_store::models;
use akin_store::projects::{self, Project};
use akin_store::rounds::RoundState;
use akin_trainer::{
    LossKind, ParseLossKindError, Progress, TrainConfig, TrainError, TrainJob, TrainOutcome,
    TrainerHandle,
};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::{Notify, watch};
use tracing::Instrument;

use crate::Settings;
use crate::evaluation::{self, RoundData};
use crate::keep_alive::KeepAlive;
use crate::orchestrator::RoundError;
use crate::selection::{self, Budget, Snapshot};

/// Longest pause between two heartbeats, however long the stale threshold.
const MAX_HEARTBEAT: Duration = Duration::from_secs(5);

/// Shortest pause between two heartbeats.
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);

/// Runs claimed rounds one at a time until told to stop.
pub struct RoundWorker {
    db: PgPool,
    trainer: TrainerHandle,
    name: String,
    data_dir: PathBuf,
    warmup_steps: usize,
    train_steps: usize,
    queries_per_round: usize,
    audit_share: f64,
    known_share: f64,
    poll: Duration,
    heartbeat: Duration,
    stale_after_seconds: f64,
    max_attempts: i32,
    wake: Arc<Notify>,
}

impl RoundWorker {
    /// A worker that trains on `trainer` with the round settings of `settings`.
    pub fn new(db: PgPool, trainer: TrainerHandle, settings: &Settings) -> Self {
        let stale_after = Duration::from_secs_f64(settings.round_stale_seconds);
        Self {
            db,
            trainer,
            name: settings.worker_name.clone(),
            data_dir: settings.data_dir.clone(),
            warmup_steps: settings.warmup_steps,
            train_steps: settings.train_steps,
            queries_per_round: settings.queries_per_round,
            audit_share: settings.audit_share,
            known_share: settings.known_pair_share,
            poll: Duration::from_secs_f64(settings.worker_poll_seconds),
            heartbeat: (stale_after / 6).clamp(MIN_HEARTBEAT, MAX_HEARTBEAT),
            stale_after_seconds: settings.round_stale_seconds,
            max_attempts: settings.round_max_attempts,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The name this worker claims rounds under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Notifying it makes an idle worker look for a queued round at once.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Recovers stale rounds, claims and runs queued ones, and waits between polls, until
    /// `stop` turns true (or its sender is dropped). A round running at that moment is
    /// cancelled and handed back to the queue.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(worker.name = %self.name, "worker {} is looking for rounds", self.name);
        loop {
            if *stop.borrow() {
                break;
            }
            self.recover().await;
            match claims::claim_next(&self.db, &self.name).await {
                Ok(Some(claim)) => {
                    self.run_claimed(claim, &mut stop).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot claim a round: {e}"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.poll) => {}
                () = self.wake.notified() => {}
                () = stopped(&mut stop) => break,
            }
        }
        tracing::info!(worker.name = %self.name, "worker {} stopped", self.name);
    }

    /// Queues again, or fails, the rounds whose workers stopped sending heartbeats.
    async fn recover(&self) {
        let recovered =
            claims::recover_stale(&self.db, self.stale_after_seconds, self.max_attempts).await;
        match recovered {
            Ok(rounds) => {
                for round in rounds {
                    let worker = round.worker.as_deref().unwrap_or("(unknown)");
                    tracing::warn!(
                        round.id = round.round_id,
                        worker.name = worker,
                        attempts = round.attempts,
                        state = round.state.as_str(),
                        "round {} is {} after worker {worker} stopped sending heartbeats",
                        round.round_id,
                        round.state.as_str()
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot recover stale rounds: {e}"),
        }
    }

    async fn run_claimed(&self, claim: Claim, stop: &mut watch::Receiver<bool>) {
        let span = tracing::info_span!("round", round.id = claim.round_id,
            attempt = claim.attempt, worker.name = %self.name);
        async {
            tracing::info!(
                "round {} claimed (attempt {})",
                claim.round_id,
                claim.attempt
            );
            let cancel = Arc::new(AtomicBool::new(false));
            let alive = KeepAlive::guarding(
                self.db.clone(),
                claim.clone(),
                self.heartbeat,
                Arc::clone(&cancel),
            );
            let run = self.run_round(&claim, &cancel);
            tokio::pin!(run);
            let mut stopping = false;
            let outcome = tokio::select! {
                outcome = &mut run => outcome,
                () = stopped(stop) => {
                    stopping = true;
                    cancel.store(true, Ordering::Relaxed);
                    run.await
                }
            };
            let lost = alive.lost();
            drop(alive);
            self.settle(&claim, outcome, stopping, lost).await;
        }
        .instrument(span)
        .await;
    }

    /// Records how a run ended: open, handed back, taken away, or failed with a reason.
    async fn settle(
        &self,
        claim: &Claim,
        outcome: Result<u64, RoundError>,
        stopping: bool,
        lost: bool,
    ) {
        let round_id = claim.round_id;
        let error = match outcome {
            Ok(written) => {
                tracing::info!(queries = written, "round {round_id} is open");
                return;
            }
            Err(RoundError::Training(TrainError::Cancelled)) if stopping => {
                match claims::release(&self.db, claim).await {
                    Ok(_) => tracing::info!("round {round_id} handed back to the queue"),
                    Err(e) => tracing::warn!(error = %e, "cannot hand round {round_id} back: {e}"),
                }
                return;
            }
            // Besides a stop, only a lapsed claim cancels a job.
            Err(RoundError::LostClaim | RoundError::Training(TrainError::Cancelled)) => {
                tracing::warn!("round {round_id} was taken from this worker: its claim lapsed");
                return;
            }
            Err(_) if lost => {
                tracing::warn!("round {round_id} was taken from this worker: its claim lapsed");
                return;
            }
            Err(error) => error,
        };
        tracing::warn!(error = %error, "round {round_id} failed: {error}");
        let reason = error.to_string();
        if let Err(e) = claims::set_state(&self.db, claim, RoundState::Failed, Some(&reason)).await
        {
            tracing::error!(error = %e, "cannot mark round {round_id} failed: {e}");
        }
    }

    /// Trains, saves the model, chooses the next pairs and opens the round. Returns how many
    /// pairs it wrote.
    async fn run_round(&self, claim: &Claim, cancel: &Arc<AtomicBool>) -> Result<u64, RoundError> {
        let project = projects::by_id(&self.db, claim.project_id)
            .await?
            .ok_or(RoundError::NoProject)?;
        let loss = project_loss(&project).map_err(|e| RoundError::BadSettings(e.to_string()))?;
        let snapshot = Snapshot::load(&self.db, &project).await?;
        let (warm_start, mut warnings) = self.warm_start(claim).await?;
        warnings.extend(snapshot.answers.warnings());
        let started = json!({ "answers_used": snapshot.answers_used, "warnings": warnings });
        self.report(claim, 0.0, &started).await?;

        let negatives = snapshot.answers.negatives();
        let known_negatives = negatives.len();
        let warm_started = warm_start.is_some();
        let training = Training {
            loss,
            warm_start,
            negatives,
        };
        let outcome = self
            .train(&project, claim, &snapshot, training, cancel)
            .await?;
        let model_id = self.save_model(claim, &snapshot, &outcome).await?;

        let graph = &snapshot.answers.graph;
        let data = RoundData {
            embeddings: &outcome.embeddings,
            table: &snapshot.table,
            graph,
            answers_used: snapshot.answers_used,
        };
        let evaluation = evaluation::evaluate(&self.trainer, data).await;
        warnings.extend(evaluation.warnings);
        let mut metrics = json!({
            "model_id": model_id,
            "loss": loss.as_str(),
            "final_loss": outcome.final_loss,
            "train_steps": outcome.steps,
            "train_seed": outcome.seed,
            "warm_started": warm_started,
            "device": outcome.device,
            "answers_used": snapshot.answers_used,
            "positive_groups": graph.positive_groups().len(),
            "known_negatives": known_negatives,
            "rank_me": evaluation.rank_me,
            "label_recovery": evaluation.label_recovery,
            "answers_per_label": evaluation.answers_per_label,
            "knn_accuracy": evaluation.knn_accuracy,
            "linear_probe_accuracy": evaluation.linear_probe_accuracy,
            "evaluated_items": evaluation.evaluated_items,
        });
        let ids = snapshot.table.ids.clone();
        let full_audits = AuditBudget::full_share(self.queries_per_round, self.audit_share);
        let (audits, previous_audits) = selection::audit_budget(
            &self.db,
            claim.project_id,
            claim.round_id,
            &snapshot,
            full_audits,
        )
        .await?;
        metrics["audit_pairs"] = json!(audits.pairs);
        metrics["previous_audits"] = json!(previous_audits);
        let budget = Budget {
            pairs: self.queries_per_round,
            audits: audits.pairs,
            known_share: self.known_share,
        };
        let choices = selection::choose(
            &self.db,
            &project,
            claim.round_id,
            ids,
            outcome.embeddings,
            budget,
        )
        .await?;
        if choices.is_empty() {
            warnings.push("no pair is left to ask: the answers decide every pair".to_owned());
        }
        metrics["warnings"] = json!(warnings);
        selection::open(&self.db, claim, Some(model_id), &choices, metrics).await
    }

    /// The checkpoint of the project's previous model, when this machine has it. A worker
    /// that does not (another machine trained the previous round) trains from scratch.
    // Checkpoints live on the disk of the machine that wrote them; keeping them in Postgres
    // or an object store would let every worker warm-start.
    async fn warm_start(
        &self,
        claim: &Claim,
    ) -> Result<(Option<PathBuf>, Vec<String>), RoundError> {
        let Some(previous) = models::previous(&self.db, claim.project_id, claim.round_id).await?
        else {
            return Ok((None, Vec::new()));
        };
        let path = PathBuf::from(&previous.checkpoint_path);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok((Some(path), Vec::new()));
        }
        let warning = format!(
            "the previous checkpoint {} is not on this worker: trained from scratch",
            previous.checkpoint_path
        );
        Ok((None, vec![warning]))
    }

    /// Merges `metrics` into the round, failing with `LostClaim` when the claim lapsed.
    async fn report(
        &self,
        claim: &Claim,
        progress: f32,
        metrics: &serde_json::Value,
    ) -> Result<(), RoundError> {
        if claims::report(&self.db, claim, progress, metrics).await? {
            Ok(())
        } else {
            Err(RoundError::LostClaim)
        }
    }

    /// The warm-up's steps for a model trained from scratch, a round's for one that starts
    /// from the previous round's checkpoint.
    fn steps_for(&self, warm_start: &Option<PathBuf>) -> usize {
        match warm_start {
            Some(_) => self.train_steps,
            None => self.warmup_steps,
        }
    }

    /// Trains on the trainer thread while a task copies its progress into the round row.
    async fn train(
        &self,
        project: &Project,
        claim: &Claim,
        snapshot: &Snapshot,
        training: Training,
        cancel: &Arc<AtomicBool>,
    ) -> Result<TrainOutcome, RoundError> {
        let (progress_tx, progress_rx) = watch::channel(Progress::default());
        let job = TrainJob {
            images: Arc::new(snapshot.image_set(project)?),
            positives: snapshot.answers.graph.positive_groups(),
            config: TrainConfig {
                steps: self.steps_for(&training.warm_start),
                loss: training.loss,
                // Each round its own random stream: under one seed for all, every round
                // would replay the batches and augmentations of the one before. A resumed
                // round keeps its round's stream.
                seed: claim.round_id as u64,
                ..TrainConfig::default()
            },
            warm_start: training.warm_start,
            checkpoint_out: self.checkpoint_path(claim.round_id).await?,
            cancel: Arc::clone(cancel),
            progress: Some(progress_tx),
        };

        let reporter = tokio::spawn(report_progress(
            self.db.clone(),
            claim.clone(),
            progress_rx,
            Arc::clone(cancel),
        ));
        let outcome = self
            .trainer
            .run_with_negatives(job, training.negatives)
            .await;
        reporter.abort();
        Ok(outcome?)
    }

    /// Where round `round_id` writes its checkpoint; creates the folder.
    async fn checkpoint_path(&self, round_id: i64) -> Result<PathBuf, RoundError> {
        let dir = self.data_dir.join("models");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| RoundError::Io(format!("cannot create {}: {e}", dir.display())))?;
        Ok(dir.join(format!("round-{round_id}.safetensors")))
    }

    /// Stores the model and its embeddings and moves the round to selecting, in one
    /// transaction that lands only while the claim holds. A model left by an interrupted
    /// attempt of the same round is replaced.
    async fn save_model(
        &self,
        claim: &Claim,
        snapshot: &Snapshot,
        outcome: &TrainOutcome,
    ) -> Result<i64, RoundError> {
        let checkpoint = self.checkpoint_path(claim.round_id).await?;
        let mut tx = self.db.begin().await?;
        if !claims::hold(&mut tx, claim).await? {
            return Err(RoundError::LostClaim);
        }
        models::delete_of_round(&mut *tx, claim.round_id).await?;
        let model_id = models::insert(
            &mut *tx,
            &models::NewModel {
                project_id: claim.project_id,
                round_id: claim.round_id,
                checkpoint_path: &checkpoint.to_string_lossy(),
                dim: i32::try_from(outcome.embeddings.dim()).unwrap_or(i32::MAX),
                final_loss: outcome.final_loss,
                device: &outcome.device,
            },
        )
        .await?;
        models::insert_embeddings(
            &mut *tx,
            model_id,
            &snapshot.table.ids,
            outcome.embeddings.values(),
        )
        .await?;
        claims::set_state(&mut *tx, claim, RoundState::Selecting, None).await?;
        tx.commit().await?;
        tracing::info!(model.id = model_id, "model {model_id} saved");
        Ok(model_id)
    }
}

/// What a round trains with besides the items and the "same" groups.
struct Training {
    loss: LossKind,
    warm_start: Option<PathBuf>,
    /// The accepted "different" answers, as pairs of item indices.
    negatives: Vec<(usize, usize)>,
}

/// The loss a project's rounds train with: its own, or the trainer's default.
pub fn project_loss(project: &Project) -> Result<LossKind, ParseLossKindError> {
    project
        .loss
        .as_deref()
        .map_or(Ok(TrainConfig::default().loss), str::parse)
}

/// Resolves once `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Copies training progress into the round row, at most once a second. Cancels the job
/// when the claim lapsed.
async fn report_progress(
    db: PgPool,
    claim: Claim,
    mut progress: watch::Receiver<Progress>,
    cancel: Arc<AtomicBool>,
) {
    while progress.changed().await.is_ok() {
        let now = progress.borrow_and_update().clone();
        let share = if now.steps == 0 {
            0.0
        } else {
            now.step as f32 / now.steps as f32
        };
        let metrics = json!({ "step": now.step, "steps": now.steps, "loss": now.loss });
        match claims::report(&db, &claim, share, &metrics).await {
            Ok(true) => {}
            Ok(false) => {
                cancel.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => tracing::warn!(error = %e,
                "cannot record progress of round {}: {e}", claim.round_id),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
