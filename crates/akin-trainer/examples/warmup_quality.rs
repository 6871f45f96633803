//! Measures what the warm-up (augmentations only, no answers) gives on Fashion-MNIST: kNN
//! accuracy (k = 20, cosine) of the backbone embedding on the test split, with a stratified
//! training pool as the bank, every few steps; and raw pixels' kNN with the same bank.
//!
//! `cargo run --release -p akin-trainer --example warmup_quality -- DIR [items] [steps]
//! [every] [key=value ...]` where DIR holds the four uncompressed IDX files and the keys
//! are `lr`, `batch`, `loss`, `crop` (smallest crop area), `noise`, `contrast`,
//! `brightness`, `flip`, `projector`, `embedding`, `seed`, `temp`, `threads`.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use akin_core::{Embeddings, idx, metrics};
use akin_trainer::augment::AugmentRanges;
use akin_trainer::{ImageSet, Session, TrainConfig};
use tch::Device;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Fallible<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = Path::new(
        args.first()
            .ok_or("usage: warmup_quality DIR [items] [steps] [every]")?,
    );
    let items: usize = args.get(1).map_or(Ok(2000), |a| a.parse())?;
    let steps: usize = args.get(2).map_or(Ok(300), |a| a.parse())?;
    let every: usize = args.get(3).map_or(Ok(100), |a| a.parse())?;
    let mut config = TrainConfig::default();
    let mut ranges = AugmentRanges::default();
    let mut threads = 2;
    for setting in args.iter().skip(4) {
        let (key, value) = setting.split_once('=').ok_or("settings are key=value")?;
        match key {
            "lr" => config.learning_rate = value.parse()?,
            "batch" => config.batch_size = value.parse()?,
            "loss" => config.loss = value.parse()?,
            "projector" => config.projector_dim = value.parse()?,
            "embedding" => config.embedding_dim = value.parse()?,
            "seed" => config.seed = value.parse()?,
            "temp" => config.temperature = value.parse()?,
            "threads" => threads = value.parse()?,
            "crop" => ranges.min_crop_area = value.parse()?,
            "noise" => ranges.noise_std = value.parse()?,
            "contrast" => ranges.contrast = value.parse()?,
            "brightness" => ranges.brightness = value.parse()?,
            "flip" => ranges.flip_probability = value.parse()?,
            _ => return Err(format!("unknown setting {key}").into()),
        }
    }
    tch::set_num_threads(threads);

    let (train_images, train_labels) = load(dir, "train")?;
    let (test_images, test_labels) = load(dir, "t10k")?;
    let pool = stratified(&train_labels, items);
    let pool_labels: Vec<u8> = pool.iter().map(|&i| train_labels[i]).collect();
    let pool_images = subset(&train_images, &pool)?;
    let all: Vec<usize> = (0..test_labels.len()).collect();
    let test_set = subset(&test_images, &all)?;

    let pixels = |set: &ImageSet| Embeddings::from_pixels(set.image_len(), &set.pixels);
    let raw = metrics::knn_accuracy(
        &pixels(&pool_images)?,
        &pool_labels,
        &pixels(&test_set)?,
        &test_labels,
        20,
    );
    println!("raw pixels: knn {raw:.4} ({items} items)");

    let mut session = Session::new(pool_images.shape(), &config, Device::Cpu)?;
    session.set_augment_ranges(ranges);
    let never = AtomicBool::new(false);
    let started = Instant::now();
    let mut done = 0;
    while done < steps {
        let chunk = every.min(steps - done);
        let loss = session.fit(&pool_images, &[], &[], chunk, &never, &mut |_| {})?;
        done += chunk;
        let train_s = started.elapsed().as_secs_f64();
        let bank = session.embed(&pool_images)?;
        let queries = session.embed(&test_set)?;
        let knn = metrics::knn_accuracy(&bank, &pool_labels, &queries, &test_labels, 20);
        let rank = akin_trainer::eval::rank_me(&bank)?;
        println!("step {done}: knn {knn:.4} rank_me {rank:.1} loss {loss:.3} ({train_s:.0} s)");
    }
    Ok(())
}

fn load(dir: &Path, prefix: &str) -> Fallible<(idx::IdxImages, Vec<u8>)> {
    let images = idx::parse_images(&std::fs::read(
        dir.join(format!("{prefix}-images-idx3-ubyte")),
    )?)?;
    let labels = idx::parse_labels(&std::fs::read(
        dir.join(format!("{prefix}-labels-idx1-ubyte")),
    )?)?;
    Ok((images, labels))
}

/// The first `items / 10` images of each class, in file order.
fn stratified(labels: &[u8], items: usize) -> Vec<usize> {
    let per_class = items / 10;
    let mut taken = [0usize; 10];
    let mut pool = Vec::with_capacity(items);
    for (i, &label) in labels.iter().enumerate() {
        let slot = &mut taken[usize::from(label)];
        if *slot < per_class {
            *slot += 1;
            pool.push(i);
        }
    }
    pool
}

fn subset(images: &idx::IdxImages, indices: &[usize]) -> Fallible<ImageSet> {
    let size = images.rows * images.cols;
    let pixels = indices
        .iter()
        .flat_map(|&i| images.pixels[i * size..(i + 1) * size].iter().copied())
        .collect();
    Ok(ImageSet::new(1, images.rows, images.cols, pixels)?)
}
