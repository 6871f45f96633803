//! Settings of one training job ([`TrainConfig`]), of the trainer thread ([`TrainerSettings`]),
//! the progress it reports, and the choice of device.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::Device;

use crate::TrainError;
use crate::loss::{InfoNceWeights, LossKind, LossSettings};
use crate::model::EncoderChoice;

/// Steps of a model's first training, from scratch: 2000. On the 10,000-image Fashion-MNIST
/// pool, kNN still rises from 1000 steps (0.819) to 2000 (0.823, SimCLR), and a warm-up is
/// paid once.
pub const WARMUP_STEPS: usize = 2000;

/// Steps of each later round, warm-started from the previous round's model: 900. With 50,
/// the answers of a round barely moved the embedding (kNN 0.829 after 4,000 answers against
/// 0.838 with 150); against 300, 600 raised kNN after 2,000 answers from 0.837 to 0.842 and
/// the recovered-bank kNN from 0.729 to 0.740; against 600, 900 picked better pairs: after
/// 4,000 answers 1.44 answers per label instead of 1.49 and 27.8% of labels recovered
/// instead of 26.8% (recovered-bank kNN 0.782 against 0.778). 1100 went too far:
/// recovered-bank kNN 0.814 against 0.820 after 4,000 answers, and 32 minutes for the
/// target simulation on 2 cores instead of 26.
pub const ROUND_STEPS: usize = 900;

/// Hyper-parameters of one training job. Missing fields deserialize to their defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Optimiser steps in this job.
    pub steps: usize,
    /// Anchors per batch; each anchor brings two augmented views and maybe a human partner.
    pub batch_size: usize,
    /// AdamW's learning rate. 2e-3: on 2,000 Fashion-MNIST images 1e-3 and 2e-3 gave the
    /// same kNN after 300 steps (0.768 and 0.766), 3e-3 was no better, and every measurement
    /// on the 10,000-image pool used 2e-3.
    pub learning_rate: f64,
    /// Backbone output size: the exported embedding.
    pub embedding_dim: i64,
    /// Projector (VICReg expander) output size, seen only by the loss.
    pub projector_dim: i64,
    /// Weight of an anchor's human "same" edges together, relative to its augmentation edge
    /// (1); its edges to the members of its group in the batch share it. Default 1: on
    /// Fashion-MNIST (`akin simulate`, seed 1) 3 gave a recovered-bank kNN of 0.737 after
    /// 2,000 answers against 0.753, and 8 gave 0.735 at 1.58 answers per label.
    pub human_weight: f64,
    /// Share of anchors drawn from items that have a human partner (when any exist).
    /// Default 0.75: side by side on Fashion-MNIST (the target command of `akin simulate`,
    /// one thread each), after 4,000 answers three quarters gave a recovered-bank kNN of
    /// 0.839 against 0.818 with half, and kNN on the whole pool 0.861 against 0.845, at
    /// 1.39 answers per label against 1.38. It was ahead from 1,500 answers on.
    pub human_share: f64,
    /// Seed of weight initialisation, augmentations and batch sampling.
    pub seed: u64,
    /// The loss; VICReg unless a project picks another.
    pub loss: LossKind,
    /// InfoNCE's temperature. 0.1: on Fashion-MNIST (10,000-image pool, 900 warm-up steps)
    /// it gave kNN 0.824 where 0.2 gave about 0.815; lower temperatures weigh the hardest
    /// negatives more, which suits a batch of only a few hundred rows.
    pub temperature: f64,
    /// InfoNCE's denominator weight of pairs whose relation is unknown (see
    /// [`InfoNceWeights`] for why the default is 1).
    pub unknown_weight: f64,
    /// InfoNCE's denominator weight of pairs known to differ (default 2: they are certain).
    pub known_negative_weight: f64,
    /// Weight of the repulsion of known-different pairs added to VICReg, Barlow Twins and
    /// the spectral loss (InfoNCE uses them in its denominator instead); 0 turns it off.
    /// Default 1: the term is a mean of squared cosines, at most 1, beside a VICReg total of
    /// 10 to 20, so it separates answered classes without outweighing the main loss (the
    /// PAL authors found known negatives roughly halve the error at a fixed budget).
    pub repulsion_weight: f64,
    /// The backbone: `auto` picks the small CNN up to 64 px a side, ResNet-18 above.
    pub encoder: EncoderChoice,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            steps: 300,
            batch_size: 256,
            learning_rate: 2e-3,
            embedding_dim: 128,
            projector_dim: 256,
            human_weight: 1.0,
            human_share: 0.75,
            seed: 0,
            loss: LossKind::Vicreg,
            temperature: 0.1,
            unknown_weight: InfoNceWeights::default().unknown,
            known_negative_weight: InfoNceWeights::default().known_negative,
            repulsion_weight: DEFAULT_REPULSION_WEIGHT,
            encoder: EncoderChoice::Auto,
        }
    }
}

/// See [`TrainConfig::repulsion_weight`] for why.
const DEFAULT_REPULSION_WEIGHT: f64 = 1.0;

/// Barlow Twins' weight of the off-diagonal terms: the paper's 5e-3.
const BARLOW_OFF_DIAGONAL: f64 = 5e-3;

impl TrainConfig {
    /// The loss settings this configuration asks for.
    pub fn loss_settings(&self) -> LossSettings {
        LossSettings {
            kind: self.loss,
            temperature: self.temperature,
            infonce: InfoNceWeights {
                unknown: self.unknown_weight,
                known_negative: self.known_negative_weight,
            },
            barlow_off_diagonal: BARLOW_OFF_DIAGONAL,
            repulsion_weight: self.repulsion_weight,
        }
    }

