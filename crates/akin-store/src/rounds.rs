//! Rounds: one pass of train, embed and select. Their state lives here so that a restart
//! finds every round where it was left. Workers claim queued rounds through
//! [`crate::claims`]; this module creates, lists, retries and advances them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;

use crate::{Result, StoreError};

/// Where a round is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundState {
    Queued,
    Training,
    Selecting,
    Open,
    Failed,
}

impl RoundState {
    /// The name stored in the database and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Training => "training",
            Self::Selecting => "selecting",
            Self::Open => "open",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "queued" => Self::Queued,
            "training" => Self::Training,
            "selecting" => Self::Selecting,
            "open" => Self::Open,
            "failed" => Self::Failed,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown round state {other:?}"
                )));
            }
        })
    }
}

/// A round row.
#[derive(Clone, Debug, Serialize)]
pub struct Round {
    pub id: i64,
    pub project_id: i64,
    pub number: i32,
    pub state: RoundState,
    pub reason: Option<String>,
    pub progress: f32,
    pub metrics: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The worker that holds (or last held) the round.
    pub claimed_by: Option<String>,
    /// When the holding worker last showed signs of life.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// How many times a worker started the round since it was queued or retried.
    pub attempts: i32,
}

struct RoundRow {
    id: i64,
    project_id: i64,
    number: i32,
    state: String,
    reason: Option<String>,
    progress: f32,
    metrics: serde_json::Value,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    claimed_by: Option<String>,
    heartbeat_at: Option<DateTime<Utc>>,
    attempts: i32,
}

impl TryFrom<RoundRow> for Round {
    type Error = StoreError;

    fn try_from(row: RoundRow) -> Result<Self> {
        Ok(Round {
            id: row.id,
            project_id: row.project_id,
            number: row.number,
            state: RoundState::parse(&row.state)?,
            reason: row.reason,
            progress: row.progress,
            metrics: row.metrics,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            claimed_by: row.claimed_by,
            heartbeat_at: row.heartbeat_at,
            attempts: row.attempts,
        })
    }
}

/// Why a round could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateRoundError {
    #[error("round {0} of this project is still running")]
    AlreadyActive(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates the project's next round in `state`. Fails with `AlreadyActive` when another
/// round of the project is queued, training or selecting: the partial unique index
/// `rounds_one_active_per_project` makes this hold across server processes.
pub async fn create(
    db: impl PgExecutor<'_> + Copy,
    project_id: i64,
    state: RoundState,
) -> Result<Round, CreateRoundError> {
    let inserted = sqlx::query_as!(
        RoundRow,
        r#"INSERT INTO rounds (project_id, number, state)
           SELECT $1, COALESCE(max(number) + 1, 0), $2 FROM rounds WHERE project_id = $1
           RETURNING id, project_id, number, state, reason, progress, metrics,
                     created_at, started_at, finished_at, claimed_by, heartbeat_at, attempts"#,
        project_id,
        state.as_str()
    )
    .fetch_one(db)
    .await;

    match inserted {
        Ok(row) => Ok(row.try_into()?),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            let active = active(db, project_id).await?;
            Err(CreateRoundError::AlreadyActive(active.map_or(0, |r| r.id)))
        }
        Err(e) => Err(StoreError::from(e).into()),
    }
}

/// The project's round that is queued, training or selecting, if any.
pub async fn active(db: impl PgExecutor<'_>, project_id: i64) -> Result<Option<Round>> {
    let row = sqlx::query_as!(
        RoundRow,
        r#"SELECT id, project_id, number, state, reason, progress, metrics,
                  created_at, started_at, finished_at, claimed_by, heartbeat_at, attempts
           FROM rounds WHERE project_id = $1 AND state IN ('queued', 'training', 'selecting')"#,
        project_id
    )
    .fetch_optional(db)
    .await?;
    row.map(Round::try_from).transpose()
}

