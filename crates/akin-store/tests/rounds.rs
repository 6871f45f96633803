//! Rounds: one active round per project, numbered from zero, failed on restart when no
//! worker is left to finish them.

mod common;

use akin_core::Verdict;
use akin_store::answers::NewAnswer;
use akin_store::projects;
use akin_store::rounds::{self, CreateRoundError, RetryError, RoundState};
use common::{CHANNELS, IMAGE_SIZE, TestResult};
use serde_json::json;
use sqlx::PgPool;

async fn project(pool: &PgPool, name: &str) -> TestResult<i64> {
    Ok(projects::get_or_create(pool, name, CHANNELS, IMAGE_SIZE)
        .await?
        .id)
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn a_project_runs_one_round_at_a_time_while_another_project_can_start_one(
    pool: PgPool,
) -> TestResult {
    let (busy, idle) = (project(&pool, "busy").await?, project(&pool, "idle").await?);
    let running = rounds::create(&pool, busy, RoundState::Queued).await?;

    let second = rounds::create(&pool, busy, RoundState::Queued).await;
    let elsewhere = rounds::create(&pool, idle, RoundState::Queued).await?;

    assert!(
        matches!(second, Err(CreateRoundError::AlreadyActive(id)) if id == running.id),
        "{second:?}"
    );
    assert_eq!(rounds::list(&pool, busy).await?.len(), 1);
    assert_eq!(
        rounds::active(&pool, busy).await?.map(|r| r.id),
        Some(running.id)
    );
    assert_eq!(elsewhere.project_id, idle);
    assert_eq!(elsewhere.number, 0);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn a_new_round_can_start_once_the_active_one_is_open(pool: PgPool) -> TestResult {
    let project_id = project(&pool, "p").await?;
    let first = rounds::create(&pool, project_id, RoundState::Selecting).await?;
    rounds::set_state(&pool, first.id, RoundState::Open, None).await?;

    let next = rounds::create(&pool, project_id, RoundState::Queued).await?;

    assert_eq!(next.number, first.number + 1);
    assert_eq!(
        rounds::active(&pool, project_id).await?.map(|r| r.id),
        Some(next.id)
    );
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn concurrent_creates_start_exactly_one_round(pool: PgPool) -> TestResult {
    let project_id = project(&pool, "p").await?;

    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { rounds::create(&pool, project_id, RoundState::Queued).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await?);
    }

    let started: Vec<i64> = outcomes.iter().flatten().map(|r| r.id).collect();
    assert_eq!(started.len(), 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| match o {
            Ok(_) => true,
            Err(CreateRoundError::AlreadyActive(id)) => *id == started[0],
            Err(CreateRoundError::Store(_)) => false,
        }),
        "{outcomes:?}"
    );
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn round_numbers_count_up_from_zero_per_project(pool: PgPool) -> TestResult {
    let (first, second) = (
        project(&pool, "first").await?,
        project(&pool, "second").await?,
    );

    for _ in 0..3 {
        rounds::create(&pool, first, RoundState::Open).await?;
    }
    let other = rounds::create(&pool, second, RoundState::Open).await?;

    let numbers: Vec<i32> = rounds::list(&pool, first)
        .await?
        .iter()
        .map(|r| r.number)
        .collect();
    assert_eq!(numbers, [2, 1, 0], "newest first");
    assert_eq!(other.number, 0);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn fail_unfinished_fails_queued_training_and_selecting_rounds_and_leaves_open_ones(
    pool: PgPool,
) -> TestResult {
    let mut unfinished = Vec::new();
    let mut open = Vec::new();
    for (name, state) in [
        ("queued", RoundState::Queued),
        ("training", RoundState::Training),
        ("selecting", RoundState::Selecting),
    ] {
        let project_id = project(&pool, name).await?;
        open.push(
            rounds::create(&pool, project_id, RoundState::Open)
                .await?
                .id,
        );
        let round = rounds::create(&pool, project_id, RoundState::Queued).await?;
        rounds::set_state(&pool, round.id, state, None).await?;
        unfinished.push((project_id, round.id));
    }

    let mut failed = rounds::fail_unfinished(&pool, "the server restarted").await?;

    failed.sort_unstable();
    let expected: Vec<i64> = unfinished.iter().map(|&(_, id)| id).collect();
    assert_eq!(failed, expected);
    for (project_id, round_id) in unfinished {
        let round = rounds::get(&pool, project_id, round_id)
            .await?
            .ok_or("round gone")?;
        assert_eq!(round.state, RoundState::Failed);
        assert_eq!(round.reason.as_deref(), Some("the server restarted"));
        assert!(round.finished_at.is_some());
        assert!(rounds::active(&pool, project_id).await?.is_none());
    }
    for round_id in open {
        let state: String = sqlx::query_scalar("SELECT state FROM rounds WHERE id = $1")
            .bind(round_id)
            .fetch_one(&pool)
            .await?;
        assert_eq!(state, "open");
    }
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn set_state_stamps_the_start_on_training_and_the_finish_on_open(pool: PgPool) -> TestResult {
    let project_id = project(&pool, "p").await?;
    let queued = rounds::create(&pool, project_id, RoundState::Queued).await?;
    let get = |id| rounds::get(&pool, project_id, id);

    rounds::set_state(&pool, queued.id, RoundState::Training, None).await?;
    let training = get(queued.id).await?.ok_or("round gone")?;
    rounds::set_state(&pool, queued.id, RoundState::Selecting, None).await?;
    let selecting = get(queued.id).await?.ok_or("round gone")?;
    rounds::set_state(&pool, queued.id, RoundState::Open, None).await?;
    let open = get(queued.id).await?.ok_or("round gone")?;

    assert_eq!((queued.started_at, queued.finished_at), (None, None));
    let started_at = training
        .started_at
        .ok_or("training did not stamp started_at")?;
    assert!(started_at >= queued.created_at);
    assert_eq!(training.finished_at, None);
    assert_eq!(
        (selecting.started_at, selecting.finished_at),
        (Some(started_at), None)
    );
    assert_eq!(open.state, RoundState::Open);
    assert_eq!(open.started_at, Some(started_at));
    assert!(open.finished_at.ok_or("open did not stamp finished_at")? >= started_at);
    assert_eq!(open.progress, 1.0);
    assert_eq!(open.reason, None);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn set_state_to_failed_stores_the_reason_and_the_finish(pool: PgPool) -> TestResult {
    let project_id = project(&pool, "p").await?;
    let round = rounds::create(&pool, project_id, RoundState::Queued).await?;
    rounds::set_state(&pool, round.id, RoundState::Training, None).await?;

    rounds::set_state(&pool, round.id, RoundState::Failed, Some("out of memory")).await?;

    let failed = rounds::get(&pool, project_id, round.id)
        .await?
        .ok_or("round gone")?;
    assert_eq!(failed.state, RoundState::Failed);
    assert_eq!(failed.reason.as_deref(), Some("out of memory"));
    assert!(failed.finished_at.is_some());
    assert!(failed.progress < 1.0);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn set_progress_merges_metrics_into_the_ones_stored(pool: PgPool) -> TestResult {
    let project_id = project(&pool, "p").await?;
    let round = rounds::create(&pool, project_id, RoundState::Training).await?;

    rounds::set_progress(&pool, round.id, 0.25, &json!({ "loss": 2.0, "step": 10 })).await?;
    rounds::set_progress(&pool, round.id, 0.5, &json!({ "step": 20 })).await?;

    let stored = rounds::get(&pool, project_id, round.id)
        .await?
        .ok_or("round gone")?;
    assert_eq!(stored.progress, 0.5);
    assert_eq!(stored.metrics, json!({ "loss": 2.0, "step": 20 }));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn get_does_not_show_a_round_of_another_project(pool: PgPool) -> TestResult {
    let (owner, stranger) = (
        project(&pool, "owner").await?,
        project(&pool, "stranger").await?,
    );
    let round = rounds::create(&pool, owner, RoundState::Open).await?;

    let seen = rounds::get(&pool, stranger, round.id).await?;

    assert!(seen.is_none(), "{seen:?}");
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn create_next_starts_one_round_for_callers_who_saw_the_same_latest(
    pool: PgPool,
) -> TestResult {
    let project_id = project(&pool, "p").await?;
    let latest = rounds::create(&pool, project_id, RoundState::Open).await?;

    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { rounds::create_next(&pool, project_id, latest.number).await })
        })
        .collect();
    let mut started = Vec::new();
    for task in tasks {
        started.extend(task.await??);
    }

    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].number, latest.number + 1);
    assert_eq!(started[0].state, RoundState::Queued);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn create_next_does_nothing_after_a_stale_number_or_while_a_round_runs(
    pool: PgPool,
) -> TestResult {
    let (stale, busy) = (
        project(&pool, "stale").await?,
        project(&pool, "busy").await?,
    );
    for _ in 0..2 {
        rounds::create(&pool, stale, RoundState::Open).await?;
    }
    rounds::create(&pool, busy, RoundState::Open).await?;
    rounds::create(&pool, busy, RoundState::Queued).await?;

    let after_stale_number = rounds::create_next(&pool, stale, 0).await?;
    let while_running = rounds::create_next(&pool, busy, 1).await?;
    let without_rounds = rounds::create_next(&pool, project(&pool, "new").await?, 0).await?;

    assert!(after_stale_number.is_none(), "{after_stale_number:?}");
    assert!(while_running.is_none(), "{while_running:?}");
    assert!(without_rounds.is_none(), "{without_rounds:?}");
    assert_eq!(rounds::list(&pool, stale).await?.len(), 2);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn retry_queues_the_latest_failed_round_afresh(pool: PgPool) -> TestResult {
    let project_id = project(&pool, "p").await?;
    let round = rounds::create(&pool, project_id, RoundState::Queued).await?;
    rounds::set_state(&pool, round.id, RoundState::Training, None).await?;
    rounds::set_progress(&pool, round.id, 0.5, &json!({ "loss": 1.5 })).await?;
    rounds::set_state(&pool, round.id, RoundState::Failed, Some("out of memory")).await?;

    let retried = rounds::retry(&pool, project_id, round.id).await?;

    assert_eq!(retried.id, round.id);
    assert_eq!(retried.state, RoundState::Queued);
    assert_eq!((retried.reason, retried.attempts), (None, 0));
    assert_eq!((retried.started_at, retried.finished_at), (None, None));
    assert_eq!(retried.progress, 0.0);
    assert_eq!(
        rounds::active(&pool, project_id).await?.map(|r| r.id),
        Some(round.id)
    );
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn retry_refuses_rounds_that_are_not_the_latest_failed_one(pool: PgPool) -> TestResult {
    let (project_id, other) = (project(&pool, "p").await?, project(&pool, "other").await?);
    let failed = rounds::create(&pool, project_id, RoundState::Queued).await?;
    rounds::set_state(&pool, failed.id, RoundState::Failed, Some("crashed")).await?;
    let open = rounds::create(&pool, project_id, RoundState::Open).await?;

    let not_latest = rounds::retry(&pool, project_id, failed.id).await;
    let not_failed = rounds::retry(&pool, project_id, open.id).await;
    let not_found = rounds::retry(&pool, other, failed.id).await;

    assert!(
        matches!(not_latest, Err(RetryError::NotLatest(id)) if id == failed.id),
        "{not_latest:?}"
    );
    assert!(
        matches!(not_failed, Err(RetryError::NotFailed { id, state: "open" }) if id == open.id),
        "{not_failed:?}"
    );
    assert!(
        matches!(not_found, Err(RetryError::NotFound(id)) if id == failed.id),
        "{not_found:?}"
    );
    let unchanged = rounds::get(&pool, project_id, failed.id)
        .await?
        .ok_or("round gone")?;
    assert_eq!(unchanged.state, RoundState::Failed);
    assert_eq!(unchanged.reason.as_deref(), Some("crashed"));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn advance_check_is_due_once_the_share_of_the_open_round_is_answered(
    pool: PgPool,
) -> TestResult {
    let asked = common::project_with_pairs(&pool, 3, 3).await?;
    let project_id = asked.project.id;
    let before_share = rounds::advance_check(&pool, project_id).await?;
    projects::set_auto_advance(&pool, project_id, Some(0.5)).await?;
    let nothing_answered = rounds::advance_check(&pool, project_id).await?;

    for (index, &query_id) in asked.query_ids[..2].iter().enumerate() {
        let key = format!("key-{index}");
        let answer = NewAnswer {
            query_id,
            verdict: Verdict::Same,
            annotator: "ann",
            idempotency_key: &key,
        };
        common::record_committed(&pool, &answer).await?;
    }
    let two_answered = rounds::advance_check(&pool, project_id).await?;

    assert!(before_share.is_none(), "{before_share:?}");
    let nothing_answered = nothing_answered.ok_or("no check")?;
    assert_eq!(nothing_answered.round_id, asked.round.id);
    assert_eq!((nothing_answered.answered, nothing_answered.total), (0, 3));
    assert!(!nothing_answered.is_due());
    let two_answered = two_answered.ok_or("no check")?;
    assert_eq!((two_answered.answered, two_answered.total), (2, 3));
    assert!(two_answered.is_due());
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn advance_check_ignores_a_project_whose_latest_round_is_not_open(
    pool: PgPool,
) -> TestResult {
    let project_id = project(&pool, "p").await?;
    projects::set_auto_advance(&pool, project_id, Some(1.0)).await?;
    rounds::create(&pool, project_id, RoundState::Open).await?;
    rounds::create(&pool, project_id, RoundState::Queued).await?;

    let check = rounds::advance_check(&pool, project_id).await?;

    assert!(check.is_none(), "{check:?}");
    Ok(())
}
