//! Everything in Akin that touches libtorch (through `tch`).
//!
//! - [`model`]: the encoder (a small CNN for now) and the VICReg projector.
//! - [`augment`]: batched, seeded image augmentations on the device.
//! - [`batch`]: anchors, human partners and weighted edges drawn from the "same" graph.
//! - [`loss`]: the graph form of VICReg.
//! - [`Session`]: one model and optimiser, trained and queried on the current thread.
//! - [`TrainerHandle`]: the one trainer thread that owns every tch object in a server.
//! - [`checkpoint`]: atomic safetensors checkpoints.

pub mod augment;
pub mod batch;
pub mod checkpoint;
mod config;
mod error;
mod images;
pub mod loss;
pub mod model;
mod session;
mod worker;

pub use config::{
    DeviceChoice, ParseDeviceChoiceError, Progress, TrainConfig, TrainerSettings, device_label,
    pick_device,
};
pub use error::TrainError;
pub use images::ImageSet;
pub use loss::{Edge, VicregParts, VicregWeights, vicreg_loss};
pub use session::Session;
pub use worker::{TrainJob, TrainOutcome, TrainerHandle};
