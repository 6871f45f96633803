//! Fixtures shared by the storage tests: a project with items, an open round, and pairs
//! to ask, built through the crate's own functions; plus a few raw reads for assertions.

#![allow(dead_code)]

use akin_store::answers::{self, AnswerError, NewAnswer, Recorded};
use akin_store::items::{self, NewItem};
use akin_store::projects::{self, Project};
use akin_store::queries::{self, NewQuery};
use akin_store::rounds::{self, Round, RoundState};
use sqlx::{PgExecutor, PgPool};

/// Any error a test step can raise.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What every test returns; any storage error fails the test with its message.
pub type TestResult<T = ()> = Result<T, BoxError>;

pub const CHANNELS: i32 = 1;
pub const IMAGE_SIZE: i32 = 8;
/// Bytes in the training copy of one item of a test project.
pub const PIXELS_PER_ITEM: usize = 64;

/// An item whose training copy is `PIXELS_PER_ITEM` bytes of `fill`.
pub fn item(name: &str, fill: u8) -> NewItem {
    NewItem {
        name: name.to_owned(),
        content_hash: format!("{fill:064x}"),
        width: IMAGE_SIZE,
        height: IMAGE_SIZE,
        label: None,
        pixels: vec![fill; PIXELS_PER_ITEM],
    }
}

/// A pair to ask, in the order given.
pub fn pair(item_a: i64, item_b: i64) -> NewQuery {
    NewQuery {
        item_a,
        item_b,
        strategy: "random".to_owned(),
        score: 0.5,
    }
}

/// A project named `name` with `count` items; returns it and its item ids in id order.
pub async fn project_with_items(
    pool: &PgPool,
    name: &str,
    count: u8,
) -> TestResult<(Project, Vec<i64>)> {
    let project = projects::get_or_create(pool, name, CHANNELS, IMAGE_SIZE).await?;
    let new_items: Vec<NewItem> = (0..count).map(|i| item(&format!("item-{i}"), i)).collect();
    items::insert_many(pool, project.id, &new_items).await?;
    let table = items::table(pool, project.id, PIXELS_PER_ITEM).await?;
    Ok((project, table.ids))
}

/// A project with items, an open round, and every pair of its first items up to `pairs`.
pub struct Asked {
    pub project: Project,
    pub item_ids: Vec<i64>,
    pub round: Round,
    /// The ids of the inserted queries, oldest first.
    pub query_ids: Vec<i64>,
}

/// A project with `items` items whose open round asks `pairs` pairs of them.
pub async fn project_with_pairs(pool: &PgPool, items: u8, pairs: usize) -> TestResult<Asked> {
    let (project, item_ids) = project_with_items(pool, "asked", items).await?;
    let round = rounds::create(pool, project.id, RoundState::Open).await?;
    let chosen: Vec<NewQuery> = all_pairs(&item_ids).take(pairs).collect();
    assert_eq!(
        chosen.len(),
        pairs,
        "{items} items have fewer than {pairs} pairs"
    );
    queries::insert_many(pool, project.id, round.id, None, &chosen).await?;
    let query_ids = query_ids(pool, project.id).await?;
    Ok(Asked {
        project,
        item_ids,
        round,
        query_ids,
    })
}

fn all_pairs(ids: &[i64]) -> impl Iterator<Item = NewQuery> + '_ {
    ids.iter()
        .enumerate()
        .flat_map(move |(i, &a)| ids[i + 1..].iter().map(move |&b| pair(a, b)))
}

/// Every query id of the project, oldest first.
pub async fn query_ids(db: impl PgExecutor<'_>, project_id: i64) -> TestResult<Vec<i64>> {
    let ids = sqlx::query_scalar("SELECT id FROM queries WHERE project_id = $1 ORDER BY id")
        .bind(project_id)
        .fetch_all(db)
        .await?;
    Ok(ids)
}

/// The state column of one query.
pub async fn query_state(db: impl PgExecutor<'_>, query_id: i64) -> TestResult<String> {
    let state = sqlx::query_scalar("SELECT state FROM queries WHERE id = $1")
        .bind(query_id)
        .fetch_one(db)
        .await?;
    Ok(state)
}

/// How many answer rows the whole database holds.
pub async fn answer_rows(db: impl PgExecutor<'_>) -> TestResult<i64> {
    let count = sqlx::query_scalar("SELECT count(*) FROM answers")
        .fetch_one(db)
        .await?;
    Ok(count)
}

/// Records `answer` in a transaction of its own and commits it unless it is refused.
pub async fn record_committed(
    pool: &PgPool,
    answer: &NewAnswer<'_>,
) -> Result<Recorded, AnswerError> {
    let mut tx = pool.begin().await?;
    let recorded = answers::record(&mut tx, answer).await?;
    tx.commit().await?;
    Ok(recorded)
}
