//! `akin bench`: times the real core code on seeded synthetic data, with no database and
//! no model.
//!
//! - `akin bench selection`: choosing pairs from clustered embeddings, after an exemplar run
//!   has labelled some items.
//! - `akin bench graph`: rebuilding the graph from an answer log.
//! - `akin bench consensus`: settling a vote log of several annotators.
//!
//! Each prints a few human lines on stderr and one JSON object on stdout (its last line),
//! with the parameters and `elapsed_ms`: the median of `--repeat` timed runs. Building the
//! synthetic data is not timed.

use std::collections::HashSet;
use std::time::Instant;

use akin_core::consensus::{self, ConsensusSettings};
use akin_core::select::{self, SelectionRequest};
use akin_core::{Graph, Strategy, StrategyMix, synthetic};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

#[derive(Subcommand, Clone, Debug)]
pub enum BenchCommand {
    /// Time choosing pairs from clustered synthetic embeddings.
    Selection(SelectionArgs),
    /// Time rebuilding the graph from a synthetic answer log.
    Graph(GraphArgs),
    /// Time settling a synthetic vote log of several annotators.
    Consensus(ConsensusArgs),
}

#[derive(Args, Clone, Debug)]
pub struct SelectionArgs {
    /// Items (embedding rows).
    #[arg(long, default_value_t = 60_000)]
    items: usize,
    /// Embedding dimension.
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Pairs to choose.
    #[arg(long, default_value_t = 1000)]
    pairs: usize,
    /// One strategy, or `mix` for the default mix.
    #[arg(long, value_enum, default_value = "mix")]
    strategy: BenchStrategy,
    /// Hidden classes of the synthetic items.
    #[arg(long, default_value_t = 10)]
    classes: u8,
    /// Answers already given (an exemplar run's log), all counted as asked.
    #[arg(long, default_value_t = 10_000)]
    answers: usize,
    /// Noise around each class centre, per coordinate.
    #[arg(long, default_value_t = 1.0)]
    spread: f32,
    /// Timed runs; `elapsed_ms` is their median.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchStrategy {
    Exemplar,
    Passive,
    Margin,
    Bridging,
    Monitor,
    Mix,
}

impl BenchStrategy {
    fn single(self) -> Option<Strategy> {
        match self {
            BenchStrategy::Exemplar => Some(Strategy::Exemplar),
            BenchStrategy::Passive => Some(Strategy::Passive),
            BenchStrategy::Margin => Some(Strategy::Margin),
            BenchStrategy::Bridging => Some(Strategy::Bridging),
            BenchStrategy::Monitor => Some(Strategy::Monitor),
            BenchStrategy::Mix => None,
        }
    }

    fn name(self) -> &'static str {
        self.single().map_or("mix", |strategy| strategy.as_str())
    }
}

#[derive(Args, Clone, Debug)]
pub struct GraphArgs {
    /// Answers in the log.
    #[arg(long, default_value_t = 1_000_000)]
    answers: usize,
    /// Items the answers are about.
    #[arg(long, default_value_t = 100_000)]
    items: usize,
    /// Hidden classes of the items.
    #[arg(long, default_value_t = 10)]
    classes: u8,
    /// Share of answers about a pair drawn inside one class (the rest are uniform pairs).
    #[arg(long, default_value_t = 0.3)]
    same_share: f64,
    /// Probability that an answer is wrong (same <-> different), making conflicts.
    #[arg(long, default_value_t = 0.0)]
    wrong_share: f64,
    /// Timed runs; `elapsed_ms` is their median.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args, Clone, Debug)]
pub struct ConsensusArgs {
    /// Votes in the log.
    #[arg(long, default_value_t = 300_000)]
    votes: usize,
    /// Distinct annotators per pair.
    #[arg(long, default_value_t = 3)]
    votes_per_pair: usize,
    /// Items the votes are about.
    #[arg(long, default_value_t = 100_000)]
    items: usize,
    /// Annotators; annotator k errs with probability wrong_share x (k + 1) / annotators.
    #[arg(long, default_value_t = 20)]
    annotators: u32,
    #[arg(long, default_value_t = 0.2)]
    wrong_share: f64,
    /// Hidden classes of the items.
    #[arg(long, default_value_t = 10)]
    classes: u8,
    /// Timed runs; `elapsed_ms` is their median.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(command: &BenchCommand) -> anyhow::Result<()> {
    let report = match command {
        BenchCommand::Selection(args) => selection(args)?,
        BenchCommand::Graph(args) => graph(args)?,
        BenchCommand::Consensus(args) => consensus(args)?,
    };
    println!("{report}");
    Ok(())
}

fn selection(args: &SelectionArgs) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(args.dim > 0, "--dim must be positive");
    let started = Instant::now();
    let data = synthetic::clustered(args.items, args.dim, args.classes, args.spread, args.seed);
    let log = synthetic::exemplar_log(&data.labels, args.answers, args.seed ^ 1);
    let graph = Graph::from_answers(args.items, log.iter().copied());
    let asked: HashSet<(usize, usize)> =
        log.iter().map(|&(a, b, _)| (a.min(b), a.max(b))).collect();
    let setup_ms = millis(started);
    eprintln!(
        "{} items x {} dims in {} classes, {} answers ({} components, {} classes known): \
         built in {setup_ms:.0} ms",
        args.items,
        args.dim,
        args.classes,
        log.len(),
        graph.component_count(),
        graph.classes().len(),
    );

