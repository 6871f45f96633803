//! Rounds as jobs. A worker claims the oldest queued round (`FOR UPDATE SKIP LOCKED`, so two
//! workers never take one round) and proves it is alive with a heartbeat while it runs it.
//! Every write a worker makes to its round is fenced by its [`Claim`]: the claim's token
//! must still be on the row, so a worker presumed dead cannot overwrite the round's next
//! holder, even one with the same name. [`recover_stale`] queues a round whose heartbeat went stale again, or
//! fails it once it has used up its attempts.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::Result;
use crate::rounds::{CreateRoundError, RoundState};

/// A worker's hold on one round: valid while the row still carries `token` and the round
/// is training or selecting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub round_id: i64,
    pub project_id: i64,
    /// The round's number within its project.
    pub number: i32,
    pub worker: String,
    /// 1 for the first start of the round, 2 when it was resumed once, and so on.
    pub attempt: i32,
    /// Drawn afresh by every claim, never reused: the fence of the holder's writes.
    pub token: i64,
}

/// Claims the oldest queued round of any project for `worker` and moves it to training.
/// `None` when nothing is queued (or every queued round is being claimed by someone else).
pub async fn claim_next(db: impl PgExecutor<'_>, worker: &str) -> Result<Option<Claim>> {
    let claim = sqlx::query_as!(
        Claim,
        r#"UPDATE rounds SET state = 'training', claimed_by = $1, heartbeat_at = now(),
                             claim_token = nextval('round_claim_tokens'),
                             attempts = attempts + 1, started_at = now(), progress = 0
           WHERE state = 'queued' AND id = (
               SELECT id FROM rounds WHERE state = 'queued'
               ORDER BY created_at, id
               LIMIT 1
               FOR UPDATE SKIP LOCKED)
           RETURNING id AS round_id, project_id, number, claimed_by AS "worker!",
                     attempts AS attempt, claim_token AS "token!""#,
        worker
    )
    .fetch_optional(db)
    .await?;
    Ok(claim)
}

/// Creates the project's next round already claimed by `worker`, in `state` (training or
/// selecting): for a round that its creator runs itself, such as the first round an import
/// opens. Fails with `AlreadyActive` like [`crate::rounds::create`].
pub async fn create_claimed(
    db: impl PgExecutor<'_> + Copy,
    project_id: i64,
    state: RoundState,
    worker: &str,
) -> Result<Claim, CreateRoundError> {
    let inserted = sqlx::query_as!(
        Claim,
        r#"INSERT INTO rounds (project_id, number, state, claimed_by, claim_token,
                               heartbeat_at, attempts, started_at)
           SELECT $1, COALESCE(max(number) + 1, 0), $2, $3, nextval('round_claim_tokens'),
                  now(), 1, now()
           FROM rounds WHERE project_id = $1
           RETURNING id AS round_id, project_id, number, claimed_by AS "worker!",
                     attempts AS attempt, claim_token AS "token!""#,
        project_id,
        state.as_str(),
        worker
    )
    .fetch_one(db)
    .await;

    match inserted {
        Ok(claim) => Ok(claim),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            let active = crate::rounds::active(db, project_id).await?;
            Err(CreateRoundError::AlreadyActive(active.map_or(0, |r| r.id)))
        }
        Err(e) => Err(crate::StoreError::from(e).into()),
    }
}

