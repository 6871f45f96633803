//! The one error type of the trainer crate.

/// Why a training job, a checkpoint operation or an embedding pass failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// libtorch reported an error (bad shape, out of memory, unreadable tensor file, ...).
    #[error("torch error: {0}")]
    Torch(#[from] tch::TchError),
    /// Reading or writing a checkpoint failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The job's cancel flag was set; nothing was saved.
    #[error("training was cancelled")]
    Cancelled,
    /// The job panicked on the trainer thread; the thread itself lives on.
    #[error("training panicked: {0}")]
    Panicked(String),
    /// There are no images to train on.
    #[error("the dataset has no images")]
    EmptyDataset,
    /// Image bytes do not match the declared shape, or a positive group names a missing item.
    #[error("invalid dataset: {0}")]
    InvalidDataset(String),
    /// A setting is out of range (zero batch size, non-positive dimension, tiny images, ...).
    #[error("invalid training configuration: {0}")]
    InvalidConfig(String),
    /// A checkpoint does not fit the model that the configuration describes.
    #[error("checkpoint does not fit this model: {0}")]
    IncompatibleCheckpoint(String),
    /// The trainer thread is gone, so no job can run.
    #[error("the trainer thread has stopped")]
    Stopped,
    /// The model produced embeddings that do not form a matrix (a bug).
    #[error("bad embeddings: {0}")]
    Embeddings(#[from] akin_core::embeddings::EmbeddingsError),
}
