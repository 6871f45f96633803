//! Batches drawn from the similarity graph: anchors, their human partners, the weighted
//! edges between batch rows, and which rows are known to differ. Pure Rust, seeded, no
//! tensors.

use std::collections::{HashMap, HashSet};

use crate::TrainError;
use crate::loss::Edge;

/// SplitMix64: a small, fast, seedable generator for index sampling.
#[derive(Clone, Debug)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> SeededRng {
        SeededRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// A uniform index in `0..bound` (`bound > 0`), by the multiply-shift method.
    pub fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }
}

/// Which positive group ("same" component) each item is in, and which components are
/// known to differ.
#[derive(Clone, Debug, Default)]
pub struct PositiveIndex {
    groups: Vec<Vec<usize>>,
    /// For each item: its group and its position in that group.
    slot_of: Vec<Option<(usize, usize)>>,
    grouped_items: Vec<usize>,
    /// For each component key (see [`PositiveIndex::component_key`]), the keys of the
    /// components known to differ from it.
    different: HashMap<i64, HashSet<i64>>,
}

impl PositiveIndex {
    /// Indexes groups of item indices below `items`; duplicates inside a group are merged and
    /// groups left with fewer than two items are ignored. An item in two groups is an error.
    pub fn new(groups: &[Vec<usize>], items: usize) -> Result<PositiveIndex, TrainError> {
        let mut index = PositiveIndex {
            slot_of: vec![None; items],
            ..Default::default()
        };
        for group in groups {
            let mut members = group.clone();
            members.sort_unstable();
            members.dedup();
            if let Some(&item) = members.iter().find(|&&item| item >= items) {
                return Err(TrainError::InvalidDataset(format!(
                    "positive group names item {item} of only {items}"
                )));
            }
            if members.len() >= 2 {
                index.add_group(members)?;
            }
        }
        Ok(index)
    }

    fn add_group(&mut self, members: Vec<usize>) -> Result<(), TrainError> {
        let group = self.groups.len();
        for (position, &item) in members.iter().enumerate() {
            if self.slot_of[item].is_some() {
                return Err(TrainError::InvalidDataset(format!(
                    "item {item} is in two positive groups"
                )));
            }
            self.slot_of[item] = Some((group, position));
            self.grouped_items.push(item);
        }
        self.groups.push(members);
        Ok(())
    }

    /// Records "different" answers as pairs of items; each pair marks the two items' whole
    /// components as different. A pair inside one group (a contradiction the graph should
    /// have kept out) is ignored, and so is a pair naming a missing item.
    pub fn with_negatives(mut self, negatives: &[(usize, usize)]) -> PositiveIndex {
        let items = self.slot_of.len();
        for &(a, b) in negatives {
            if a >= items || b >= items {
                continue;
            }
            let (key_a, key_b) = (self.component_key(a), self.component_key(b));
            if key_a != key_b {
                self.different.entry(key_a).or_default().insert(key_b);
                self.different.entry(key_b).or_default().insert(key_a);
            }
        }
        self
    }

    /// A number naming `item`'s component: its group's index when it has a group, else one
    /// of its own past the groups.
    pub fn component_key(&self, item: usize) -> i64 {
        match self.slot_of.get(item).copied().flatten() {
            Some((group, _)) => group as i64,
            None => (self.groups.len() + item) as i64,
        }
    }

    /// Whether any "different" answer is recorded.
    pub fn has_negatives(&self) -> bool {
        !self.different.is_empty()
    }

    /// The component key of every item in `rows`, and the pairs of those keys known to
    /// differ (each pair once, smaller key first).
    pub fn relations_of(&self, rows: &[usize]) -> (Vec<i64>, Vec<(i64, i64)>) {
        let keys: Vec<i64> = rows.iter().map(|&item| self.component_key(item)).collect();
        let present: HashSet<i64> = keys.iter().copied().collect();
        let mut pairs = Vec::new();
        for &key in &present {
            let Some(others) = self.different.get(&key) else {
                continue;
            };
            for &other in others {
                if key < other && present.contains(&other) {
                    pairs.push((key, other));
                }
            }
        }
        pairs.sort_unstable();
        (keys, pairs)
    }

    /// Items that have at least one human partner.
    pub fn grouped_items(&self) -> &[usize] {
        &self.grouped_items
    }

    /// Another member of `item`'s group, uniformly, or `None` if it has no group.
    pub fn draw_partner(&self, item: usize, rng: &mut SeededRng) -> Option<usize> {
        let (group, position) = self.slot_of.get(item).copied().flatten()?;
        let members = &self.groups[group];
        let mut pick = rng.below(members.len() - 1);
        if pick >= position {
            pick += 1;
        }
        Some(members[pick])
    }
}

/// One batch. Rows: first view of each anchor, second view of each anchor, then partners.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphBatch {
    /// Item of every batch row, in row order.
    pub rows: Vec<usize>,
    /// Number of anchors.
    pub anchors: usize,
    /// Augmentation edges (weight 1) and human edges (the human weight), tagged by anchor.
    pub edges: Vec<Edge>,
}

/// How to draw a batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchPlan {
    /// Anchors per batch.
    pub anchors: usize,
    /// Share of anchors drawn from grouped items (when there are any).
    pub human_share: f64,
    /// Weight of a human edge.
    pub human_weight: f64,
}

