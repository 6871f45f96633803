//! A tiny CPU model trained on synthetic blobs: the loss falls, checkpoints round-trip, a
//! checkpoint of another shape is refused, and a restarted optimiser starts afresh.

mod common;

use std::sync::atomic::AtomicBool;

use akin_trainer::{EncoderChoice, LossKind, Session, TrainConfig, TrainError};
use common::{blob_images, class_groups, tiny_config};
use tch::Device;

#[test]
fn the_loss_of_a_tiny_model_falls_over_thirty_steps() {
    let images = blob_images(20, 1);
    let mut session = Session::new(images.shape(), &tiny_config(30), Device::Cpu).expect("model");
    let mut losses = Vec::new();

    let final_loss = session
        .fit(
            &images,
            &class_groups(5),
            &[],
            30,
            &AtomicBool::new(false),
            &mut |p| losses.push(p.loss),
        )
        .expect("training runs");

    assert_eq!(losses.len(), 30);
    assert!(losses.iter().all(|loss| loss.is_finite()));
    assert!(
        final_loss < losses[0],
        "first loss {} but last ten average {final_loss}",
        losses[0]
    );
    assert!(losses[29] < losses[0]);
}

#[test]
fn embeddings_have_one_row_of_the_embedding_dimension_per_image() {
    let images = blob_images(4, 2);
    let session = Session::new(images.shape(), &tiny_config(0), Device::Cpu).expect("model");

    let embeddings = session.embed(&images).expect("embedding runs");

    assert_eq!((embeddings.len(), embeddings.dim()), (12, 16));
    assert!(embeddings.values().iter().all(|v| v.is_finite()));
}

#[test]
fn a_saved_checkpoint_loads_into_a_differently_seeded_model_with_equal_embeddings() {
    let images = blob_images(6, 3);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.safetensors");
    let mut trained = Session::new(images.shape(), &tiny_config(3), Device::Cpu).expect("model");
    trained
        .fit(&images, &[], &[], 3, &AtomicBool::new(false), &mut |_| {})
        .expect("training runs");
    let other_seed = TrainConfig {
        seed: 99,
        ..tiny_config(3)
    };
    let mut restored = Session::new(images.shape(), &other_seed, Device::Cpu).expect("model");
    let before_load = restored.embed(&images).expect("embeds");

    trained.save(&path).expect("saves");
    restored.load(&path).expect("loads");

    let expected = trained.embed(&images).expect("embeds");
    assert_ne!(
        before_load, expected,
        "the two models must differ before loading"
    );
    assert_eq!(restored.embed(&images).expect("embeds"), expected);
}

#[test]
fn saving_leaves_only_the_checkpoint_in_its_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.safetensors");
    let session = Session::new((1, 16, 16), &tiny_config(0), Device::Cpu).expect("model");

    session.save(&path).expect("first save");
    session.save(&path).expect("overwriting save");

    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("listable")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["model.safetensors"]);
}

#[test]
fn a_checkpoint_of_another_embedding_dimension_is_incompatible() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.safetensors");
    let small = TrainConfig {
        embedding_dim: 8,
        ..tiny_config(0)
    };
    Session::new((1, 16, 16), &small, Device::Cpu)
        .expect("model")
        .save(&path)
        .expect("saves");
    let mut session = Session::new((1, 16, 16), &tiny_config(0), Device::Cpu).expect("model");

    let result = session.load(&path);

    assert!(
        matches!(result, Err(TrainError::IncompatibleCheckpoint(_))),
        "{result:?}"
    );
}

#[test]
fn a_grayscale_checkpoint_is_incompatible_with_an_rgb_model() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.safetensors");
    let config = tiny_config(0);
    Session::new((1, 16, 16), &config, Device::Cpu)
        .expect("model")
        .save(&path)
        .expect("saves");
    let mut rgb = Session::new((3, 16, 16), &config, Device::Cpu).expect("model");

    let result = rgb.load(&path);

    assert!(
        matches!(result, Err(TrainError::IncompatibleCheckpoint(_))),
        "{result:?}"
    );
}

#[test]
fn fitting_with_the_cancel_flag_set_stops_before_the_first_step() {
    let images = blob_images(3, 4);
    let mut session = Session::new(images.shape(), &tiny_config(5), Device::Cpu).expect("model");
    let mut steps_seen = 0;

    let result = session.fit(&images, &[], &[], 5, &AtomicBool::new(true), &mut |_| {
        steps_seen += 1
    });

    assert!(matches!(result, Err(TrainError::Cancelled)));
    assert_eq!(steps_seen, 0);
}

#[test]
fn images_of_another_shape_than_the_model_are_refused() {
    let images = blob_images(2, 5);
    let mut session = Session::new((1, 16, 20), &tiny_config(1), Device::Cpu).expect("model");

    let result = session.fit(&images, &[], &[], 1, &AtomicBool::new(false), &mut |_| {});

    assert!(matches!(result, Err(TrainError::InvalidDataset(_))));
}

