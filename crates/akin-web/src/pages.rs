//! Browser pages (askama templates), images and static files.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use crate::AppState;
use crate::api::project_by_name;
use crate::error::AppError;

const ANNOTATE_JS: &str = include_str!("../../../static/annotate.js");
const STYLE_CSS: &str = include_str!("../../../static/style.css");

#[derive(Template)]
#[template(path = "annotate.html")]
struct AnnotatePage<'a> {
    project: &'a str,
    pixelated: bool,
}

/// `GET /annotate/{project}`: the annotator's page.
pub async fn annotate(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Html<String>, AppError> {
    let project = project_by_name(&state, &name).await?;
    let page = AnnotatePage {
        project: &project.name,
        pixelated: project.image_size <= 64,
    };
    let html = page
        .render()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Html(html))
}

/// `GET /images/{project}/{item}`: an item's display copy. Content-addressed, so it never
/// changes and may be cached for good.
pub async fn image(
    State(state): State<AppState>,
    Path((name, item_id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let project = project_by_name(&state, &name).await?;
    let hash = akin_store::items::content_hash(&state.db, project.id, item_id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("item {item_id}")))?;
    let path = state
        .blobs
        .display_path(&hash)
        .ok_or_else(|| AppError::Internal(format!("item {item_id} has a malformed hash")))?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| AppError::Internal(format!("reading {}: {e}", path.display())))?;
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ),
    ];
    Ok((headers, bytes).into_response())
}

/// `GET /static/annotate.js`
pub async fn annotate_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        ANNOTATE_JS,
    )
}

/// `GET /static/style.css`
pub async fn style_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLE_CSS,
    )
}
