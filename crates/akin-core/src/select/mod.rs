//! Choosing the next pairs to ask.
//!
//! Every strategy returns at most `budget` pairs, each with `a < b`, none twice, none that
//! the closed graph already decides and none that was asked before. A strategy returns fewer
//! pairs when fewer are left.

mod exemplar;
mod passive;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use crate::{Embeddings, Graph, Relation};

pub use exemplar::discovery_share;

/// How a pair was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The authors' strategy: ask unlabelled items against the exemplar of a class, and ask
    /// the items farthest from every exemplar to discover new classes.
    Exemplar,
    /// Uniformly random undecided pairs, an unbiased sample for monitoring.
    Passive,
}

impl Strategy {
    /// Every strategy, in a stable order.
    pub const ALL: [Strategy; 2] = [Strategy::Exemplar, Strategy::Passive];

    /// The wire and database spelling: `exemplar` or `passive`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Strategy::Exemplar => "exemplar",
            Strategy::Passive => "passive",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the spellings of [`Strategy::as_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown strategy {input:?}: expected one of {}",
    expected_strategies()
)]
pub struct ParseStrategyError {
    /// The string that was given.
    pub input: String,
}

fn expected_strategies() -> String {
    let names: Vec<&str> = Strategy::ALL.iter().map(Strategy::as_str).collect();
    names.join(", ")
}

impl FromStr for Strategy {
    type Err = ParseStrategyError;

    /// Parses the exact spellings of [`Strategy::as_str`].
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|strategy| strategy.as_str() == input)
            .ok_or_else(|| ParseStrategyError {
                input: input.to_owned(),
            })
    }
}

/// One pair to ask, `a < b`.
#[derive(Clone, Debug, PartialEq)]
pub struct PairChoice {
    /// The smaller item.
    pub a: usize,
    /// The larger item.
    pub b: usize,
    /// The strategy that chose the pair.
    pub strategy: Strategy,
    /// The strategy's score: cosine similarity for [`Strategy::Exemplar`], 0 for passive.
    pub score: f32,
}

/// Everything a strategy may look at.
pub struct SelectionRequest<'a> {
    /// The closed graph of the answers so far.
    pub graph: &'a Graph,
    /// One row per item of the graph, from the current model (or raw pixels).
    pub embeddings: &'a Embeddings,
    /// The most pairs to return.
    pub budget: usize,
    /// Seed of the random choices, so that a batch can be reproduced.
    pub seed: u64,
    /// `(min, max)` pairs that are pending or were asked: never asked again.
    pub already_asked: &'a HashSet<(usize, usize)>,
}

/// Chooses up to `request.budget` pairs with `strategy`.
///
/// # Panics
/// When [`Strategy::Exemplar`] gets embeddings with another number of rows than the graph
/// has items.
pub fn select(strategy: Strategy, request: &SelectionRequest) -> Vec<PairChoice> {
    match strategy {
        Strategy::Exemplar => exemplar::select(request),
        Strategy::Passive => passive::select(request),
    }
}

/// The pairs chosen so far, and the rules every new one must pass.
struct Batch<'r> {
    request: &'r SelectionRequest<'r>,
    strategy: Strategy,
    /// Component root of every item.
    roots: Vec<usize>,
    chosen: HashSet<(usize, usize)>,
    /// When set, at most one pair per pair of components: its answer decides the others.
    chosen_components: Option<HashSet<(usize, usize)>>,
    pairs: Vec<PairChoice>,
}

impl<'r> Batch<'r> {
    fn new(request: &'r SelectionRequest<'r>, strategy: Strategy) -> Self {
        Batch {
            request,
            strategy,
            roots: request.graph.component_ids(),
            chosen: HashSet::new(),
            chosen_components: None,
            pairs: Vec::new(),
        }
    }

    /// Allows only one pair per pair of components in this batch.
    fn one_per_component_pair(mut self) -> Self {
        self.chosen_components = Some(HashSet::new());
        self
    }

    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn is_full(&self) -> bool {
        self.pairs.len() >= self.request.budget
    }

    /// Whether the pair may still be asked: distinct items, undecided, never asked.
    fn is_askable(&self, a: usize, b: usize) -> bool {
        let key = (a.min(b), a.max(b));
        a != b
            && self.relation(a, b) == Relation::Unknown
            && !self.request.already_asked.contains(&key)
    }

    fn relation(&self, a: usize, b: usize) -> Relation {
        self.request
            .graph
            .relation_of_roots(self.roots[a], self.roots[b])
    }

    /// Adds the pair when the batch has room and the pair passes every rule.
    fn offer(&mut self, a: usize, b: usize, score: f32) -> bool {
        let key = (a.min(b), a.max(b));
        if self.is_full() || !self.is_askable(a, b) || self.chosen.contains(&key) {
            return false;
        }
        if let Some(components) = &mut self.chosen_components {
            let (root_a, root_b) = (self.roots[a], self.roots[b]);
            if !components.insert((root_a.min(root_b), root_a.max(root_b))) {
                return false;
            }
        }

        self.chosen.insert(key);
        self.pairs.push(PairChoice {
            a: key.0,
            b: key.1,
            strategy: self.strategy,
            score,
        });
        true
    }

    fn into_pairs(self) -> Vec<PairChoice> {
        self.pairs
    }
}
