//! `akin simulate`: active-learning rounds in memory, answered by an oracle that reads the
//! labels (and lies with probability `--noise`), measured on Fashion-MNIST's held-out test
//! split. No database, no server: the same graph, selector and trainer as a real round.
//!
//! - [`evaluate`]: the measures of one round.
//! - [`report`]: the Markdown report of `--out`.
//! - [`plot`]: its SVG plot of accuracy against answers.

mod evaluate;
mod plot;
mod report;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use akin_core::consensus::{self, AuditBudget, ConsensusSettings, Settlement, Vote};
use akin_core::select::{self, SelectionRequest};
use akin_core::{Embeddings, Graph, Strategy, Verdict, metrics};
use akin_trainer::{DeviceChoice, EncoderChoice, ImageSet, LossKind, Session, TrainConfig};
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::fashion_mnist::{self, Split, SplitName};
use evaluate::{KNN_K, Measured, RoundReport};

#[derive(Args, Clone, Debug)]
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
    /// `both` runs active, then passive, from the same start.
    #[arg(long, value_enum, default_value = "active")]
    strategy: SimStrategy,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// The loss: vicreg, simclr, barlow or spectral (the trainer's default when absent).
    #[arg(long, default_value_t = TrainConfig::default().loss)]
    loss: LossKind,
    /// Probability that the oracle flips an answer (same <-> different).
    #[arg(long, default_value_t = 0.0)]
    noise: f64,
    /// Share of each round spent re-asking settled pairs, those the model disagrees with
    /// first; the server's AKIN_AUDIT_SHARE default. Halved after each round whose audits
    /// all agreed (down to a fifth), back in full once one disagrees, doubled (up to eight
    /// times) after a round where more than a quarter disagreed.
    #[arg(long, default_value_t = 0.05)]
    audit_share: f64,
    /// Writes report.md and accuracy.svg into this folder (created when missing).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also measures kNN on raw pixels with the same bank, once, for the report.
    #[arg(long)]
    pixel_baseline: bool,
    /// Training steps before the first round (augmentations only); the service's warm-up
    /// ([`akin_trainer::WARMUP_STEPS`] says why 2000).
    #[arg(long, default_value_t = akin_trainer::WARMUP_STEPS)]
    warmup_steps: usize,
    /// Training steps after each round's answers; the service's steps a round
    /// ([`akin_trainer::ROUND_STEPS`] says why 900).
    #[arg(long, default_value_t = akin_trainer::ROUND_STEPS)]
    steps_per_round: usize,
    /// Adam's learning rate (the trainer's default when absent).
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Anchors per batch (the trainer's default when absent).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Weight of the repulsion of known negatives (the trainer's default when absent).
    #[arg(long)]
    repulsion_weight: Option<f64>,
    /// Weight of an anchor's human "same" edges together against its augmentation edge (the
    /// trainer's default when absent).
    #[arg(long)]
    human_weight: Option<f64>,
    /// Share of each batch's anchors drawn from items with a human partner (the trainer's
    /// default when absent).
    #[arg(long)]
    human_share: Option<f64>,
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value = fashion_mnist::DEFAULT_DIR)]
    dataset_dir: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SimStrategy {
    /// The exemplar strategy.
    Active,
    /// Uniform over undecided pairs.
    Passive,
    /// Active, then passive.
    Both,
}

/// The pool and the test split, as the trainer and the metrics want them.
struct Data {
    pool_images: ImageSet,
    pool_labels: Vec<u8>,
    test_images: ImageSet,
    test_labels: Vec<u8>,
}

/// Wall time spent in each part of a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    pub training: Duration,
    pub embedding: Duration,
    pub evaluation: Duration,
    pub selection: Duration,
}

/// Everything one strategy's run produced.
pub struct StrategyRun {
    pub strategy: &'static str,
    pub rounds: Vec<RoundReport>,
    pub timings: Timings,
    pub encoder: &'static str,
}

pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    if args.dataset != "fashion-mnist" {
        bail!(
            "unknown dataset {:?}: only fashion-mnist is available",
            args.dataset
        );
    }
    if !(0.0..=1.0).contains(&args.noise) {
        bail!("--noise must be a probability, not {}", args.noise);
    }
    if !(0.0..=0.5).contains(&args.audit_share) {
        bail!(
            "--audit-share must be between 0 and 0.5, not {}",
            args.audit_share
        );
    }
    let started = Instant::now();
    let data = load_data(args)?;
    tch::set_num_threads(i32::try_from(args.threads).unwrap_or(2));

    let active = (Strategy::Exemplar, "active");
    let passive = (Strategy::Passive, "passive");
    let strategies = match args.strategy {
        SimStrategy::Active => vec![active],
        SimStrategy::Passive => vec![passive],
        SimStrategy::Both => vec![active, passive],
    };
    let mut runs = Vec::new();
    for (strategy, name) in strategies {
        runs.push(run_strategy(args, &data, (strategy, name), started)?);
    }

    if let Some(dir) = &args.out {
        let baseline = if args.pixel_baseline {
            Some(pixel_knn(&data)?)
        } else {
            None
        };
        let written = report::write(
            dir,
            &report::ReportInput {
                args,
                runs: &runs,
                pixel_knn: baseline,
                total: started.elapsed(),
            },
        )?;
        eprintln!("report written to {}", written.display());
    }
    Ok(())
}

fn load_data(args: &SimulateArgs) -> anyhow::Result<Data> {
    let train = fashion_mnist::load(&args.dataset_dir, SplitName::Train)?;
    let test = fashion_mnist::load(&args.dataset_dir, SplitName::Test)?;
    let pool = stratified_pool(&train, args.items, args.seed)?;
    Ok(Data {
        pool_labels: pool.iter().map(|&i| train.labels[i]).collect(),
        pool_images: image_set(&train, &pool)?,
        test_images: image_set(&test, &(0..test.labels.len()).collect::<Vec<_>>())?,
        test_labels: test.labels,
    })
}

fn train_config(args: &SimulateArgs) -> TrainConfig {
    let defaults = TrainConfig::default();
    TrainConfig {
        seed: args.seed,
        loss: args.loss,
        encoder: EncoderChoice::Auto,
        learning_rate: args.learning_rate.unwrap_or(defaults.learning_rate),
        batch_size: args.batch_size.unwrap_or(defaults.batch_size),
        repulsion_weight: args.repulsion_weight.unwrap_or(defaults.repulsion_weight),
        human_weight: args.human_weight.unwrap_or(defaults.human_weight),
        human_share: args.human_share.unwrap_or(defaults.human_share),
        ..defaults
    }
}

/// A pair is asked again while unsettled until it has this many answers, as the server does.
const REASK_LIMIT: u32 = 5;

/// The answers given so far, and what consensus settles from them.
///
/// Each ask of a pair goes to the next annotator of a crowd whose members all lie with
/// probability `--noise`: the first ask of every pair to annotator 0, a re-ask to annotator 1,
/// and so on, so that a re-ask is an independent opinion, as on the server where a pair is
/// never asked twice of the same person.
struct Answers {
    votes: Vec<Vote>,
    /// Answers per `(min, max)` pair.
    asks: HashMap<(usize, usize), u32>,
    settlement: Settlement,
    count: usize,
    flipped: usize,
    /// Answers that were re-asks of unsettled pairs, and audits of settled ones.
    reasked: usize,
    audited: usize,
    /// Audit answers that disagreed with the verdict they checked.
    audits_overturned: usize,
    noise: ChaCha8Rng,
}

impl Answers {
    fn new(items: usize, seed: u64) -> Answers {
        Answers {
            votes: Vec::new(),
            asks: HashMap::new(),
            settlement: consensus::settle(items, &[], &[], &ConsensusSettings::default()),
            count: 0,
            flipped: 0,
            reasked: 0,
            audited: 0,
            audits_overturned: 0,
            noise: ChaCha8Rng::seed_from_u64(seed ^ 0x006e_6f69_7365),
        }
    }

    fn graph(&self) -> &Graph {
        &self.settlement.graph
    }

    /// Every pair asked so far, as `(min, max)`.
    fn asked(&self) -> HashSet<(usize, usize)> {
        self.asks.keys().copied().collect()
    }

