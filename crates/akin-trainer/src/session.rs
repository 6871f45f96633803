//! [`Session`]: one model and its optimiser, trained and queried on the current thread.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use akin_core::Embeddings;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::augment::{AugmentRanges, augment};
use crate::batch::{BatchPlan, PositiveIndex, SeededRng, sample_batch};
use crate::images::{standardise, to_unit_range};
use crate::loss::{LossSettings, RowRelations, graph_loss};
use crate::model::Network;
use crate::{ImageSet, Progress, TrainConfig, TrainError, checkpoint};

/// Images embedded per forward pass in [`Session::embed`].
const EMBED_BATCH: usize = 1024;

/// Steps whose losses [`Session::fit`] averages into its result.
const LOSS_WINDOW: usize = 10;

/// Steps between debug logs of the loss terms (each log waits for the device).
const PARTS_LOG_EVERY: usize = 50;

/// AdamW's decoupled weight decay: mild, to keep weights bounded over long runs.
const WEIGHT_DECAY: f64 = 1e-4;

/// Training state (variables, network, optimiser, samplers) for images of one shape.
///
/// libtorch objects inside are not shareable across threads: create and use a session on one
/// thread (the trainer thread, or the caller of `akin simulate`).
pub struct Session {
    store: nn::VarStore,
    network: Network,
    optimizer: nn::Optimizer,
    config: TrainConfig,
    shape: (usize, usize, usize),
    rng: SeededRng,
    augment_ranges: AugmentRanges,
    loss: LossSettings,
}

impl Session {
    /// A freshly initialised model for `(channels, height, width)` images, seeded by
    /// `config.seed`.
    pub fn new(
        shape: (usize, usize, usize),
        config: &TrainConfig,
        device: Device,
    ) -> Result<Session, TrainError> {
        config.validate()?;
        if device.is_cuda() && !tch::Cuda::is_available() {
            return Err(TrainError::InvalidConfig(
                "CUDA was asked for but libtorch sees no GPU".into(),
            ));
        }
        tch::manual_seed(config.seed as i64);
        let store = nn::VarStore::new(device);
        let network = Network::new(
            &store.root(),
            shape,
            config.embedding_dim,
            config.projector_dim,
            config.encoder,
        )?;
        let optimizer = adamw(&store, config.learning_rate)?;
        Ok(Session {
            store,
            network,
            optimizer,
            config: config.clone(),
            shape,
            rng: SeededRng::new(config.seed),
            augment_ranges: AugmentRanges::default(),
            loss: config.loss_settings(),
        })
    }

    /// Replaces the weights with a checkpoint's (a warm start). The optimiser keeps its state:
    /// see [`Session::restart_optimizer`].
    pub fn load(&mut self, path: &Path) -> Result<(), TrainError> {
        checkpoint::load(&self.store, path)
    }

    /// Forgets AdamW's moment estimates, as a new session would. The service builds a new
    /// session around the previous round's checkpoint for every round, so `akin simulate`
    /// calls this before each round to train as the service does.
    pub fn restart_optimizer(&mut self) -> Result<(), TrainError> {
        self.optimizer = adamw(&self.store, self.config.learning_rate)?;
        Ok(())
    }

