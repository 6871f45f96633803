//! The network: an [`Encoder`] (the backbone whose output is the exported embedding) and a
//! projector MLP that only the loss sees.

use serde::{Deserialize, Serialize};
use tch::Tensor;
use tch::nn::{self, ModuleT};

use crate::TrainError;

/// Channels of the small CNN's stride-2 stem and of its next two blocks; the last block has
/// `embedding_dim` channels. Chosen so that a training step of 256 anchors on 28x28 images takes
/// a few hundred milliseconds on two CPU cores: full-resolution feature maps dominate the cost,
/// hence the early stride.
const SMALL_CNN_WIDTHS: [i64; 3] = [16, 32, 64];

/// Smallest image side the encoders accept: the small CNN's stride-2 stem and two 2x
/// poolings must leave at least one pixel.
pub const MIN_IMAGE_SIDE: usize = 8;

/// Largest image side that `auto` gives the small CNN; larger images get ResNet-18.
pub const SMALL_CNN_MAX_SIDE: usize = 64;

/// ResNet-18's stage widths; the last is its embedding size.
const RESNET_WIDTHS: [i64; 4] = [64, 128, 256, 512];

/// Which backbone to build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncoderChoice {
    /// The small CNN for images up to [`SMALL_CNN_MAX_SIDE`] px a side, ResNet-18 above.
    #[default]
    Auto,
    /// Always the small CNN.
    SmallCnn,
    /// Always ResNet-18.
    Resnet18,
}

/// The backbone.
#[derive(Debug)]
pub enum Encoder {
    /// A stride-2 stem, three conv blocks and global average pooling, for images up to
    /// 64 px: cheap, and enough for Fashion-MNIST-sized images.
    SmallCnn(SmallCnn),
    /// ResNet-18 with the small-image stem (one 3x3 convolution, no max pooling), for larger
    /// images. Its embedding is its 512 pooled features, whatever `embedding_dim` says.
    ResNet18(Box<ResNet18>),
}

impl Encoder {
    /// Builds the encoder `choice` names for `(channels, height, width)` images.
    pub fn for_shape(
        path: &nn::Path,
        shape: (usize, usize, usize),
        embedding_dim: i64,
        choice: EncoderChoice,
    ) -> Result<Encoder, TrainError> {
        let (channels, height, width) = shape;
        if height.min(width) < MIN_IMAGE_SIDE || channels == 0 {
            return Err(TrainError::InvalidConfig(format!(
                "images of {channels}x{height}x{width} are too small: \
                 the encoder needs at least {MIN_IMAGE_SIDE} px a side"
            )));
        }
        let large = height.max(width) > SMALL_CNN_MAX_SIDE;
        let encoder = match choice {
            EncoderChoice::Resnet18 => {
                Encoder::ResNet18(Box::new(ResNet18::new(path, channels as i64)))
            }
            EncoderChoice::Auto if large => {
                Encoder::ResNet18(Box::new(ResNet18::new(path, channels as i64)))
            }
            EncoderChoice::Auto | EncoderChoice::SmallCnn => {
                Encoder::SmallCnn(SmallCnn::new(path, channels as i64, embedding_dim))
            }
        };
        Ok(encoder)
    }

    /// Standardised images `[n, c, h, w]` to embeddings `[n, output_dim()]`.
    pub fn forward_t(&self, images: &Tensor, train: bool) -> Tensor {
        match self {
            Encoder::SmallCnn(cnn) => cnn.forward_t(images, train),
            Encoder::ResNet18(resnet) => resnet.forward_t(images, train),
        }
    }

    /// Size of the embedding.
    pub fn output_dim(&self) -> i64 {
        match self {
            Encoder::SmallCnn(cnn) => cnn.output_dim,
            Encoder::ResNet18(_) => RESNET_WIDTHS[3],
        }
    }

    /// A short name for logs and reports: "small_cnn" or "resnet18".
    pub fn name(&self) -> &'static str {
        match self {
            Encoder::SmallCnn(_) => "small_cnn",
            Encoder::ResNet18(_) => "resnet18",
        }
    }
}

/// conv3x3 -> batch norm -> ReLU.
#[derive(Debug)]
struct ConvBlock {
    conv: nn::Conv2D,
    norm: nn::BatchNorm,
}

impl ConvBlock {
    fn new(path: &nn::Path, in_channels: i64, out_channels: i64, stride: i64) -> ConvBlock {
        let conv_config = nn::ConvConfig {
            stride,
            padding: 1,
            bias: false,
            ..Default::default()
        };
        ConvBlock {
            conv: nn::conv2d(path / "conv", in_channels, out_channels, 3, conv_config),
            norm: nn::batch_norm2d(path / "norm", out_channels, batch_norm_config()),
        }
    }

