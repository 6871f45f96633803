//! Everything in Akin that touches libtorch (through `tch`).
//!
//! - [`model`]: the encoders (a small CNN up to 64 px, ResNet-18 above) and the projector.
//! - [`augment`]: batched, seeded image augmentations on the device.
//! - [`batch`]: anchors, human partners and weighted edges drawn from the "same" graph.
//! - [`loss`]: the four PAL losses in graph form (VICReg, SimCLR, Barlow Twins, spectral)
//!   and the repulsion of known negatives.
//! - [`eval`]: RankMe and a linear probe on frozen embeddings.
//! - [`Session`]: one model and optimiser, trained and queried on the current thread.
//! - [`TrainerHandle`]: the one trainer thread that owns every tch object in a server.
//! - [`checkpoint`]: atomic safetensors checkpoints.

pub mod augment;
pub mod batch;
pub mod checkpoint;
mod config;
mod error;
pub mod eval;
mod images;
pub mod loss;
pub mod model;
mod session;
mod worker;

pub use config::{
    DeviceChoice, ParseDeviceChoiceError, Progress, ROUND_STEPS, TrainConfig, TrainerSettings,
    WARMUP_STEPS, device_label, pick_device,
};
pub use error::TrainError;
pub use images::ImageSet;
pub use loss::{Edge, LossKind, ParseLossKindError, VicregParts, VicregWeights, vicreg_loss};
pub use model::EncoderChoice;
pub use session::Session;
pub use worker::{TrainJob, TrainOutcome, TrainerHandle};
