//! The network: an [`Encoder`] (the backbone whose output is the exported embedding) and a
//! projector MLP that only the loss sees.

use tch::Tensor;
use tch::nn::{self, ModuleT};

use crate::TrainError;

/// Channels of the small CNN's stride-2 stem and of its next two blocks; the last block has
/// `embedding_dim` channels. Chosen so that a training step of 256 anchors on 28x28 images takes
/// a few hundred milliseconds on two CPU cores: full-resolution feature maps dominate the cost,
/// hence the early stride.
const SMALL_CNN_WIDTHS: [i64; 3] = [16, 32, 64];

/// Smallest image side the small CNN accepts: a stride-2 stem and two 2x poolings must leave
/// at least one pixel.
pub const MIN_IMAGE_SIDE: usize = 8;

/// The backbone. One variant for now.
///
/// Images over 64 px should get a ResNet-18 here; until it exists they run through the small
/// CNN, which is cheap but sees little of a large image's detail after its three poolings.
#[derive(Debug)]
pub enum Encoder {
    /// A stride-2 stem, three conv blocks and global average pooling, for images up to
    /// about 64 px.
    SmallCnn(SmallCnn),
}

impl Encoder {
    /// Picks the encoder for `(channels, height, width)` images and creates its variables.
    pub fn for_shape(
        path: &nn::Path,
        shape: (usize, usize, usize),
        embedding_dim: i64,
    ) -> Result<Encoder, TrainError> {
        let (channels, height, width) = shape;
        if height.min(width) < MIN_IMAGE_SIDE || channels == 0 {
            return Err(TrainError::InvalidConfig(format!(
                "images of {channels}x{height}x{width} are too small: \
                 the encoder needs at least {MIN_IMAGE_SIDE} px a side"
            )));
        }
        Ok(Encoder::SmallCnn(SmallCnn::new(
            path,
            channels as i64,
            embedding_dim,
        )))
    }

    /// Standardised images `[n, c, h, w]` to embeddings `[n, embedding_dim]`.
    pub fn forward_t(&self, images: &Tensor, train: bool) -> Tensor {
        match self {
            Encoder::SmallCnn(cnn) => cnn.forward_t(images, train),
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
        input.apply(&self.conv).apply_t(&self.norm, train).relu()
    }
}

/// Four conv blocks: a stride-2 stem, two blocks each followed by 2x max pooling, and a last
/// block of `embedding_dim` channels whose output is averaged over the image.
#[derive(Debug)]
pub struct SmallCnn {
    blocks: Vec<ConvBlock>,
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
        SmallCnn { blocks }
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
    ) -> Result<Network, TrainError> {
        Ok(Network {
            encoder: Encoder::for_shape(&(root / "encoder"), shape, embedding_dim)?,
            projector: Projector::new(&(root / "projector"), embedding_dim, projector_dim),
        })
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
        let network = Network::new(&store.root(), (3, 20, 28), 16, 8).expect("valid shape");
        let images = Tensor::zeros([5, 3, 20, 28], (Kind::Float, Device::Cpu));

        let embeddings = network.encoder.forward_t(&images, false);
        let projections = network.project_for_training(&images);

        assert_eq!(embeddings.size(), [5, 16]);
        assert_eq!(projections.size(), [5, 8]);
    }

    #[test]
    fn images_smaller_than_eight_pixels_are_refused() {
        let store = nn::VarStore::new(Device::Cpu);

        let result = Network::new(&store.root(), (1, 7, 28), 16, 8);

        assert!(matches!(result, Err(TrainError::InvalidConfig(_))));
    }
}