#[test]
fn every_loss_falls_on_a_tiny_model() {
    let images = blob_images(20, 1);

    for loss in LossKind::ALL {
        let config = TrainConfig {
            loss,
            ..tiny_config(30)
        };
        let mut session = Session::new(images.shape(), &config, Device::Cpu).expect("model");
        let mut losses = Vec::new();
        let final_loss = session
            .fit(
                &images,
                &class_groups(5),
                &[(0, 1), (1, 2)],
                30,
                &AtomicBool::new(false),
                &mut |p| losses.push(p.loss),
            )
            .expect("training runs");

        assert!(losses.iter().all(|l| l.is_finite()), "{loss}: {losses:?}");
        assert!(
            final_loss < losses[0],
            "{loss}: first loss {} but last ten average {final_loss}",
            losses[0]
        );
    }
}

#[test]
fn a_resnet_checkpoint_round_trips_and_embeds_into_512_features() {
    let images = blob_images(4, 8);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("resnet.safetensors");
    let config = TrainConfig {
        encoder: EncoderChoice::Resnet18,
        batch_size: 6,
        ..tiny_config(2)
    };
    let mut trained = Session::new(images.shape(), &config, Device::Cpu).expect("model");
    trained
        .fit(
            &images,
            &class_groups(2),
            &[],
            2,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .expect("training runs");
    let mut restored = Session::new(
        images.shape(),
        &TrainConfig {
            seed: 3,
            ..config.clone()
        },
        Device::Cpu,
    )
    .expect("model");

    trained.save(&path).expect("saves");
    restored.load(&path).expect("loads");

    let expected = trained.embed(&images).expect("embeds");
    assert_eq!(trained.encoder_name(), "resnet18");
    assert_eq!((expected.len(), expected.dim()), (12, 512));
    assert_eq!(restored.embed(&images).expect("embeds"), expected);
}

#[test]
fn a_small_cnn_checkpoint_does_not_load_into_a_resnet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cnn.safetensors");
    Session::new((1, 16, 16), &tiny_config(0), Device::Cpu)
        .expect("model")
        .save(&path)
        .expect("saves");
    let resnet = TrainConfig {
        encoder: EncoderChoice::Resnet18,
        ..tiny_config(0)
    };
    let mut session = Session::new((1, 16, 16), &resnet, Device::Cpu).expect("model");

    let result = session.load(&path);

    assert!(
        matches!(result, Err(TrainError::IncompatibleCheckpoint(_))),
        "{result:?}"
    );
}

/// Every conv weight of `session`, in the order of their names.
fn conv_weights(session: &Session, path: &std::path::Path) -> Vec<f64> {
    session.save(path).expect("saved");
    let mut tensors = tch::Tensor::read_safetensors(path).expect("readable");
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
        .into_iter()
        .filter(|(name, _)| name.contains("conv"))
        .flat_map(|(_, t)| {
            Vec::<f64>::try_from(t.to_kind(tch::Kind::Double).flatten(0, -1)).expect("values")
        })
        .collect()
}

/// Median over every conv weight of how far one more step moved it, in units of the
/// learning rate.
fn median_conv_step(session: &mut Session, images: &akin_trainer::ImageSet, rate: f64) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.safetensors");
    let before = conv_weights(session, &path);
    session
        .fit(
            images,
            &class_groups(5),
            &[],
            1,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .expect("one step");
    let after = conv_weights(session, &path);
    let mut moves: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a - b).abs() / rate)
        .collect();
    moves.sort_by(f64::total_cmp);
    moves[moves.len() / 2]
}

#[test]
fn a_restarted_optimiser_takes_adams_first_step_again() {
    // Adam's first step moves every weight whose gradient is not tiny by the learning rate
    // itself (its moment estimates are the gradient and its square); later steps move them by
    // less, once gradients disagree from step to step.
    let images = blob_images(20, 4);
    let config = tiny_config(20);
    let trained = || {
        let mut session = Session::new(images.shape(), &config, Device::Cpu).expect("model");
        session
            .fit(
                &images,
                &class_groups(5),
                &[],
                20,
                &AtomicBool::new(false),
                &mut |_| {},
            )
            .expect("training runs");
        session
    };
    let (mut kept, mut restarted) = (trained(), trained());
    restarted.restart_optimizer().expect("a new optimiser");

    let kept_step = median_conv_step(&mut kept, &images, config.learning_rate);
    let restarted_step = median_conv_step(&mut restarted, &images, config.learning_rate);

    assert!(
        (restarted_step - 1.0).abs() < 0.01,
        "restarted: {restarted_step}"
    );
    assert!(kept_step < 0.9, "kept: {kept_step}");
}