    fn forward_t(&self, input: &Tensor, train: bool) -> Tensor {
        // In place, as torchvision does after batch norm: its backward needs only its input,
        // and the activation maps are the largest tensors of a step.
        let mut normalised = input.apply(&self.conv).apply_t(&self.norm, train);
        normalised.relu_()
    }
}

/// Four conv blocks: a stride-2 stem, two blocks each followed by 2x max pooling, and a last
/// block of `embedding_dim` channels whose output is averaged over the image.
#[derive(Debug)]
pub struct SmallCnn {
    blocks: Vec<ConvBlock>,
    output_dim: i64,
}

impl SmallCnn {
    /// Creates the variables under `path`.
    pub fn new(path: &nn::Path, in_channels: i64, embedding_dim: i64) -> SmallCnn {
        let mut widths = vec![in_channels];
        widths.extend(SMALL_CNN_WIDTHS);
        widths.push(embedding_dim);
        let blocks = widths
            .windows(2)
            .enumerate()
            .map(|(i, pair)| {
                let stride = if i == 0 { 2 } else { 1 };
                ConvBlock::new(&(path / format!("block{i}")), pair[0], pair[1], stride)
            })
            .collect();
        SmallCnn {
            blocks,
            output_dim: embedding_dim,
        }
    }
}

impl ModuleT for SmallCnn {
    fn forward_t(&self, images: &Tensor, train: bool) -> Tensor {
        let last = self.blocks.len() - 1;
        let mut features = images.shallow_clone();
        for (i, block) in self.blocks.iter().enumerate() {
            features = block.forward_t(&features, train);
            if i > 0 && i < last {
                features = features.max_pool2d_default(2);
            }
        }
        features.mean_dim([2, 3].as_slice(), false, None)
    }
}

/// conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the input (through a strided 1x1 conv and
/// BN when the shape changes), then ReLU.
#[derive(Debug)]
struct BasicBlock {
    first: nn::Conv2D,
    first_norm: nn::BatchNorm,
    second: nn::Conv2D,
    second_norm: nn::BatchNorm,
    shortcut: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl BasicBlock {
    fn new(path: &nn::Path, in_channels: i64, out_channels: i64, stride: i64) -> BasicBlock {
        let conv = |name: &str, from: i64, size: i64, stride: i64| {
            let config = nn::ConvConfig {
                stride,
                padding: size / 2,
                bias: false,
                ..Default::default()
            };
            nn::conv2d(path / name, from, out_channels, size, config)
        };
        let norm = |name: &str| nn::batch_norm2d(path / name, out_channels, batch_norm_config());
        let shortcut = (stride != 1 || in_channels != out_channels).then(|| {
            (
                conv("shortcut", in_channels, 1, stride),
                norm("shortcut_norm"),
            )
        });
        BasicBlock {
            first: conv("conv1", in_channels, 3, stride),
            first_norm: norm("norm1"),
            second: conv("conv2", out_channels, 3, 1),
            second_norm: norm("norm2"),
            shortcut,
        }
    }

    fn forward_t(&self, input: &Tensor, train: bool) -> Tensor {
        let residual = input
            .apply(&self.first)
            .apply_t(&self.first_norm, train)
            .relu()
            .apply(&self.second)
            .apply_t(&self.second_norm, train);
        let skip = match &self.shortcut {
            Some((conv, norm)) => input.apply(conv).apply_t(norm, train),
            None => input.shallow_clone(),
        };
        (residual + skip).relu()
    }
}

/// ResNet-18 for small images: a 3x3 stride-1 stem without max pooling, four stages of two
/// basic blocks (64, 128, 256, 512 channels; stages 2 to 4 halve the resolution), and global
/// average pooling.
#[derive(Debug)]
pub struct ResNet18 {
    stem: ConvBlock,
    blocks: Vec<BasicBlock>,
}

impl ResNet18 {
    /// Creates the variables under `path`.
    pub fn new(path: &nn::Path, in_channels: i64) -> ResNet18 {
        let stem = ConvBlock::new(&(path / "stem"), in_channels, RESNET_WIDTHS[0], 1);
        let mut blocks = Vec::new();
        let mut width = RESNET_WIDTHS[0];
        for (stage, &out) in RESNET_WIDTHS.iter().enumerate() {
            for block in 0..2 {
                let stride = if stage > 0 && block == 0 { 2 } else { 1 };
                let name = format!("stage{}_{block}", stage + 1);
                blocks.push(BasicBlock::new(&(path / name), width, out, stride));
                width = out;
            }
        }
        ResNet18 { stem, blocks }
    }
}

impl ModuleT for ResNet18 {
    fn forward_t(&self, images: &Tensor, train: bool) -> Tensor {
        let mut features = self.stem.forward_t(images, train);
        for block in &self.blocks {
            features = block.forward_t(&features, train);
        }
        features.mean_dim([2, 3].as_slice(), false, None)
    }
}

/// linear -> batch norm -> ReLU -> linear: VICReg's expander.
#[derive(Debug)]
pub struct Projector {
    hidden: nn::Linear,
    norm: nn::BatchNorm,
    output: nn::Linear,
}

impl Projector {
    /// Creates the variables under `path`.
    pub fn new(path: &nn::Path, embedding_dim: i64, projector_dim: i64) -> Projector {
        let linear = nn::LinearConfig::default();
        Projector {
            hidden: nn::linear(path / "hidden", embedding_dim, projector_dim, linear),
            norm: nn::batch_norm1d(path / "norm", projector_dim, batch_norm_config()),
            output: nn::linear(path / "output", projector_dim, projector_dim, linear),
        }
    }
}

impl ModuleT for Projector {
    fn forward_t(&self, embeddings: &Tensor, train: bool) -> Tensor {
        embeddings
            .apply(&self.hidden)
            .apply_t(&self.norm, train)
            .relu()
            .apply(&self.output)
    }
}

/// Encoder plus projector, with variables named `encoder.*` and `projector.*`.
#[derive(Debug)]
pub struct Network {
    /// The backbone.
    pub encoder: Encoder,
    /// The loss-only head.
    pub projector: Projector,
}

impl Network {
    /// Creates every variable of the network under `root`.
    pub fn new(
        root: &nn::Path,
        shape: (usize, usize, usize),
        embedding_dim: i64,
        projector_dim: i64,
        choice: EncoderChoice,
    ) -> Result<Network, TrainError> {
        let encoder = Encoder::for_shape(&(root / "encoder"), shape, embedding_dim, choice)?;
        let projector = Projector::new(&(root / "projector"), encoder.output_dim(), projector_dim);
        Ok(Network { encoder, projector })
    }

