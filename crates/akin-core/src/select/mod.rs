//! Choosing the next pairs to ask.
//!
//! [`select`] runs one [`Strategy`]; [`select_mix`] splits a batch between several by a
//! [`StrategyMix`]. Every strategy returns at most `budget` pairs, each with `a < b`, none
//! twice, none that the closed graph already decides and none that was asked before. A
//! strategy returns fewer pairs when fewer are left. No strategy compares every pair of
//! items: the work grows linearly with the number of items, and the heavy loops run on a
//! few scoped threads.

mod bridging;
mod exemplar;
mod groups;
mod margin;
mod mix;
mod passive;

#[cfg(test)]
mod strategy_tests;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use crate::vector;
use crate::{Embeddings, Graph, Relation};

pub use exemplar::discovery_share;
pub use margin::separating_threshold;
pub use mix::{MixError, StrategyMix, select_mix};

/// How a pair was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The authors' strategy: ask unlabelled items against the exemplar of a class, and ask
    /// the items farthest from every exemplar to discover new classes.
    Exemplar,
    /// Uniformly random undecided pairs.
    Passive,
    /// Pairs of near neighbours whose similarity sits nearest the learned boundary between
    /// "same" and "different": the pairs the model is least sure about.
    Margin,
    /// Similar pairs across two large components of unknown relation: a "same" merges them.
    Bridging,
    /// Uniformly random undecided pairs kept aside, so that metrics can use an unbiased
    /// sample; drawn like [`Strategy::Passive`] but told apart by its name.
    Monitor,
}

impl Strategy {
    /// Every strategy, in a stable order.
    pub const ALL: [Strategy; 5] = [
        Strategy::Exemplar,
        Strategy::Passive,
        Strategy::Margin,
        Strategy::Bridging,
        Strategy::Monitor,
    ];

    /// The wire and database spelling: `exemplar`, `passive`, `margin`, `bridging` or
    /// `monitor`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Strategy::Exemplar => "exemplar",
            Strategy::Passive => "passive",
            Strategy::Margin => "margin",
            Strategy::Bridging => "bridging",
            Strategy::Monitor => "monitor",
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
    /// The strategy's score, higher first within a strategy except for margin:
    /// - [`Strategy::Exemplar`]: cosine similarity of the item to the class prototype (the
    ///   mean direction of the exemplar's component), or to the earlier probe;
    /// - [`Strategy::Margin`]: distance of the pair's cosine similarity from the boundary
    ///   (smaller is less certain, and comes first);
    /// - [`Strategy::Bridging`]: cosine similarity times the square root of the product of the
    ///   two component sizes;
    /// - [`Strategy::Passive`] and [`Strategy::Monitor`]: 0.
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
/// When a strategy that reads embeddings (all but passive and monitor) gets another number
/// of rows than the graph has items.
pub fn select(strategy: Strategy, request: &SelectionRequest) -> Vec<PairChoice> {
    let context = Context::new(request);
    run(strategy, &context, request.budget, &HashSet::new())
}

/// Runs one strategy for `budget` pairs, never choosing a pair of `excluded`.
fn run(
    strategy: Strategy,
    context: &Context,
    budget: usize,
    excluded: &HashSet<(usize, usize)>,
) -> Vec<PairChoice> {
    let mut batch = Batch::new(context, strategy, budget, excluded);
    if budget > 0 && context.roots.len() >= 2 {
        match strategy {
            Strategy::Exemplar => exemplar::fill(&mut batch),
            Strategy::Margin => margin::fill(&mut batch),
            Strategy::Bridging => bridging::fill(&mut batch),
            Strategy::Passive | Strategy::Monitor => passive::fill(&mut batch),
        }
    }
    batch.into_pairs()
}

/// What every strategy of one selection shares, computed at most once.
struct Context<'r> {
    request: &'r SelectionRequest<'r>,
    /// Component root of every item.
    roots: Vec<usize>,
    /// Whether the item is in some already-asked pair: most items are not, and for them the
    /// hash lookup is skipped.
    asked_items: Vec<bool>,
    inverse_norms: OnceLock<Vec<f32>>,
    members: OnceLock<Members>,
}

impl<'r> Context<'r> {
    fn new(request: &'r SelectionRequest<'r>) -> Self {
        let mut asked_items = vec![false; request.graph.len()];
        for &(a, b) in request.already_asked {
            for item in [a, b] {
                if let Some(slot) = asked_items.get_mut(item) {
                    *slot = true;
                }
            }
        }
        Context {
            request,
            roots: request.graph.component_ids(),
            asked_items,
            inverse_norms: OnceLock::new(),
            members: OnceLock::new(),
        }
    }

    fn graph(&self) -> &Graph {
        self.request.graph
    }

    fn relation(&self, a: usize, b: usize) -> Relation {
        self.graph().relation_of_roots(self.roots[a], self.roots[b])
    }

    fn was_asked(&self, a: usize, b: usize) -> bool {
        self.asked_items[a]
            && self.asked_items[b]
            && self.request.already_asked.contains(&(a.min(b), a.max(b)))
    }

