//! Pending pairs and their leases: one pair to one annotator at a time, kept across a
//! reload, freed when the lease runs out.

mod common;

use std::collections::HashSet;

use akin_core::Verdict;
use akin_store::answers::NewAnswer;
use akin_store::{projects, queries};
use common::{
    BoxError, TestResult, pair, project_with_items, project_with_pairs, query_ids, query_state,
    record_committed,
};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const LEASE_SECONDS: f64 = 60.0;
/// A lease that ran out a second before it was given.
const EXPIRED: f64 = -1.0;

fn answer<'a>(annotator: &'a str, query_id: i64, idempotency_key: &'a str) -> NewAnswer<'a> {
    NewAnswer {
        query_id,
        verdict: Verdict::Same,
        annotator,
        idempotency_key,
    }
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn lease_next_never_gives_one_pair_to_two_annotators(
    pool_options: PgPoolOptions,
    connect_options: PgConnectOptions,
) -> TestResult {
    const LEASES_PER_ANNOTATOR: usize = 8;
    const WAVES: usize = 4;
    let pool = pool_options
        .max_connections(2 * LEASES_PER_ANNOTATOR as u32)
        .connect_with(connect_options)
        .await?;
    let asked = project_with_pairs(&pool, 5, 10).await?;
    let project_id = asked.project.id;
    let mut leased_to: [HashSet<i64>; 2] = Default::default();

    for _ in 0..WAVES {
        let tasks: Vec<_> = (0..2 * LEASES_PER_ANNOTATOR)
            .map(|task| {
                let pool = pool.clone();
                let annotator = task % 2;
                tokio::spawn(async move {
                    let name = format!("annotator-{annotator}");
                    let leased = queries::lease_next(&pool, project_id, &name, LEASE_SECONDS);
                    Ok::<_, BoxError>((annotator, leased.await?))
                })
            })
            .collect();
        for task in tasks {
            if let (annotator, Some(query)) = task.await?? {
                leased_to[annotator].insert(query.id);
            }
        }
    }

    let [first, second] = &leased_to;
    assert!(
        first.is_disjoint(second),
        "shared pairs: {first:?} and {second:?}"
    );
    assert!(
        !first.is_empty() && !second.is_empty(),
        "{first:?} and {second:?}"
    );
    pool.close().await;
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn an_annotator_asking_again_gets_the_pair_they_hold(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 3, 3).await?;
    let project_id = asked.project.id;
    let held = queries::lease_next(&pool, project_id, "ann", LEASE_SECONDS).await?;

    let reloaded = queries::lease_next(&pool, project_id, "ann", LEASE_SECONDS).await?;
    let other = queries::lease_next(&pool, project_id, "bob", LEASE_SECONDS).await?;
    let reloaded_again = queries::lease_next(&pool, project_id, "ann", LEASE_SECONDS).await?;

    let (held, reloaded) = (held.ok_or("no pair")?, reloaded.ok_or("no pair on reload")?);
    assert_eq!(held.id, asked.query_ids[0], "the oldest pair goes first");
    assert_eq!(reloaded.id, held.id);
    assert!(reloaded.lease_expires_at >= held.lease_expires_at);
    assert_eq!(other.map(|q| q.id), Some(asked.query_ids[1]));
    assert_eq!(reloaded_again.map(|q| q.id), Some(held.id));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn an_annotator_who_answered_gets_the_next_pair(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 3, 2).await?;
    let project_id = asked.project.id;
    let held = queries::lease_next(&pool, project_id, "ann", LEASE_SECONDS).await?;
    let held = held.ok_or("no pair")?;
    record_committed(&pool, &answer("ann", held.id, "key-1")).await?;

    let next = queries::lease_next(&pool, project_id, "ann", LEASE_SECONDS).await?;

    assert_eq!(next.map(|q| q.id), Some(asked.query_ids[1]));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn an_expired_lease_makes_the_pair_available_to_others(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let project_id = asked.project.id;
    let lapsed = queries::lease_next(&pool, project_id, "ann", EXPIRED).await?;

    let taken_over = queries::lease_next(&pool, project_id, "bob", LEASE_SECONDS).await?;
    let for_first_annotator = queries::lease_next(&pool, project_id, "ann", LEASE_SECONDS).await?;

    assert_eq!(lapsed.map(|q| q.id), Some(asked.query_ids[0]));
    assert_eq!(taken_over.map(|q| q.id), Some(asked.query_ids[0]));
    assert!(for_first_annotator.is_none(), "{for_first_annotator:?}");
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn a_lease_set_to_lapse_in_the_database_frees_the_pair(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let project_id = asked.project.id;
    queries::lease_next(&pool, project_id, "ann", LEASE_SECONDS).await?;
    let while_held = queries::lease_next(&pool, project_id, "bob", LEASE_SECONDS).await?;
    sqlx::query("UPDATE queries SET lease_expires_at = now() - interval '1 minute'")
        .execute(&pool)
        .await?;

    let after_lapse = queries::lease_next(&pool, project_id, "bob", LEASE_SECONDS).await?;

    assert!(while_held.is_none(), "{while_held:?}");
    assert_eq!(after_lapse.map(|q| q.id), Some(asked.query_ids[0]));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn lease_next_stays_within_its_project(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let (other, _) = project_with_items(&pool, "other", 2).await?;

    let leased = queries::lease_next(&pool, other.id, "ann", LEASE_SECONDS).await?;

    assert!(leased.is_none(), "{leased:?}");
    assert_eq!(query_state(&pool, asked.query_ids[0]).await?, "pending");
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn insert_many_skips_pairs_already_asked_in_either_order(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 3, 0).await?;
    let (project_id, round_id) = (asked.project.id, asked.round.id);
    let [a, b, c] = asked.item_ids[..] else {
        panic!("expected three items");
    };
    let first = queries::insert_many(&pool, project_id, round_id, None, &[pair(b, a)]).await?;

    let again = [pair(a, b), pair(b, a), pair(c, a)];
    let second = queries::insert_many(&pool, project_id, round_id, None, &again).await?;

    assert_eq!((first, second), (1, 1));
    let mut asked_pairs = queries::asked_pairs(&pool, project_id).await?;
    asked_pairs.sort_unstable();
    assert_eq!(asked_pairs, [(a, b), (a, c)]);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn insert_many_keeps_the_chosen_order_for_lease_next(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 4, 0).await?;
    let (project_id, round_id) = (asked.project.id, asked.round.id);
    let [a, b, c, d] = asked.item_ids[..] else {
        panic!("expected four items");
    };
    let chosen = [pair(c, d), pair(a, b), pair(b, c)];
    queries::insert_many(&pool, project_id, round_id, None, &chosen).await?;

    let mut handed_out = Vec::new();
    for annotator in ["w", "x", "y", "z"] {
        let leased = queries::lease_next(&pool, project_id, annotator, LEASE_SECONDS).await?;
        handed_out.push(leased.map(|q| (q.item_a, q.item_b)));
    }

    assert_eq!(handed_out, [Some((c, d)), Some((a, b)), Some((b, c)), None]);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn retire_unleased_keeps_pairs_under_a_live_lease(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 4, 4).await?;
    let project_id = asked.project.id;
    let [live, lapsed, unleased, answered] = asked.query_ids[..] else {
        panic!("expected four queries");
    };
    queries::lease_next(&pool, project_id, "ann", LEASE_SECONDS).await?;
    queries::lease_next(&pool, project_id, "bob", EXPIRED).await?;
    sqlx::query("UPDATE queries SET state = 'answered' WHERE id = $1")
        .bind(answered)
        .execute(&pool)
        .await?;

    let retired = queries::retire_unleased(&pool, project_id).await?;

    assert_eq!(retired, 2);
    assert_eq!(query_state(&pool, live).await?, "pending");
    assert_eq!(query_state(&pool, lapsed).await?, "retired");
    assert_eq!(query_state(&pool, unleased).await?, "retired");
    assert_eq!(query_state(&pool, answered).await?, "answered");
    assert_eq!(projects::stats(&pool, project_id).await?.pending_queries, 1);
    let for_holder = queries::lease_next(&pool, project_id, "ann", LEASE_SECONDS).await?;
    let for_others = queries::lease_next(&pool, project_id, "bob", LEASE_SECONDS).await?;
    assert_eq!(for_holder.map(|q| q.id), Some(live));
    assert!(for_others.is_none(), "{for_others:?}");
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn an_answered_pair_can_be_asked_again_but_never_twice_at_once(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let (project_id, round_id) = (asked.project.id, asked.round.id);
    let [a, b] = asked.item_ids[..] else {
        panic!("expected two items");
    };
    let same_pair = [pair(a, b)];
    let while_pending = queries::insert_many(&pool, project_id, round_id, None, &same_pair).await?;
    record_committed(&pool, &answer("ann", asked.query_ids[0], "key-1")).await?;

    let re_ask = [pair(b, a), pair(a, b)];
    let re_asked = queries::insert_many(&pool, project_id, round_id, None, &re_ask).await?;
    let again = queries::insert_many(&pool, project_id, round_id, None, &same_pair).await?;

    assert_eq!((while_pending, re_asked, again), (0, 1, 0));
    assert_eq!(query_ids(&pool, project_id).await?.len(), 2);
    assert_eq!(projects::stats(&pool, project_id).await?.pending_queries, 1);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn a_retired_pair_can_be_asked_again(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let (project_id, round_id) = (asked.project.id, asked.round.id);
    queries::retire_unleased(&pool, project_id).await?;

    let again = [pair(asked.item_ids[0], asked.item_ids[1])];
    let re_asked = queries::insert_many(&pool, project_id, round_id, None, &again).await?;

    assert_eq!(re_asked, 1);
    let leased = queries::lease_next(&pool, project_id, "ann", LEASE_SECONDS).await?;
    assert_ne!(leased.map(|q| q.id), Some(asked.query_ids[0]));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn a_re_asked_pair_never_goes_to_an_annotator_who_answered_it(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 2, 1).await?;
    let (project_id, round_id) = (asked.project.id, asked.round.id);
    record_committed(&pool, &answer("ann", asked.query_ids[0], "key-1")).await?;
    let again = [pair(asked.item_ids[0], asked.item_ids[1])];
    queries::insert_many(&pool, project_id, round_id, None, &again).await?;
    let re_asked = *query_ids(&pool, project_id)
        .await?
        .last()
        .ok_or("no query")?;

    let for_ann = queries::lease_next(&pool, project_id, "ann", LEASE_SECONDS).await?;
    let for_bob = queries::lease_next(&pool, project_id, "bob", LEASE_SECONDS).await?;

    assert!(for_ann.is_none(), "{for_ann:?}");
    assert_eq!(for_bob.map(|q| q.id), Some(re_asked));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn awaiting_lists_re_asked_pairs_with_the_answers_they_have(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 3, 2).await?;
    let (project_id, round_id) = (asked.project.id, asked.round.id);
    record_committed(&pool, &answer("ann", asked.query_ids[0], "key-1")).await?;
    record_committed(&pool, &answer("bob", asked.query_ids[1], "key-2")).await?;
    let again = [pair(asked.item_ids[0], asked.item_ids[1])];
    queries::insert_many(&pool, project_id, round_id, None, &again).await?;
    let re_asked = *query_ids(&pool, project_id)
        .await?
        .last()
        .ok_or("no query")?;
    queries::lease_next(&pool, project_id, "cat", LEASE_SECONDS).await?;

    let awaiting = queries::awaiting(&pool, project_id).await?;

    assert_eq!(awaiting.len(), 1, "{awaiting:?}");
    let pair = &awaiting[0];
    assert_eq!(pair.query_id, re_asked);
    assert_eq!(
        (pair.item_a, pair.item_b),
        (asked.item_ids[0], asked.item_ids[1])
    );
    assert_eq!(pair.verdicts, ["same"]);
    assert_eq!(pair.annotators, ["ann"]);
    assert!(pair.leased);
    Ok(())
}
