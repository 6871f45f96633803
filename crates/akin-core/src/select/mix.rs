//! Several strategies in one batch, each with its share of the budget.

use std::collections::HashSet;

use super::{Context, PairChoice, SelectionRequest, Strategy, run};

/// The strategies in the order a mixed batch lists them.
const LISTING_ORDER: [Strategy; 5] = [
    Strategy::Exemplar,
    Strategy::Margin,
    Strategy::Bridging,
    Strategy::Monitor,
    Strategy::Passive,
];

/// How a project splits each batch between the strategies.
///
/// Weights are relative: they need not sum to 1, and a field left out of the JSON is 0. The
/// default, `{"exemplar": 0.7, "margin": 0.1, "bridging": 0.1, "monitor": 0.1}`, spends most
/// of a batch on the authors' exemplar strategy, which is what makes answers cheap; a tenth on
/// uncertain pairs near the boundary; a tenth on pairs that may merge large components; and
/// a tenth on uniformly random pairs kept aside for unbiased monitoring.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyMix {
    /// Weight of [`Strategy::Exemplar`].
    #[serde(default)]
    pub exemplar: f64,
    /// Weight of [`Strategy::Margin`].
    #[serde(default)]
    pub margin: f64,
    /// Weight of [`Strategy::Bridging`].
    #[serde(default)]
    pub bridging: f64,
    /// Weight of [`Strategy::Monitor`].
    #[serde(default)]
    pub monitor: f64,
    /// Weight of [`Strategy::Passive`].
    #[serde(default)]
    pub passive: f64,
}

impl Default for StrategyMix {
    fn default() -> Self {
        StrategyMix {
            exemplar: 0.7,
            margin: 0.1,
            bridging: 0.1,
            monitor: 0.1,
            passive: 0.0,
        }
    }
}

/// A mix that cannot split a batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MixError {
    /// A weight is negative, infinite or not a number.
    #[error("the weight of {strategy} must be a finite number >= 0, not {weight}")]
    BadWeight {
        /// The strategy whose weight is wrong.
        strategy: Strategy,
        /// The weight given.
        weight: f64,
    },
    /// Every weight is 0.
    #[error("at least one strategy needs a weight above 0")]
    AllZero,
}

impl StrategyMix {
    /// A mix that gives the whole batch to one strategy.
    pub fn only(strategy: Strategy) -> Self {
        let mut mix = StrategyMix {
            exemplar: 0.0,
            margin: 0.0,
            bridging: 0.0,
            monitor: 0.0,
            passive: 0.0,
        };
        *mix.weight_mut(strategy) = 1.0;
        mix
    }

    /// The weight given to `strategy`.
    pub fn weight(&self, strategy: Strategy) -> f64 {
        match strategy {
            Strategy::Exemplar => self.exemplar,
            Strategy::Margin => self.margin,
            Strategy::Bridging => self.bridging,
            Strategy::Monitor => self.monitor,
            Strategy::Passive => self.passive,
        }
    }

    fn weight_mut(&mut self, strategy: Strategy) -> &mut f64 {
        match strategy {
            Strategy::Exemplar => &mut self.exemplar,
            Strategy::Margin => &mut self.margin,
            Strategy::Bridging => &mut self.bridging,
            Strategy::Monitor => &mut self.monitor,
            Strategy::Passive => &mut self.passive,
        }
    }

    /// Checks that every weight is finite and `>= 0`, and that one is above 0.
    pub fn validate(&self) -> Result<(), MixError> {
        for strategy in LISTING_ORDER {
            let weight = self.weight(strategy);
            if !weight.is_finite() || weight < 0.0 {
                return Err(MixError::BadWeight { strategy, weight });
            }
        }
        if LISTING_ORDER.iter().all(|&s| self.weight(s) == 0.0) {
            return Err(MixError::AllZero);
        }
        Ok(())
    }

    /// The weight used to split a batch: a weight that [`StrategyMix::validate`] refuses
    /// counts as 0.
    fn usable_weight(&self, strategy: Strategy) -> f64 {
        let weight = self.weight(strategy);
        if weight.is_finite() && weight > 0.0 {
            weight
        } else {
            0.0
        }
    }