    /// The embeddings, checked to have one row per item.
    fn embeddings(&self, strategy: Strategy) -> &Embeddings {
        let embeddings = self.request.embeddings;
        assert_eq!(
            embeddings.len(),
            self.roots.len(),
            "the {strategy} strategy needs one embedding per item of the graph"
        );
        embeddings
    }

    /// `1 / ||row||` of every embedding row (0 for zero rows).
    fn inverse_norms(&self) -> &[f32] {
        self.inverse_norms.get_or_init(|| {
            let embeddings = self.request.embeddings;
            let dim = embeddings.dim();
            let mut inverse = vec![0.0; embeddings.len()];
            vector::for_row_blocks(&mut inverse, 1, |first_row, block| {
                let rows = &embeddings.values()[first_row * dim..(first_row + block.len()) * dim];
                block.copy_from_slice(&vector::inverse_norms(rows, dim));
            });
            inverse
        })
    }

    /// Cosine similarity of two items' embeddings.
    fn cosine(&self, a: usize, b: usize) -> f32 {
        let embeddings = self.request.embeddings;
        let inverse = self.inverse_norms();
        vector::dot(embeddings.row(a), embeddings.row(b)) * inverse[a] * inverse[b]
    }

    fn members(&self) -> &Members {
        self.members.get_or_init(|| Members::new(&self.roots))
    }

    /// A seed for `strategy` derived from the request's, so that strategies that draw at
    /// random draw differently. Passive keeps the request's seed.
    fn seed_for(&self, strategy: Strategy) -> u64 {
        let index = Strategy::ALL
            .iter()
            .position(|&s| s == strategy)
            .unwrap_or(0) as u64;
        self.request
            .seed
            .wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

/// The members of every component, grouped by root (a compressed adjacency list).
struct Members {
    /// Members of root `r` are `items[start[r]..start[r + 1]]`, ascending; empty for
    /// non-roots.
    start: Vec<usize>,
    items: Vec<usize>,
}

impl Members {
    fn new(roots: &[usize]) -> Self {
        let mut start = vec![0usize; roots.len() + 1];
        for &root in roots {
            start[root + 1] += 1;
        }
        for i in 0..roots.len() {
            start[i + 1] += start[i];
        }
        let mut next = start.clone();
        let mut items = vec![0usize; roots.len()];
        for (item, &root) in roots.iter().enumerate() {
            items[next[root]] = item;
            next[root] += 1;
        }
        Members { start, items }
    }

    fn of(&self, root: usize) -> &[usize] {
        &self.items[self.start[root]..self.start[root + 1]]
    }
}

/// The pairs chosen so far by one strategy, and the rules every new one must pass.
struct Batch<'r> {
    context: &'r Context<'r>,
    strategy: Strategy,
    budget: usize,
    /// Pairs chosen by strategies that ran earlier in the same selection.
    excluded: &'r HashSet<(usize, usize)>,
    /// Whether the item is in an excluded pair, as [`Context::asked_items`].
    excluded_items: Vec<bool>,
    chosen: HashSet<(usize, usize)>,
    /// When set, at most one pair per pair of components: its answer decides the others.
    chosen_components: Option<HashSet<(usize, usize)>>,
    pairs: Vec<PairChoice>,
}

impl<'r> Batch<'r> {
    fn new(
        context: &'r Context<'r>,
        strategy: Strategy,
        budget: usize,
        excluded: &'r HashSet<(usize, usize)>,
    ) -> Self {
        let mut excluded_items = vec![false; context.roots.len()];
        for &(a, b) in excluded {
            excluded_items[a] = true;
            excluded_items[b] = true;
        }
        Batch {
            context,
            strategy,
            budget,
            excluded,
            excluded_items,
            chosen: HashSet::new(),
            chosen_components: None,
            pairs: Vec::new(),
        }
    }

    /// Allows only one pair per pair of components in this batch, counting the pairs that
    /// earlier strategies chose.
    fn one_per_component_pair(&mut self) {
        let roots = &self.context.roots;
        let taken = self
            .excluded
            .iter()
            .map(|&(a, b)| ordered(roots[a], roots[b]))
            .collect();
        self.chosen_components = Some(taken);
    }

    fn roots(&self) -> &[usize] {
        &self.context.roots
    }

    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn is_full(&self) -> bool {
        self.pairs.len() >= self.budget
    }

    /// Whether the pair may still be asked: distinct items, undecided, never asked, not
    /// chosen by an earlier strategy.
    fn is_askable(&self, a: usize, b: usize) -> bool {
        a != b
            && self.relation(a, b) == Relation::Unknown
            && !self.context.was_asked(a, b)
            && !(self.excluded_items[a]
                && self.excluded_items[b]
                && self.excluded.contains(&ordered(a, b)))
    }

    fn relation(&self, a: usize, b: usize) -> Relation {
        self.context.relation(a, b)
    }

    /// Adds the pair when the batch has room and the pair passes every rule.
    fn offer(&mut self, a: usize, b: usize, score: f32) -> bool {
        let key = ordered(a, b);
        if self.is_full() || !self.is_askable(a, b) || self.chosen.contains(&key) {
            return false;
        }
        if let Some(components) = &mut self.chosen_components {
            let roots = &self.context.roots;
            if !components.insert(ordered(roots[a], roots[b])) {
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

/// `(min, max)` of two items.
fn ordered(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}