/// Refreshes the claim's heartbeat. `false` when the claim no longer holds: the worker must
/// stop working on the round and write nothing more to it.
pub async fn heartbeat(db: impl PgExecutor<'_>, claim: &Claim) -> Result<bool> {
    let updated = sqlx::query!(
        r#"UPDATE rounds SET heartbeat_at = now()
           WHERE id = $1 AND claim_token = $2
             AND state IN ('training', 'selecting')"#,
        claim.round_id,
        claim.token
    )
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Records progress (0 to 1) and merges `metrics` into the round's, refreshing the
/// heartbeat. `false` when the claim no longer holds.
pub async fn report(
    db: impl PgExecutor<'_>,
    claim: &Claim,
    progress: f32,
    metrics: &serde_json::Value,
) -> Result<bool> {
    let updated = sqlx::query!(
        r#"UPDATE rounds SET progress = $3, metrics = metrics || $4, heartbeat_at = now()
           WHERE id = $1 AND claim_token = $2
             AND state IN ('training', 'selecting')"#,
        claim.round_id,
        claim.token,
        progress,
        metrics
    )
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Moves the claimed round to `state` (selecting, open or failed). Entering open sets
/// progress to 1; open and failed stamp `finished_at`; `reason` is stored when given.
/// `false` when the claim no longer holds, and then nothing changed.
pub async fn set_state(
    db: impl PgExecutor<'_>,
    claim: &Claim,
    state: RoundState,
    reason: Option<&str>,
) -> Result<bool> {
    let updated = sqlx::query!(
        r#"UPDATE rounds SET
             state = $3,
             reason = COALESCE($4, reason),
             heartbeat_at = now(),
             finished_at = CASE WHEN $3 IN ('open', 'failed') THEN now() ELSE finished_at END,
             progress = CASE WHEN $3 = 'open' THEN 1 ELSE progress END
           WHERE id = $1 AND claim_token = $2
             AND state IN ('training', 'selecting')"#,
        claim.round_id,
        claim.token,
        state.as_str(),
        reason
    )
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Locks the claimed round's row until the end of the caller's transaction, so that the
/// transaction's writes land only while the claim holds and recovery waits for them.
/// `false` when the claim no longer holds.
pub async fn hold(tx: &mut PgConnection, claim: &Claim) -> Result<bool> {
    let held = sqlx::query_scalar!(
        r#"SELECT id FROM rounds
           WHERE id = $1 AND claim_token = $2
             AND state IN ('training', 'selecting')
           FOR UPDATE"#,
        claim.round_id,
        claim.token
    )
    .fetch_optional(tx)
    .await?;
    Ok(held.is_some())
}

/// Hands a round back to the queue without counting the attempt, for a worker that stops
/// cleanly (SIGTERM) in the middle of it. `false` when the claim no longer holds.
pub async fn release(db: impl PgExecutor<'_>, claim: &Claim) -> Result<bool> {
    let updated = sqlx::query!(
        r#"UPDATE rounds SET state = 'queued', claimed_by = NULL, claim_token = NULL,
                             heartbeat_at = NULL,
                             attempts = greatest(attempts - 1, 0), progress = 0,
                             started_at = NULL
           WHERE id = $1 AND claim_token = $2
             AND state IN ('training', 'selecting')"#,
        claim.round_id,
        claim.token
    )
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// A round that [`recover_stale`] took away from a silent worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    pub round_id: i64,
    pub project_id: i64,
    /// Queued (to be resumed) or failed (out of attempts).
    pub state: RoundState,
    /// The worker that stopped answering, if the round named one.
    pub worker: Option<String>,
    pub attempts: i32,
    pub heartbeat_at: Option<DateTime<Utc>>,
}

/// Takes every training or selecting round whose heartbeat is older than
/// `stale_after_seconds` (or missing) away from its worker: queued again to be resumed
/// while it has used fewer than `max_attempts` attempts, failed with a reason otherwise.
pub async fn recover_stale(
    db: impl PgExecutor<'_>,
    stale_after_seconds: f64,
    max_attempts: i32,
) -> Result<Vec<Recovered>> {
    let rows = sqlx::query!(
        r#"WITH stale AS (
               SELECT id, claimed_by AS worker, state AS was FROM rounds
               WHERE state IN ('training', 'selecting')
                 AND (heartbeat_at IS NULL
                      OR heartbeat_at < now() - make_interval(secs => $1))
               FOR UPDATE SKIP LOCKED)
           UPDATE rounds r SET
             state = CASE WHEN r.attempts >= $2 THEN 'failed' ELSE 'queued' END,
             reason = CASE WHEN r.attempts >= $2
                 THEN format('worker %s stopped sending heartbeats while the round was %s, '
                             || 'on attempt %s of %s; retry the round to run it again',
                             COALESCE(stale.worker, '(unknown)'), stale.was, r.attempts, $2)
                 ELSE r.reason END,
             finished_at = CASE WHEN r.attempts >= $2 THEN now() ELSE NULL END,
             claimed_by = CASE WHEN r.attempts >= $2 THEN r.claimed_by ELSE NULL END,
             started_at = CASE WHEN r.attempts >= $2 THEN r.started_at ELSE NULL END,
             progress = CASE WHEN r.attempts >= $2 THEN r.progress ELSE 0 END,
             metrics = r.metrics || jsonb_build_object('interrupted', format(
                 'worker %s stopped sending heartbeats at %s',
                 COALESCE(stale.worker, '(unknown)'),
                 COALESCE(r.heartbeat_at::text, 'no time')))
           FROM stale WHERE r.id = stale.id
           RETURNING r.id, r.project_id, r.state, stale.worker, r.attempts, r.heartbeat_at"#,
        stale_after_seconds,
        max_attempts
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Recovered {
                round_id: row.id,
                project_id: row.project_id,
                state: RoundState::parse(&row.state)?,
                worker: row.worker,
                attempts: row.attempts,
                heartbeat_at: row.heartbeat_at,
            })
        })
        .collect()
}
