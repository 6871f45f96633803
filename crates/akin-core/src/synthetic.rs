//! Seeded synthetic data for benchmarks and tests: clustered embeddings with hidden labels,
//! and the answer logs an oracle (sometimes wrong) would give about them.
//!
//! Everything here is a pure function of its arguments and seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::consensus::Vote;
use crate::{Embeddings, Verdict};

/// Items with hidden class labels and embeddings clustered by class.
#[derive(Clone, Debug)]
pub struct Clustered {
    /// One row per item.
    pub embeddings: Embeddings,
    /// The class of every item, in `0..classes`.
    pub labels: Vec<u8>,
}

/// `n` items of `dim` dimensions in `classes` clusters (at least 1), each item in a class
/// drawn uniformly.
///
/// Class centres have coordinates uniform in `-1..1`; an item is its centre plus noise
/// uniform in `-spread..spread` per coordinate. In many dimensions the cosine similarity of
/// two items of one class is then about `1 / (1 + spread²)`, of two classes about 0.
///
/// # Panics
/// When `dim` is 0.
pub fn clustered(n: usize, dim: usize, classes: u8, spread: f32, seed: u64) -> Clustered {
    assert!(dim > 0, "embeddings need a positive dimension");
    let classes = classes.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<f32> = (0..usize::from(classes) * dim)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let labels: Vec<u8> = (0..n).map(|_| rng.random_range(0..classes)).collect();

    let mut values = Vec::with_capacity(n * dim);
    for &label in &labels {
        let centre = &centres[usize::from(label) * dim..(usize::from(label) + 1) * dim];
        values.extend(
            centre
                .iter()
                .map(|&c| c + spread * rng.random_range(-1.0f32..1.0)),
        );
    }
    let embeddings = Embeddings::new(dim, values).expect("n rows of dim values each");
    Clustered { embeddings, labels }
}

/// What an oracle that knows the labels answers about a pair.
pub fn true_verdict(labels: &[u8], a: usize, b: usize) -> Verdict {
    if labels[a] == labels[b] {
        Verdict::Same
    } else {
        Verdict::Different
    }
}

/// A log of `count` answers about random pairs of distinct items.
///
/// A share `same_share` of the pairs is drawn inside one class, the rest uniformly; every
/// answer is the truth, flipped (same for different and back) with probability
/// `wrong_share`. Items alone in their class are never paired inside it.
///
/// # Panics
/// When there are fewer than 2 items and `count > 0`.
pub fn answer_log(
    labels: &[u8],
    count: usize,
    same_share: f64,
    wrong_share: f64,
    seed: u64,
) -> Vec<(usize, usize, Verdict)> {
    assert!(labels.len() >= 2 || count == 0, "answers need two items");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let members = members_by_class(labels);

    (0..count)
        .map(|_| {
            let a = rng.random_range(0..labels.len());
            let class = &members[usize::from(labels[a])];
            let b = if class.len() >= 2 && rng.random_bool(same_share.clamp(0.0, 1.0)) {
                other_member(a, class, &mut rng)
            } else {
                other_item(a, labels.len(), &mut rng)
            };
            let verdict = flip_sometimes(true_verdict(labels, a, b), wrong_share, &mut rng);
            (a, b, verdict)
        })
        .collect()
}

/// The log a run of the exemplar strategy leaves behind: the first item of every class is
/// its exemplar and the exemplars are known to differ; then `count` truthful answers about a
/// random item and the exemplar of its own class (half of them) or of a random class.
pub fn exemplar_log(labels: &[u8], count: usize, seed: u64) -> Vec<(usize, usize, Verdict)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let exemplars: Vec<usize> = members_by_class(labels)
        .iter()
        .filter_map(|members| members.first().copied())
        .collect();
    let mut log = Vec::with_capacity(count + exemplars.len() * exemplars.len() / 2);
    for (i, &x) in exemplars.iter().enumerate() {
        for &y in &exemplars[i + 1..] {
            log.push((x, y, Verdict::Different));
        }
    }
    if exemplars.is_empty() {
        return log;
    }

    let exemplar_of_class = |label: u8| {
        exemplars
            .iter()
            .copied()
            .find(|&e| labels[e] == label)
            .expect("every class present has an exemplar")
    };
    for _ in 0..count {
        let item = rng.random_range(0..labels.len());
        let exemplar = if rng.random_bool(0.5) {
            exemplar_of_class(labels[item])
        } else {
            exemplars[rng.random_range(0..exemplars.len())]
        };
        if item != exemplar {
            log.push((item, exemplar, true_verdict(labels, item, exemplar)));
        }
    }
    log
}

