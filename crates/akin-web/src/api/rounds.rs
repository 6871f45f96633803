//! Rounds under `/api/v1/projects/{project}/rounds`: start, list, show, retry.

use akin_store::rounds::{self, CreateRoundError, RetryError};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::project_by_name;
use crate::AppState;
use crate::auth::Admin;
use crate::error::AppError;

/// `POST /api/v1/projects/{project}/rounds` (admin): queues a round for a worker. 409
/// while another round of the project is queued or running.
pub async fn start(
    _admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let project = project_by_name(&state, &name).await?;
    match state.orchestrator.start_round(&project).await {
        Ok(round) => Ok((StatusCode::CREATED, Json(round)).into_response()),
        Err(e @ CreateRoundError::AlreadyActive(_)) => Err(AppError::client(
            StatusCode::CONFLICT,
            "round_running",
            e.to_string(),
        )),
        Err(CreateRoundError::Store(e)) => Err(e.into()),
    }
}

/// `GET /api/v1/projects/{project}/rounds`: every round, newest first.
pub async fn list(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let project = project_by_name(&state, &name).await?;
    Ok(Json(rounds::list(&state.db, project.id).await?).into_response())
}

/// `GET /api/v1/projects/{project}/rounds/{id}`: one round's state, progress and metrics.
pub async fn show(
    State(state): State<AppState>,
    Path((name, round_id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let project = project_by_name(&state, &name).await?;
    let round = rounds::get(&state.db, project.id, round_id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("round {round_id}")))?;
    Ok(Json(round).into_response())
}

/// `POST /api/v1/projects/{project}/rounds/{id}/retry` (admin): queues the project's
/// latest round again when it failed.
pub async fn retry(
    _admin: Admin,
    State(state): State<AppState>,
    Path((name, round_id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let project = project_by_name(&state, &name).await?;
    let round = state
        .orchestrator
        .retry_round(&project, round_id)
        .await
        .map_err(retry_error)?;
    Ok(Json(round).into_response())
}

fn retry_error(error: RetryError) -> AppError {
    let conflict =
        |code, e: RetryError| AppError::client(StatusCode::CONFLICT, code, e.to_string());
    match error {
        RetryError::NotFound(id) => AppError::not_found(format!("round {id}")),
        e @ RetryError::NotFailed { .. } => conflict("round_not_failed", e),
        e @ RetryError::NotLatest(_) => conflict("round_not_latest", e),
        e @ RetryError::AlreadyActive(_) => conflict("round_running", e),
        RetryError::Store(e) => e.into(),
    }
}
