//! The orchestrator on the web side: it queues rounds (by hand, on retry, or on its own when
//! enough of the open round is answered) and wakes the in-process worker, if there is one.
//! Rounds run in a [`crate::worker::RoundWorker`], here or in another process.

use std::sync::Arc;
use std::time::Duration;

use akin_store::claims;
use akin_store::projects::Project;
use akin_store::rounds::{self, CreateRoundError, RetryError, Round, RoundState};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::keep_alive::KeepAlive;
use crate::selection::{self, Budget, Snapshot};

/// How often the process that opens a project's first round refreshes its heartbeat.
const FIRST_ROUND_HEARTBEAT: Duration = Duration::from_secs(1);

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
    #[error("the round's project no longer exists")]
    NoProject,
    #[error("the stored items do not fit the project: {0}")]
    BadItems(String),
    #[error("the project's settings are invalid: {0}")]
    BadSettings(String),
    #[error("{0}")]
    Io(String),
    #[error("a background task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("this worker's claim on the round lapsed; another worker may run it")]
    LostClaim,
}

/// Queues rounds for the workers. Cheap to clone.
#[derive(Clone)]
pub struct Orchestrator {
    pub db: PgPool,
    /// Wakes the worker of this process, so that it does not wait for its next poll.
    pub wake: Option<Arc<Notify>>,
}

impl Orchestrator {
    /// Queues the next round of `project`. Fails with `AlreadyActive` while another round of
    /// the project is queued, training or selecting.
    pub async fn start_round(&self, project: &Project) -> Result<Round, CreateRoundError> {
        let round = rounds::create(&self.db, project.id, RoundState::Queued).await?;
        tracing::info!(round.id = round.id, project.name = %project.name,
            "round {} of {} queued", round.number, project.name);
        self.wake_worker();
        Ok(round)
    }

    /// Queues a failed round again.
    pub async fn retry_round(&self, project: &Project, round_id: i64) -> Result<Round, RetryError> {
        let round = rounds::retry(&self.db, project.id, round_id).await?;
        tracing::info!(round.id = round.id, project.name = %project.name,
            "round {} of {} queued again", round.number, project.name);
        self.wake_worker();
        Ok(round)
    }

    /// Starts the project's next round when it advances on its own and enough of its open
    /// round is answered. Returns the new round, or `None` when none was due or another
    /// caller started it first.
    pub async fn advance_if_due(
        &self,
        project_id: i64,
    ) -> Result<Option<Round>, akin_store::StoreError> {
        let Some(check) = rounds::advance_check(&self.db, project_id).await? else {
            return Ok(None);
        };
        if !check.is_due() {
            return Ok(None);
        }
        let next = rounds::create_next(&self.db, project_id, check.number).await?;
        if let Some(round) = &next {
            tracing::info!(
                round.id = round.id,
                answered = check.answered,
                pairs = check.total,
                "round {} queued on its own: {} of {} pairs of round {} answered",
                round.number,
                check.answered,
                check.total,
                check.number
            );
            self.wake_worker();
        }
        Ok(next)
    }

    fn wake_worker(&self) {
        if let Some(wake) = &self.wake {
            wake.notify_one();
        }
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
    let worker = format!("import-{}", std::process::id());
    let claim = match claims::create_claimed(db, project.id, RoundState::Selecting, &worker).await {
        Ok(claim) => claim,
        Err(CreateRoundError::AlreadyActive(_)) => return Ok(None),
        Err(CreateRoundError::Store(e)) => return Err(e.into()),
    };
    let alive = KeepAlive::start(db.clone(), claim.clone(), FIRST_ROUND_HEARTBEAT);

    let result = async {
        let snapshot = Snapshot::load(db, project).await?;
        let raw = snapshot.raw_embeddings(project)?;
        let ids = snapshot.table.ids.clone();
        // A first round has no answers to audit, and no known pairs: they name items that
        // this import has just added.
        let budget = Budget {
            pairs: budget,
            audits: 0,
            known_share: 0.0,
        };
        let choices = selection::choose(db, project, claim.round_id, ids, raw, budget).await?;
        selection::open(db, &claim, None, &choices, json!({})).await
    }
    .await;
    drop(alive);

    if let Err(e) = result {
        tracing::warn!(error = %e, "round {} failed: {e}", claim.round_id);
        claims::set_state(db, &claim, RoundState::Failed, Some(&e.to_string())).await?;
        return Err(e);
    }
    Ok(rounds::get(db, project.id, claim.round_id).await?)
}