    /// Standardised images to projector outputs, in training mode.
    pub fn project_for_training(&self, images: &Tensor) -> Tensor {
        self.projector
            .forward_t(&self.encoder.forward_t(images, true), true)
    }
}

/// Batch norm starting as the identity (scale 1, shift 0), as PyTorch does.
fn batch_norm_config() -> nn::BatchNormConfig {
    nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind};

    use super::*;

    #[test]
    fn the_encoder_maps_images_to_rows_of_the_embedding_dimension() {
        let store = nn::VarStore::new(Device::Cpu);
        let network = Network::new(&store.root(), (3, 20, 28), 16, 8, EncoderChoice::Auto)
            .expect("valid shape");
        let images = Tensor::zeros([5, 3, 20, 28], (Kind::Float, Device::Cpu));

        let embeddings = network.encoder.forward_t(&images, false);
        let projections = network.project_for_training(&images);

        assert_eq!(embeddings.size(), [5, 16]);
        assert_eq!(projections.size(), [5, 8]);
    }

    #[test]
    fn images_smaller_than_eight_pixels_are_refused() {
        let store = nn::VarStore::new(Device::Cpu);

        let result = Network::new(&store.root(), (1, 7, 28), 16, 8, EncoderChoice::Auto);

        assert!(matches!(result, Err(TrainError::InvalidConfig(_))));
    }

    #[test]
    fn auto_gives_images_over_64_pixels_a_resnet_with_512_features() {
        let store = nn::VarStore::new(Device::Cpu);

        let small = Encoder::for_shape(&store.root(), (3, 64, 64), 16, EncoderChoice::Auto)
            .expect("valid shape");
        let large = Encoder::for_shape(
            &(store.root() / "large"),
            (1, 20, 65),
            16,
            EncoderChoice::Auto,
        )
        .expect("valid shape");

        assert_eq!((small.name(), small.output_dim()), ("small_cnn", 16));
        assert_eq!((large.name(), large.output_dim()), ("resnet18", 512));
    }

    #[test]
    fn the_resnet_maps_rgb_images_to_512_features_and_has_resnet18s_size() {
        let store = nn::VarStore::new(Device::Cpu);
        let encoder = Encoder::for_shape(&store.root(), (3, 8, 8), 16, EncoderChoice::Resnet18)
            .expect("valid shape");
        let images = Tensor::zeros([2, 3, 8, 8], (Kind::Float, Device::Cpu));

        let embeddings = encoder.forward_t(&images, false);

        assert_eq!(embeddings.size(), [2, 512]);
        let parameters: i64 = store
            .trainable_variables()
            .iter()
            .map(Tensor::numel)
            .map(|n| n as i64)
            .sum();
        // torchvision's ResNet-18 has 11,689,512 parameters; without its 7x7 stem
        // (64 * 3 * 49 = 9,408) and its 1000-way classifier (513,000), plus the 3x3 stem
        // (64 * 3 * 9 = 1,728): 11,168,832.
        assert_eq!(parameters, 11_168_832);
    }
}
