//! Known pairs under `/api/v1/projects/{project}/known-pairs` (admin): pairs whose answer
//! an admin knows. They decide the graph and weigh annotators' reliability, and each round
//! plants a share of them among its pairs.

use akin_core::Verdict;
use akin_store::known_pairs::{self, Set};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::project_by_name;
use crate::AppState;
use crate::auth::Admin;
use crate::error::AppError;

#[derive(Deserialize)]
pub struct KnownPairBody {
    item_a: i64,
    item_b: i64,
    verdict: String,
}

/// `POST /api/v1/projects/{project}/known-pairs` (admin): makes
/// `{"item_a": .., "item_b": .., "verdict": "same" | "different"}` the known answer of the
/// pair. 201 for a new pair, 200 when the pair was known (its verdict is replaced); 422,
/// changing nothing, for another verdict, one item twice or an item of another project.
pub async fn set(
    _admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<KnownPairBody>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(body) = body.map_err(|e| AppError::invalid(e.body_text()))?;
    let verdict = match body.verdict.parse() {
        Ok(verdict @ (Verdict::Same | Verdict::Different)) => verdict,
        _ => {
            return Err(AppError::invalid(
                "verdict must be \"same\" or \"different\"",
            ));
        }
    };
    if body.item_a == body.item_b {
        return Err(AppError::invalid("item_a and item_b must differ"));
    }
    let project = project_by_name(&state, &name).await?;

    let set = known_pairs::set(&state.db, project.id, body.item_a, body.item_b, verdict)
        .await?
        .ok_or_else(|| {
            AppError::invalid(format!(
                "items {} and {} must both belong to project {name:?}",
                body.item_a, body.item_b
            ))
        })?;

    let (status, pair) = match set {
        Set::Created(pair) => (StatusCode::CREATED, pair),
        Set::Updated(pair) => (StatusCode::OK, pair),
    };
    tracing::info!(project.name = %project.name, pair.item_a, pair.item_b, %verdict,
        "known pair ({}, {}) of {} set to {verdict}", pair.item_a, pair.item_b, project.name);
    Ok((status, Json(pair)).into_response())
}

/// `GET /api/v1/projects/{project}/known-pairs` (admin): every known pair, oldest first.
pub async fn list(
    _admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let project = project_by_name(&state, &name).await?;
    Ok(Json(known_pairs::list(&state.db, project.id).await?).into_response())
}
