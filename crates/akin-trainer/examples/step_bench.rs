//! One side of `bench/step-vs-pytorch`: times training steps of the default encoder and
//! loss (the small CNN and graph VICReg, 256 anchors of 28x28 grayscale, two augmented
//! views each, no human partners) and prints one `step_ms=<ms>` line per timed step.
//!
//! `cargo run --release -p akin-trainer --example step_bench -- [steps] [warm-up] [threads]`

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use akin_trainer::{ImageSet, Session, TrainConfig, TrainError};
use tch::Device;

const ITEMS: usize = 10_000;
const SIDE: usize = 28;

fn main() -> Result<(), TrainError> {
    let mut args = std::env::args().skip(1);
    let mut next = |default: usize| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let (steps, warm_up, threads) = (next(10), next(3), next(2));
    tch::set_num_threads(i32::try_from(threads).unwrap_or(2));

    let images = noise_images();
    let config = TrainConfig::default();
    let mut session = Session::new(images.shape(), &config, Device::Cpu)?;
    let never = AtomicBool::new(false);
    session.fit(&images, &[], &[], warm_up, &never, &mut |_| {})?;
    for _ in 0..steps {
        let clock = Instant::now();
        session.fit(&images, &[], &[], 1, &never, &mut |_| {})?;
        println!("step_ms={:.3}", clock.elapsed().as_secs_f64() * 1e3);
    }
    Ok(())
}

/// Deterministic pseudo-random pixels: the step's cost does not depend on them.
fn noise_images() -> ImageSet {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let pixels = (0..ITEMS * SIDE * SIDE)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect();
    ImageSet::new(1, SIDE, SIDE, pixels).expect("whole images")
}
