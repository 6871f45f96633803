//! Known pairs: pairs whose answer an admin knows. The graph takes them as settled beyond
//! any vote, annotators are judged against them, and rounds plant them among the pairs
//! asked.

use akin_core::Verdict;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;

use crate::Result;
use crate::answers::parse_verdict;

/// A pair with a known answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KnownPair {
    pub id: i64,
    /// The smaller item id of the pair.
    pub item_a: i64,
    /// The larger item id of the pair.
    pub item_b: i64,
    /// "same" or "different"; never "not sure".
    pub verdict: Verdict,
    pub created_at: DateTime<Utc>,
}

impl KnownPair {
    /// The pair as `(item_a, item_b, verdict)`, as the graph takes gold pairs.
    pub fn gold(&self) -> (i64, i64, Verdict) {
        (self.item_a, self.item_b, self.verdict)
    }
}

/// What [`set`] did.
#[derive(Debug)]
pub enum Set {
    /// The pair was not known before.
    Created(KnownPair),
    /// The pair was known; its verdict is now the one given.
    Updated(KnownPair),
}

/// Makes `verdict` the known answer of the pair of `item_a` and `item_b` (in either order),
/// replacing any earlier one. Returns `None`, writing nothing, when either item is not one of
/// the project's. The caller checks that the items differ and that `verdict` is not
/// [`Verdict::NotSure`]; the table refuses both.
pub async fn set(
    db: impl PgExecutor<'_>,
    project_id: i64,
    item_a: i64,
    item_b: i64,
    verdict: Verdict,
) -> Result<Option<Set>> {
    let row = sqlx::query!(
        r#"INSERT INTO known_pairs (project_id, item_a, item_b, verdict)
           SELECT $1, $2, $3, $4
           WHERE (SELECT count(*) FROM items WHERE project_id = $1 AND id IN ($2, $3)) = 2
           ON CONFLICT (project_id, item_a, item_b) DO UPDATE SET verdict = EXCLUDED.verdict
           RETURNING id, item_a, item_b, verdict, created_at, (xmax = 0) AS "created!""#,
        project_id,
        item_a.min(item_b),
        item_a.max(item_b),
        verdict.as_str()
    )
    .fetch_optional(db)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let pair = KnownPair {
        id: row.id,
        item_a: row.item_a,
        item_b: row.item_b,
        verdict: parse_verdict(&row.verdict)?,
        created_at: row.created_at,
    };
    Ok(Some(if row.created {
        Set::Created(pair)
    } else {
        Set::Updated(pair)
    }))
}

/// The project's known pairs, oldest first.
pub async fn list(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<KnownPair>> {
    let rows = sqlx::query!(
        r#"SELECT id, item_a, item_b, verdict, created_at FROM known_pairs
           WHERE project_id = $1 ORDER BY id"#,
        project_id
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(KnownPair {
                id: r.id,
                item_a: r.item_a,
                item_b: r.item_b,
                verdict: parse_verdict(&r.verdict)?,
                created_at: r.created_at,
            })
        })
        .collect()
}

/// The project's known pairs as `(item_a, item_b, verdict)`, as the graph takes them.
pub async fn gold(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<(i64, i64, Verdict)>> {
    Ok(list(db, project_id)
        .await?
        .iter()
        .map(KnownPair::gold)
        .collect())
}
