//! Reproducibility under a seed. libtorch has one global generator per process, so the tests
//! here take a lock: no other test of this binary draws from it meanwhile.

mod common;

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use akin_trainer::augment::{AugmentRanges, augment};
use akin_trainer::{Session, TrainConfig};
use common::{blob_images, class_groups, tiny_config};
use tch::{Device, Kind, Tensor};

static GLOBAL_GENERATOR: Mutex<()> = Mutex::new(());

fn ramp_images() -> Tensor {
    Tensor::arange(2 * 3 * 12 * 12, (Kind::Float, Device::Cpu)).view([2, 3, 12, 12]) / 864.0
}

#[test]
fn augmentations_repeat_exactly_under_the_same_seed() {
    let _only_user = GLOBAL_GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let images = ramp_images();

    tch::manual_seed(11);
    let first = augment(&images, &AugmentRanges::default());
    tch::manual_seed(11);
    let again = augment(&images, &AugmentRanges::default());
    tch::manual_seed(12);
    let other = augment(&images, &AugmentRanges::default());

    assert!(first.equal(&again));
    assert!(!first.equal(&other));
}

#[test]
fn training_twice_with_one_seed_gives_the_same_embeddings() {
    let _only_user = GLOBAL_GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let images = blob_images(6, 21);
    let train = |config: &TrainConfig| {
        let mut session = Session::new(images.shape(), config, Device::Cpu).expect("model");
        let never = AtomicBool::new(false);
        session
            .fit(&images, &class_groups(3), &[], 3, &never, &mut |_| {})
            .expect("training runs");
        session.embed(&images).expect("embeds")
    };

    let first = train(&tiny_config(3));
    let again = train(&tiny_config(3));
    let other = train(&TrainConfig {
        seed: 8,
        ..tiny_config(3)
    });

    assert_eq!(first, again);
    assert_ne!(first, other);
}

#[test]
fn known_negatives_change_what_a_seeded_model_learns() {
    let _only_user = GLOBAL_GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let images = blob_images(10, 6);
    let train = |negatives: &[(usize, usize)]| {
        let mut session =
            Session::new(images.shape(), &tiny_config(5), Device::Cpu).expect("model");
        let never = AtomicBool::new(false);
        session
            .fit(&images, &class_groups(4), negatives, 5, &never, &mut |_| {})
            .expect("training runs");
        session.embed(&images).expect("embeds")
    };

    let without = train(&[]);
    let without_again = train(&[]);
    let with = train(&[(0, 1), (0, 2), (1, 2)]);

    assert_eq!(without, without_again);
    assert_ne!(without, with);
}
