//! Rounds as jobs: workers claim queued rounds one each, prove they live with heartbeats,
//! and lose a round they went silent on; every write is fenced by the claim.

mod common;

use akin_store::claims::{self, Claim};
use akin_store::projects;
use akin_store::rounds::{self, CreateRoundError, RoundState};
use common::{BoxError, CHANNELS, IMAGE_SIZE, TestResult};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// A heartbeat window that every heartbeat already missed.
const ALREADY_STALE: f64 = -1.0;
const MAX_ATTEMPTS: i32 = 3;

/// A project named `name` with one queued round; returns the round's id.
async fn queued_round(pool: &PgPool, name: &str) -> TestResult<i64> {
    let project = projects::get_or_create(pool, name, CHANNELS, IMAGE_SIZE).await?;
    Ok(rounds::create(pool, project.id, RoundState::Queued)
        .await?
        .id)
}

async fn round_of(pool: &PgPool, claim: &Claim) -> TestResult<rounds::Round> {
    let round = rounds::get(pool, claim.project_id, claim.round_id).await?;
    Ok(round.ok_or("round gone")?)
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn claim_next_takes_the_oldest_queued_round_and_starts_training(pool: PgPool) -> TestResult {
    let oldest = queued_round(&pool, "oldest").await?;
    let newer = queued_round(&pool, "newer").await?;

    let first = claims::claim_next(&pool, "w1")
        .await?
        .ok_or("nothing claimed")?;
    let second = claims::claim_next(&pool, "w2")
        .await?
        .ok_or("nothing claimed")?;
    let third = claims::claim_next(&pool, "w3").await?;

    assert_eq!((first.round_id, second.round_id), (oldest, newer));
    assert_eq!((first.worker.as_str(), first.attempt), ("w1", 1));
    assert!(third.is_none(), "{third:?}");
    let round = round_of(&pool, &first).await?;
    assert_eq!(round.state, RoundState::Training);
    assert_eq!(round.claimed_by.as_deref(), Some("w1"));
    assert!(round.started_at.is_some() && round.heartbeat_at.is_some());
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn workers_claiming_at_once_never_take_one_round_twice(
    pool_options: PgPoolOptions,
    connect_options: PgConnectOptions,
) -> TestResult {
    const WORKERS: usize = 8;
    const QUEUED: usize = 3;
    let pool = pool_options
        .max_connections(WORKERS as u32)
        .connect_with(connect_options)
        .await?;
    for index in 0..QUEUED {
        queued_round(&pool, &format!("p{index}")).await?;
    }

    let tasks: Vec<_> = (0..WORKERS)
        .map(|index| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let claim = claims::claim_next(&pool, &format!("w{index}")).await?;
                Ok::<_, BoxError>(claim)
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await??);
    }

    let mut round_ids: Vec<i64> = claimed.iter().map(|c| c.round_id).collect();
    round_ids.sort_unstable();
    round_ids.dedup();
    assert_eq!(claimed.len(), QUEUED, "{claimed:?}");
    assert_eq!(round_ids.len(), QUEUED, "{claimed:?}");
    pool.close().await;
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn a_live_claim_reports_progress_and_opens_its_round(pool: PgPool) -> TestResult {
    queued_round(&pool, "p").await?;
    let claim = claims::claim_next(&pool, "w1")
        .await?
        .ok_or("nothing claimed")?;

    let beat = claims::heartbeat(&pool, &claim).await?;
    let reported = claims::report(&pool, &claim, 0.5, &json!({ "loss": 0.75 })).await?;
    let selecting = claims::set_state(&pool, &claim, RoundState::Selecting, None).await?;
    let opened = claims::set_state(&pool, &claim, RoundState::Open, None).await?;

    assert!(beat && reported && selecting && opened);
    let round = round_of(&pool, &claim).await?;
    assert_eq!(round.state, RoundState::Open);
    assert_eq!(round.progress, 1.0);
    assert_eq!(round.metrics, json!({ "loss": 0.75 }));
    assert!(round.finished_at.is_some());
    assert!(
        !claims::heartbeat(&pool, &claim).await?,
        "an open round takes no heartbeats"
    );
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn a_silent_worker_loses_its_round_to_the_next_and_can_write_nothing_more(
    pool: PgPool,
) -> TestResult {
    queued_round(&pool, "p").await?;
    let silent = claims::claim_next(&pool, "w1")
        .await?
        .ok_or("nothing claimed")?;

    let recovered = claims::recover_stale(&pool, ALREADY_STALE, MAX_ATTEMPTS).await?;
    let next = claims::claim_next(&pool, "w2")
        .await?
        .ok_or("nothing claimed")?;

    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(recovered[0].round_id, silent.round_id);
    assert_eq!(recovered[0].state, RoundState::Queued);
    assert_eq!(recovered[0].worker.as_deref(), Some("w1"));
    assert_eq!((next.round_id, next.attempt), (silent.round_id, 2));
    assert!(!claims::heartbeat(&pool, &silent).await?);
    assert!(!claims::report(&pool, &silent, 0.9, &json!({})).await?);
    assert!(!claims::set_state(&pool, &silent, RoundState::Open, None).await?);
    assert!(!claims::release(&pool, &silent).await?);
    let round = round_of(&pool, &next).await?;
    assert_eq!(
        (round.state, round.claimed_by.as_deref()),
        (RoundState::Training, Some("w2"))
    );
    assert!(
        round.metrics.get("interrupted").is_some(),
        "{}",
        round.metrics
    );
    assert!(claims::heartbeat(&pool, &next).await?);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn a_round_out_of_attempts_fails_with_a_reason_that_names_the_worker(
    pool: PgPool,
) -> TestResult {
    queued_round(&pool, "p").await?;
    let claim = claims::claim_next(&pool, "w1")
        .await?
        .ok_or("nothing claimed")?;

    let recovered = claims::recover_stale(&pool, ALREADY_STALE, 1).await?;

    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(recovered[0].state, RoundState::Failed);
    let round = round_of(&pool, &claim).await?;
    assert_eq!(round.state, RoundState::Failed);
    let reason = round.reason.ok_or("no reason")?;
    assert!(reason.contains("w1"), "{reason}");
    assert!(round.finished_at.is_some());
    assert!(claims::claim_next(&pool, "w2").await?.is_none());
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn recover_stale_leaves_rounds_with_fresh_heartbeats_alone(pool: PgPool) -> TestResult {
    queued_round(&pool, "p").await?;
    let claim = claims::claim_next(&pool, "w1")
        .await?
        .ok_or("nothing claimed")?;
    claims::heartbeat(&pool, &claim).await?;

    let recovered = claims::recover_stale(&pool, 60.0, MAX_ATTEMPTS).await?;

    assert!(recovered.is_empty(), "{recovered:?}");
    assert!(claims::heartbeat(&pool, &claim).await?);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn a_held_round_is_not_recovered_until_the_holder_commits(pool: PgPool) -> TestResult {
    queued_round(&pool, "p").await?;
    let claim = claims::claim_next(&pool, "w1")
        .await?
        .ok_or("nothing claimed")?;
    let mut tx = pool.begin().await?;
    let held = claims::hold(&mut tx, &claim).await?;

    let while_held = claims::recover_stale(&pool, ALREADY_STALE, MAX_ATTEMPTS).await?;
    tx.commit().await?;
    let after_commit = claims::recover_stale(&pool, ALREADY_STALE, MAX_ATTEMPTS).await?;

    assert!(held);
    assert!(while_held.is_empty(), "{while_held:?}");
    assert_eq!(after_commit.len(), 1, "{after_commit:?}");
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn release_hands_the_round_back_without_counting_the_attempt(pool: PgPool) -> TestResult {
    queued_round(&pool, "p").await?;
    let first = claims::claim_next(&pool, "w1")
        .await?
        .ok_or("nothing claimed")?;

    let released = claims::release(&pool, &first).await?;
    let next = claims::claim_next(&pool, "w2")
        .await?
        .ok_or("nothing claimed")?;

    assert!(released);
    assert_eq!((next.round_id, next.attempt), (first.round_id, 1));
    assert!(!claims::heartbeat(&pool, &first).await?);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn create_claimed_starts_a_held_round_unless_one_is_active(pool: PgPool) -> TestResult {
    let project = projects::get_or_create(&pool, "p", CHANNELS, IMAGE_SIZE).await?;

    let claim = claims::create_claimed(&pool, project.id, RoundState::Selecting, "w1").await?;
    let second = claims::create_claimed(&pool, project.id, RoundState::Training, "w2").await;

    assert_eq!(
        (claim.number, claim.attempt, claim.worker.as_str()),
        (0, 1, "w1")
    );
    assert!(
        matches!(second, Err(CreateRoundError::AlreadyActive(id)) if id == claim.round_id),
        "{second:?}"
    );
    assert!(claims::heartbeat(&pool, &claim).await?);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn a_claim_from_before_a_retry_does_not_hold_the_retried_round(pool: PgPool) -> TestResult {
    queued_round(&pool, "p").await?;
    let before_retry = claims::claim_next(&pool, "gpu-1")
        .await?
        .ok_or("nothing claimed")?;
    claims::recover_stale(&pool, ALREADY_STALE, 1).await?;
    rounds::retry(&pool, before_retry.project_id, before_retry.round_id).await?;

    let after_retry = claims::claim_next(&pool, "gpu-1")
        .await?
        .ok_or("nothing claimed")?;

    assert_eq!(after_retry.round_id, before_retry.round_id);
    assert_ne!(
        after_retry, before_retry,
        "the old claim is indistinguishable from the new"
    );
    assert!(
        !claims::heartbeat(&pool, &before_retry).await?,
        "a worker presumed dead still holds the retried round"
    );
    Ok(())
}
