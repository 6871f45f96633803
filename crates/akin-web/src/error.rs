//! The one application error: client errors carry a stable code and a short safe message;
//! server errors are logged once here and answered without their cause.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error that a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Client {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// A 4xx with a stable machine-readable `code`.
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Client {
            status,
            code,
            message: message.into(),
        }
    }

    /// 404 for a missing `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::client(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{} not found", what.into()),
        )
    }

    /// 422 for a request whose content is wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::client(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }
}

impl From<akin_store::StoreError> for AppError {
    fn from(e: akin_store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            Self::Client {
                status,
                code,
                message,
            } => (
                status,
                Json(json!({ "error": { "code": code, "message": message } })),
            )
                .into_response(),
            Self::Internal(cause) => {
                tracing::error!(error = %cause, "request failed: {cause}");
                let body = json!({ "error": { "code": "internal", "message": "internal error" } });
                (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
            }
        }
    }
}
