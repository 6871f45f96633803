//! The margin strategy: the pairs the current embedding is least sure about.
//!
//! The boundary is the cosine similarity that best separates known-same pairs from
//! known-different pairs, both sampled from the closed graph ([`separating_threshold`]); with
//! too few of either it is the median similarity of the candidate pairs.
//!
//! Candidates are approximate near neighbours, found without comparing every pair: a seeded
//! sample of query items is compared with every exemplar and a seeded sample of
//! [`PARTNERS`] partner items, and each query keeps its [`NEIGHBOURS`] most similar askable
//! partners. The candidates nearest the boundary are asked first. The cost is
//! `queries x partners x dim` with `queries` about [`QUERIES_PER_PAIR`] x budget, whatever `n`
//! is. The shortcoming: a query's true nearest neighbour is found only when it is in the
//! partner sample, so at large `n` the candidates are near, not nearest.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Batch, Context, Strategy};
use crate::vector::{self, dot};

/// Items every query is compared with, besides the exemplars.
const PARTNERS: usize = 1024;

/// Query items sampled per requested pair, and at least [`MIN_QUERIES`].
const QUERIES_PER_PAIR: usize = 8;
const MIN_QUERIES: usize = 512;

/// Most similar askable partners kept per query.
const NEIGHBOURS: usize = 4;

/// Known-same and known-different pairs drawn (each) to estimate the boundary.
const BOUNDARY_SAMPLE: usize = 1000;

/// Fewest similarities of each kind for [`separating_threshold`] to trust them.
const MIN_KNOWN: usize = 5;

/// Queries handled together and partners compared with them before moving on, so that a
/// block of partner rows is reused while in cache.
const QUERY_BLOCK: usize = 32;
const PARTNER_BLOCK: usize = 256;

/// The cosine similarity that best separates known-same from known-different pairs, or
/// `None` when either slice holds fewer than 5 (non-NaN) similarities.
///
/// Pairs above the threshold read as "same". The threshold minimises the balanced error (the
/// share of same pairs below it plus the share of different pairs above it), so that the far
/// more numerous "different" pairs do not outvote the "same" ones. It lies halfway between two
/// neighbouring similarities; among equally good thresholds the lowest wins.
pub fn separating_threshold(same: &[f32], different: &[f32]) -> Option<f32> {
    let labelled = |values: &[f32], is_same: bool| {
        let kept: Vec<(f32, bool)> = values
            .iter()
            .filter(|v| !v.is_nan())
            .map(|&v| (v, is_same))
            .collect();
        (kept.len() >= MIN_KNOWN).then_some(kept)
    };
    let mut all = labelled(same, true)?;
    let different = labelled(different, false)?;
    let (same_total, different_total) = (all.len() as f64, different.len() as f64);
    all.extend(different);
    all.sort_by(|x, y| x.0.total_cmp(&y.0));

    let (mut same_below, mut different_below) = (0.0, 0.0);
    let mut best = (f64::INFINITY, all[0].0);
    for split in 0..=all.len() {
        let splits_a_tie = split > 0 && split < all.len() && all[split - 1].0 == all[split].0;
        if !splits_a_tie {
            let error =
                same_below / same_total + (different_total - different_below) / different_total;
            if error < best.0 {
                best = (error, threshold_at(&all, split));
            }
        }
        if let Some(&(_, is_same)) = all.get(split) {
            if is_same {
                same_below += 1.0;
            } else {
                different_below += 1.0;
            }
        }
    }
    Some(best.1)
}

/// The threshold that puts `sorted[..split]` below it and `sorted[split..]` above it.
fn threshold_at(sorted: &[(f32, bool)], split: usize) -> f32 {
    match split {
        0 => sorted[0].0,
        _ if split == sorted.len() => sorted[split - 1].0,
        _ => (sorted[split - 1].0 + sorted[split].0) / 2.0,
    }
}

pub(super) fn fill(batch: &mut Batch) {
    let context = batch.context;
    context.embeddings(Strategy::Margin);
    let n = context.roots.len();
    let mut rng = ChaCha8Rng::seed_from_u64(context.seed_for(Strategy::Margin));

    let query_count = batch
        .budget
        .saturating_mul(QUERIES_PER_PAIR)
        .max(MIN_QUERIES);
    let queries = sample_items(n, query_count, &mut rng);
    let mut partners = context.graph().classes();
    partners.extend(sample_items(n, PARTNERS, &mut rng));
    partners.sort_unstable();
    partners.dedup();

    let candidates = near_neighbours(batch, &queries, &partners);
    if candidates.is_empty() {
        return;
    }
    let threshold =
        learned_threshold(context, &mut rng).unwrap_or_else(|| median_similarity(&candidates));

    let mut ranked: Vec<(f32, usize, usize)> = candidates
        .into_iter()
        .map(|(similarity, a, b)| ((similarity - threshold).abs(), a.min(b), a.max(b)))
        .collect();
    ranked.sort_by(|x, y| x.0.total_cmp(&y.0).then((x.1, x.2).cmp(&(y.1, y.2))));
    for (distance, a, b) in ranked {
        if batch.is_full() {
            return;
        }
        batch.offer(a, b, distance);
    }
}

