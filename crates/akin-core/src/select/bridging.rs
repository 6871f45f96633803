//! The bridging strategy: pairs whose "same" would merge two large components.
//!
//! The largest components are ranked (size descending, equal sizes in a seeded random
//! order), and enough of them kept that their pairs number about twice the budget, within
//! [`MIN_COMPONENTS`]..=[`MAX_COMPONENTS`]. Each is represented by a seeded sample of up to
//! [`MEMBER_SAMPLE`] members. For every two kept components whose relation is unknown, the
//! most similar askable pair of sampled members is the candidate, scored by its cosine
//! similarity times `sqrt(size_a x size_b)`: similar pairs of big components first. At most
//! one pair per pair of components is asked, since one answer decides the others.
//!
//! The cost is `O(n)` to rank the components plus `components² x sample² x dim`. A batch
//! comes back short when fewer pairs of kept components are undecided than the budget.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{Batch, Context, Strategy};
use crate::Relation;
use crate::vector::dot;

/// Bounds on the number of components compared pairwise.
const MIN_COMPONENTS: usize = 8;
const MAX_COMPONENTS: usize = 128;

/// Members of a component compared with the members of another.
const MEMBER_SAMPLE: usize = 16;

/// A kept component: its root, its size and its sampled members.
struct Kept {
    root: usize,
    size: usize,
    sample: Vec<usize>,
}

pub(super) fn fill(batch: &mut Batch) {
    let context = batch.context;
    context.embeddings(Strategy::Bridging);
    batch.one_per_component_pair();
    let seed = context.seed_for(Strategy::Bridging);

    let kept = largest_components(context, component_count_for(batch.budget), seed);
    let packed = packed_samples(context, &kept);
    let dim = context.request.embeddings.dim();

    let mut candidates: Vec<(f32, f32, usize, usize)> = Vec::new();
    for (i, first) in kept.iter().enumerate() {
        for (j, second) in kept.iter().enumerate().skip(i + 1) {
            if context.graph().relation_of_roots(first.root, second.root) != Relation::Unknown {
                continue;
            }
            let mut best: Option<(f32, usize, usize)> = None;
            for (x, &a) in first.sample.iter().enumerate() {
                let row_a = &packed[i][x * dim..(x + 1) * dim];
                for (y, &b) in second.sample.iter().enumerate() {
                    let similarity = dot(row_a, &packed[j][y * dim..(y + 1) * dim]);
                    let better = best.is_none_or(|(s, _, _)| similarity > s);
                    if better && batch.is_askable(a, b) {
                        best = Some((similarity, a, b));
                    }
                }
            }
            if let Some((similarity, a, b)) = best {
                let weight = ((first.size * second.size) as f32).sqrt();
                candidates.push((similarity * weight, similarity, a.min(b), a.max(b)));
            }
        }
    }

    candidates.sort_by(|x, y| y.0.total_cmp(&x.0).then((x.2, x.3).cmp(&(y.2, y.3))));
    for (score, _, a, b) in candidates {
        if batch.is_full() {
            return;
        }
        batch.offer(a, b, score);
    }
}

/// The fewest components whose pairs number at least twice the budget, within bounds.
fn component_count_for(budget: usize) -> usize {
    let wanted = budget.saturating_mul(2);
    let mut count = MIN_COMPONENTS;
    while count < MAX_COMPONENTS && count * (count - 1) / 2 < wanted {
        count += 1;
    }
    count
}

/// The `count` largest components, largest first; equal sizes in a seeded random order.
fn largest_components(context: &Context, count: usize, seed: u64) -> Vec<Kept> {
    let members = context.members();
    let roots = &context.roots;
    let rank = |root: usize| {
        (
            std::cmp::Reverse(members.of(root).len()),
            mix64(root as u64 ^ seed),
        )
    };
    let mut component_roots: Vec<usize> = (0..roots.len()).filter(|&r| roots[r] == r).collect();
    if component_roots.len() > count {
        component_roots.select_nth_unstable_by_key(count, |&r| rank(r));
        component_roots.truncate(count);
    }
    component_roots.sort_unstable_by_key(|&r| rank(r));

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    component_roots
        .into_iter()
        .map(|root| {
            let all = members.of(root);
            let sample = if all.len() <= MEMBER_SAMPLE {
                all.to_vec()
            } else {
                rand::seq::index::sample(&mut rng, all.len(), MEMBER_SAMPLE)
                    .into_iter()
                    .map(|k| all[k])
                    .collect()
            };
            Kept {
                root,
                size: all.len(),
                sample,
            }
        })
        .collect()
}

/// For each kept component, the unit-length rows of its sample, one after the other.
fn packed_samples(context: &Context, kept: &[Kept]) -> Vec<Vec<f32>> {
    let embeddings = context.request.embeddings;
    let inverse = context.inverse_norms();
    kept.iter()
        .map(|component| {
            component
                .sample
                .iter()
                .flat_map(|&item| embeddings.row(item).iter().map(move |v| v * inverse[item]))
                .collect()
        })
        .collect()
}

/// SplitMix64's finaliser: a cheap, well-spread hash of a 64-bit value.
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
