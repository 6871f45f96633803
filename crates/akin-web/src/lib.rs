//! Akin's web service: the annotator page, the REST API, admin auth, the orchestrator that
//! queues rounds, and the worker that claims and runs them.

pub mod api;
pub mod auth;
pub mod error;
pub mod evaluation;
pub mod export;
pub mod graph_view;
mod keep_alive;
pub mod orchestrator;
pub mod pages;
mod selection;
pub mod settings;
pub mod worker;

use std::sync::Arc;

use akin_store::blobs::BlobStore;
use axum::Router;
use axum::extract::MatchedPath;
use axum::http::Request;
use axum::routing::{get, post};
use sqlx::PgPool;
use tower_http::trace::TraceLayer;

pub use orchestrator::Orchestrator;
pub use settings::Settings;
pub use worker::RoundWorker;

/// Shared state of every handler. Cheap to clone; holds no tensors.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub blobs: BlobStore,
    pub settings: Arc<Settings>,
    pub orchestrator: Orchestrator,
}

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/projects/{project}",
            get(api::project).patch(api::update_project),
        )
        .route("/projects/{project}/queries/next", get(api::next_query))
        .route(
            "/projects/{project}/rounds",
            post(api::rounds::start).get(api::rounds::list),
        )
        .route("/projects/{project}/rounds/{round}", get(api::rounds::show))
        .route(
            "/projects/{project}/rounds/{round}/retry",
            post(api::rounds::retry),
        )
        .route("/projects/{project}/conflicts", get(api::review::conflicts))
        .route("/projects/{project}/awaiting", get(api::review::awaiting))
        .route(
            "/projects/{project}/annotators",
            get(api::review::annotators),
        )
        .route(
            "/projects/{project}/known-pairs",
            post(api::known_pairs::set).get(api::known_pairs::list),
        )
        .route("/projects/{project}/embeddings", get(api::embeddings))
        .route("/answers", post(api::answer));

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/annotate/{project}", get(pages::annotate))
        .route("/images/{project}/{item}", get(pages::image))
        .route("/static/annotate.js", get(pages::annotate_js))
        .route("/static/style.css", get(pages::style_css))
        .nest("/api/v1", api)
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// Request spans name the route template, never the raw path.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    if route == "/healthz" {
        tracing::debug_span!("request", method = %request.method(), route)
    } else {
        tracing::info_span!("request", method = %request.method(), route)
    }
}
