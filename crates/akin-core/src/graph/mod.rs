//! The similarity graph derived from the append-only answer log.
//!
//! "Same" is transitive, so same answers merge components of a union-find (union by size,
//! path halving). "Different" is not transitive but propagates over "same": it is stored
//! between component roots and re-keyed when two components merge, so that same(a, b) and
//! different(b, c) give different(a, c). An answer that contradicts the closed graph is a
//! conflict: it changes nothing and is kept in [`Graph::conflicts`] so that the pair can be
//! asked again.

mod verdict;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

pub use verdict::{ParseVerdictError, Verdict};

/// What the closed graph knows about a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The items are in one component.
    Same,
    /// The components of the items are known to differ.
    Different,
    /// Nothing is known; never read as "different".
    Unknown,
}

/// What one answer did to the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// A "same" joined two components.
    Merged,
    /// A "different" was recorded between two components.
    Separated,
    /// The graph already implied the answer.
    Redundant,
    /// The answer contradicts the graph; it was recorded in the conflicts, not applied.
    Conflict,
    /// A "not sure", or a pair of an item with itself.
    Ignored,
}

/// An answer that contradicted the graph when it was applied.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conflict {
    /// First item, as answered.
    pub a: usize,
    /// Second item, as answered.
    pub b: usize,
    /// The verdict that was not applied.
    pub verdict: Verdict,
}

/// The closure of the answers given so far over items `0..n`.
#[derive(Clone, Debug)]
pub struct Graph {
    parent: Vec<usize>,
    size: Vec<usize>,
    /// For each root, the roots known to be different from it; empty for non-roots.
    different: Vec<BTreeSet<usize>>,
    /// For each item, the "same" answers about it that were applied, redundant ones included.
    same_answers: Vec<u32>,
    conflicts: Vec<Conflict>,
}

impl Graph {
    /// A graph over `n` items with no answers: every item alone, every pair unknown.
    pub fn new(n: usize) -> Graph {
        Graph {
            parent: (0..n).collect(),
            size: vec![1; n],
            different: vec![BTreeSet::new(); n],
            same_answers: vec![0; n],
            conflicts: Vec::new(),
        }
    }

    /// Replays an answer log, in order, over `n` items.
    ///
    /// # Panics
    /// When an answer names an item `>= n`.
    pub fn from_answers(
        n: usize,
        answers: impl IntoIterator<Item = (usize, usize, Verdict)>,
    ) -> Graph {
        let mut graph = Graph::new(n);
        for (a, b, verdict) in answers {
            graph.apply(a, b, verdict);
        }
        graph
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// Whether the graph has no items.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Applies one answer and says what it did.
    ///
    /// # Panics
    /// When `a` or `b` is `>= len()`.
    pub fn apply(&mut self, a: usize, b: usize, verdict: Verdict) -> Applied {
        self.check_item(a);
        self.check_item(b);
        if a == b || verdict == Verdict::NotSure {
            return Applied::Ignored;
        }

        let (root_a, root_b) = (self.find(a), self.find(b));
        let known_different = self.different[root_a].contains(&root_b);
        let applied = match verdict {
            Verdict::Same if root_a == root_b => Applied::Redundant,
            Verdict::Different if known_different => Applied::Redundant,
            Verdict::Same if known_different => Applied::Conflict,
            Verdict::Different if root_a == root_b => Applied::Conflict,
            Verdict::Same => self.merge_roots(root_a, root_b),
            // NotSure has returned above; the arm only keeps the match exhaustive.
            Verdict::Different | Verdict::NotSure => self.separate_roots(root_a, root_b),
        };

        match applied {
            Applied::Conflict => self.conflicts.push(Conflict { a, b, verdict }),
            Applied::Merged | Applied::Redundant if verdict == Verdict::Same => {
                self.same_answers[a] += 1;
                self.same_answers[b] += 1;
            }
            _ => {}
        }
        applied
    }

    /// The root of `i`'s component, shortening the path on the way (path halving).
    ///
    /// # Panics
    /// When `i >= len()`.
    pub fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    /// The root of `i`'s component, without mutation: equal for items of one component, an
    /// opaque item index otherwise (not necessarily the smallest member), and it may change
    /// when components merge.
    ///
    /// # Panics
    /// When `i >= len()`.
    pub fn component_of(&self, mut i: usize) -> usize {
        while self.parent[i] != i {
            i = self.parent[i];
        }
        i
    }

    /// [`Graph::component_of`] for every item, in item order.
    pub fn component_ids(&self) -> Vec<usize> {
        (0..self.len()).map(|i| self.component_of(i)).collect()
    }

    /// What the graph knows about `a` and `b`; an item is the same as itself.
    ///
    /// # Panics
    /// When `a` or `b` is `>= len()`.
    pub fn relation(&self, a: usize, b: usize) -> Relation {
        self.relation_of_roots(self.component_of(a), self.component_of(b))
    }

    /// Whether the graph decides the pair (its relation is not [`Relation::Unknown`]).
    pub fn is_decided(&self, a: usize, b: usize) -> bool {
        self.relation(a, b) != Relation::Unknown
    }

    /// The relation between two components given by their roots.
    pub(crate) fn relation_of_roots(&self, root_a: usize, root_b: usize) -> Relation {
        if root_a == root_b {
            Relation::Same
        } else if self.different[root_a].contains(&root_b) {
            Relation::Different
        } else {
            Relation::Unknown
        }
    }

    /// The roots of the components known to be different from the component of `root`, in
    /// ascending order; empty when `root` is not a root.
    pub(crate) fn different_roots(&self, root: usize) -> impl Iterator<Item = usize> + '_ {
        self.different[root].iter().copied()
    }

