//! [`ImageSet`]: the raw pixels a job trains on, and their conversion to tensors.

use std::ops::Range;

use tch::{Device, Kind, Tensor};

use crate::TrainError;

/// `len()` images of one shape, stored as `n x channels x height x width` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    /// Colour channels: 1 for grayscale, 3 for RGB.
    pub channels: usize,
    /// Rows of pixels per image.
    pub height: usize,
    /// Columns of pixels per image.
    pub width: usize,
    /// All images back to back, channel-major within an image.
    pub pixels: Vec<u8>,
}

impl ImageSet {
    /// Wraps pixels, checking that they split into whole images of a non-empty shape.
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        pixels: Vec<u8>,
    ) -> Result<ImageSet, TrainError> {
        let image_len = channels * height * width;
        if image_len == 0 {
            return Err(TrainError::InvalidDataset(format!(
                "image shape {channels}x{height}x{width} is empty"
            )));
        }
        if !pixels.len().is_multiple_of(image_len) {
            return Err(TrainError::InvalidDataset(format!(
                "{} bytes are not whole images of {channels}x{height}x{width}",
                pixels.len()
            )));
        }
        Ok(ImageSet {
            channels,
            height,
            width,
            pixels,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len().checked_div(self.image_len()).unwrap_or(0)
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(channels, height, width)`.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.channels, self.height, self.width)
    }

    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Images `range` as a `u8` tensor `[k, c, h, w]` on `device`.
    pub(crate) fn tensor(&self, range: Range<usize>, device: Device) -> Result<Tensor, TrainError> {
        let image_len = self.image_len();
        let bytes = self
            .pixels
            .get(range.start * image_len..range.end * image_len)
            .ok_or_else(|| {
                TrainError::InvalidDataset(format!("images {range:?} out of {}", self.len()))
            })?;
        let shape = [range.len(), self.channels, self.height, self.width].map(|d| d as i64);
        Ok(Tensor::f_from_slice(bytes)?
            .f_view(shape)?
            .f_to_device(device)?)
    }
}

/// `u8` pixels to floats in `[0, 1]`.
pub(crate) fn to_unit_range(pixels: &Tensor) -> Tensor {
    pixels.to_kind(Kind::Float) / 255.0
}

/// Floats in `[0, 1]` to the network's input range, centred on zero (`[-1, 1]`).
pub(crate) fn standardise(unit: &Tensor) -> Tensor {
    (unit - 0.5) / 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_set_counts_whole_images() {
        let images = ImageSet::new(1, 2, 3, vec![0; 12]).expect("two 1x2x3 images");

        assert_eq!(images.len(), 2);
        assert!(!images.is_empty());
    }

    #[test]
    fn pixels_that_do_not_make_whole_images_are_rejected() {
        let result = ImageSet::new(3, 2, 2, vec![0; 13]);

        assert!(matches!(result, Err(TrainError::InvalidDataset(_))));
    }

    #[test]
    fn a_tensor_slice_keeps_the_pixel_values_and_shape() {
        let images = ImageSet::new(1, 1, 2, vec![1, 2, 3, 4, 5, 6]).expect("three images");

        let middle = images.tensor(1..3, Device::Cpu).expect("in range");

        assert_eq!(middle.size(), [2, 1, 1, 2]);
        assert_eq!(
            Vec::<u8>::try_from(middle.flatten(0, -1)).expect("u8"),
            [3, 4, 5, 6]
        );
    }
}
