//! The append-only answer log. An answer is recorded once per idempotency key: a repeat,
//! sequential or concurrent, gets the stored answer back instead of a second row. A pair
//! may be asked more than once, but each annotator answers it at most once.

use akin_core::Verdict;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};

use crate::{Result, StoreError};

/// A stored answer.
#[derive(Clone, Debug, Serialize)]
pub struct Answer {
    pub id: i64,
    pub project_id: i64,
    pub query_id: i64,
    pub verdict: Verdict,
    pub created_at: DateTime<Utc>,
}

/// An answer as the client sent it.
#[derive(Clone, Debug)]
pub struct NewAnswer<'a> {
    pub query_id: i64,
    pub verdict: Verdict,
    pub annotator: &'a str,
    pub idempotency_key: &'a str,
}

/// What recording an answer did.
#[derive(Debug)]
pub enum Recorded {
    /// A new answer row.
    Created(Answer),
    /// The same key was recorded before with the same content; nothing changed.
    Replayed(Answer),
}

/// Why an answer was refused. Nothing is written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("query {0} does not exist")]
    UnknownQuery(i64),
    #[error("query {0} was already answered")]
    AlreadyAnswered(i64),
    #[error("this idempotency key was used for a different answer")]
    KeyReused,
    #[error("annotator {annotator:?} already answered the pair of query {query_id}")]
    PairAnsweredBefore { query_id: i64, annotator: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AnswerError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Records an answer inside the caller's transaction `tx`, which the caller must roll back
/// on an error. The unique idempotency key serialises concurrent repeats: the second insert
/// waits for the first to commit, then finds its row and replays it. An annotator who
/// answered the same pair before (through an earlier query) is refused: a re-asked pair
/// needs a second opinion, not the same one twice.
pub async fn record(
    tx: &mut PgConnection,
    answer: &NewAnswer<'_>,
) -> Result<Recorded, AnswerError> {
    let inserted = sqlx::query!(
        r#"INSERT INTO answers (project_id, query_id, item_a, item_b, verdict, annotator,
                                idempotency_key)
           SELECT project_id, id, item_a, item_b, $2, $3, $4 FROM queries WHERE id = $1
           ON CONFLICT (idempotency_key) DO NOTHING
           RETURNING id, project_id, created_at"#,
        answer.query_id,
        answer.verdict.as_str(),
        answer.annotator,
        answer.idempotency_key
    )
    .fetch_optional(&mut *tx)
    .await?;

    let Some(row) = inserted else {
        return replay(&mut *tx, answer).await;
    };
    let marked = sqlx::query!(
        "UPDATE queries SET state = 'answered' WHERE id = $1 AND state <> 'answered'",
        answer.query_id
    )
    .execute(&mut *tx)
    .await?;
    if marked.rows_affected() == 0 {
        return Err(AnswerError::AlreadyAnswered(answer.query_id));
    }
    // A pair has at most one pending query, so a race between two answers of one annotator
    // to one pair needs a late answer to a retired query at the same instant: not worth a
    // lock on the pair.
    let answers_by_annotator = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM answers a JOIN queries q
             ON a.project_id = q.project_id AND a.item_a = q.item_a AND a.item_b = q.item_b
           WHERE q.id = $1 AND a.annotator = $2"#,
        answer.query_id,
        answer.annotator
    )
    .fetch_one(&mut *tx)
    .await?;
    if answers_by_annotator > 1 {
        return Err(AnswerError::PairAnsweredBefore {
            query_id: answer.query_id,
            annotator: answer.annotator.to_owned(),
        });
    }
    Ok(Recorded::Created(Answer {
        id: row.id,
        project_id: row.project_id,
        query_id: answer.query_id,
        verdict: answer.verdict,
        created_at: row.created_at,
    }))
}

async fn replay(db: impl PgExecutor<'_>, answer: &NewAnswer<'_>) -> Result<Recorded, AnswerError> {
    let existing = sqlx::query!(
        r#"SELECT id, project_id, query_id, verdict, created_at FROM answers
           WHERE idempotency_key = $1"#,
        answer.idempotency_key
    )
    .fetch_optional(db)
    .await?;
    let Some(row) = existing else {
        return Err(AnswerError::UnknownQuery(answer.query_id));
    };
    if row.query_id != answer.query_id || row.verdict != answer.verdict.as_str() {
        return Err(AnswerError::KeyReused);
    }
    Ok(Recorded::Replayed(Answer {
        id: row.id,
        project_id: row.project_id,
        query_id: row.query_id,
        verdict: answer.verdict,
        created_at: row.created_at,
    }))
}

/// One entry of the answer log, with who gave it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoggedAnswer {
    pub id: i64,
    /// The smaller item id of the pair.
    pub item_a: i64,
    /// The larger item id of the pair.
    pub item_b: i64,
    pub verdict: Verdict,
    pub annotator: String,
    pub created_at: DateTime<Utc>,
}

/// The project's answer log in the order the answers arrived, with their annotators.
pub async fn entries(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<LoggedAnswer>> {
    let rows = sqlx::query!(
        r#"SELECT id, item_a, item_b, verdict, annotator, created_at FROM answers
           WHERE project_id = $1 ORDER BY id"#,
        project_id
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(LoggedAnswer {
                id: r.id,
                item_a: r.item_a,
                item_b: r.item_b,
                verdict: parse_verdict(&r.verdict)?,
                annotator: r.annotator,
                created_at: r.created_at,
            })
        })
        .collect()
}

/// The ids of the answers given to the queries that round `round_id` asked with `strategy`.
pub async fn to_round_strategy(
    db: impl PgExecutor<'_>,
    round_id: i64,
    strategy: &str,
) -> Result<Vec<i64>> {
    let ids = sqlx::query_scalar!(
        r#"SELECT a.id FROM answers a JOIN queries q ON q.id = a.query_id
           WHERE q.round_id = $1 AND q.strategy = $2 ORDER BY a.id"#,
        round_id,
        strategy
    )
    .fetch_all(db)
    .await?;
    Ok(ids)
}

/// The project's answer log in order, as `(item_a, item_b, verdict)`: [`entries`] without
/// the annotators and times.
pub async fn log(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<(i64, i64, Verdict)>> {
    let entries = entries(db, project_id).await?;
    Ok(entries
        .into_iter()
        .map(|e| (e.item_a, e.item_b, e.verdict))
        .collect())
}

pub(crate) fn parse_verdict(name: &str) -> Result<Verdict> {
    name.parse()
        .map_err(|_| StoreError::Corrupt(format!("unknown verdict {name:?}")))
}