    let request = SelectionRequest {
        graph: &graph,
        embeddings: &data.embeddings,
        budget: args.pairs,
        seed: args.seed,
        already_asked: &asked,
    };
    let mix = StrategyMix::default();
    let (runs_ms, chosen) = timed(args.repeat, || match args.strategy.single() {
        Some(strategy) => select::select(strategy, &request),
        None => select::select_mix(&mix, &request),
    });

    let mut by_strategy = serde_json::Map::new();
    for strategy in Strategy::ALL {
        let count = chosen.iter().filter(|p| p.strategy == strategy).count();
        if count > 0 {
            by_strategy.insert(strategy.as_str().to_owned(), count.into());
        }
    }
    let elapsed_ms = median(&runs_ms);
    eprintln!(
        "chose {} of {} pairs with {}: median {elapsed_ms:.1} ms over {} runs",
        chosen.len(),
        args.pairs,
        args.strategy.name(),
        runs_ms.len(),
    );
    Ok(json!({
        "bench": "selection",
        "items": args.items,
        "dim": args.dim,
        "pairs": args.pairs,
        "strategy": args.strategy.name(),
        "classes": args.classes,
        "answers": log.len(),
        "seed": args.seed,
        "chosen": chosen.len(),
        "by_strategy": by_strategy,
        "setup_ms": round(setup_ms),
        "runs_ms": runs_ms.iter().map(|&ms| round(ms)).collect::<Vec<_>>(),
        "elapsed_ms": round(elapsed_ms),
    }))
}

fn graph(args: &GraphArgs) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(args.items >= 2, "--items must be at least 2");
    let started = Instant::now();
    let labels = synthetic::clustered(args.items, 1, args.classes, 0.0, args.seed).labels;
    let log = synthetic::answer_log(
        &labels,
        args.answers,
        args.same_share,
        args.wrong_share,
        args.seed ^ 1,
    );
    let setup_ms = millis(started);
    let same = log
        .iter()
        .filter(|answer| answer.2 == akin_core::Verdict::Same)
        .count();
    eprintln!(
        "{} answers ({same} same) about {} items in {} classes: generated in {setup_ms:.0} ms",
        log.len(),
        args.items,
        args.classes,
    );

    let (runs_ms, graph) = timed(args.repeat, || {
        Graph::from_answers(args.items, log.iter().copied())
    });

    let elapsed_ms = median(&runs_ms);
    let (components, conflicts) = (graph.component_count(), graph.conflicts().len());
    eprintln!(
        "rebuilt the graph: {components} components, {conflicts} conflicts; \
         median {elapsed_ms:.1} ms over {} runs",
        runs_ms.len(),
    );
    Ok(json!({
        "bench": "graph",
        "answers": log.len(),
        "items": args.items,
        "classes": args.classes,
        "same_share": args.same_share,
        "wrong_share": args.wrong_share,
        "seed": args.seed,
        "components": components,
        "conflicts": conflicts,
        "setup_ms": round(setup_ms),
        "runs_ms": runs_ms.iter().map(|&ms| round(ms)).collect::<Vec<_>>(),
        "elapsed_ms": round(elapsed_ms),
    }))
}

fn consensus(args: &ConsensusArgs) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(args.items >= 2, "--items must be at least 2");
    anyhow::ensure!(args.votes_per_pair > 0, "--votes-per-pair must be positive");
    let started = Instant::now();
    let labels = synthetic::clustered(args.items, 1, args.classes, 0.0, args.seed).labels;
    let votes = synthetic::vote_log(
        &labels,
        args.votes / args.votes_per_pair,
        args.votes_per_pair,
        args.annotators,
        args.wrong_share,
        args.seed ^ 1,
    );
    let setup_ms = millis(started);
    eprintln!(
        "{} votes by {} annotators about {} items: generated in {setup_ms:.0} ms",
        votes.len(),
        args.annotators,
        args.items,
    );

    let settings = ConsensusSettings::default();
    let (runs_ms, settlement) = timed(args.repeat, || {
        consensus::settle(args.items, &votes, &[], &settings)
    });

    let elapsed_ms = median(&runs_ms);
    let wrong = settlement
        .settled
        .iter()
        .filter(|pair| pair.verdict != synthetic::true_verdict(&labels, pair.a, pair.b))
        .count();
    eprintln!(
        "settled {} pairs ({wrong} wrong), {} awaiting, {} conflicts; \
         median {elapsed_ms:.1} ms over {} runs",
        settlement.settled.len(),
        settlement.awaiting.len(),
        settlement.conflicts.len(),
        runs_ms.len(),
    );
    Ok(json!({
        "bench": "consensus",
        "votes": votes.len(),
        "votes_per_pair": args.votes_per_pair,
        "items": args.items,
        "annotators": args.annotators,
        "wrong_share": args.wrong_share,
        "seed": args.seed,
        "settled": settlement.settled.len(),
        "settled_wrong": wrong,
        "awaiting": settlement.awaiting.len(),
        "conflicts": settlement.conflicts.len(),
        "setup_ms": round(setup_ms),
        "runs_ms": runs_ms.iter().map(|&ms| round(ms)).collect::<Vec<_>>(),
        "elapsed_ms": round(elapsed_ms),
    }))
}

/// Runs `work` `repeat` times (at least once); returns each run's milliseconds and the last
/// result.
fn timed<T>(repeat: usize, mut work: impl FnMut() -> T) -> (Vec<f64>, T) {
    let mut runs_ms = Vec::new();
    loop {
        let started = Instant::now();
        let result = std::hint::black_box(work());
        runs_ms.push(millis(started));
        if runs_ms.len() >= repeat.max(1) {
            return (runs_ms, result);
        }
    }
}

fn millis(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Milliseconds to one decimal, for reading.
fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}
