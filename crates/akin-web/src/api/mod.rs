//! The REST API under `/api/v1`: projects, pairs and answers here; rounds in [`rounds`];
//! the review of conflicts and re-asked pairs in [`review`]; pairs with a known answer in
//! [`known_pairs`].

pub mod known_pairs;
pub mod review;
pub mod rounds;

use akin_core::{StrategyMix, Verdict};
use akin_store::answers::{self, AnswerError, NewAnswer, Recorded};
use akin_store::projects::{self, Project};
use akin_store::{models, queries};
use akin_trainer::{LossKind, TrainConfig};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Admin;
use crate::error::AppError;
use crate::export::{self, ExportFormat};
use crate::worker::project_loss;

/// Longest accepted idempotency key or annotator id, in bytes.
const MAX_KEY_LEN: usize = 128;

pub(crate) async fn project_by_name(state: &AppState, name: &str) -> Result<Project, AppError> {
    projects::by_name(&state.db, name)
        .await?
        .ok_or_else(|| AppError::not_found(format!("project {name:?}")))
}

/// `GET /api/v1/projects/{project}`: counts and the latest round.
pub async fn project(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let project = project_by_name(&state, &name).await?;
    Ok(Json(project_body(&state, &project).await?).into_response())
}

async fn project_body(state: &AppState, project: &Project) -> Result<Value, AppError> {
    let stats = projects::stats(&state.db, project.id).await?;
    let latest_round = akin_store::rounds::list(&state.db, project.id)
        .await?
        .into_iter()
        .next();
    let loss = project_loss(project).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(json!({
        "name": project.name,
        "channels": project.channels,
        "image_size": project.image_size,
        "auto_advance_share": project.auto_advance_share,
        "strategy_mix": project.effective_mix(),
        "loss": loss,
        "items": stats.items,
        "answers": stats.answers,
        "pending_queries": stats.pending_queries,
        "latest_round": latest_round,
    }))
}

/// `PATCH /api/v1/projects/{project}` (admin): changes the project's settings. Accepts
/// `{"auto_advance_share": x}` with 0 < x <= 1, or null to turn auto-advance off,
/// `{"strategy_mix": {"exemplar": 0.5, "monitor": 0.5}}` (relative weights; left-out
/// strategies get 0), or null for the default mix, and `{"loss": "simclr"}` (one of the
/// trainer's losses; 400 for any other), or null for the trainer's default. Changes all or
/// nothing; answers with the project as `GET` shows it.
pub async fn update_project(
    _admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<serde_json::Map<String, Value>>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(changes) = body.map_err(|e| AppError::invalid(e.body_text()))?;
    let mut share = None;
    let mut mix = None;
    let mut loss = None;
    for (key, value) in &changes {
        match key.as_str() {
            "auto_advance_share" => share = Some(parse_share(value)?),
            "strategy_mix" => mix = Some(parse_mix(value)?),
            "loss" => loss = Some(parse_loss(value)?),
            other => return Err(AppError::invalid(format!("unknown setting {other:?}"))),
        }
    }
    let mut project = project_by_name(&state, &name).await?;

    let mut tx = state.db.begin().await?;
    if let Some(share) = share {
        project = projects::set_auto_advance(&mut *tx, project.id, share).await?;
    }
    if let Some(mix) = &mix {
        project = projects::set_strategy_mix(&mut *tx, project.id, mix.as_ref()).await?;
    }
    if let Some(loss) = loss {
        let name = loss.map(LossKind::as_str);
        project = projects::set_loss(&mut *tx, project.id, name).await?;
    }
    tx.commit().await?;

    if let Some(mix) = mix {
        tracing::info!(project.name = %project.name, ?mix,
            "strategy mix of {} set to {mix:?}", project.name);
    }
    if let Some(loss) = loss {
        let loss = loss.unwrap_or(TrainConfig::default().loss);
        tracing::info!(project.name = %project.name, %loss,
            "loss of {} set to {loss}", project.name);
    }
    if let Some(share) = share {
        tracing::info!(project.name = %project.name, share,
            "auto-advance of {} set to {share:?}", project.name);
        if let Err(e) = state.orchestrator.advance_if_due(project.id).await {
            tracing::warn!(error = %e, "cannot check whether the project advances: {e}");
        }
    }
    Ok(Json(project_body(&state, &project).await?).into_response())
}

fn parse_mix(value: &Value) -> Result<Option<StrategyMix>, AppError> {
    if value.is_null() {
        return Ok(None);
    }
    let mix: StrategyMix = serde_json::from_value(value.clone())
        .map_err(|e| AppError::invalid(format!("strategy_mix: {e}")))?;
    mix.validate()
        .map_err(|e| AppError::invalid(format!("strategy_mix: {e}")))?;
    Ok(Some(mix))
}

/// A loss by its exact name, or null for the trainer's default. Anything else is a 400 that
/// lists the names.
fn parse_loss(value: &Value) -> Result<Option<LossKind>, AppError> {
    if value.is_null() {
        return Ok(None);
    }
    let named = value
        .as_str()
        .and_then(|name| LossKind::ALL.into_iter().find(|kind| kind.as_str() == name));
    named.map(Some).ok_or_else(|| {
        let names: Vec<String> = LossKind::ALL
            .iter()
            .map(|kind| format!("\"{kind}\""))
            .collect();
        let message = format!(
            "loss must be one of {}, or null for the default ({})",
            names.join(", "),
            TrainConfig::default().loss
        );
        AppError::invalid(message)
    })
}