    /// How many pairs of a batch of `budget` each strategy gets, in listing order (exemplar,
    /// margin, bridging, monitor, passive), by the largest-remainder method: every strategy
    /// gets the whole part of its share, and the pairs left over go to the largest fractional
    /// parts (equal ones in listing order). The quotas sum to `budget`, or to 0 when no weight
    /// is usable.
    pub fn quotas(&self, budget: usize) -> Vec<(Strategy, usize)> {
        let total: f64 = LISTING_ORDER.iter().map(|&s| self.usable_weight(s)).sum();
        if total <= 0.0 {
            return LISTING_ORDER.iter().map(|&s| (s, 0)).collect();
        }

        let exact: Vec<f64> = LISTING_ORDER
            .iter()
            .map(|&s| budget as f64 * self.usable_weight(s) / total)
            .collect();
        let mut quotas: Vec<usize> = exact.iter().map(|share| share.floor() as usize).collect();
        let mut by_remainder: Vec<usize> = (0..LISTING_ORDER.len()).collect();
        by_remainder.sort_by(|&x, &y| {
            let remainder = |i: usize| exact[i] - exact[i].floor();
            remainder(y).total_cmp(&remainder(x)).then(x.cmp(&y))
        });
        let left_over = budget.saturating_sub(quotas.iter().sum());
        for &i in by_remainder.iter().take(left_over) {
            quotas[i] += 1;
        }

        LISTING_ORDER.iter().copied().zip(quotas).collect()
    }
}

/// Chooses up to `request.budget` pairs, split between strategies by `mix`.
///
/// Every strategy gets its [`StrategyMix::quotas`] and never a pair that another strategy
/// chose. The random strategies (monitor, passive) run first, so that their sample stays
/// uniform over the undecided pairs; then exemplar, margin and bridging. When some come back
/// short, the strategies with a weight above 0 that filled their quota fill the gap, the
/// heaviest first. The batch lists the pairs grouped by strategy in listing order, each
/// strategy's pairs in the order it chose them. A mix with no usable weight chooses nothing.
///
/// # Panics
/// As [`super::select`], when a strategy that reads embeddings runs on embeddings with
/// another number of rows than the graph has items.
pub fn select_mix(mix: &StrategyMix, request: &SelectionRequest) -> Vec<PairChoice> {
    let context = Context::new(request);
    let quotas = mix.quotas(request.budget);
    let run_order = [
        Strategy::Monitor,
        Strategy::Passive,
        Strategy::Exemplar,
        Strategy::Margin,
        Strategy::Bridging,
    ];

    let mut chosen = HashSet::new();
    let mut pairs = Vec::with_capacity(request.budget);
    let mut came_short = Vec::new();
    for strategy in run_order {
        let quota = quotas
            .iter()
            .find(|(s, _)| *s == strategy)
            .map_or(0, |&(_, quota)| quota);
        if quota == 0 {
            continue;
        }
        let found = run(strategy, &context, quota, &chosen);
        if found.len() < quota {
            came_short.push(strategy);
        }
        add(&mut pairs, &mut chosen, found);
    }

    let mut fillers: Vec<Strategy> = LISTING_ORDER
        .into_iter()
        .filter(|&s| mix.usable_weight(s) > 0.0 && !came_short.contains(&s))
        .collect();
    fillers.sort_by(|&x, &y| mix.weight(y).total_cmp(&mix.weight(x)));
    for strategy in fillers {
        let missing = request.budget - pairs.len();
        if missing == 0 {
            break;
        }
        let found = run(strategy, &context, missing, &chosen);
        add(&mut pairs, &mut chosen, found);
    }

    pairs.sort_by_key(|pair| LISTING_ORDER.iter().position(|&s| s == pair.strategy));
    pairs
}

fn add(pairs: &mut Vec<PairChoice>, chosen: &mut HashSet<(usize, usize)>, found: Vec<PairChoice>) {
    chosen.extend(found.iter().map(|pair| (pair.a, pair.b)));
    pairs.extend(found);
}