    /// Checks that every setting is in range.
    pub fn validate(&self) -> Result<(), TrainError> {
        let problem = if self.batch_size == 0 {
            Some("batch_size must be positive".to_string())
        } else if self.embedding_dim <= 0 || self.projector_dim <= 0 {
            Some("embedding_dim and projector_dim must be positive".to_string())
        } else if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            Some(format!(
                "learning_rate {} is not a positive number",
                self.learning_rate
            ))
        } else if !(self.human_weight >= 0.0 && self.human_weight.is_finite()) {
            Some(format!(
                "human_weight {} is not a non-negative number",
                self.human_weight
            ))
        } else if !(0.0..=1.0).contains(&self.human_share) {
            Some(format!(
                "human_share {} is not within 0..=1",
                self.human_share
            ))
        } else if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            Some(format!(
                "temperature {} is not a positive number",
                self.temperature
            ))
        } else if let Some((name, value)) = [
            ("unknown_weight", self.unknown_weight),
            ("known_negative_weight", self.known_negative_weight),
            ("repulsion_weight", self.repulsion_weight),
        ]
        .into_iter()
        .find(|(_, value)| !(*value >= 0.0 && value.is_finite()))
        {
            Some(format!("{name} {value} is not a non-negative number"))
        } else {
            None
        };
        match problem {
            Some(message) => Err(TrainError::InvalidConfig(message)),
            None => Ok(()),
        }
    }
}

/// Where a job stands: `step` of `steps` done, with the loss of the latest step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Steps finished so far.
    pub step: usize,
    /// Steps this job will run.
    pub steps: usize,
    /// Loss of the latest finished step (0 before the first).
    pub loss: f64,
}

/// Which device the trainer should use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when libtorch sees a GPU, else the CPU.
    #[default]
    Auto,
    /// Always the CPU.
    Cpu,
    /// The first CUDA device (libtorch fails at the first tensor if there is none).
    Cuda,
}

/// The text was none of "auto", "cpu" or "cuda".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown device {0:?}: expected auto, cpu or cuda")]
pub struct ParseDeviceChoiceError(String);

impl FromStr for DeviceChoice {
    type Err = ParseDeviceChoiceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            _ => Err(ParseDeviceChoiceError(text.to_string())),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
        };
        f.write_str(name)
    }
}

/// Settings of the trainer thread, fixed for the life of the process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainerSettings {
    /// Device to train on.
    pub device: DeviceChoice,
    /// Threads libtorch may use for one operation; 0 keeps libtorch's own default.
    pub threads: usize,
}

impl Default for TrainerSettings {
    /// Auto device and half of the available cores (at least one), leaving the rest to tokio.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        TrainerSettings {
            device: DeviceChoice::Auto,
            threads: (cores / 2).max(1),
        }
    }
}

/// Resolves a device choice; `Auto` means `cuda_if_available`.
pub fn pick_device(choice: DeviceChoice) -> Device {
    match choice {
        DeviceChoice::Auto => Device::cuda_if_available(),
        DeviceChoice::Cpu => Device::Cpu,
        DeviceChoice::Cuda => Device::Cuda(0),
    }
}

/// A short name for a device: "cpu", "cuda:0", "mps", "vulkan".
pub fn device_label(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".to_string(),
        Device::Cuda(index) => format!("cuda:{index}"),
        Device::Mps => "mps".to_string(),
        Device::Vulkan => "vulkan".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_choices_parse_from_their_lowercase_names() {
        let parsed: Vec<DeviceChoice> = ["auto", "CPU", " cuda "]
            .iter()
            .map(|t| t.parse().expect("valid name"))
            .collect();

        assert_eq!(
            parsed,
            [DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Cuda]
        );
        assert!("gpu".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn the_default_config_is_valid_and_a_zero_batch_is_not() {
        let zero_batch = TrainConfig {
            batch_size: 0,
            ..TrainConfig::default()
        };

        assert!(TrainConfig::default().validate().is_ok());
        assert!(matches!(
            zero_batch.validate(),
            Err(TrainError::InvalidConfig(_))
        ));
    }

    #[test]
    fn a_partial_config_deserializes_with_defaults_for_the_rest() {
        let json = r#"{"steps": 5}"#;

        let config: TrainConfig = serde_json::from_str(json).expect("valid json");

        assert_eq!(config.steps, 5);
        assert_eq!(config.batch_size, TrainConfig::default().batch_size);
        assert_eq!(config.loss, LossKind::Vicreg);
    }

    #[test]
    fn a_config_names_its_loss_and_encoder_in_lowercase() {
        let json = r#"{"loss": "simclr", "encoder": "resnet18", "temperature": 0.5}"#;

        let config: TrainConfig = serde_json::from_str(json).expect("valid json");

        assert_eq!(config.loss, LossKind::Simclr);
        assert_eq!(config.encoder, EncoderChoice::Resnet18);
        assert_eq!(config.loss_settings().temperature, 0.5);
    }

    #[test]
    fn a_zero_temperature_or_a_negative_weight_is_refused() {
        let cold = TrainConfig {
            temperature: 0.0,
            ..TrainConfig::default()
        };
        let negative = TrainConfig {
            repulsion_weight: -1.0,
            ..TrainConfig::default()
        };

        assert!(cold.validate().is_err());
        assert!(negative.validate().is_err());
    }
}