/// Draws anchors (a `human_share` of them among grouped items, the rest among all `items`),
/// pairs every anchor's two views, and links each grouped anchor's first view to a partner.
pub fn sample_batch(
    index: &PositiveIndex,
    items: usize,
    plan: &BatchPlan,
    rng: &mut SeededRng,
) -> GraphBatch {
    let grouped = index.grouped_items();
    let from_groups = if grouped.is_empty() {
        0
    } else {
        (plan.anchors as f64 * plan.human_share).round() as usize
    };
    let anchors: Vec<usize> = (0..plan.anchors)
        .map(|i| {
            if i < from_groups {
                grouped[rng.below(grouped.len())]
            } else {
                rng.below(items)
            }
        })
        .collect();

    let count = anchors.len() as i64;
    let mut rows = [anchors.as_slice(), anchors.as_slice()].concat();
    let mut edges: Vec<Edge> = (0..count)
        .map(|a| Edge {
            left: a,
            right: count + a,
            weight: 1.0,
            anchor: a,
        })
        .collect();
    for (a, &item) in anchors.iter().enumerate() {
        if let Some(partner) = index.draw_partner(item, rng) {
            let right = rows.len() as i64;
            rows.push(partner);
            edges.push(Edge {
                left: a as i64,
                right,
                weight: plan.human_weight,
                anchor: a as i64,
            });
        }
    }
    GraphBatch {
        rows,
        anchors: anchors.len(),
        edges,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(anchors: usize, human_share: f64) -> BatchPlan {
        BatchPlan {
            anchors,
            human_share,
            human_weight: 2.0,
        }
    }

    #[test]
    fn the_generator_repeats_under_a_seed_and_stays_below_its_bound() {
        let draw = |seed| {
            let mut rng = SeededRng::new(seed);
            (0..100).map(|_| rng.below(7)).collect::<Vec<_>>()
        };

        let first = draw(5);

        assert_eq!(first, draw(5));
        assert_ne!(first, draw(6));
        assert!(first.iter().all(|&i| i < 7));
        assert!((0..7).all(|i| first.contains(&i)));
    }

    #[test]
    fn every_anchor_gets_an_augmentation_edge_between_its_two_views() {
        let index = PositiveIndex::new(&[], 10).expect("no groups");

        let batch = sample_batch(&index, 10, &plan(4, 0.5), &mut SeededRng::new(1));

        assert_eq!(batch.rows.len(), 8);
        assert_eq!(&batch.rows[..4], &batch.rows[4..]);
        let expected: Vec<Edge> = (0..4)
            .map(|a| Edge {
                left: a,
                right: a + 4,
                weight: 1.0,
                anchor: a,
            })
            .collect();
        assert_eq!(batch.edges, expected);
    }

    #[test]
    fn grouped_anchors_get_a_weighted_partner_from_their_own_group() {
        let groups = vec![vec![0, 1, 2], vec![5, 6]];
        let index = PositiveIndex::new(&groups, 10).expect("valid groups");

        let batch = sample_batch(&index, 10, &plan(64, 0.5), &mut SeededRng::new(2));

        let human: Vec<&Edge> = batch.edges.iter().filter(|e| e.right >= 128).collect();
        assert!(human.len() >= 32, "at least the human share has partners");
        assert_eq!(batch.rows.len(), 128 + human.len());
        for edge in human {
            let anchor = batch.rows[edge.left as usize];
            let partner = batch.rows[edge.right as usize];
            let same_group = groups
                .iter()
                .any(|g| g.contains(&anchor) && g.contains(&partner));
            assert!(
                same_group && anchor != partner,
                "{anchor} paired with {partner}"
            );
            assert_eq!((edge.weight, edge.anchor), (2.0, edge.left));
        }
    }

    #[test]
    fn the_human_share_of_anchors_comes_from_grouped_items() {
        let index = PositiveIndex::new(&[vec![3, 4]], 1000).expect("valid group");

        let batch = sample_batch(&index, 1000, &plan(10, 0.3), &mut SeededRng::new(3));

        assert!(batch.rows[..3].iter().all(|item| [3, 4].contains(item)));
    }

    #[test]
    fn groups_naming_missing_items_or_sharing_an_item_are_refused() {
        let missing = PositiveIndex::new(&[vec![1, 10]], 10);
        let shared = PositiveIndex::new(&[vec![1, 2], vec![2, 3]], 10);

        assert!(matches!(missing, Err(TrainError::InvalidDataset(_))));
        assert!(matches!(shared, Err(TrainError::InvalidDataset(_))));
    }

    #[test]
    fn a_different_answer_marks_both_whole_components_as_different() {
        let index = PositiveIndex::new(&[vec![0, 1], vec![2, 3]], 6)
            .expect("valid groups")
            .with_negatives(&[(1, 3), (0, 4), (2, 3)]);

        let (keys, pairs) = index.relations_of(&[0, 3, 4, 5, 1]);

        assert_eq!(keys, [0, 1, 2 + 4, 2 + 5, 0]);
        assert_eq!(
            pairs,
            [(0, 1), (0, 6)],
            "2-3 lies inside a group and is ignored"
        );
        assert!(index.has_negatives());
    }

    #[test]
    fn pairs_whose_components_are_not_both_in_the_batch_are_left_out() {
        let index = PositiveIndex::new(&[], 4)
            .expect("no groups")
            .with_negatives(&[(0, 1), (2, 3)]);

        let (keys, pairs) = index.relations_of(&[0, 2, 0]);

        assert_eq!(keys, [0, 2, 0]);
        assert!(pairs.is_empty());
    }

    #[test]
    fn singleton_groups_give_no_partners() {
        let index = PositiveIndex::new(&[vec![4], vec![5, 5]], 10).expect("valid");

        assert!(index.grouped_items().is_empty());
        assert_eq!(index.draw_partner(4, &mut SeededRng::new(0)), None);
    }
}
