//! Measures the trainer's speed on Fashion-MNIST-sized input: milliseconds per training step
//! (256 anchors, most of them with a human partner, 28x28 grayscale) and milliseconds to embed
//! 10,000 images. Prints wall time and this process's CPU time, which still shows the work done
//! when other processes share the cores.
//!
//! `cargo run --release -p akin-trainer --example step_timing [threads] [cpu|cuda|auto]`

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use akin_trainer::{DeviceChoice, ImageSet, Session, TrainConfig, TrainError, pick_device};

const ITEMS: usize = 10_000;
const SIDE: usize = 28;
const WARM_UP_STEPS: usize = 3;
const TIMED_STEPS: usize = 10;

fn main() -> Result<(), TrainError> {
    let mut args = std::env::args().skip(1);
    let threads: i32 = args.next().and_then(|t| t.parse().ok()).unwrap_or(2);
    let choice = args
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or(DeviceChoice::Cpu);
    tch::set_num_threads(threads);
    let device = pick_device(choice);

    let images = noise_images();
    let positives: Vec<Vec<usize>> = (0..ITEMS / 10)
        .map(|g| (10 * g..10 * g + 10).collect())
        .collect();
    let config = TrainConfig::default();
    let mut session = Session::new(images.shape(), &config, device)?;
    let never = AtomicBool::new(false);

    session.fit(&images, &positives, &[], WARM_UP_STEPS, &never, &mut |_| {})?;
    let clock = Clock::start();
    let loss = session.fit(&images, &positives, &[], TIMED_STEPS, &never, &mut |_| {})?;
    let (step_ms, step_cpu_ms) = clock.per(TIMED_STEPS);

    let clock = Clock::start();
    let embeddings = session.embed(&images)?;
    let (embed_ms, embed_cpu_ms) = clock.per(1);

    println!(
        "device {device:?}, libtorch threads {threads}, batch {} anchors",
        config.batch_size
    );
    println!(
        "training step: {step_ms:.1} ms wall, {step_cpu_ms:.1} ms cpu \
         (mean of {TIMED_STEPS}, loss {loss:.3})"
    );
    println!(
        "embedding {} images of {SIDE}x{SIDE}: {embed_ms:.1} ms wall, {embed_cpu_ms:.1} ms cpu",
        embeddings.len()
    );
    Ok(())
}

/// Wall time and this process's CPU time (all threads) since `start`.
struct Clock {
    wall: Instant,
    cpu_ms: f64,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu_ms: process_cpu_ms(),
        }
    }

    /// Milliseconds (wall, cpu) per one of `count` repetitions.
    fn per(&self, count: usize) -> (f64, f64) {
        let wall_ms = self.wall.elapsed().as_secs_f64() * 1e3;
        let cpu_ms = process_cpu_ms() - self.cpu_ms;
        (wall_ms / count as f64, cpu_ms / count as f64)
    }
}

/// User plus system time of this process from /proc/self/stat, assuming 100 ticks a second
/// (Linux's usual USER_HZ); 0 where the file is missing.
fn process_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the file: the 12th and 13th after the name.
    (ticks(11) + ticks(12)) * 10.0
}

/// Deterministic pseudo-random pixels: timing does not depend on content.
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