    /// Number of items in `i`'s component.
    pub fn component_size(&self, i: usize) -> usize {
        self.size[self.component_of(i)]
    }

    /// Number of components.
    pub fn component_count(&self) -> usize {
        (0..self.len()).filter(|&i| self.parent[i] == i).count()
    }

    /// The answers that contradicted the graph, in the order they came.
    pub fn conflicts(&self) -> &[Conflict] {
        &self.conflicts
    }

    /// Every component, members ascending, components ordered by their smallest member.
    pub fn components(&self) -> Vec<Vec<usize>> {
        let mut slot_of_root = vec![usize::MAX; self.len()];
        let mut components: Vec<Vec<usize>> = Vec::new();
        for i in 0..self.len() {
            let root = self.component_of(i);
            if slot_of_root[root] == usize::MAX {
                slot_of_root[root] = components.len();
                components.push(Vec::with_capacity(self.size[root]));
            }
            components[slot_of_root[root]].push(i);
        }
        components
    }

    /// The components of two or more items: the positives the trainer learns from.
    pub fn positive_groups(&self) -> Vec<Vec<usize>> {
        let mut groups = self.components();
        groups.retain(|members| members.len() >= 2);
        groups
    }

    /// One exemplar item per derived class, in acceptance order.
    ///
    /// Components are visited by size, largest first (ties: smallest member first); one is
    /// accepted when it is known to be different from every component accepted before it, so
    /// the first is always accepted. The exemplar of a component is its smallest member.
    pub fn classes(&self) -> Vec<usize> {
        let mut candidates = self.component_summaries();
        candidates.sort_by(|x, y| y.size.cmp(&x.size).then(x.smallest.cmp(&y.smallest)));

        let mut accepted_roots: Vec<usize> = Vec::new();
        let mut exemplars = Vec::new();
        for candidate in candidates {
            let different = &self.different[candidate.root];
            let is_new_class = different.len() >= accepted_roots.len()
                && accepted_roots.iter().all(|root| different.contains(root));
            if is_new_class {
                accepted_roots.push(candidate.root);
                exemplars.push(candidate.smallest);
            }
        }
        exemplars
    }

    /// For each of `items`, the hub of its component: the member the most applied "same"
    /// answers name (ties: the smallest). New items asked against a hub hang off it, so a
    /// component grown that way stays a star whose every other "same" holds one item, and
    /// a lone "same" that holds two groups together stands out as a join (see
    /// [`consensus`](crate::consensus)). An item of its own is its own hub.
    ///
    /// # Panics
    /// When an item is `>= n`.
    pub fn hubs(&self, items: &[usize]) -> Vec<usize> {
        let mut hub_of_root = vec![usize::MAX; self.len()];
        for i in 0..self.len() {
            let hub = &mut hub_of_root[self.component_of(i)];
            if *hub == usize::MAX || self.same_answers[i] > self.same_answers[*hub] {
                *hub = i;
            }
        }
        items
            .iter()
            .map(|&item| {
                self.check_item(item);
                hub_of_root[self.component_of(item)]
            })
            .collect()
    }

    /// Root, size and smallest member of every component, ordered by smallest member.
    fn component_summaries(&self) -> Vec<ComponentSummary> {
        let mut seen = vec![false; self.len()];
        let mut summaries = Vec::new();
        for i in 0..self.len() {
            let root = self.component_of(i);
            if !seen[root] {
                seen[root] = true;
                summaries.push(ComponentSummary {
                    root,
                    smallest: i,
                    size: self.size[root],
                });
            }
        }
        summaries
    }

    /// Joins two different roots (union by size) and re-keys the "different" edges of the
    /// absorbed root onto the surviving one.
    fn merge_roots(&mut self, root_a: usize, root_b: usize) -> Applied {
        let (keep, absorb) = if self.size[root_a] >= self.size[root_b] {
            (root_a, root_b)
        } else {
            (root_b, root_a)
        };
        self.parent[absorb] = keep;
        self.size[keep] += self.size[absorb];

        for other in std::mem::take(&mut self.different[absorb]) {
            self.different[other].remove(&absorb);
            self.different[other].insert(keep);
            self.different[keep].insert(other);
        }
        Applied::Merged
    }

    fn separate_roots(&mut self, root_a: usize, root_b: usize) -> Applied {
        self.different[root_a].insert(root_b);
        self.different[root_b].insert(root_a);
        Applied::Separated
    }

    fn check_item(&self, i: usize) {
        assert!(
            i < self.len(),
            "item {i} out of range for a graph of {} items",
            self.len()
        );
    }
}

struct ComponentSummary {
    root: usize,
    smallest: usize,
    size: usize,
}
