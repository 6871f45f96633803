//! The trainer thread runs queued jobs end to end: training, checkpoint, embeddings, and
//! the evaluation of the embeddings.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use akin_trainer::eval::{EvalJob, ProbeSets};
use akin_trainer::{
    DeviceChoice, LossKind, Progress, TrainConfig, TrainError, TrainJob, TrainerHandle,
    TrainerSettings,
};
use common::{blob_images, class_groups, tiny_config};
use tokio::sync::watch;

fn cpu_trainer() -> TrainerHandle {
    TrainerHandle::spawn(TrainerSettings {
        device: DeviceChoice::Cpu,
        threads: 1,
    })
}

fn job(config: TrainConfig, checkpoint_out: PathBuf, warm_start: Option<&Path>) -> TrainJob {
    TrainJob {
        images: Arc::new(blob_images(5, 11)),
        positives: class_groups(3),
        config,
        warm_start: warm_start.map(Path::to_path_buf),
        checkpoint_out,
        cancel: Arc::new(AtomicBool::new(false)),
        progress: None,
    }
}

#[tokio::test]
async fn a_job_returns_one_embedding_per_image_and_writes_its_checkpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let checkpoint = dir.path().join("round-1.safetensors");
    let (progress, mut watcher) = watch::channel(Progress::default());
    let trainer = cpu_trainer();

    let outcome = trainer
        .run(TrainJob {
            progress: Some(progress),
            ..job(tiny_config(4), checkpoint.clone(), None)
        })
        .await
        .expect("job succeeds");

    assert_eq!(
        (outcome.embeddings.len(), outcome.embeddings.dim()),
        (15, 16)
    );
    assert_eq!((outcome.steps, outcome.device.as_str()), (4, "cpu"));
    assert!(outcome.final_loss.is_finite());
    assert!(checkpoint.is_file());
    let last = watcher.borrow_and_update().clone();
    assert_eq!((last.step, last.steps), (4, 4));
    assert_eq!(trainer.device_name(), "cpu");
}

#[tokio::test]
async fn a_job_can_warm_start_from_the_previous_checkpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (first, second) = (
        dir.path().join("1.safetensors"),
        dir.path().join("2.safetensors"),
    );
    let trainer = cpu_trainer();
    trainer
        .run(job(tiny_config(2), first.clone(), None))
        .await
        .expect("first job succeeds");

    let outcome = trainer
        .run(job(tiny_config(2), second.clone(), Some(&first)))
        .await;

    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(second.is_file());
}

#[tokio::test]
async fn a_job_whose_cancel_flag_is_set_returns_cancelled_and_saves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let checkpoint = dir.path().join("never.safetensors");
    let cancelled = TrainJob {
        cancel: Arc::new(AtomicBool::new(true)),
        ..job(tiny_config(50), checkpoint.clone(), None)
    };

    let result = cpu_trainer().run(cancelled).await;

    assert!(matches!(result, Err(TrainError::Cancelled)), "{result:?}");
    assert!(!checkpoint.exists());
}

#[tokio::test]
async fn a_warm_start_of_another_shape_fails_as_incompatible_and_the_thread_lives_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (small, next) = (
        dir.path().join("small.safetensors"),
        dir.path().join("next.safetensors"),
    );
    let trainer = cpu_trainer();
    let small_config = TrainConfig {
        embedding_dim: 8,
        ..tiny_config(1)
    };
    trainer
        .run(job(small_config, small.clone(), None))
        .await
        .expect("small job succeeds");

    let mismatch = trainer
        .run(job(tiny_config(1), next.clone(), Some(&small)))
        .await;
    let after = trainer.run(job(tiny_config(1), next, None)).await;

    assert!(
        matches!(mismatch, Err(TrainError::IncompatibleCheckpoint(_))),
        "{mismatch:?}"
    );
    assert!(after.is_ok(), "{after:?}");
}

#[tokio::test]
async fn an_empty_dataset_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut empty = job(tiny_config(1), dir.path().join("x.safetensors"), None);
    empty.images = Arc::new(akin_trainer::ImageSet::new(1, 16, 16, Vec::new()).expect("no images"));
    empty.positives.clear();

    let result = cpu_trainer().run(empty).await;

    assert!(
        matches!(result, Err(TrainError::EmptyDataset)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_job_that_panics_reports_panicked_and_the_thread_lives_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let checkpoint = dir.path().join("model.safetensors");
    let trainer = cpu_trainer();
    // Petabytes of weights: libtorch refuses the allocation and tch panics while building.
    let absurd = TrainConfig {
        embedding_dim: 1 << 40,
        ..tiny_config(1)
    };

    let panicked = trainer.run(job(absurd, checkpoint.clone(), None)).await;
    let after = trainer.run(job(tiny_config(1), checkpoint, None)).await;

    assert!(
        matches!(panicked, Err(TrainError::Panicked(_))),
        "{panicked:?}"
    );
    assert!(after.is_ok(), "{after:?}");
}

#[tokio::test]
async fn a_job_learns_from_different_answers_with_the_loss_it_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let checkpoint = dir.path().join("simclr.safetensors");
    let simclr = TrainConfig {
        loss: LossKind::Simclr,
        ..tiny_config(3)
    };

    let outcome = cpu_trainer()
        .run_with_negatives(job(simclr, checkpoint.clone(), None), vec![(0, 1), (1, 2)])
        .await
        .expect("job succeeds");

    assert_eq!((outcome.steps, outcome.embeddings.len()), (3, 15));
    assert!(outcome.final_loss.is_finite() && outcome.final_loss > 0.0);
    assert!(checkpoint.is_file());
}

#[tokio::test]
async fn the_thread_evaluates_the_embeddings_a_job_produced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let trainer = cpu_trainer();
    let outcome = trainer
        .run(job(tiny_config(3), dir.path().join("m.safetensors"), None))
        .await
        .expect("job succeeds");
    let labels: Vec<u8> = (0..15).map(|item| (item % 3) as u8).collect();
    let probe = ProbeSets {
        train: outcome.embeddings.clone(),
        train_labels: labels.clone(),
        test: outcome.embeddings.clone(),
        test_labels: labels,
    };

    let measured = trainer
        .evaluate(EvalJob {
            embeddings: outcome.embeddings,
            probe: Some(probe),
        })
        .await
        .expect("evaluation succeeds");

    assert!(
        measured.rank_me > 1.0 && measured.rank_me <= 15.0,
        "{measured:?}"
    );
    let accuracy = measured
        .linear_probe_accuracy
        .expect("a probe was asked for");
    assert!((0.0..=1.0).contains(&accuracy), "{measured:?}");
}

#[tokio::test]
async fn an_evaluation_that_panics_reports_panicked_and_the_thread_lives_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let trainer = cpu_trainer();
    let rows = akin_core::Embeddings::new(2, vec![1.0, 0.0, 0.0, 1.0]).expect("whole rows");
    let one_label_for_two_rows = ProbeSets {
        train: rows.clone(),
        train_labels: vec![0],
        test: rows.clone(),
        test_labels: vec![0, 1],
    };

    let panicked = trainer
        .evaluate(EvalJob {
            embeddings: rows,
            probe: Some(one_label_for_two_rows),
        })
        .await;
    let after = trainer
        .run(job(tiny_config(1), dir.path().join("m.safetensors"), None))
        .await;

    assert!(
        matches!(panicked, Err(TrainError::Panicked(_))),
        "{panicked:?}"
    );
    assert!(after.is_ok(), "{after:?}");
}
