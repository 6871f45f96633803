//! The append-only answer log. An answer is recorded once per idempotency key: a repeat,
//! sequential or concurrent, gets the stored answer back instead of a second row.

use akin_core::Verdict;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};

use crate::{Result, StoreError};

/// A stored answer.
#[derive(Clone, Debug, Serialize)]
pub struct Answer {
    pub id: i64,
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AnswerError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Records an answer inside the caller's transaction `tx`. The unique idempotency key
/// serialises concurrent repeats: the second insert waits for the first to commit, then
/// finds its row and replays it.
pub async fn record(
    tx: &mut PgConnection,
    answer: &NewAnswer<'_>,
) -> Result<Recorded, AnswerError> {
    let inserted = sqlx::query!(
        r#"INSERT INTO answers (project_id, query_id, item_a, item_b, verdict, annotator,
                                idempotency_key)
           SELECT project_id, id, item_a, item_b, $2, $3, $4 FROM queries WHERE id = $1
           ON CONFLICT (idempotency_key) DO NOTHING
           RETURNING id, created_at"#,
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
    Ok(Recorded::Created(Answer {
        id: row.id,
        query_id: answer.query_id,
        verdict: answer.verdict,
        created_at: row.created_at,
    }))
}

async fn replay(db: impl PgExecutor<'_>, answer: &NewAnswer<'_>) -> Result<Recorded, AnswerError> {
    let existing = sqlx::query!(
        "SELECT id, query_id, verdict, created_at FROM answers WHERE idempotency_key = $1",
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
        query_id: row.query_id,
        verdict: answer.verdict,
        created_at: row.created_at,
    }))
}

/// The project's answer log in order, as `(item_a, item_b, verdict)`.
pub async fn log(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<(i64, i64, Verdict)>> {
    let rows = sqlx::query!(
        "SELECT item_a, item_b, verdict FROM answers WHERE project_id = $1 ORDER BY id",
        project_id
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            let verdict = r
                .verdict
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("unknown verdict {:?}", r.verdict)))?;
            Ok((r.item_a, r.item_b, verdict))
        })
        .collect()
}
