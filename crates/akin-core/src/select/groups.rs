//! Spherical k-means over a seeded sample of items, for the exemplar strategy's discovery:
//! the most central item of a dense group is a typical member of whatever class the group
//! holds, where the item farthest from everything is mostly an odd member of a known class.

use rand::SeedableRng;
use rand::distr::{Distribution, weighted::WeightedIndex};
use rand_chacha::ChaCha8Rng;

use super::Context;
use crate::vector::{self, dot};

/// Items grouped at most; larger sets are sampled down under the seed, so that the cost
/// stays bounded on a million items.
const SAMPLE: usize = 4096;

/// Lloyd iterations after the k-means++ start.
const ITERATIONS: usize = 10;

/// One group of the sample.
pub(super) struct Group {
    /// Unit-length mean direction of the group's members.
    pub centroid: Vec<f32>,
    /// The sampled items in the group, the most similar to the centroid first.
    pub members: Vec<usize>,
}

/// Groups `items` into at most `k` groups by cosine similarity; groups left empty are
/// dropped. Deterministic for a given seed.
pub(super) fn group(context: &Context, items: &[usize], k: usize, seed: u64) -> Vec<Group> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sample = items.to_vec();
    if sample.len() > SAMPLE {
        sample = rand::seq::index::sample(&mut rng, items.len(), SAMPLE)
            .into_iter()
            .map(|i| items[i])
            .collect();
        sample.sort_unstable();
    }
    let k = k.min(sample.len());
    if k == 0 {
        return Vec::new();
    }

    let dim = context.request.embeddings.dim();
    let points = unit_rows(context, &sample);
    let mut centroids = initial_centroids(&points, dim, k, &mut rng);
    let mut assignment = assign(&points, &centroids, dim);
    for _ in 0..ITERATIONS {
        centroids = mean_directions(&points, &assignment, &centroids, dim);
        let next = assign(&points, &centroids, dim);
        if next == assignment {
            break;
        }
        assignment = next;
    }
    collect_groups(&sample, &points, &assignment, centroids, dim)
}

/// The unit-length embedding of each item, one after another.
pub(super) fn unit_rows(context: &Context, items: &[usize]) -> Vec<f32> {
    let embeddings = context.request.embeddings;
    let inverse = context.inverse_norms();
    items
        .iter()
        .flat_map(|&item| embeddings.row(item).iter().map(move |v| v * inverse[item]))
        .collect()
}

/// k-means++: each next centre is drawn with weight `1 - cos` to its nearest centre so far.
fn initial_centroids(points: &[f32], dim: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let count = points.len() / dim;
    let first = rand::Rng::random_range(rng, 0..count);
    let mut centroids = points[first * dim..(first + 1) * dim].to_vec();
    let mut nearest: Vec<f32> = points
        .chunks_exact(dim)
        .map(|p| dot(p, &centroids))
        .collect();
    while centroids.len() < k * dim {
        let weights = nearest.iter().map(|&cos| (1.0 - cos).max(0.0));
        let Ok(draw) = WeightedIndex::new(weights) else {
            break; // every point sits on a centre already
        };
        let next = draw.sample(rng);
        let centre = points[next * dim..(next + 1) * dim].to_vec();
        for (slot, point) in nearest.iter_mut().zip(points.chunks_exact(dim)) {
            *slot = slot.max(dot(point, &centre));
        }
        centroids.extend(centre);
    }
    centroids
}

/// The index of the most similar centroid of every point.
fn assign(points: &[f32], centroids: &[f32], dim: usize) -> Vec<usize> {
    let mut assignment = vec![0usize; points.len() / dim];
    vector::for_row_blocks(&mut assignment, 1, |first, block| {
        for (offset, slot) in block.iter_mut().enumerate() {
            let point = &points[(first + offset) * dim..(first + offset + 1) * dim];
            *slot = most_similar(point, centroids, dim).0;
        }
    });
    assignment
}

/// `(index, cosine)` of the row of `rows` most similar to `point` (the first on ties).
pub(super) fn most_similar(point: &[f32], rows: &[f32], dim: usize) -> (usize, f32) {
    rows.chunks_exact(dim)
        .map(|row| dot(point, row))
        .enumerate()
        .fold(
            (0, f32::MIN),
            |best, (i, cos)| if cos > best.1 { (i, cos) } else { best },
        )
}

/// The unit mean direction of each centroid's points; a centroid without points stays.
fn mean_directions(points: &[f32], assignment: &[usize], old: &[f32], dim: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; old.len()];
    for (point, &c) in points.chunks_exact(dim).zip(assignment) {
        for (sum, v) in sums[c * dim..(c + 1) * dim].iter_mut().zip(point) {
            *sum += v;
        }
    }
    for (sum, previous) in sums.chunks_exact_mut(dim).zip(old.chunks_exact(dim)) {
        if !normalise(sum) {
            sum.copy_from_slice(previous);
        }
    }
    sums
}

/// Scales `v` to unit length; false (and `v` untouched) when it is zero.
pub(super) fn normalise(v: &mut [f32]) -> bool {
    let norm = dot(v, v).sqrt();
    if norm <= f32::EPSILON {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

fn collect_groups(
    sample: &[usize],
    points: &[f32],
    assignment: &[usize],
    centroids: Vec<f32>,
    dim: usize,
) -> Vec<Group> {
    let mut members: Vec<Vec<(f32, usize)>> = vec![Vec::new(); centroids.len() / dim];
    for ((&item, point), &c) in sample.iter().zip(points.chunks_exact(dim)).zip(assignment) {
        members[c].push((dot(point, &centroids[c * dim..(c + 1) * dim]), item));
    }
    members
        .into_iter()
        .zip(centroids.chunks_exact(dim))
        .filter(|(members, _)| !members.is_empty())
        .map(|(mut members, centroid)| {
            members.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
            Group {
                centroid: centroid.to_vec(),
                members: members.into_iter().map(|(_, item)| item).collect(),
            }
        })
        .collect()
}
