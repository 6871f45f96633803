//! Passive and monitor selection: undecided pairs drawn uniformly at random with a seeded
//! ChaCha RNG.
//!
//! Three samplers, chosen by the shape of the problem:
//! - few items: list every askable pair and draw from the list, so the batch is exactly
//!   `min(budget, askable pairs)` long;
//! - few components: draw a pair of undecided components weighted by the product of their
//!   sizes, then one member of each, which stays efficient when most pairs are decided;
//! - many components: draw two items and keep the pair when it is askable.
//!
//! The last two draw a bounded number of times, so at large scale a batch can come back
//! short when nearly every undecided pair has already been asked.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Batch;
use crate::Relation;

/// Up to this many pairs of items, every askable pair is listed.
const EXHAUSTIVE_PAIR_LIMIT: usize = 1 << 21;

/// Up to this many components, pairs of components are listed.
const COMPONENT_LIMIT: usize = 2048;

/// Draws per requested pair before a sampler gives up, plus a fixed allowance.
const DRAWS_PER_PAIR: usize = 64;
const EXTRA_DRAWS: usize = 10_000;

/// Fills the batch with uniformly drawn askable pairs, for
/// [`Strategy::Passive`](super::Strategy::Passive) and
/// [`Strategy::Monitor`](super::Strategy::Monitor) alike.
pub(super) fn fill(batch: &mut Batch) {
    let n = batch.roots().len();
    let mut rng = ChaCha8Rng::seed_from_u64(batch.context.seed_for(batch.strategy));

    if n * (n - 1) / 2 <= EXHAUSTIVE_PAIR_LIMIT {
        draw_from_all_pairs(batch, &mut rng);
    } else if batch.context.graph().component_count() <= COMPONENT_LIMIT {
        draw_by_components(batch, &mut rng);
    } else {
        draw_by_items(batch, &mut rng);
    }
}

fn draw_from_all_pairs(batch: &mut Batch, rng: &mut ChaCha8Rng) {
    let n = batch.roots().len();
    let mut askable: Vec<(usize, usize)> = (0..n)
        .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
        .filter(|&(a, b)| batch.is_askable(a, b))
        .collect();

    for i in 0..askable.len() {
        if batch.is_full() {
            break;
        }
        let j = rng.random_range(i..askable.len());
        askable.swap(i, j);
        let (a, b) = askable[i];
        batch.offer(a, b, 0.0);
    }
}

fn draw_by_items(batch: &mut Batch, rng: &mut ChaCha8Rng) {
    let n = batch.roots().len();
    for _ in 0..draw_allowance(batch) {
        if batch.is_full() {
            break;
        }
        batch.offer(rng.random_range(0..n), rng.random_range(0..n), 0.0);
    }
}

fn draw_by_components(batch: &mut Batch, rng: &mut ChaCha8Rng) {
    let components = batch.context.graph().components();
    let mut pairs = Vec::new();
    let mut cumulative_weights = Vec::new();
    let mut total: u64 = 0;
    for (i, first) in components.iter().enumerate() {
        for (j, second) in components.iter().enumerate().skip(i + 1) {
            if batch.relation(first[0], second[0]) == Relation::Unknown {
                total += (first.len() * second.len()) as u64;
                pairs.push((i, j));
                cumulative_weights.push(total);
            }
        }
    }
    if total == 0 {
        return;
    }

    for _ in 0..draw_allowance(batch) {
        if batch.is_full() {
            break;
        }
        let ticket = rng.random_range(0..total);
        let (i, j) = pairs[cumulative_weights.partition_point(|&w| w <= ticket)];
        let a = components[i][rng.random_range(0..components[i].len())];
        let b = components[j][rng.random_range(0..components[j].len())];
        batch.offer(a, b, 0.0);
    }
}

fn draw_allowance(batch: &Batch) -> usize {
    batch
        .budget
        .saturating_mul(DRAWS_PER_PAIR)
        .saturating_add(EXTRA_DRAWS)
}