fn parse_share(value: &Value) -> Result<Option<f32>, AppError> {
    if value.is_null() {
        return Ok(None);
    }
    let share = value.as_f64().map(|x| x as f32);
    match share {
        Some(share) if share > 0.0 && share <= 1.0 => Ok(Some(share)),
        _ => Err(AppError::invalid(
            "auto_advance_share must be a number above 0 and at most 1, or null for off",
        )),
    }
}

#[derive(Deserialize)]
pub struct NextParams {
    annotator: Option<String>,
}

/// `GET /api/v1/projects/{project}/queries/next?annotator=ID`: leases one pending pair
/// to the annotator, or answers 204 when none is left. It does not say why the pair was
/// chosen, so that planted known pairs look like any other.
pub async fn next_query(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<NextParams>,
) -> Result<Response, AppError> {
    let project = project_by_name(&state, &name).await?;
    let annotator = params.annotator.unwrap_or_else(|| "anonymous".to_owned());
    check_token("annotator", &annotator)?;

    let leased = queries::lease_next(
        &state.db,
        project.id,
        &annotator,
        state.settings.lease_seconds,
    )
    .await?;
    let Some(query) = leased else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let image = |id: i64| json!({ "id": id, "image_url": format!("/images/{name}/{id}") });
    let body = json!({
        "query_id": query.id,
        "round_id": query.round_id,
        "item_a": image(query.item_a),
        "item_b": image(query.item_b),
        "lease_expires_at": query.lease_expires_at,
    });
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
pub struct AnswerBody {
    query_id: i64,
    verdict: String,
    idempotency_key: String,
    annotator: Option<String>,
}

/// `POST /api/v1/answers`: records an answer once per idempotency key. 201 when stored,
/// 200 with the same answer when the key was seen before.
pub async fn answer(
    State(state): State<AppState>,
    body: Result<Json<AnswerBody>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(body) = body.map_err(|e| AppError::invalid(e.body_text()))?;
    let verdict: Verdict = body.verdict.parse().map_err(|_| {
        AppError::invalid("verdict must be one of \"same\", \"different\", \"not_sure\"")
    })?;
    check_token("idempotency_key", &body.idempotency_key)?;
    let annotator = body.annotator.unwrap_or_else(|| "anonymous".to_owned());
    check_token("annotator", &annotator)?;

    let new = NewAnswer {
        query_id: body.query_id,
        verdict,
        annotator: &annotator,
        idempotency_key: &body.idempotency_key,
    };
    let mut tx = state.db.begin().await?;
    let recorded = answers::record(&mut tx, &new).await.map_err(answer_error)?;
    tx.commit().await?;

    let (status, answer) = match recorded {
        Recorded::Created(answer) => (StatusCode::CREATED, answer),
        Recorded::Replayed(answer) => (StatusCode::OK, answer),
    };
    if status == StatusCode::CREATED {
        // The answer is stored whatever happens here: a failed check only delays the next
        // round until the next answer.
        if let Err(e) = state.orchestrator.advance_if_due(answer.project_id).await {
            tracing::warn!(error = %e, "cannot check whether the project advances: {e}");
        }
    }
    Ok((status, Json(answer)).into_response())
}

fn answer_error(error: AnswerError) -> AppError {
    match error {
        AnswerError::UnknownQuery(id) => AppError::not_found(format!("query {id}")),
        e @ AnswerError::AlreadyAnswered(_) => {
            AppError::client(StatusCode::CONFLICT, "already_answered", e.to_string())
        }
        e @ AnswerError::KeyReused => AppError::client(
            StatusCode::CONFLICT,
            "idempotency_key_reused",
            e.to_string(),
        ),
        e @ AnswerError::PairAnsweredBefore { .. } => {
            AppError::client(StatusCode::CONFLICT, "pair_answered_before", e.to_string())
        }
        AnswerError::Store(e) => e.into(),
    }
}

fn check_token(field: &str, value: &str) -> Result<(), AppError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_KEY_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(format!(
            "{field} must be 1 to {MAX_KEY_LEN} characters of letters, digits, '-', '_', '.', ':'"
        )))
    }
}

#[derive(Deserialize)]
pub struct ExportParams {
    format: Option<String>,
}

/// `GET /api/v1/projects/{project}/embeddings?format=npy|json|csv` (admin): the latest
/// model's embedding of every item.
pub async fn embeddings(
    _admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<ExportParams>,
) -> Result<Response, AppError> {
    let format: ExportFormat = params
        .format
        .as_deref()
        .unwrap_or("npy")
        .parse()
        .map_err(|e: export::UnknownFormat| AppError::invalid(e.to_string()))?;
    let project = project_by_name(&state, &name).await?;
    let model = models::latest(&state.db, project.id)
        .await?
        .ok_or_else(|| {
            AppError::client(
                StatusCode::CONFLICT,
                "no_model",
                "the project has no trained model yet",
            )
        })?;
    let embeddings = models::embeddings(&state.db, &model).await?;

    let bytes = export::encode(format, model.id, &embeddings);
    let filename = format!("{}-model-{}.{}", project.name, model.id, format.extension());
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        ),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    Ok((headers, bytes).into_response())
}