/// Votes of `annotators` people (ids `0..annotators`, at least 1) on `pairs` random pairs,
/// `votes_per_pair` distinct annotators each when there are enough. Annotator `k` answers
/// wrongly with probability `wrong_share x (k + 1) / annotators`, so reliabilities differ.
pub fn vote_log(
    labels: &[u8],
    pairs: usize,
    votes_per_pair: usize,
    annotators: u32,
    wrong_share: f64,
    seed: u64,
) -> Vec<Vote> {
    let annotators = annotators.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let log = answer_log(labels, pairs, 0.3, 0.0, rng.random());
    let per_pair = votes_per_pair.min(annotators as usize);

    let mut votes = Vec::with_capacity(pairs * per_pair);
    for (a, b, truth) in log {
        let voters = rand::seq::index::sample(&mut rng, annotators as usize, per_pair);
        for annotator in voters {
            let error = wrong_share * (annotator + 1) as f64 / f64::from(annotators);
            votes.push(Vote {
                a,
                b,
                verdict: flip_sometimes(truth, error, &mut rng),
                annotator: annotator as u32,
            });
        }
    }
    votes
}

fn members_by_class(labels: &[u8]) -> Vec<Vec<usize>> {
    let mut members = vec![Vec::new(); 256];
    for (item, &label) in labels.iter().enumerate() {
        members[usize::from(label)].push(item);
    }
    members
}

/// A uniform item of `0..n` other than `item`; `n >= 2`.
fn other_item(item: usize, n: usize, rng: &mut ChaCha8Rng) -> usize {
    let other = rng.random_range(0..n - 1);
    if other >= item { other + 1 } else { other }
}

/// A uniform member of `pool` other than `item`; `pool` must hold another.
fn other_member(item: usize, pool: &[usize], rng: &mut ChaCha8Rng) -> usize {
    loop {
        let candidate = pool[rng.random_range(0..pool.len())];
        if candidate != item {
            return candidate;
        }
    }
}

fn flip_sometimes(verdict: Verdict, probability: f64, rng: &mut ChaCha8Rng) -> Verdict {
    if !rng.random_bool(probability.clamp(0.0, 1.0)) {
        return verdict;
    }
    match verdict {
        Verdict::Same => Verdict::Different,
        Verdict::Different => Verdict::Same,
        Verdict::NotSure => Verdict::NotSure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_of_one_class_are_more_alike_than_items_of_two() {
        let data = clustered(400, 64, 4, 0.5, 3);

        let (mut within, mut across) = (Vec::new(), Vec::new());
        for a in 0..40 {
            for b in a + 1..40 {
                let similarity = data.embeddings.cosine(a, b);
                if data.labels[a] == data.labels[b] {
                    within.push(similarity);
                } else {
                    across.push(similarity);
                }
            }
        }

        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean(&within) > 0.6, "{}", mean(&within));
        assert!(mean(&across) < 0.3, "{}", mean(&across));
    }

    #[test]
    fn a_truthful_log_agrees_with_the_labels_and_has_about_the_asked_share_of_same() {
        let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();

        let log = answer_log(&labels, 2000, 0.4, 0.0, 5);

        assert_eq!(log.len(), 2000);
        assert!(
            log.iter()
                .all(|&(a, b, v)| a != b && v == true_verdict(&labels, a, b))
        );
        let same = log
            .iter()
            .filter(|answer| answer.2 == Verdict::Same)
            .count();
        assert!((800..1000).contains(&same), "{same}");
    }

    #[test]
    fn a_wrong_share_of_one_flips_every_answer() {
        let labels = [0, 0, 1, 1];

        let log = answer_log(&labels, 50, 0.5, 1.0, 9);

        assert!(
            log.iter()
                .all(|&(a, b, v)| v != true_verdict(&labels, a, b))
        );
    }

    #[test]
    fn an_exemplar_log_separates_the_exemplars_and_labels_items_against_them() {
        let labels: Vec<u8> = (0..300).map(|i| (i % 3) as u8).collect();

        let log = exemplar_log(&labels, 100, 1);

        assert_eq!(
            &log[..3],
            &[
                (0, 1, Verdict::Different),
                (0, 2, Verdict::Different),
                (1, 2, Verdict::Different)
            ]
        );
        assert!(
            log.iter()
                .all(|&(a, b, v)| b < 3 && v == true_verdict(&labels, a, b))
        );
    }

    #[test]
    fn every_pair_of_a_vote_log_gets_distinct_annotators() {
        let labels: Vec<u8> = (0..100).map(|i| (i % 5) as u8).collect();

        let votes = vote_log(&labels, 30, 3, 5, 0.0, 2);

        assert_eq!(votes.len(), 90);
        for chunk in votes.chunks(3) {
            assert!(chunk.iter().all(|v| (v.a, v.b) == (chunk[0].a, chunk[0].b)));
            assert!(chunk[0].annotator != chunk[1].annotator);
            assert!(
                chunk
                    .iter()
                    .all(|v| v.verdict == true_verdict(&labels, v.a, v.b))
            );
        }
    }
}
