use akin_trainer::augment::{AugmentRanges, augment};
use akin_trainer::model::Network;
use akin_trainer::{Edge, VicregWeights, vicreg_loss};
use std::time::Instant;
use tch::{Device, Kind, Tensor, nn, nn::OptimizerConfig};

fn time<F: FnMut()>(name: &str, mut f: F) {
    f();
    let t = Instant::now();
    for _ in 0..5 {
        f();
    }
    println!("{name}: {:.1} ms", t.elapsed().as_secs_f64() * 200.0);
}

fn main() {
    tch::set_num_threads(2);
    let x = Tensor::rand([640, 1, 28, 28], (Kind::Float, Device::Cpu));
    time("augment", || {
        let _ = augment(&x, &AugmentRanges::default());
    });
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), (1, 28, 28), 128, 256).unwrap();
    let mut opt = nn::adamw(0.9, 0.999, 1e-4).build(&vs, 1e-3).unwrap();
    let edges: Vec<Edge> = (0..256)
        .map(|a| Edge {
            left: a,
            right: a + 256,
            weight: 1.0,
            anchor: a,
        })
        .collect();
    time("encoder fwd eval", || {
        tch::no_grad(|| {
            let _ = net.encoder.forward_t(&x, false);
        });
    });
    time("encoder fwd train", || {
        let _ = net.encoder.forward_t(&x, true);
    });
    time("project train", || {
        let _ = net.project_for_training(&x);
    });
    time("project + loss", || {
        let z = net.project_for_training(&x);
        let _ = vicreg_loss(&z, &edges, &VicregWeights::default());
    });
    time("project + loss + backward", || {
        opt.zero_grad();
        let z = net.project_for_training(&x);
        let (l, _) = vicreg_loss(&z, &edges, &VicregWeights::default());
        l.backward();
    });
    time("encoder mean backward", || {
        opt.zero_grad();
        let z = net.encoder.forward_t(&x, true);
        z.mean(None).backward();
    });
    time("opt step", || {
        opt.step();
    });
}
