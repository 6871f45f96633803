//! Known pairs: set once per pair, replaced on a repeat, refused for another project's items.

mod common;

use akin_core::Verdict;
use akin_store::known_pairs::{self, Set};
use common::{TestResult, project_with_items};
use sqlx::PgPool;

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn a_known_pair_is_stored_in_order_and_a_repeat_replaces_its_verdict(
    pool: PgPool,
) -> TestResult {
    let (project, ids) = project_with_items(&pool, "known", 3).await?;

    let first = known_pairs::set(&pool, project.id, ids[1], ids[0], Verdict::Same).await?;
    let again = known_pairs::set(&pool, project.id, ids[0], ids[1], Verdict::Different).await?;
    let listed = known_pairs::list(&pool, project.id).await?;

    assert!(matches!(first, Some(Set::Created(_))), "{first:?}");
    assert!(matches!(again, Some(Set::Updated(_))), "{again:?}");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].gold(), (ids[0], ids[1], Verdict::Different));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn items_of_another_project_are_refused_and_nothing_is_stored(pool: PgPool) -> TestResult {
    let (project, ids) = project_with_items(&pool, "known", 2).await?;
    let (_, others) = project_with_items(&pool, "other", 2).await?;

    let refused = known_pairs::set(&pool, project.id, ids[0], others[1], Verdict::Same).await?;

    assert!(refused.is_none(), "{refused:?}");
    assert!(known_pairs::list(&pool, project.id).await?.is_empty());
    Ok(())
}