    /// The settled "different" pairs: the trainer's known negatives.
    fn negatives(&self) -> Vec<(usize, usize)> {
        consensus::negatives(&self.settlement.settled)
    }

    /// Unsettled pairs to ask again, and then up to `audits` settled pairs, the ones the
    /// model disagrees with first; none that reached [`REASK_LIMIT`].
    fn second_opinions(&self, audits: usize, embeddings: &Embeddings, seed: u64) -> Opinions {
        let fresh = |pair: &(usize, usize)| self.asks.get(pair).copied().unwrap_or(0) < REASK_LIMIT;
        let reasks: Vec<(usize, usize)> = self
            .settlement
            .awaiting
            .iter()
            .copied()
            .filter(fresh)
            .collect();
        let audits =
            consensus::audit_pairs(&self.settlement.settled, audits, seed, Some(embeddings))
                .into_iter()
                .filter(fresh)
                .collect();
        Opinions { reasks, audits }
    }

    /// The oracle's answer, flipped with probability `noise`, added to the log and returned.
    /// The graph changes at the next [`Answers::settle`].
    fn answer(&mut self, a: usize, b: usize, labels: &[u8], noise: f64) -> Verdict {
        let truth = labels[a] == labels[b];
        let flip = noise > 0.0 && self.noise.random_bool(noise);
        let verdict = if truth != flip {
            Verdict::Same
        } else {
            Verdict::Different
        };
        let asks = self.asks.entry((a.min(b), a.max(b))).or_default();
        self.votes.push(Vote {
            a,
            b,
            verdict,
            annotator: *asks,
        });
        *asks += 1;
        self.count += 1;
        self.flipped += usize::from(flip);
        verdict
    }

    /// Settles the whole log again, as a round on the server does.
    fn settle(&mut self) {
        let items = self.settlement.graph.len();
        self.settlement = consensus::settle(items, &self.votes, &[], &ConsensusSettings::default());
    }
}

/// Pairs answered before that get another answer this round.
struct Opinions {
    reasks: Vec<(usize, usize)>,
    audits: Vec<(usize, usize)>,
}

