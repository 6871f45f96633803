//! Akin's storage: the only crate that writes SQL, plus the content-addressed image store.
//!
//! Query functions take an executor (`impl PgExecutor`) so that callers compose them inside
//! transactions they own.

pub mod answers;
pub mod blobs;
pub mod claims;
mod db;
pub mod items;
pub mod known_pairs;
pub mod models;
pub mod projects;
pub mod queries;
pub mod rounds;

pub use db::{MIGRATOR, connect};

/// Everything that can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("image store error at {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot decode image: {0}")]
    Image(#[from] image::ImageError),
    #[error("a stored value is invalid: {0}")]
    Corrupt(String),
}

/// Result alias for storage calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
