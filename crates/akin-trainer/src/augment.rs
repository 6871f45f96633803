//! Batched image augmentations on the device: random resized crop with horizontal flip, then
//! brightness and contrast jitter and a little gaussian noise.
//!
//! Every random number comes from libtorch's global generator, so a batch is reproducible after
//! `tch::manual_seed` as long as no other thread draws from that generator meanwhile (in a
//! server only the trainer thread does). Each row draws its own parameters: passing an image
//! twice gives two independent views.

use tch::Tensor;

use crate::images::standardise;

/// Ranges of the random transformations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AugmentRanges {
    /// Smallest share of the image area that a crop keeps (the largest is 1).
    pub min_crop_area: f64,
    /// Crop aspect ratios range over `1/max_aspect ..= max_aspect` (log-uniform).
    pub max_aspect: f64,
    /// Probability of a horizontal flip.
    pub flip_probability: f64,
    /// Brightness shifts by up to this much, in units of full scale.
    pub brightness: f64,
    /// Contrast scales by a factor within `1 - contrast ..= 1 + contrast`.
    pub contrast: f64,
    /// Standard deviation of the added noise, in units of full scale.
    pub noise_std: f64,
}

impl Default for AugmentRanges {
    /// Crops keep at least 80% of the image: on Fashion-MNIST, whose items are centred and
    /// fill the frame, half-area crops cut off what tells a shirt from a pullover (kNN after
    /// 300 warm-up steps on 2,000 images: 0.753 at 0.5, 0.768 at 0.8). The colour jitter
    /// stays strong: weakening it to 0.1 / 0.2 cost 0.011.
    fn default() -> Self {
        AugmentRanges {
            min_crop_area: 0.8,
            max_aspect: 4.0 / 3.0,
            flip_probability: 0.5,
            brightness: 0.2,
            contrast: 0.4,
            noise_std: 0.03,
        }
    }
}

/// Augments images in `[0, 1]` (`[n, c, h, w]`, float) and standardises them for the network.
pub fn augment(images: &Tensor, ranges: &AugmentRanges) -> Tensor {
    let cropped = random_resized_crop(images, ranges);
    let jittered = jitter_brightness_contrast(&cropped, ranges);
    let noisy = &jittered + Tensor::randn_like(&jittered) * ranges.noise_std;
    standardise(&noisy)
}

/// `n` values drawn uniformly from `low..high`, on the device and kind of `like`.
fn uniform(like: &Tensor, n: i64, low: f64, high: f64) -> Tensor {
    Tensor::rand([n], (like.kind(), like.device())) * (high - low) + low
}

/// Samples each output pixel from a random axis-aligned window of its input image, with the
/// window inside the image, mirrored horizontally at random.
fn random_resized_crop(images: &Tensor, ranges: &AugmentRanges) -> Tensor {
    let size = images.size();
    let n = size[0];
    let area = uniform(images, n, ranges.min_crop_area, 1.0);
    let log_aspect = ranges.max_aspect.ln();
    let aspect = uniform(images, n, -log_aspect, log_aspect).exp();
    let half_width = (&area * &aspect).sqrt().clamp_max(1.0);
    let half_height = (&area / &aspect).sqrt().clamp_max(1.0);
    let shift_x = uniform(images, n, -1.0, 1.0) * (1.0_f64 - &half_width);
    let shift_y = uniform(images, n, -1.0, 1.0) * (1.0_f64 - &half_height);
    let keep = uniform(images, n, 0.0, 1.0).ge(ranges.flip_probability);
    let mirror = keep.to_kind(images.kind()) * 2.0 - 1.0;

    // Affine grids map output coordinates in [-1, 1] to input ones: x_in = a * x_out + b.
    let zeros = Tensor::zeros_like(&area);
    let theta = Tensor::stack(
        &[
            half_width * mirror,
            zeros.shallow_clone(),
            shift_x,
            zeros,
            half_height,
            shift_y,
        ],
        1,
    )
    .view([n, 2, 3]);
    let grid = Tensor::affine_grid_generator(&theta, size.as_slice(), false);
    const BILINEAR: i64 = 0;
    const BORDER: i64 = 1;
    images.grid_sampler(&grid, BILINEAR, BORDER, false)
}

/// Scales each image's deviation from its mean brightness, shifts it, and clips to `[0, 1]`.
fn jitter_brightness_contrast(images: &Tensor, ranges: &AugmentRanges) -> Tensor {
    let n = images.size()[0];
    let per_image = [n, 1, 1, 1];
    let contrast = uniform(images, n, 1.0 - ranges.contrast, 1.0 + ranges.contrast);
    let brightness = uniform(images, n, -ranges.brightness, ranges.brightness);
    let mean = images.mean_dim([1, 2, 3].as_slice(), true, None);
    ((images - &mean) * contrast.view(per_image) + mean + brightness.view(per_image))
        .clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind};

    use super::*;

    fn ramp_images() -> Tensor {
        Tensor::arange(2 * 3 * 12 * 12, (Kind::Float, Device::Cpu)).view([2, 3, 12, 12]) / 864.0
    }

    #[test]
    fn augmentations_keep_the_shape_and_change_the_pixels() {
        let images = ramp_images();

        tch::manual_seed(3);
        let views = augment(&images, &AugmentRanges::default());

        assert_eq!(views.size(), images.size());
        let unchanged = standardise(&images);
        assert!((views - unchanged).abs().mean(None).double_value(&[]) > 1e-3);
    }

    #[test]
    fn with_every_range_closed_the_crop_is_the_identity() {
        let images = ramp_images();
        let closed = AugmentRanges {
            min_crop_area: 1.0,
            max_aspect: 1.0,
            flip_probability: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            noise_std: 0.0,
        };

        let views = augment(&images, &closed);

        let error = (views - standardise(&images)).abs().max().double_value(&[]);
        assert!(
            error < 1e-5,
            "identity augmentation moved pixels by {error}"
        );
    }

    #[test]
    fn a_certain_flip_mirrors_each_row() {
        let images = ramp_images();
        let flip_only = AugmentRanges {
            min_crop_area: 1.0,
            max_aspect: 1.0,
            flip_probability: 1.0,
            brightness: 0.0,
            contrast: 0.0,
            noise_std: 0.0,
        };

        let views = augment(&images, &flip_only);

        let mirrored = standardise(&images.flip([3]));
        assert!((views - mirrored).abs().max().double_value(&[]) < 1e-5);
    }
}
