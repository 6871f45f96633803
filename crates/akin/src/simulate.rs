//! `akin simulate`: active-learning rounds in memory, answered by an oracle that reads the
//! labels, measured on Fashion-MNIST's held-out test split. No database, no server: the
//! same graph, selector and trainer as a real round.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use akin_core::select::{self, SelectionRequest};
use akin_core::{Embeddings, Graph, Strategy, Verdict, metrics};
use akin_trainer::{DeviceChoice, ImageSet, Session, TrainConfig};
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::fashion_mnist::{self, Split, SplitName};

/// kNN neighbours for the accuracy measure.
const KNN_K: usize = 20;

#[derive(Args)]
pub struct SimulateArgs {
    /// Only fashion-mnist for now.
    #[arg(long, default_value = "fashion-mnist")]
    dataset: String,
    /// Size of the training pool, stratified over the classes.
    #[arg(long, default_value_t = 2000)]
    items: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, default_value_t = 200)]
    queries_per_round: usize,
    #[arg(long, value_enum, default_value = "active")]
    strategy: SimStrategy,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// Training steps before the first round (augmentations only).
    #[arg(long, default_value_t = 300)]
    warmup_steps: usize,
    /// Training steps after each round's answers.
    #[arg(long, default_value_t = 50)]
    steps_per_round: usize,
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value = fashion_mnist::DEFAULT_DIR)]
    dataset_dir: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum SimStrategy {
    /// The exemplar strategy.
    Active,
    /// Uniform over undecided pairs.
    Passive,
}

/// One printed line.
#[derive(Serialize)]
struct RoundReport {
    round: usize,
    answers: usize,
    knn_accuracy: f64,
    label_recovery: f64,
    conflicts: usize,
    elapsed_s: f64,
}

pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    if args.dataset != "fashion-mnist" {
        bail!(
            "unknown dataset {:?}: only fashion-mnist is available",
            args.dataset
        );
    }
    let started = Instant::now();
    let train = fashion_mnist::load(&args.dataset_dir, SplitName::Train)?;
    let test = fashion_mnist::load(&args.dataset_dir, SplitName::Test)?;
    let pool = stratified_pool(&train, args.items, args.seed)?;
    let pool_labels: Vec<u8> = pool.iter().map(|&i| train.labels[i]).collect();
    let pool_images = image_set(&train, &pool)?;
    let test_images = image_set(&test, &(0..test.labels.len()).collect::<Vec<_>>())?;

    tch::set_num_threads(i32::try_from(args.threads).unwrap_or(2));
    let config = TrainConfig {
        seed: args.seed,
        ..TrainConfig::default()
    };
    let device = akin_trainer::pick_device(args.device);
    let mut session = Session::new((1, 28, 28), &config, device)?;
    let never = AtomicBool::new(false);
    session.fit(&pool_images, &[], args.warmup_steps, &never, &mut |_| {})?;

    let mut graph = Graph::new(pool.len());
    let mut asked = HashSet::new();
    let mut answers = 0;
    let measure = |session: &Session,
                   graph: &Graph,
                   round,
                   answers|
     -> anyhow::Result<RoundReport> {
        let bank = session.embed(&pool_images)?;
        let queries = session.embed(&test_images)?;
        Ok(RoundReport {
            round,
            answers,
            knn_accuracy: metrics::knn_accuracy(&bank, &pool_labels, &queries, &test.labels, KNN_K),
            label_recovery: metrics::label_recovery(graph),
            conflicts: graph.conflicts().len(),
            elapsed_s: started.elapsed().as_secs_f64(),
        })
    };
    print_report(&measure(&session, &graph, 0, 0)?, args.json);

    for round in 1..=args.rounds {
        let embeddings = session.embed(&pool_images)?;
        let choices = choose(args, &graph, &embeddings, &asked, round);
        for choice in &choices {
            let verdict = if pool_labels[choice.a] == pool_labels[choice.b] {
                Verdict::Same
            } else {
                Verdict::Different
            };
            graph.apply(choice.a, choice.b, verdict);
            asked.insert((choice.a, choice.b));
        }
        answers += choices.len();
        session.fit(
            &pool_images,
            &graph.positive_groups(),
            args.steps_per_round,
            &never,
            &mut |_| {},
        )?;
        print_report(&measure(&session, &graph, round, answers)?, args.json);
    }
    Ok(())
}

fn choose(
    args: &SimulateArgs,
    graph: &Graph,
    embeddings: &Embeddings,
    asked: &HashSet<(usize, usize)>,
    round: usize,
) -> Vec<akin_core::PairChoice> {
    let strategy = match args.strategy {
        SimStrategy::Active => Strategy::Exemplar,
        SimStrategy::Passive => Strategy::Passive,
    };
    let request = SelectionRequest {
        graph,
        embeddings,
        budget: args.queries_per_round,
        seed: args.seed.wrapping_mul(1000).wrapping_add(round as u64),
        already_asked: asked,
    };
    select::select(strategy, &request)
}

/// `items` indices of the split, the same number from each class (the remainder spread
/// over the first classes), shuffled under `seed`.
fn stratified_pool(split: &Split, items: usize, seed: u64) -> anyhow::Result<Vec<usize>> {
    if items == 0 || items > split.labels.len() {
        bail!("--items must be between 1 and {}", split.labels.len());
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let classes = fashion_mnist::CLASS_NAMES.len();
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &label) in split.labels.iter().enumerate() {
        by_class[usize::from(label)].push(i);
    }
    let mut pool = Vec::with_capacity(items);
    for (class, members) in by_class.iter_mut().enumerate() {
        members.shuffle(&mut rng);
        let take = items / classes + usize::from(class < items % classes);
        pool.extend(members.iter().take(take));
    }
    pool.shuffle(&mut rng);
    Ok(pool)
}

fn image_set(split: &Split, indices: &[usize]) -> anyhow::Result<ImageSet> {
    let pixels = indices
        .iter()
        .flat_map(|&i| split.image(i).iter().copied())
        .collect();
    ImageSet::new(1, 28, 28, pixels).context("while building the image tensor input")
}

fn print_report(report: &RoundReport, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string(report).expect("reports serialise")
        );
    } else {
        println!(
            "round {:>2}: {:>5} answers  knn_accuracy {:.4}  label_recovery {:.4}  conflicts {}  ({:.0} s)",
            report.round,
            report.answers,
            report.knn_accuracy,
            report.label_recovery,
            report.conflicts,
            report.elapsed_s
        );
    }
}
