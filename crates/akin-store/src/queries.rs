//! Queries: the pairs waiting for an answer, handed out under expiring leases. A pair may be
//! asked again (a re-ask) once its earlier query is answered or retired, but it never has
//! two pending queries at once, and a re-ask never goes to an annotator who answered the pair.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;

use crate::Result;

/// A pair to insert. `item_a` and `item_b` may come in either order.
#[derive(Clone, Debug)]
pub struct NewQuery {
    pub item_a: i64,
    pub item_b: i64,
    pub strategy: String,
    pub score: f32,
}

/// A query handed to one annotator until `lease_expires_at`.
#[derive(Clone, Debug, Serialize)]
pub struct LeasedQuery {
    pub id: i64,
    /// The round that chose the pair.
    pub round_id: i64,
    pub item_a: i64,
    pub item_b: i64,
    pub strategy: String,
    pub lease_expires_at: DateTime<Utc>,
}

/// Inserts the pairs a round chose. Pairs that already have a pending query are skipped, and
/// so are repeats within `pairs`. Returns how many were new.
pub async fn insert_many(
    db: impl PgExecutor<'_>,
    project_id: i64,
    round_id: i64,
    model_id: Option<i64>,
    pairs: &[NewQuery],
) -> Result<u64> {
    let firsts: Vec<i64> = pairs.iter().map(|p| p.item_a.min(p.item_b)).collect();
    let seconds: Vec<i64> = pairs.iter().map(|p| p.item_a.max(p.item_b)).collect();
    let strategies: Vec<&str> = pairs.iter().map(|p| p.strategy.as_str()).collect();
    let scores: Vec<f32> = pairs.iter().map(|p| p.score).collect();

    let inserted = sqlx::query!(
        r#"INSERT INTO queries (project_id, round_id, model_id, item_a, item_b, strategy, score)
           SELECT $1, $2, $3, a, b, s, sc
           FROM UNNEST($4::bigint[], $5::bigint[], $6::text[], $7::real[])
               WITH ORDINALITY AS t(a, b, s, sc, ord)
           ORDER BY ord
           ON CONFLICT (project_id, item_a, item_b) WHERE state = 'pending' DO NOTHING"#,
        project_id,
        round_id,
        model_id,
        &firsts,
        &seconds,
        &strategies as &[&str],
        &scores
    )
    .execute(db)
    .await?;
    Ok(inserted.rows_affected())
}

/// Every pair the project has asked or is asking, as `(smaller id, larger id)`.
pub async fn asked_pairs(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<(i64, i64)>> {
    let rows = sqlx::query!(
        "SELECT DISTINCT item_a, item_b FROM queries WHERE project_id = $1",
        project_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.item_a, r.item_b)).collect())
}

/// The project's pairs that are waiting for an answer, as `(smaller id, larger id)`.
pub async fn pending_pairs(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<(i64, i64)>> {
    let rows = sqlx::query!(
        "SELECT item_a, item_b FROM queries WHERE project_id = $1 AND state = 'pending'",
        project_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.item_a, r.item_b)).collect())
}

/// Retires the pending pairs that nobody holds, so a new round's choice replaces them.
/// Pairs under a live lease stay answerable.
pub async fn retire_unleased(db: impl PgExecutor<'_>, project_id: i64) -> Result<u64> {
    let retired = sqlx::query!(
        r#"UPDATE queries SET state = 'retired'
           WHERE project_id = $1 AND state = 'pending'
             AND (lease_expires_at IS NULL OR lease_expires_at < now())"#,
        project_id
    )
    .execute(db)
    .await?;
    Ok(retired.rows_affected())
}

/// Hands `annotator` a pending pair for `lease_seconds`. The pair the annotator already
/// holds comes back first, so a page reload neither loses nor skips it; otherwise the
/// oldest pair that nobody holds (or whose lease ran out) and that the annotator has not
/// answered before. `SKIP LOCKED` keeps two annotators from taking one pair.
pub async fn lease_next(
    db: impl PgExecutor<'_>,
    project_id: i64,
    annotator: &str,
    lease_seconds: f64,
) -> Result<Option<LeasedQuery>> {
    let leased = sqlx::query_as!(
        LeasedQuery,
        r#"UPDATE queries SET leased_by = $2,
                              lease_expires_at = now() + make_interval(secs => $3)
           WHERE id = (
               SELECT id FROM queries q
               WHERE project_id = $1 AND state = 'pending'
                 AND (lease_expires_at IS NULL OR lease_expires_at < now() OR leased_by = $2)
                 AND NOT EXISTS (
                     SELECT 1 FROM answers a
                     WHERE a.project_id = $1 AND a.item_a = q.item_a AND a.item_b = q.item_b
                       AND a.annotator = $2)
               ORDER BY (leased_by = $2 AND lease_expires_at >= now()) IS TRUE DESC, id
               LIMIT 1
               FOR UPDATE SKIP LOCKED)
           RETURNING id, round_id, item_a, item_b, strategy,
                     lease_expires_at AS "lease_expires_at!""#,
        project_id,
        annotator,
        lease_seconds
    )
    .fetch_optional(db)
    .await?;
    Ok(leased)
}

/// A pending pair that was answered before and waits for more answers.
#[derive(Clone, Debug, Serialize)]
pub struct AwaitingPair {
    pub query_id: i64,
    pub round_id: i64,
    pub item_a: i64,
    pub item_b: i64,
    pub strategy: String,
    /// The verdicts given so far, oldest first.
    pub verdicts: Vec<String>,
    /// Who gave them, in the same order; none of them will be asked again.
    pub annotators: Vec<String>,
    /// Whether an annotator holds the pair right now.
    pub leased: bool,
}

/// The project's re-asked pairs still pending, oldest first, with the answers they have.
pub async fn awaiting(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<AwaitingPair>> {
    let pairs = sqlx::query_as!(
        AwaitingPair,
        r#"SELECT q.id AS query_id, q.round_id, q.item_a, q.item_b, q.strategy,
                  array_agg(a.verdict ORDER BY a.id) AS "verdicts!",
                  array_agg(a.annotator ORDER BY a.id) AS "annotators!",
                  COALESCE(q.lease_expires_at >= now(), false) AS "leased!"
           FROM queries q
           JOIN answers a
             ON a.project_id = q.project_id AND a.item_a = q.item_a AND a.item_b = q.item_b
           WHERE q.project_id = $1 AND q.state = 'pending'
           GROUP BY q.id
           ORDER BY q.id"#,
        project_id
    )
    .fetch_all(db)
    .await?;
    Ok(pairs)
}
