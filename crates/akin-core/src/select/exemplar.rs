//! The exemplar strategy of Cabannes et al., in batches, on cosine similarity.
//!
//! The exemplars are [`Graph::classes`](crate::Graph::classes); an item is labelled when its
//! component holds one. Items are only ever compared with exemplars and a few probes, never
//! with each other, so the cost is `n x (exemplars + probes) x dim`.
//!
//! A batch lists its discovery pairs first, then its exploitation pairs:
//! 1. Discovery, [`discovery_share`] of the budget: probes are the unlabelled items least
//!    similar to every exemplar, chosen greedily far from each other (farthest-point). Each
//!    probe is asked against every exemplar and every earlier probe it is not known to
//!    match or differ from, likeliest match first. A probe found different from all of them
//!    becomes a new class.
//! 2. Exploitation, the rest: every other unlabelled item is asked against its most similar
//!    exemplar among those still askable; the most similar questions come first.
//!
//! At most one pair per pair of components is asked in a batch, since one answer decides
//! the others.

use std::collections::HashSet;

use super::{Batch, Context, Strategy};
use crate::vector;

/// Candidates for probes: the unlabelled items least similar to every exemplar. Bounding it
/// keeps farthest-point sampling cheap; the cost is that a far item outside it is never a
/// probe in this batch.
const PROBE_POOL: usize = 2048;

/// Floor of the discovery share for budgets large enough to spare it.
const MIN_DISCOVERY: usize = 3;

/// How many pairs of a batch of `budget` go to discovering new classes: a fifth, and at
/// least 3 as long as that leaves exploitation half of the budget.
pub fn discovery_share(budget: usize) -> usize {
    (budget / 5).max(MIN_DISCOVERY.min(budget / 2))
}

/// The embeddings seen through the exemplars.
struct Scene<'a> {
    context: &'a Context<'a>,
    exemplars: Vec<usize>,
    unlabelled: Vec<usize>,
    /// Cosine similarity of `unlabelled[u]` and `exemplars[e]` at `u * exemplars.len() + e`.
    similarity: Vec<f32>,
}

impl Scene<'_> {
    fn cosine(&self, a: usize, b: usize) -> f32 {
        self.context.cosine(a, b)
    }

    fn similarities_of(&self, u: usize) -> &[f32] {
        let width = self.exemplars.len();
        &self.similarity[u * width..(u + 1) * width]
    }
}

pub(super) fn fill(batch: &mut Batch) {
    batch.context.embeddings(Strategy::Exemplar);
    batch.one_per_component_pair();

    let scene = build_scene(batch.context);
    if scene.unlabelled.is_empty() {
        return;
    }
    let probes = discover(batch, &scene, discovery_share(batch.budget));
    exploit(batch, &scene, &probes);
}

fn build_scene<'a>(context: &'a Context<'a>) -> Scene<'a> {
    let exemplars = context.graph().classes();
    let roots = &context.roots;
    let mut is_class_root = vec![false; roots.len()];
    for &exemplar in &exemplars {
        is_class_root[roots[exemplar]] = true;
    }
    let unlabelled: Vec<usize> = (0..roots.len())
        .filter(|&i| !is_class_root[roots[i]])
        .collect();
    context.inverse_norms();

    let mut scene = Scene {
        context,
        exemplars,
        unlabelled,
        similarity: Vec::new(),
    };
    scene.similarity = similarity_to_exemplars(&scene);
    scene
}

fn similarity_to_exemplars(scene: &Scene) -> Vec<f32> {
    let width = scene.exemplars.len();
    let mut similarity = vec![0.0; scene.unlabelled.len() * width];
    vector::for_row_blocks(&mut similarity, width, |first_row, block| {
        for (offset, row) in block.chunks_exact_mut(width).enumerate() {
            let item = scene.unlabelled[first_row + offset];
            for (slot, &exemplar) in row.iter_mut().zip(&scene.exemplars) {
                *slot = scene.cosine(item, exemplar);
            }
        }
    });
    similarity
}

