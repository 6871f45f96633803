//! Synthetic data shared by the integration tests.

#![allow(dead_code)]

use akin_trainer::{ImageSet, TrainConfig};

/// A small, fast configuration for 16x16 test images.
pub fn tiny_config(steps: usize) -> TrainConfig {
    TrainConfig {
        steps,
        batch_size: 32,
        learning_rate: 2e-3,
        embedding_dim: 16,
        projector_dim: 32,
        seed: 7,
        ..TrainConfig::default()
    }
}

/// `per_class` grayscale 16x16 images of each of three classes: a bright square blob whose
/// place depends on the class (top left, top right, bottom middle), jittered by a pixel or two,
/// on a noisy dark background. Item `i` has class `i % 3`.
pub fn blob_images(per_class: usize, seed: u64) -> ImageSet {
    const SIDE: usize = 16;
    let centres = [(4, 4), (4, 11), (11, 8)];
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    let mut pixels = Vec::with_capacity(3 * per_class * SIDE * SIDE);
    for item in 0..3 * per_class {
        let (row, col) = centres[item % 3];
        let (row, col) = (row + next(3) as usize - 1, col + next(3) as usize - 1);
        for y in 0..SIDE {
            for x in 0..SIDE {
                let inside = y.abs_diff(row) <= 2 && x.abs_diff(col) <= 2;
                let base = if inside { 200 } else { 20 };
                pixels.push((base + next(40)) as u8);
            }
        }
    }
    ImageSet::new(1, SIDE, SIDE, pixels).expect("whole images")
}

/// Items of class 0, 1 and 2 among the first `per_group` of each class, as "same" groups.
pub fn class_groups(per_group: usize) -> Vec<Vec<usize>> {
    (0..3)
        .map(|class| (0..per_group).map(|k| 3 * k + class).collect())
        .collect()
}
