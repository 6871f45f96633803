//! The round orchestrator: train on the current graph, embed every item, store the model,
//! and write the next batch of pairs. Training runs on the trainer thread; graph building
//! and selection run on the blocking pool, so request handlers never wait on them.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use akin_core::select::{self, SelectionRequest};
use akin_core::{Embeddings, Graph, Strategy};
use akin_store::items::ItemTable;
use akin_store::projects::Project;
use akin_store::queries::NewQuery;
use akin_store::rounds::{self, CreateRoundError, Round, RoundState};
use akin_store::{answers, items, models, queries};
use akin_trainer::{ImageSet, Progress, TrainConfig, TrainJob, TrainOutcome, TrainerHandle};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::watch;
use tracing::Instrument;

/// Why a round could not run. The message is stored as the round's `reason`.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error("storage: {0}")]
    Store(#[from] akin_store::StoreError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("training: {0}")]
    Training(#[from] akin_trainer::TrainError),
    #[error("the project has no items")]
    NoItems,
    #[error("the stored items do not fit the project: {0}")]
    BadItems(String),
    #[error("{0}")]
    Io(String),
    #[error("a background task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// What the orchestrator needs to run rounds.
#[derive(Clone)]
pub struct Orchestrator {
    pub db: PgPool,
    pub trainer: TrainerHandle,
    pub data_dir: PathBuf,
    pub train_steps: usize,
    pub queries_per_round: usize,
}

impl Orchestrator {
    /// Queues a new round for `project` and runs it in the background.
    pub async fn start_round(&self, project: Project) -> Result<Round, CreateRoundError> {
        let round = rounds::create(&self.db, project.id, RoundState::Queued).await?;
        tracing::info!(round.id = round.id, project.name = %project.name,
            "round {} of {} queued", round.number, project.name);

        let this = self.clone();
        let round_id = round.id;
        let span = tracing::info_span!("round", round.id, project.name = %project.name);
        tokio::spawn(
            async move {
                if let Err(e) = this.run(&project, round_id).await {
                    mark_failed(&this.db, round_id, &e).await;
                }
            }
            .instrument(span),
        );
        Ok(round)
    }

    async fn run(&self, project: &Project, round_id: i64) -> Result<(), RoundError> {
        rounds::set_state(&self.db, round_id, RoundState::Training, None).await?;
        let snapshot = Snapshot::load(&self.db, project).await?;

        let outcome = self.train(project, round_id, &snapshot).await?;
        let model_id = self
            .save_model(project, round_id, &snapshot, &outcome)
            .await?;

        rounds::set_state(&self.db, round_id, RoundState::Selecting, None).await?;
        let metrics = json!({
            "model_id": model_id,
            "final_loss": outcome.final_loss,
            "train_steps": outcome.steps,
            "device": outcome.device,
            "answers_used": snapshot.answers,
            "positive_groups": snapshot.graph.positive_groups().len(),
            "label_recovery": akin_core::metrics::label_recovery(&snapshot.graph),
        });
        let pairs = open_queries(
            &self.db,
            project,
            round_id,
            Some(model_id),
            snapshot,
            outcome.embeddings,
            self.queries_per_round,
        )
        .await?;

        rounds::set_progress(&self.db, round_id, 1.0, &metrics).await?;
        rounds::set_progress(
            &self.db,
            round_id,
            1.0,
            &json!({ "queries_written": pairs }),
        )
        .await?;
        rounds::set_state(&self.db, round_id, RoundState::Open, None).await?;
        tracing::info!(
            model.id = model_id,
            queries = pairs,
            "round {round_id} is open"
        );
        Ok(())
    }

    /// Trains on the trainer thread while a task copies its progress into the round row.
    async fn train(
        &self,
        project: &Project,
        round_id: i64,
        snapshot: &Snapshot,
    ) -> Result<TrainOutcome, RoundError> {
        let previous = models::latest(&self.db, project.id).await?;
        let (progress_tx, progress_rx) = watch::channel(Progress::default());
        let job = TrainJob {
            images: Arc::new(snapshot.image_set(project)?),
            positives: snapshot.graph.positive_groups(),
            config: TrainConfig {
                steps: self.train_steps,
                ..TrainConfig::default()
            },
            warm_start: previous.map(|m| PathBuf::from(m.checkpoint_path)),
            checkpoint_out: self.checkpoint_path(round_id).await?,
            cancel: Arc::new(AtomicBool::new(false)),
            progress: Some(progress_tx),
        };

        let reporter = tokio::spawn(report_progress(self.db.clone(), round_id, progress_rx));
        let outcome = self.trainer.run(job).await;
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

    async fn save_model(
        &self,
        project: &Project,
        round_id: i64,
        snapshot: &Snapshot,
        outcome: &TrainOutcome,
    ) -> Result<i64, RoundError> {
        let checkpoint = self.checkpoint_path(round_id).await?;
        let mut tx = self.db.begin().await?;
        let model_id = models::insert(
            &mut *tx,
            &models::NewModel {
                project_id: project.id,
                round_id,
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
        tx.commit().await?;
        tracing::info!(model.id = model_id, "model {model_id} saved");
        Ok(model_id)
    }
}

/// Opens round 0 of a project that has no round yet: pairs chosen on raw pixels, so that
/// people can answer before the first model exists. Returns `None` if the project
/// already has rounds.
pub async fn open_first_round(
    db: &PgPool,
    project: &Project,
    budget: usize,
) -> Result<Option<Round>, RoundError> {
    if !rounds::list(db, project.id).await?.is_empty() {
        return Ok(None);
    }
    let round = match rounds::create(db, project.id, RoundState::Selecting).await {
        Ok(round) => round,
        Err(CreateRoundError::AlreadyActive(_)) => return Ok(None),
        Err(CreateRoundError::Store(e)) => return Err(e.into()),
    };

    let result = async {
        let snapshot = Snapshot::load(db, project).await?;
        let raw = Embeddings::from_pixels(pixels_per_item(project), &snapshot.table.pixels)
            .map_err(|e| RoundError::BadItems(e.to_string()))?;
        open_queries(db, project, round.id, None, snapshot, raw, budget).await
    }
    .await;
    match result {
        Ok(pairs) => {
            rounds::set_progress(db, round.id, 1.0, &json!({ "queries_written": pairs })).await?;
            rounds::set_state(db, round.id, RoundState::Open, None).await?;
            Ok(rounds::get(db, project.id, round.id).await?)
        }
        Err(e) => {
            mark_failed(db, round.id, &e).await;
            Err(e)
        }
    }
}

/// The items and the answer graph as they stood when a round began.
struct Snapshot {
    table: ItemTable,
    graph: Graph,
    answers: usize,
}

impl Snapshot {
    async fn load(db: &PgPool, project: &Project) -> Result<Self, RoundError> {
        let per_item = pixels_per_item(project);
        let table = items::table(db, project.id, per_item).await?;
        if table.ids.is_empty() {
            return Err(RoundError::NoItems);
        }
        let log = answers::log(db, project.id).await?;
        let answers = log.len();
        let (table, graph) = tokio::task::spawn_blocking(move || {
            let edges = log
                .iter()
                .filter_map(|&(a, b, verdict)| {
                    Some((table.index_of(a)?, table.index_of(b)?, verdict))
                })
                .collect::<Vec<_>>();
            let graph = Graph::from_answers(table.ids.len(), edges);
            (table, graph)
        })
        .await?;
        Ok(Self {
            table,
            graph,
            answers,
        })
    }

    fn image_set(&self, project: &Project) -> Result<ImageSet, RoundError> {
        let side = project.image_size.max(0) as usize;
        ImageSet::new(
            project.channels.max(0) as usize,
            side,
            side,
            self.table.pixels.clone(),
        )
        .map_err(|e| RoundError::BadItems(e.to_string()))
    }
}

/// Bytes of one item's training copy.
fn pixels_per_item(project: &Project) -> usize {
    let side = project.image_size.max(0) as usize;
    project.channels.max(0) as usize * side * side
}

/// Chooses the next pairs with the exemplar strategy, retires the unleased pending pairs
/// of earlier rounds, and stores the new ones. Returns how many were written.
async fn open_queries(
    db: &PgPool,
    project: &Project,
    round_id: i64,
    model_id: Option<i64>,
    snapshot: Snapshot,
    embeddings: Embeddings,
    budget: usize,
) -> Result<u64, RoundError> {
    let asked = queries::asked_pairs(db, project.id).await?;
    let choices = tokio::task::spawn_blocking(move || {
        let asked: HashSet<(usize, usize)> = asked
            .iter()
            .filter_map(|&(a, b)| Some((snapshot.table.index_of(a)?, snapshot.table.index_of(b)?)))
            .collect();
        let request = SelectionRequest {
            graph: &snapshot.graph,
            embeddings: &embeddings,
            budget,
            seed: round_id as u64,
            already_asked: &asked,
        };
        select::select(Strategy::Exemplar, &request)
            .into_iter()
            .map(|choice| NewQuery {
                item_a: snapshot.table.ids[choice.a],
                item_b: snapshot.table.ids[choice.b],
                strategy: choice.strategy.as_str().to_owned(),
                score: choice.score,
            })
            .collect::<Vec<_>>()
    })
    .await?;

    let mut tx = db.begin().await?;
    queries::retire_unleased(&mut *tx, project.id).await?;
    let written = queries::insert_many(&mut *tx, project.id, round_id, model_id, &choices).await?;
    tx.commit().await?;
    Ok(written)
}

/// Copies training progress into the round row, at most once a second.
async fn report_progress(db: PgPool, round_id: i64, mut progress: watch::Receiver<Progress>) {
    while progress.changed().await.is_ok() {
        let now = progress.borrow_and_update().clone();
        let share = if now.steps == 0 {
            0.0
        } else {
            now.step as f32 / now.steps as f32
        };
        let metrics = json!({ "step": now.step, "steps": now.steps, "loss": now.loss });
        if let Err(e) = rounds::set_progress(&db, round_id, share, &metrics).await {
            tracing::warn!(error = %e, "cannot record progress of round {round_id}: {e}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn mark_failed(db: &PgPool, round_id: i64, error: &RoundError) {
    tracing::warn!(error = %error, "round {round_id} failed: {error}");
    let reason = error.to_string();
    if let Err(e) = rounds::set_state(db, round_id, RoundState::Failed, Some(&reason)).await {
        tracing::error!(error = %e, "cannot mark round {round_id} failed: {e}");
    }
}