/// `count` distinct items drawn uniformly from `0..n` (all of them when `count >= n`),
/// ascending.
fn sample_items(n: usize, count: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    if count >= n {
        return (0..n).collect();
    }
    let mut items = rand::seq::index::sample(rng, n, count).into_vec();
    items.sort_unstable();
    items
}

/// No neighbour in this slot yet.
const EMPTY: (f32, usize) = (f32::NEG_INFINITY, usize::MAX);

/// For every query, its [`NEIGHBOURS`] most similar askable partners, as
/// `(similarity, query, partner)`.
fn near_neighbours(
    batch: &Batch,
    queries: &[usize],
    partners: &[usize],
) -> Vec<(f32, usize, usize)> {
    let context = batch.context;
    let packed = packed_unit_rows(context, partners);
    let dim = context.request.embeddings.dim();

    let mut nearest = vec![EMPTY; queries.len() * NEIGHBOURS];
    vector::for_row_blocks(&mut nearest, NEIGHBOURS, |first_query, block| {
        for (block_index, out) in block.chunks_mut(QUERY_BLOCK * NEIGHBOURS).enumerate() {
            let first = first_query + block_index * QUERY_BLOCK;
            let block_queries = &queries[first..first + out.len() / NEIGHBOURS];
            for start in (0..partners.len()).step_by(PARTNER_BLOCK) {
                let end = (start + PARTNER_BLOCK).min(partners.len());
                for (&query, top) in block_queries.iter().zip(out.chunks_mut(NEIGHBOURS)) {
                    let row = context.request.embeddings.row(query);
                    let scale = context.inverse_norms()[query];
                    for (p, &partner) in partners.iter().enumerate().take(end).skip(start) {
                        let similarity = dot(row, &packed[p * dim..(p + 1) * dim]) * scale;
                        if similarity > top[NEIGHBOURS - 1].0 && batch.is_askable(query, partner) {
                            insert_sorted(top, (similarity, partner));
                        }
                    }
                }
            }
        }
    });

    nearest
        .chunks(NEIGHBOURS)
        .zip(queries)
        .flat_map(|(top, &query)| {
            top.iter()
                .filter(|&&(_, partner)| partner != usize::MAX)
                .map(move |&(similarity, partner)| (similarity, query, partner))
        })
        .collect()
}

/// The unit-length embedding rows of `items`, one after the other.
fn packed_unit_rows(context: &Context, items: &[usize]) -> Vec<f32> {
    let embeddings = context.request.embeddings;
    let inverse = context.inverse_norms();
    let mut packed = Vec::with_capacity(items.len() * embeddings.dim());
    for &item in items {
        packed.extend(embeddings.row(item).iter().map(|v| v * inverse[item]));
    }
    packed
}

/// Inserts into a slice sorted by descending similarity, dropping the last entry.
fn insert_sorted(top: &mut [(f32, usize)], entry: (f32, usize)) {
    let at = top.partition_point(|&(similarity, _)| similarity >= entry.0);
    top[at..].rotate_right(1);
    top[at] = entry;
}

fn median_similarity(candidates: &[(f32, usize, usize)]) -> f32 {
    let mut similarities: Vec<f32> = candidates.iter().map(|c| c.0).collect();
    let middle = similarities.len() / 2;
    *similarities
        .select_nth_unstable_by(middle, |x, y| x.total_cmp(y))
        .1
}

/// The boundary learned from a sample of the pairs the graph decides.
fn learned_threshold(context: &Context, rng: &mut ChaCha8Rng) -> Option<f32> {
    let members = context.members();
    let roots = &context.roots;

    let grouped: Vec<usize> = (0..roots.len())
        .filter(|&i| members.of(roots[i]).len() >= 2)
        .collect();
    let mut same = Vec::new();
    if !grouped.is_empty() {
        for _ in 0..BOUNDARY_SAMPLE {
            let a = grouped[rng.random_range(0..grouped.len())];
            let group = members.of(roots[a]);
            let b = group[rng.random_range(0..group.len())];
            if a != b {
                same.push(context.cosine(a, b));
            }
        }
    }

    let edges: Vec<(usize, usize)> = (0..roots.len())
        .filter(|&r| roots[r] == r)
        .flat_map(|r| {
            let graph = context.graph();
            graph
                .different_roots(r)
                .filter(move |&o| o > r)
                .map(move |o| (r, o))
        })
        .collect();
    let mut different = Vec::new();
    if !edges.is_empty() {
        for _ in 0..BOUNDARY_SAMPLE {
            let (root_a, root_b) = edges[rng.random_range(0..edges.len())];
            let (group_a, group_b) = (members.of(root_a), members.of(root_b));
            let a = group_a[rng.random_range(0..group_a.len())];
            let b = group_b[rng.random_range(0..group_b.len())];
            different.push(context.cosine(a, b));
        }
    }

    separating_threshold(&same, &different)
}
