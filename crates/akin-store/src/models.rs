//! Models: a trained checkpoint and the embedding of every item it produced.

use serde::Serialize;
use sqlx::PgExecutor;

use crate::{Result, StoreError};

/// A model row.
#[derive(Clone, Debug, Serialize)]
pub struct Model {
    pub id: i64,
    pub project_id: i64,
    pub round_id: i64,
    pub checkpoint_path: String,
    pub dim: i32,
    pub final_loss: f64,
    pub device: String,
}

/// What a finished training job leaves behind.
#[derive(Clone, Debug)]
pub struct NewModel<'a> {
    pub project_id: i64,
    pub round_id: i64,
    pub checkpoint_path: &'a str,
    pub dim: i32,
    pub final_loss: f64,
    pub device: &'a str,
}

/// The embeddings of one model, row `i` belonging to `item_ids[i]`.
#[derive(Clone, Debug)]
pub struct ModelEmbeddings {
    pub item_ids: Vec<i64>,
    pub dim: usize,
    /// Row-major, `item_ids.len() * dim` values.
    pub values: Vec<f32>,
}

/// Inserts a model row.
pub async fn insert(db: impl PgExecutor<'_>, model: &NewModel<'_>) -> Result<i64> {
    let id = sqlx::query_scalar!(
        r#"INSERT INTO models (project_id, round_id, checkpoint_path, dim, final_loss, device)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"#,
        model.project_id,
        model.round_id,
        model.checkpoint_path,
        model.dim,
        model.final_loss,
        model.device
    )
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// Stores the model's embedding of each item (`values` is row-major, one row per item).
pub async fn insert_embeddings(
    db: impl PgExecutor<'_>,
    model_id: i64,
    item_ids: &[i64],
    values: &[f32],
) -> Result<()> {
    let dim = values.len().checked_div(item_ids.len()).unwrap_or(0);
    let vectors: Vec<Vec<u8>> = values
        .chunks(dim.max(1))
        .map(|row| row.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    sqlx::query!(
        r#"INSERT INTO embeddings (model_id, item_id, vector)
           SELECT $1, * FROM UNNEST($2::bigint[], $3::bytea[])"#,
        model_id,
        item_ids,
        &vectors
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The project's newest model, if it has one.
pub async fn latest(db: impl PgExecutor<'_>, project_id: i64) -> Result<Option<Model>> {
    let model = sqlx::query_as!(
        Model,
        r#"SELECT id, project_id, round_id, checkpoint_path, dim, final_loss, device
           FROM models WHERE project_id = $1 ORDER BY id DESC LIMIT 1"#,
        project_id
    )
    .fetch_optional(db)
    .await?;
    Ok(model)
}

/// The newest model of the project trained by a round other than `round_id`: the one a
/// (re)started round warm-starts from.
pub async fn previous(
    db: impl PgExecutor<'_>,
    project_id: i64,
    round_id: i64,
) -> Result<Option<Model>> {
    let model = sqlx::query_as!(
        Model,
        r#"SELECT id, project_id, round_id, checkpoint_path, dim, final_loss, device
           FROM models WHERE project_id = $1 AND round_id <> $2
           ORDER BY id DESC LIMIT 1"#,
        project_id,
        round_id
    )
    .fetch_optional(db)
    .await?;
    Ok(model)
}

/// Deletes the models (and their embeddings) an earlier, interrupted attempt of a round
/// saved, so that a round keeps one model. Returns how many were deleted.
pub async fn delete_of_round(db: impl PgExecutor<'_>, round_id: i64) -> Result<u64> {
    let deleted = sqlx::query!("DELETE FROM models WHERE round_id = $1", round_id)
        .execute(db)
        .await?;
    Ok(deleted.rows_affected())
}

/// Every embedding of a model, in item id order.
pub async fn embeddings(db: impl PgExecutor<'_>, model: &Model) -> Result<ModelEmbeddings> {
    let rows = sqlx::query!(
        "SELECT item_id, vector FROM embeddings WHERE model_id = $1 ORDER BY item_id",
        model.id
    )
    .fetch_all(db)
    .await?;

    let dim = usize::try_from(model.dim).map_err(|_| corrupt(model.id))?;
    let mut out = ModelEmbeddings {
        item_ids: Vec::with_capacity(rows.len()),
        dim,
        values: Vec::with_capacity(rows.len() * dim),
    };
    for row in rows {
        if row.vector.len() != dim * 4 {
            return Err(corrupt(model.id));
        }
        out.item_ids.push(row.item_id);
        out.values.extend(
            row.vector
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    Ok(out)
}

fn corrupt(model_id: i64) -> StoreError {
    StoreError::Corrupt(format!(
        "embeddings of model {model_id} do not match its dimension"
    ))
}
