//! What the answers disagree on, for admins: the pairs whose answers nothing settles, the
//! re-asked pairs that wait for more answers, and how far each annotator is trusted. All
//! name annotators.

use akin_store::{answers, items, known_pairs, queries};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::project_by_name;
use crate::AppState;
use crate::auth::Admin;
use crate::error::AppError;
use crate::graph_view;

/// `GET /api/v1/projects/{project}/conflicts` (admin): every pair whose answers nothing
/// settles (the majority contradicts the closed graph, or the votes are split), with what
/// the graph says and each answer's verdict and annotator.
pub async fn conflicts(
    _admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let project = project_by_name(&state, &name).await?;
    let conflicts =
        with_answer_graph(&state, project.id, |graph, log| graph.conflicts(log)).await?;
    Ok(Json(conflicts).into_response())
}

/// `GET /api/v1/projects/{project}/awaiting` (admin): pending pairs that were answered
/// before and wait for another annotator, with the answers so far.
pub async fn awaiting(
    _admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let project = project_by_name(&state, &name).await?;
    Ok(Json(queries::awaiting(&state.db, project.id).await?).into_response())
}

/// `GET /api/v1/projects/{project}/annotators` (admin): every annotator with an answer, by
/// name, with their reliability (in `0..1`, how often they agree with what is settled and
/// with known pairs) and how many answers they gave.
pub async fn annotators(
    _admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let project = project_by_name(&state, &name).await?;
    let reliability = with_answer_graph(&state, project.id, |graph, _| graph.reliability).await?;
    Ok(Json(reliability).into_response())
}

/// Loads the project's items, answer log and known pairs, builds the answer graph on the
/// blocking pool and returns what `read` takes from it.
async fn with_answer_graph<T: Send + 'static>(
    state: &AppState,
    project_id: i64,
    read: impl FnOnce(graph_view::AnswerGraph, &[answers::LoggedAnswer]) -> T + Send + 'static,
) -> Result<T, AppError> {
    let item_ids = items::ids(&state.db, project_id).await?;
    let log = answers::entries(&state.db, project_id).await?;
    let gold = known_pairs::gold(&state.db, project_id).await?;

    tokio::task::spawn_blocking(move || read(graph_view::build(item_ids, &log, &gold), &log))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
}