    /// Writes the weights to `path` as safetensors, atomically.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        checkpoint::save(&self.store, path)
    }

    /// The device every tensor of this session lives on.
    pub fn device(&self) -> Device {
        self.store.device()
    }

    /// Replaces the augmentation ranges (the defaults suit small grayscale images).
    pub fn set_augment_ranges(&mut self, ranges: AugmentRanges) {
        self.augment_ranges = ranges;
    }

    /// The backbone's name: "small_cnn" or "resnet18".
    pub fn encoder_name(&self) -> &'static str {
        self.network.encoder.name()
    }

    /// Runs `steps` optimiser steps on batches drawn from `images`, the "same" groups in
    /// `positives` and the "different" answers in `negatives` (pairs of items; each marks
    /// the two items' whole groups as different), reporting after each step. Checks
    /// `cancel` before every batch. Pairs never answered stay unknown.
    ///
    /// Returns the mean loss of the last ten steps (NaN when `steps` is 0).
    pub fn fit(
        &mut self,
        images: &ImageSet,
        positives: &[Vec<usize>],
        negatives: &[(usize, usize)],
        steps: usize,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<f64, TrainError> {
        self.check_images(images)?;
        let index = PositiveIndex::new(positives, images.len())?.with_negatives(negatives);

        let mut recent = VecDeque::with_capacity(LOSS_WINDOW);
        for step in 1..=steps {
            if cancel.load(Ordering::Relaxed) {
                return Err(TrainError::Cancelled);
            }
            let loss = self.train_step(images, &index, step % PARTS_LOG_EVERY == 0)?;
            if recent.len() == LOSS_WINDOW {
                recent.pop_front();
            }
            recent.push_back(loss);
            progress(Progress { step, steps, loss });
        }
        Ok(recent.iter().sum::<f64>() / recent.len() as f64)
    }

    fn check_images(&self, images: &ImageSet) -> Result<(), TrainError> {
        if images.is_empty() {
            return Err(TrainError::EmptyDataset);
        }
        if images.shape() != self.shape {
            return Err(TrainError::InvalidDataset(format!(
                "images are {:?} but the model was built for {:?}",
                images.shape(),
                self.shape
            )));
        }
        Ok(())
    }

    /// One batch: sample, augment, project, loss, AdamW step. Returns the loss.
    fn train_step(
        &mut self,
        images: &ImageSet,
        index: &PositiveIndex,
        log_parts: bool,
    ) -> Result<f64, TrainError> {
        let plan = BatchPlan {
            anchors: self.config.batch_size,
            human_share: self.config.human_share,
            human_weight: self.config.human_weight,
        };
        let batch = sample_batch(index, images.len(), &plan, &mut self.rng);
        let pixels = gather_images(images, &batch.rows, self.device())?;
        let relations = if self.loss.reads_relations(index.has_negatives()) {
            let (components, different) = index.relations_of(&batch.rows);
            RowRelations::new(&components, &different, self.device())
        } else {
            RowRelations::unknown(batch.rows.len(), self.device())
        };

        let views = augment(&to_unit_range(&pixels), &self.augment_ranges);
        let projections = self.network.project_for_training(&views);
        let loss = graph_loss(&projections, &batch.edges, &relations, &self.loss);
        self.optimizer.backward_step(&loss.total);
        if log_parts {
            let parts: Vec<String> = loss
                .parts
                .iter()
                .map(|(name, value)| format!("{name}={:.4}", value.double_value(&[])))
                .collect();
            tracing::debug!(loss = %self.loss.kind, parts = %parts.join(" "), "loss terms");
        }
        Ok(loss.total.f_double_value(&[])?)
    }

    /// Backbone embeddings of every image, in eval mode and without gradients.
    pub fn embed(&self, images: &ImageSet) -> Result<Embeddings, TrainError> {
        self.check_images(images)?;
        let dim = self.network.encoder.output_dim() as usize;
        let mut values = Vec::with_capacity(images.len() * dim);
        for start in (0..images.len()).step_by(EMBED_BATCH) {
            let end = (start + EMBED_BATCH).min(images.len());
            let pixels = images.tensor(start..end, self.device())?;
            let embedded = tch::no_grad(|| {
                let input = standardise(&to_unit_range(&pixels));
                self.network.encoder.forward_t(&input, false)
            });
            let flat = embedded
                .to_device(Device::Cpu)
                .to_kind(Kind::Float)
                .flatten(0, -1);
            values.extend(Vec::<f32>::try_from(&flat)?);
        }
        Ok(Embeddings::new(dim, values)?)
    }
}

/// AdamW over every trainable variable of `store`, with fresh moment estimates.
fn adamw(store: &nn::VarStore, learning_rate: f64) -> Result<nn::Optimizer, TrainError> {
    Ok(nn::adamw(0.9, 0.999, WEIGHT_DECAY).build(store, learning_rate)?)
}

/// The images of `rows` (with repeats), as one `u8` tensor on `device`.
fn gather_images(images: &ImageSet, rows: &[usize], device: Device) -> Result<Tensor, TrainError> {
    let image_len = images.image_len();
    let mut bytes = Vec::with_capacity(rows.len() * image_len);
    for &row in rows {
        bytes.extend_from_slice(&images.pixels[row * image_len..(row + 1) * image_len]);
    }
    let (c, h, w) = images.shape();
    let shape = [rows.len(), c, h, w].map(|d| d as i64);
    Ok(Tensor::f_from_slice(&bytes)?
        .f_view(shape)?
        .f_to_device(device)?)
}