/// One round of a project.
pub async fn get(db: impl PgExecutor<'_>, project_id: i64, round_id: i64) -> Result<Option<Round>> {
    let row = sqlx::query_as!(
        RoundRow,
        r#"SELECT id, project_id, number, state, reason, progress, metrics,
                  created_at, started_at, finished_at, claimed_by, heartbeat_at, attempts
           FROM rounds WHERE project_id = $1 AND id = $2"#,
        project_id,
        round_id
    )
    .fetch_optional(db)
    .await?;
    row.map(Round::try_from).transpose()
}

/// Every round of a project, newest first.
pub async fn list(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<Round>> {
    let rows = sqlx::query_as!(
        RoundRow,
        r#"SELECT id, project_id, number, state, reason, progress, metrics,
                  created_at, started_at, finished_at, claimed_by, heartbeat_at, attempts
           FROM rounds WHERE project_id = $1 ORDER BY number DESC"#,
        project_id
    )
    .fetch_all(db)
    .await?;
    rows.into_iter().map(Round::try_from).collect()
}

/// Moves a round to `state`. Entering training stamps `started_at`; entering open or
/// failed stamps `finished_at`, stores `reason`, and sets progress to 1 when open.
pub async fn set_state(
    db: impl PgExecutor<'_>,
    round_id: i64,
    state: RoundState,
    reason: Option<&str>,
) -> Result<()> {
    sqlx::query!(
        r#"UPDATE rounds SET
             state = $2,
             reason = COALESCE($3, reason),
             started_at = CASE WHEN $2 = 'training' THEN now() ELSE started_at END,
             finished_at = CASE WHEN $2 IN ('open', 'failed') THEN now() ELSE finished_at END,
             progress = CASE WHEN $2 = 'open' THEN 1 ELSE progress END
           WHERE id = $1"#,
        round_id,
        state.as_str(),
        reason
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records training progress (0 to 1) and the latest metrics of a running round.
pub async fn set_progress(
    db: impl PgExecutor<'_>,
    round_id: i64,
    progress: f32,
    metrics: &serde_json::Value,
) -> Result<()> {
    sqlx::query!(
        "UPDATE rounds SET progress = $2, metrics = metrics || $3 WHERE id = $1",
        round_id,
        progress,
        metrics
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Marks every round left queued, training or selecting as failed with `reason`, and
/// returns their ids. Only for an operator who knows that no worker runs anywhere: the
/// service itself never calls it, because with several servers one process cannot tell a
/// dead round from another's live one; [`crate::claims::recover_stale`] goes by heartbeats.
pub async fn fail_unfinished(db: impl PgExecutor<'_>, reason: &str) -> Result<Vec<i64>> {
    let ids = sqlx::query_scalar!(
        r#"UPDATE rounds SET state = 'failed', reason = $1, finished_at = now(),
                             claimed_by = NULL, heartbeat_at = NULL
           WHERE state IN ('queued', 'training', 'selecting') RETURNING id"#,
        reason
    )
    .fetch_all(db)
    .await?;
    Ok(ids)
}

/// Queues the round after round `after_number`, but only while that round is still the
/// project's latest: two callers that saw the same latest round start one round between
/// them. `None` when a newer round exists or another round is running.
pub async fn create_next(
    db: impl PgExecutor<'_>,
    project_id: i64,
    after_number: i32,
) -> Result<Option<Round>> {
    let inserted = sqlx::query_as!(
        RoundRow,
        r#"INSERT INTO rounds (project_id, number, state)
           SELECT $1, max(number) + 1, 'queued' FROM rounds WHERE project_id = $1
           HAVING max(number) = $2
           RETURNING id, project_id, number, state, reason, progress, metrics,
                     created_at, started_at, finished_at, claimed_by, heartbeat_at, attempts"#,
        project_id,
        after_number
    )
    .fetch_optional(db)
    .await;

    match inserted {
        Ok(row) => row.map(Round::try_from).transpose(),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// How far the open round of a project that advances on its own has got.
#[derive(Clone, Debug, PartialEq)]
pub struct AdvanceCheck {
    pub round_id: i64,
    pub number: i32,
    /// The project's `auto_advance_share`.
    pub share: f32,
    /// Pairs of the round answered so far.
    pub answered: i64,
    /// Pairs the round wrote.
    pub total: i64,
}

impl AdvanceCheck {
    /// Whether enough of the round is answered to start the next one. A round that wrote
    /// no pairs never is: its successor would find nothing new to learn from.
    pub fn is_due(&self) -> bool {
        self.total > 0 && self.answered as f64 >= f64::from(self.share) * self.total as f64
    }
}

/// The project's latest round with its answered share, when that round is open and the
/// project has an `auto_advance_share`; `None` otherwise.
pub async fn advance_check(
    db: impl PgExecutor<'_>,
    project_id: i64,
) -> Result<Option<AdvanceCheck>> {
    let check = sqlx::query_as!(
        AdvanceCheck,
        r#"SELECT r.id AS "round_id!", r.number AS "number!", p.auto_advance_share AS "share!",
                  (SELECT count(*) FROM queries q
                   WHERE q.round_id = r.id AND q.state = 'answered') AS "answered!",
                  (SELECT count(*) FROM queries q WHERE q.round_id = r.id) AS "total!"
           FROM projects p
           JOIN LATERAL (SELECT id, number, state FROM rounds
                         WHERE project_id = p.id ORDER BY number DESC LIMIT 1) r ON true
           WHERE p.id = $1 AND p.auto_advance_share IS NOT NULL AND r.state = 'open'"#,
        project_id
    )
    .fetch_optional(db)
    .await?;
    Ok(check)
}

/// Why a round could not be retried. Nothing changes in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("round {0} does not exist")]
    NotFound(i64),
    #[error("round {id} is {state}, not failed: only a failed round can be retried")]
    NotFailed { id: i64, state: &'static str },
    #[error("round {0} is not the project's latest round: start a new round instead")]
    NotLatest(i64),
    #[error("round {0} of this project is still running")]
    AlreadyActive(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Queues a failed round again with a fresh budget of attempts. Only the project's latest
/// round can be retried, and only while no other round of the project runs.
pub async fn retry(
    db: impl PgExecutor<'_> + Copy,
    project_id: i64,
    round_id: i64,
) -> Result<Round, RetryError> {
    let updated = sqlx::query_as!(
        RoundRow,
        r#"UPDATE rounds SET state = 'queued', reason = NULL, attempts = 0, claimed_by = NULL,
                             claim_token = NULL, heartbeat_at = NULL, started_at = NULL, finished_at = NULL,
                             progress = 0
           WHERE id = $2 AND project_id = $1 AND state = 'failed'
             AND number = (SELECT max(number) FROM rounds WHERE project_id = $1)
           RETURNING id, project_id, number, state, reason, progress, metrics,
                     created_at, started_at, finished_at, claimed_by, heartbeat_at, attempts"#,
        project_id,
        round_id
    )
    .fetch_optional(db)
    .await;

    match updated {
        Ok(Some(row)) => Ok(row.try_into()?),
        Ok(None) => Err(why_not_retried(db, project_id, round_id).await?),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            let active = active(db, project_id).await?;
            Err(RetryError::AlreadyActive(active.map_or(0, |r| r.id)))
        }
        Err(e) => Err(StoreError::from(e).into()),
    }
}

async fn why_not_retried(
    db: impl PgExecutor<'_> + Copy,
    project_id: i64,
    round_id: i64,
) -> Result<RetryError> {
    let Some(round) = get(db, project_id, round_id).await? else {
        return Ok(RetryError::NotFound(round_id));
    };
    if round.state != RoundState::Failed {
        return Ok(RetryError::NotFailed {
            id: round_id,
            state: round.state.as_str(),
        });
    }
    Ok(RetryError::NotLatest(round_id))
}
