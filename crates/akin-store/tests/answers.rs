//! The answer log: one row per idempotency key, replayed on repeats, refused when it would
//! contradict what is stored.

mod common;

use std::sync::Arc;

use akin_core::Verdict;
use akin_store::answers::{self, AnswerError, NewAnswer, Recorded};
use akin_store::{projects, queries};
use common::{
    Asked, BoxError, TestResult, answer_rows, pair, project_with_pairs, query_ids, query_state,
    record_committed,
};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::Barrier;

const CONCURRENT_TASKS: usize = 8;

fn answer(query_id: i64, verdict: Verdict, idempotency_key: &str) -> NewAnswer<'_> {
    answer_by("ann", query_id, verdict, idempotency_key)
}

fn answer_by<'a>(
    annotator: &'a str,
    query_id: i64,
    verdict: Verdict,
    idempotency_key: &'a str,
) -> NewAnswer<'a> {
    NewAnswer {
        query_id,
        verdict,
        annotator,
        idempotency_key,
    }
}

/// Asks the pair of the project's first two items again; returns the new query's id.
async fn re_ask(pool: &PgPool, asked: &Asked) -> TestResult<i64> {
    let again = [pair(asked.item_ids[1], asked.item_ids[0])];
    let (project_id, round_id) = (asked.project.id, asked.round.id);
    queries::insert_many(pool, project_id, round_id, None, &again).await?;
    let ids = query_ids(pool, project_id).await?;
    Ok(*ids.last().ok_or("no query")?)
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn recording_an_answer_marks_its_query_answered_and_appends_it_to_the_log(
    pool: PgPool,
) -> TestResult {
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let query_id = asked.query_ids[0];

    let recorded = record_committed(&pool, &answer(query_id, Verdict::Same, "key-1")).await?;

    let Recorded::Created(stored) = recorded else {
        panic!("expected a new answer, got {recorded:?}");
    };
    assert_eq!(stored.query_id, query_id);
    assert_eq!(stored.verdict, Verdict::Same);
    assert_eq!(query_state(&pool, query_id).await?, "answered");
    let log = answers::log(&pool, asked.project.id).await?;
    assert_eq!(log, [(asked.item_ids[0], asked.item_ids[1], Verdict::Same)]);
    let stats = projects::stats(&pool, asked.project.id).await?;
    assert_eq!((stats.answers, stats.pending_queries), (1, 0));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn the_same_key_twice_replays_the_first_answer_without_a_second_row(
    pool: PgPool,
) -> TestResult {
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let new = answer(asked.query_ids[0], Verdict::Different, "key-1");
    let first = record_committed(&pool, &new).await?;

    let second = record_committed(&pool, &new).await?;

    let (Recorded::Created(first), Recorded::Replayed(second)) = (first, second) else {
        panic!("expected Created then Replayed");
    };
    assert_eq!(second.id, first.id);
    assert_eq!(second.verdict, Verdict::Different);
    assert_eq!(second.created_at, first.created_at);
    assert_eq!(answer_rows(&pool).await?, 1);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn the_same_key_sent_by_eight_tasks_at_once_creates_exactly_one_answer(
    pool_options: PgPoolOptions,
    connect_options: PgConnectOptions,
) -> TestResult {
    let pool = pool_options
        .max_connections(CONCURRENT_TASKS as u32 + 1)
        .connect_with(connect_options)
        .await?;
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let query_id = asked.query_ids[0];
    let all_in_a_transaction = Arc::new(Barrier::new(CONCURRENT_TASKS));

    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|_| {
            let pool = pool.clone();
            let barrier = Arc::clone(&all_in_a_transaction);
            tokio::spawn(async move {
                let mut tx = pool.begin().await?;
                barrier.wait().await;
                let recorded =
                    answers::record(&mut tx, &answer(query_id, Verdict::Same, "shared-key"))
                        .await?;
                tx.commit().await?;
                Ok::<_, BoxError>(recorded)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await??);
    }

    let created: Vec<i64> = outcomes
        .iter()
        .filter_map(|r| match r {
            Recorded::Created(a) => Some(a.id),
            Recorded::Replayed(_) => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "outcomes: {outcomes:?}");
    assert!(
        outcomes.iter().all(|r| match r {
            Recorded::Created(a) | Recorded::Replayed(a) => a.id == created[0],
        }),
        "every task must see the one stored answer: {outcomes:?}"
    );
    assert_eq!(answer_rows(&pool).await?, 1);
    pool.close().await;
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn different_keys_sent_by_eight_tasks_at_once_answer_a_query_once(
    pool_options: PgPoolOptions,
    connect_options: PgConnectOptions,
) -> TestResult {
    let pool = pool_options
        .max_connections(CONCURRENT_TASKS as u32 + 1)
        .connect_with(connect_options)
        .await?;
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let query_id = asked.query_ids[0];
    let all_in_a_transaction = Arc::new(Barrier::new(CONCURRENT_TASKS));

    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|task| {
            let pool = pool.clone();
            let barrier = Arc::clone(&all_in_a_transaction);
            tokio::spawn(async move {
                let key = format!("key-{task}");
                let mut tx = pool.begin().await?;
                barrier.wait().await;
                let recorded =
                    answers::record(&mut tx, &answer(query_id, Verdict::Same, &key)).await;
                if recorded.is_ok() {
                    tx.commit().await?;
                }
                Ok::<_, BoxError>(recorded)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await??);
    }

    let created = outcomes
        .iter()
        .filter(|r| matches!(r, Ok(Recorded::Created(_))))
        .count();
    let refused = outcomes
        .iter()
        .filter(|r| matches!(r, Err(AnswerError::AlreadyAnswered(id)) if *id == query_id))
        .count();
    assert_eq!(
        (created, refused),
        (1, CONCURRENT_TASKS - 1),
        "{outcomes:?}"
    );
    assert_eq!(answer_rows(&pool).await?, 1);
    pool.close().await;
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn the_same_key_with_another_verdict_is_refused_and_changes_nothing(
    pool: PgPool,
) -> TestResult {
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let query_id = asked.query_ids[0];
    record_committed(&pool, &answer(query_id, Verdict::Same, "key-1")).await?;

    let mut tx = pool.begin().await?;
    let refused = answers::record(&mut tx, &answer(query_id, Verdict::Different, "key-1")).await;
    tx.rollback().await?;

    assert!(
        matches!(refused, Err(AnswerError::KeyReused)),
        "{refused:?}"
    );
    let log = answers::log(&pool, asked.project.id).await?;
    assert_eq!(log, [(asked.item_ids[0], asked.item_ids[1], Verdict::Same)]);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn the_same_key_for_another_query_is_refused(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 3, 2).await?;
    record_committed(&pool, &answer(asked.query_ids[0], Verdict::Same, "key-1")).await?;

    let mut tx = pool.begin().await?;
    let refused =
        answers::record(&mut tx, &answer(asked.query_ids[1], Verdict::Same, "key-1")).await;
    tx.rollback().await?;

    assert!(
        matches!(refused, Err(AnswerError::KeyReused)),
        "{refused:?}"
    );
    assert_eq!(query_state(&pool, asked.query_ids[1]).await?, "pending");
    assert_eq!(answer_rows(&pool).await?, 1);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn a_second_answer_with_another_key_is_refused_and_leaves_one_row_after_rollback(
    pool: PgPool,
) -> TestResult {
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let query_id = asked.query_ids[0];
    record_committed(&pool, &answer(query_id, Verdict::Same, "key-1")).await?;

    let mut tx = pool.begin().await?;
    let refused = answers::record(&mut tx, &answer(query_id, Verdict::Different, "key-2")).await;
    tx.rollback().await?;

    assert!(
        matches!(refused, Err(AnswerError::AlreadyAnswered(id)) if id == query_id),
        "{refused:?}"
    );
    assert_eq!(answer_rows(&pool).await?, 1);
    let log = answers::log(&pool, asked.project.id).await?;
    assert_eq!(log, [(asked.item_ids[0], asked.item_ids[1], Verdict::Same)]);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn an_answer_to_an_unknown_query_is_refused(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let unknown = asked.query_ids[0] + 1000;

    let mut tx = pool.begin().await?;
    let refused = answers::record(&mut tx, &answer(unknown, Verdict::Same, "key-1")).await;
    tx.rollback().await?;

    assert!(
        matches!(refused, Err(AnswerError::UnknownQuery(id)) if id == unknown),
        "{refused:?}"
    );
    assert_eq!(answer_rows(&pool).await?, 0);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn the_log_lists_answers_in_the_order_they_arrived(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 3, 3).await?;
    let order = [
        (2, Verdict::NotSure),
        (0, Verdict::Different),
        (1, Verdict::Same),
    ];

    for (index, verdict) in order {
        let key = format!("key-{index}");
        record_committed(&pool, &answer(asked.query_ids[index], verdict, &key)).await?;
    }

    let log = answers::log(&pool, asked.project.id).await?;
    let verdicts: Vec<Verdict> = log.iter().map(|&(_, _, v)| v).collect();
    assert_eq!(
        verdicts,
        [Verdict::NotSure, Verdict::Different, Verdict::Same]
    );
    let (a, b, c) = (asked.item_ids[0], asked.item_ids[1], asked.item_ids[2]);
    assert_eq!((log[0].0, log[0].1), (b, c));
    assert_eq!((log[1].0, log[1].1), (a, b));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn an_annotator_cannot_answer_a_re_asked_pair_a_second_time(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 2, 1).await?;
    record_committed(
        &pool,
        &answer_by("ann", asked.query_ids[0], Verdict::Same, "k1"),
    )
    .await?;
    let re_asked = re_ask(&pool, &asked).await?;

    let mut tx = pool.begin().await?;
    let refused = answers::record(&mut tx, &answer_by("ann", re_asked, Verdict::Same, "k2")).await;
    tx.rollback().await?;
    let second_opinion =
        record_committed(&pool, &answer_by("bob", re_asked, Verdict::Different, "k3")).await?;

    assert!(
        matches!(&refused, Err(AnswerError::PairAnsweredBefore { query_id, annotator })
            if *query_id == re_asked && annotator == "ann"),
        "{refused:?}"
    );
    assert!(
        matches!(second_opinion, Recorded::Created(_)),
        "{second_opinion:?}"
    );
    let annotators: Vec<String> = answers::entries(&pool, asked.project.id)
        .await?
        .into_iter()
        .map(|e| e.annotator)
        .collect();
    assert_eq!(annotators, ["ann", "bob"]);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn entries_give_each_answer_with_its_annotator_in_arrival_order(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 3, 2).await?;
    let (first, second) = (asked.query_ids[1], asked.query_ids[0]);

    record_committed(&pool, &answer_by("bob", first, Verdict::NotSure, "k1")).await?;
    record_committed(&pool, &answer_by("ann", second, Verdict::Same, "k2")).await?;

    let entries = answers::entries(&pool, asked.project.id).await?;
    let seen: Vec<(i64, i64, Verdict, &str)> = entries
        .iter()
        .map(|e| (e.item_a, e.item_b, e.verdict, e.annotator.as_str()))
        .collect();
    let [a, b, c] = asked.item_ids[..] else {
        panic!("expected three items");
    };
    assert_eq!(
        seen,
        [
            (a, c, Verdict::NotSure, "bob"),
            (a, b, Verdict::Same, "ann")
        ]
    );
    assert!(entries[0].id < entries[1].id);
    Ok(())
}
