use akin_trainer::{ImageSet, Session, TrainConfig};
use std::sync::atomic::AtomicBool;
use tch::Device;

fn knn_accuracy(e: &akin_core::Embeddings, labels: &[u8]) -> f64 {
    let n = e.len();
    let norm: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            let r = e.row(i);
            let l = r.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            r.iter().map(|v| v / l).collect()
        })
        .collect();
    let mut right = 0;
    for i in 0..n {
        let mut best = (f32::MIN, 0);
        for j in 0..n {
            if i != j {
                let s: f32 = norm[i].iter().zip(&norm[j]).map(|(a, b)| a * b).sum();
                if s > best.0 {
                    best = (s, j);
                }
            }
        }
        if labels[best.1] == labels[i] {
            right += 1;
        }
    }
    right as f64 / n as f64
}

fn main() {
    tch::set_num_threads(1);
    let n = 3000;
    let img = std::fs::read("/tmp/fm/t10k-images-idx3-ubyte").unwrap();
    let lab = std::fs::read("/tmp/fm/t10k-labels-idx1-ubyte").unwrap();
    let images = ImageSet::new(1, 28, 28, img[16..16 + n * 784].to_vec()).unwrap();
    let labels = &lab[8..8 + n];
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let per_class: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let groups: Vec<Vec<usize>> = (0..10u8)
        .map(|c| (0..n).filter(|&i| labels[i] == c).take(per_class).collect())
        .collect();
    let groups: Vec<Vec<usize>> = if per_class == 0 { vec![] } else { groups };
    let lr: f64 = std::env::args()
        .nth(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1e-3);
    let hw: f64 = std::env::args()
        .nth(4)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let mut s = Session::new(
        (1, 28, 28),
        &TrainConfig {
            learning_rate: lr,
            human_weight: hw,
            ..TrainConfig::default()
        },
        Device::Cpu,
    )
    .unwrap();
    println!(
        "untrained knn {:.3}",
        knn_accuracy(&s.embed(&images).unwrap(), labels)
    );
    let t = std::time::Instant::now();
    let mut losses = vec![];
    let l = s
        .fit(&images, &groups, steps, &AtomicBool::new(false), &mut |p| {
            losses.push(p.loss)
        })
        .unwrap();
    println!(
        "steps {steps} per_class {per_class} loss first {:.3} last10 {l:.3} in {:.1}s",
        losses[0],
        t.elapsed().as_secs_f64()
    );
    println!(
        "trained knn {:.3}",
        knn_accuracy(&s.embed(&images).unwrap(), labels)
    );
}