/// Asks probes against exemplars and earlier probes until `share` pairs are chosen;
/// returns the probes. Probes whose pairs were all asked already count against a cap, so
/// that a batch full of pending questions does not scan the whole pool.
fn discover(batch: &mut Batch, scene: &Scene, share: usize) -> HashSet<usize> {
    let mut pool = probe_pool(scene);
    let mut probes: Vec<usize> = Vec::new();
    let mut probe_roots = HashSet::new();

    let max_probes = 2 * share + 16;
    while batch.len() < share && probes.len() < max_probes {
        let Some(position) = pool
            .iter()
            .enumerate()
            .filter(|(_, candidate)| !probe_roots.contains(&batch.roots()[candidate.item]))
            .min_by(|(_, x), (_, y)| {
                x.closeness
                    .total_cmp(&y.closeness)
                    .then(x.item.cmp(&y.item))
            })
            .map(|(position, _)| position)
        else {
            break;
        };
        let probe = pool.swap_remove(position);

        ask_probe(batch, scene, &probe, &probes, share);
        probes.push(probe.item);
        probe_roots.insert(batch.roots()[probe.item]);
        for candidate in &mut pool {
            let similarity = scene.cosine(candidate.item, probe.item);
            candidate.closeness = candidate.closeness.max(similarity);
        }
    }
    probes.into_iter().collect()
}

/// An unlabelled item and its highest similarity to an exemplar or a probe so far.
struct Candidate {
    /// Position in `Scene::unlabelled`.
    unlabelled: usize,
    item: usize,
    closeness: f32,
}

/// The [`PROBE_POOL`] unlabelled items least similar to every exemplar, in item order.
fn probe_pool(scene: &Scene) -> Vec<Candidate> {
    let mut pool: Vec<Candidate> = (0..scene.unlabelled.len())
        .map(|u| Candidate {
            unlabelled: u,
            item: scene.unlabelled[u],
            closeness: scene
                .similarities_of(u)
                .iter()
                .copied()
                .fold(f32::MIN, f32::max),
        })
        .collect();
    if pool.len() > PROBE_POOL {
        pool.select_nth_unstable_by(PROBE_POOL, |x, y| {
            x.closeness
                .total_cmp(&y.closeness)
                .then(x.item.cmp(&y.item))
        });
        pool.truncate(PROBE_POOL);
        pool.sort_unstable_by_key(|candidate| candidate.item);
    }
    pool
}

fn ask_probe(batch: &mut Batch, scene: &Scene, probe: &Candidate, earlier: &[usize], share: usize) {
    let mut exemplars: Vec<(f32, usize)> = scene
        .similarities_of(probe.unlabelled)
        .iter()
        .copied()
        .zip(scene.exemplars.iter().copied())
        .collect();
    exemplars.sort_by(|x, y| y.0.total_cmp(&x.0));
    let earlier_probes = earlier.iter().map(|&p| (scene.cosine(probe.item, p), p));

    for (similarity, other) in exemplars.into_iter().chain(earlier_probes) {
        if batch.len() >= share {
            return;
        }
        batch.offer(probe.item, other, similarity);
    }
}

/// Asks every unlabelled item that is not a probe against its most similar askable
/// exemplar, most similar pairs first.
fn exploit(batch: &mut Batch, scene: &Scene, probes: &HashSet<usize>) {
    let mut questions: Vec<(f32, usize, usize)> = scene
        .unlabelled
        .iter()
        .enumerate()
        .filter(|(_, item)| !probes.contains(item))
        .filter_map(|(u, &item)| {
            best_askable_exemplar(batch, scene, u).map(|(similarity, e)| (similarity, item, e))
        })
        .collect();
    questions.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));

    for (similarity, item, exemplar) in questions {
        if batch.is_full() {
            return;
        }
        batch.offer(item, exemplar, similarity);
    }
}

fn best_askable_exemplar(batch: &Batch, scene: &Scene, u: usize) -> Option<(f32, usize)> {
    let item = scene.unlabelled[u];
    scene
        .similarities_of(u)
        .iter()
        .zip(&scene.exemplars)
        .filter(|&(_, &e)| batch.is_askable(item, e))
        .max_by(|x, y| x.0.total_cmp(y.0).then(y.1.cmp(x.1)))
        .map(|(&similarity, &e)| (similarity, e))
}