fn run_strategy(
    args: &SimulateArgs,
    data: &Data,
    (strategy, name): (Strategy, &'static str),
    started: Instant,
) -> anyhow::Result<StrategyRun> {
    let device = akin_trainer::pick_device(args.device);
    let mut session = Session::new(data.pool_images.shape(), &train_config(args), device)?;
    let never = AtomicBool::new(false);
    let mut timings = Timings::default();
    let mut rounds = Vec::new();
    let mut answers = Answers::new(data.pool_labels.len(), args.seed);

    let clock = Instant::now();
    let mut loss = session.fit(
        &data.pool_images,
        &[],
        &[],
        args.warmup_steps,
        &never,
        &mut |_| {},
    )?;
    timings.training += clock.elapsed();
    let mut audit_budget = AuditBudget::new(AuditBudget::full_share(
        args.queries_per_round,
        args.audit_share,
    ));
    for round in 0..=args.rounds {
        if round > 0 {
            let clock = Instant::now();
            let pool = session.embed(&data.pool_images)?;
            timings.embedding += clock.elapsed();

            let clock = Instant::now();
            let seed = args.seed.wrapping_mul(1000).wrapping_add(round as u64);
            let opinions = answers.second_opinions(audit_budget.pairs, &pool, seed);
            let choices = choose(args, strategy, &answers, &pool, round, &opinions);
            for &(a, b) in &opinions.reasks {
                answers.answer(a, b, &data.pool_labels, args.noise);
            }
            let settled: HashMap<(usize, usize), Verdict> = answers
                .settlement
                .settled
                .iter()
                .map(|pair| ((pair.a, pair.b), pair.verdict))
                .collect();
            let mut overturned = 0;
            for &(a, b) in &opinions.audits {
                let verdict = answers.answer(a, b, &data.pool_labels, args.noise);
                overturned += usize::from(settled.get(&(a, b)) != Some(&verdict));
            }
            audit_budget.after_round(opinions.audits.len(), overturned);
            answers.reasked += opinions.reasks.len();
            answers.audited += opinions.audits.len();
            answers.audits_overturned += overturned;
            for choice in &choices {
                answers.answer(choice.a, choice.b, &data.pool_labels, args.noise);
            }
            answers.settle();
            timings.selection += clock.elapsed();

            let clock = Instant::now();
            let positives = answers.graph().positive_groups();
            // Each of the service's rounds trains a new session loaded from the previous
            // round's checkpoint; so does this one, apart from the random stream.
            session.restart_optimizer()?;
            loss = session.fit(
                &data.pool_images,
                &positives,
                &answers.negatives(),
                args.steps_per_round,
                &never,
                &mut |_| {},
            )?;
            timings.training += clock.elapsed();
        }
        let context = RoundContext {
            strategy: name,
            round,
            loss,
            started,
        };
        let report = measure_round(&session, data, &answers, &mut timings, &context)?;
        report.print(args.json);
        rounds.push(report);
    }
    Ok(StrategyRun {
        strategy: name,
        rounds,
        timings,
        encoder: session.encoder_name(),
    })
}

/// What a round's report needs besides the model and the answers.
struct RoundContext {
    strategy: &'static str,
    round: usize,
    loss: f64,
    started: Instant,
}

fn measure_round(
    session: &Session,
    data: &Data,
    answers: &Answers,
    timings: &mut Timings,
    context: &RoundContext,
) -> anyhow::Result<RoundReport> {
    let clock = Instant::now();
    let pool = session.embed(&data.pool_images)?;
    let test = session.embed(&data.test_images)?;
    timings.embedding += clock.elapsed();

    let clock = Instant::now();
    let measured = Measured {
        pool: &pool,
        pool_labels: &data.pool_labels,
        test: &test,
        test_labels: &data.test_labels,
    };
    let quality = evaluate::measure(&measured, answers.graph(), answers.count)?;
    timings.evaluation += clock.elapsed();
    Ok(RoundReport {
        strategy: context.strategy,
        round: context.round,
        answers: answers.count,
        quality,
        conflicts: answers.settlement.conflicts.len(),
        awaiting: answers.settlement.awaiting.len(),
        joins_held: answers.settlement.held_joins.len(),
        reasked_answers: answers.reasked,
        audit_answers: answers.audited,
        audits_overturned: answers.audits_overturned,
        flipped_answers: answers.flipped,
        loss: context.loss,
        elapsed_s: context.started.elapsed().as_secs_f64(),
    })
}

/// The strategy's pairs for what the budget leaves after the second opinions.
fn choose(
    args: &SimulateArgs,
    strategy: Strategy,
    answers: &Answers,
    embeddings: &Embeddings,
    round: usize,
    opinions: &Opinions,
) -> Vec<akin_core::PairChoice> {
    let mut taken = answers.asked();
    taken.extend(opinions.reasks.iter().chain(&opinions.audits).copied());
    let request = SelectionRequest {
        graph: answers.graph(),
        embeddings,
        budget: args
            .queries_per_round
            .saturating_sub(opinions.reasks.len() + opinions.audits.len()),
        seed: args.seed.wrapping_mul(1000).wrapping_add(round as u64),
        already_asked: &taken,
    };
    select::select(strategy, &request)
}

/// kNN accuracy of raw pixels (scaled to [0, 1]) with the whole pool as the bank.
fn pixel_knn(data: &Data) -> anyhow::Result<f64> {
    let dim = data.pool_images.image_len();
    let pool = Embeddings::from_pixels(dim, &data.pool_images.pixels)?;
    let test = Embeddings::from_pixels(dim, &data.test_images.pixels)?;
    Ok(metrics::knn_accuracy(
        &pool,
        &data.pool_labels,
        &test,
        &data.test_labels,
        KNN_K,
    ))
}

/// `items` indices of the split, the same number from each class (the remainder spread
/// over the first classes), shuffled under `seed`.
fn stratified_pool(split: &Split, items: usize, seed: u64) -> anyhow::Result<Vec<usize>> {
    if items == 0 || items > split.labels.len() {
        bail!("--items must be between 1 and {}", split.labels.len());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
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

impl RoundReport {
    fn print(&self, json: bool) {
        if json {
            println!(
                "{}",
                serde_json::to_string(self).expect("reports serialise")
            );
            return;
        }
        let optional = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{v:.3}"));
        println!(
            "{} round {:>2}: {:>5} answers  knn {:.4}  knn_recovered {:.4}  probe {:.4}  \
             rank_me {:.1}  recovery {:.4}  answers/label {}  precision {}  conflicts {}  \
             ({:.0} s)",
            self.strategy,
            self.round,
            self.answers,
            self.quality.knn_accuracy,
            self.quality.knn_accuracy_recovered,
            self.quality.linear_probe_accuracy,
            self.quality.rank_me,
            self.quality.label_recovery,
            optional(self.quality.answers_per_label),
            optional(self.quality.label_precision),
            self.conflicts,
            self.elapsed_s
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_noise_the_oracle_tells_the_truth_and_keeps_its_differences_as_negatives() {
        let labels = [0, 0, 1];
        let mut answers = Answers::new(3, 1);

        answers.answer(0, 1, &labels, 0.0);
        answers.answer(1, 2, &labels, 0.0);
        answers.settle();

        assert_eq!(answers.graph().relation(0, 1), akin_core::Relation::Same);
        assert_eq!(
            answers.graph().relation(0, 2),
            akin_core::Relation::Different
        );
        assert_eq!(answers.negatives(), [(1, 2)]);
        assert_eq!((answers.count, answers.flipped), (2, 0));
    }

    #[test]
    fn with_certain_noise_every_answer_is_flipped_and_contradictions_await_another_answer() {
        let labels = [0, 0, 1];
        let mut answers = Answers::new(3, 1);

        answers.answer(0, 2, &labels, 1.0);
        answers.answer(1, 2, &labels, 1.0);
        answers.answer(0, 1, &labels, 1.0);
        answers.settle();

        assert_eq!(answers.flipped, 3);
        let conflicts = &answers.settlement.conflicts;
        assert_eq!(
            conflicts.len(),
            1,
            "three answers about a triangle cannot all hold"
        );
        let conflict = (
            conflicts[0].a.min(conflicts[0].b),
            conflicts[0].a.max(conflicts[0].b),
        );
        assert_eq!(answers.settlement.awaiting, [conflict]);
        assert_eq!(answers.negatives().len(), usize::from(conflict != (0, 1)));
    }

    #[test]
    fn a_reask_goes_to_another_annotator_and_a_majority_overrules_a_lie() {
        let labels = [0, 1];
        let mut answers = Answers::new(2, 1);
        let pool = Embeddings::new(1, vec![1.0, 1.0]).expect("2 x 1");

        answers.answer(0, 1, &labels, 1.0);
        answers.settle();
        assert_eq!(answers.graph().relation(0, 1), akin_core::Relation::Same);
        let opinions = answers.second_opinions(1, &pool, 3);
        assert_eq!(opinions.audits, [(0, 1)]);
        answers.answer(0, 1, &labels, 0.0);
        answers.settle();
        assert_eq!(
            answers.graph().relation(0, 1),
            akin_core::Relation::Unknown,
            "one against one settles nothing"
        );
        assert_eq!(answers.second_opinions(0, &pool, 3).reasks, [(0, 1)]);
        answers.answer(0, 1, &labels, 0.0);
        answers.settle();

        let annotators: Vec<u32> = answers.votes.iter().map(|v| v.annotator).collect();
        assert_eq!(annotators, [0, 1, 2]);
        assert_eq!(
            answers.graph().relation(0, 1),
            akin_core::Relation::Different
        );
    }

    #[test]
    fn the_pool_takes_as_many_items_from_every_class() {
        let split = Split {
            images: akin_core::idx::IdxImages {
                count: 40,
                rows: 1,
                cols: 1,
                pixels: vec![0; 40],
            },
            labels: (0..40).map(|i| (i % 10) as u8).collect(),
        };

        let pool = stratified_pool(&split, 20, 3).expect("enough items");

        let mut per_class = [0; 10];
        for item in &pool {
            per_class[usize::from(split.labels[*item])] += 1;
        }
        assert_eq!(per_class, [2; 10]);
    }
}
