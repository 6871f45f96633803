//! Which "same" pairs are the only link between two groups of items: the bridges of the
//! graph of "same" pairs, with the sizes of the two sides each one holds together.

/// For every edge of an undirected multigraph over items `0..n`, the sizes of the two sides
/// the edge alone joins, smaller first: `Some` for a bridge (removing it splits its
/// component), `None` for an edge on a cycle, which other edges back up. A self-loop or an
/// edge doubled by a parallel one is never a bridge.
///
/// Tarjan's low-link search, iterative so that a long chain of answers cannot overflow the
/// stack; `O(n + edges)`.
///
/// # Panics
/// When an edge names an item `>= n`.
pub(super) fn bridge_sides(n: usize, edges: &[(usize, usize)]) -> Vec<Option<(usize, usize)>> {
    Adjacency::new(n, edges).bridge_sides()
}

impl Adjacency {
    /// [`bridge_sides`] of the edges this adjacency was built from.
    fn bridge_sides(&self) -> Vec<Option<(usize, usize)>> {
        let (adjacency, n) = (self, self.starts.len() - 1);
        let mut sides = vec![None; self.entries.len() / 2];
        let mut order = vec![usize::MAX; n];
        let mut low = vec![0; n];
        let mut subtree = vec![0usize; n];
        let mut counter = 0;
        // (item, edge it was reached by, next neighbour slot to look at)
        let mut stack: Vec<(usize, usize, usize)> = Vec::new();
        // Tree edges whose lower end closed with no back edge above it: (edge, lower end).
        let mut bridges: Vec<(usize, usize)> = Vec::new();

        for start in 0..n {
            if order[start] != usize::MAX || adjacency.degree(start) == 0 {
                continue;
            }
            order[start] = counter;
            low[start] = counter;
            counter += 1;
            stack.push((start, usize::MAX, 0));
            let first_bridge = bridges.len();

            while let Some(top) = stack.last_mut() {
                let (item, via, slot) = *top;
                if let Some(&(next, edge)) = adjacency.of(item).get(slot) {
                    top.2 += 1;
                    if edge == via {
                        continue;
                    }
                    if order[next] == usize::MAX {
                        order[next] = counter;
                        low[next] = counter;
                        counter += 1;
                        stack.push((next, edge, 0));
                    } else {
                        low[item] = low[item].min(order[next]);
                    }
                    continue;
                }
                stack.pop();
                subtree[item] += 1;
                if let Some(&(parent, ..)) = stack.last() {
                    subtree[parent] += subtree[item];
                    low[parent] = low[parent].min(low[item]);
                    if low[item] > order[parent] {
                        bridges.push((via, item));
                    }
                }
            }

            let component = subtree[start];
            for &(edge, lower) in &bridges[first_bridge..] {
                let below = subtree[lower];
                let above = component - below;
                sides[edge] = Some((below.min(above), below.max(above)));
            }
        }
        sides
    }
}

/// The two sides of a bridge of "same" pairs, to count the "different" verdicts between them.
pub(super) struct Sides {
    adjacency: Adjacency,
    /// Per item: 0 when on neither side, else 1 or 2; all 0 between calls.
    side: Vec<u8>,
}

impl Sides {
    /// For the multigraph of `edges` over items `0..n`.
    pub(super) fn new(n: usize, edges: &[(usize, usize)]) -> Sides {
        Sides {
            adjacency: Adjacency::new(n, edges),
            side: vec![0; n],
        }
    }

    /// [`bridge_sides`] of the edges, from the adjacency already built.
    pub(super) fn bridge_sides(&self) -> Vec<Option<(usize, usize)>> {
        self.adjacency.bridge_sides()
    }

    /// How many of `pairs` have one item on each side of bridge `edge`, whose ends are
    /// `(a, b)`: on `a`'s side, the items `a` reaches without crossing the edge.
    pub(super) fn pairs_across(
        &mut self,
        edge: usize,
        (a, b): (usize, usize),
        pairs: &[(usize, usize)],
    ) -> usize {
        let first = self.mark(a, edge, 1);
        let second = self.mark(b, edge, 2);
        let across = pairs
            .iter()
            .filter(|&&(x, y)| {
                let (x, y) = (self.side[x], self.side[y]);
                x != 0 && y != 0 && x != y
            })
            .count();
        for item in first.into_iter().chain(second) {
            self.side[item] = 0;
        }
        across
    }

    /// Marks `side` on every item `from` reaches without crossing `skipped`; returns them.
    fn mark(&mut self, from: usize, skipped: usize, side: u8) -> Vec<usize> {
        let mut reached = vec![from];
        self.side[from] = side;
        let mut next = 0;
        while let Some(&item) = reached.get(next) {
            next += 1;
            for &(neighbour, edge) in self.adjacency.of(item) {
                if edge != skipped && self.side[neighbour] == 0 {
                    self.side[neighbour] = side;
                    reached.push(neighbour);
                }
            }
        }
        reached
    }
}

/// Neighbours of every item with the edge that leads to each, in compressed rows.
struct Adjacency {
    starts: Vec<usize>,
    /// `(neighbour, edge index)`.
    entries: Vec<(usize, usize)>,
}

impl Adjacency {
    fn new(n: usize, edges: &[(usize, usize)]) -> Adjacency {
        let mut starts = vec![0usize; n + 1];
        for &(a, b) in edges {
            assert!(a < n && b < n, "edge ({a}, {b}) out of range for {n} items");
            starts[a + 1] += 1;
            starts[b + 1] += 1;
        }
        for i in 0..n {
            starts[i + 1] += starts[i];
        }
        let mut filled = starts.clone();
        let mut entries = vec![(0, 0); starts[n]];
        for (edge, &(a, b)) in edges.iter().enumerate() {
            entries[filled[a]] = (b, edge);
            filled[a] += 1;
            entries[filled[b]] = (a, edge);
            filled[b] += 1;
        }
        Adjacency { starts, entries }
    }

    fn of(&self, item: usize) -> &[(usize, usize)] {
        &self.entries[self.starts[item]..self.starts[item + 1]]
    }

    fn degree(&self, item: usize) -> usize {
        self.starts[item + 1] - self.starts[item]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_chain_is_all_bridges_and_each_splits_it_where_it_sits() {
        let sides = bridge_sides(4, &[(0, 1), (1, 2), (2, 3)]);

        assert_eq!(sides, [Some((1, 3)), Some((2, 2)), Some((1, 3))]);
    }

    #[test]
    fn edges_on_a_cycle_or_doubled_are_backed_up_and_the_edge_between_two_cycles_is_not() {
        // Triangle 0-1-2, the bridge 2-3, then 3-4 twice and a self-loop on 4.
        let edges = [(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (4, 3), (4, 4)];

        let sides = bridge_sides(6, &edges);

        assert_eq!(sides, [None, None, None, Some((2, 3)), None, None, None]);
    }

    /// How many items `from` reaches without edge `skipped`; `None` when it still reaches `to`.
    fn reach_without(
        n: usize,
        edges: &[(usize, usize)],
        skipped: usize,
        (from, to): (usize, usize),
    ) -> Option<usize> {
        let mut seen = vec![false; n];
        let mut stack = vec![from];
        seen[from] = true;
        while let Some(item) = stack.pop() {
            for (edge, &(x, y)) in edges.iter().enumerate() {
                let next = match (edge == skipped, x == item, y == item) {
                    (true, ..) => continue,
                    (_, true, _) => y,
                    (_, _, true) => x,
                    _ => continue,
                };
                if !seen[next] {
                    seen[next] = true;
                    stack.push(next);
                }
            }
        }
        (!seen[to]).then(|| seen.iter().filter(|&&s| s).count())
    }

    #[test]
    fn pairs_across_a_bridge_are_those_with_one_item_on_each_side() {
        // Triangle 0-1-2, the bridge 2-3 (edge 3), then 3-4; item 5 apart.
        let edges = [(0, 1), (1, 2), (2, 0), (2, 3), (3, 4)];
        let mut sides = Sides::new(6, &edges);
        let pairs = [(0, 4), (4, 1), (0, 1), (3, 4), (0, 5), (5, 3)];

        assert_eq!(sides.pairs_across(3, (2, 3), &pairs), 2);
        assert_eq!(sides.pairs_across(4, (3, 4), &pairs), 3);
        assert_eq!(sides.pairs_across(3, (2, 3), &[]), 0);
    }

    proptest! {
        #[test]
        fn an_edge_is_a_bridge_exactly_when_removing_it_disconnects_its_ends(
            (n, edges) in (1usize..9).prop_flat_map(|n| {
                (Just(n), proptest::collection::vec((0..n, 0..n), 0..14))
            })
        ) {
            let sides = bridge_sides(n, &edges);

            for (edge, found) in sides.iter().enumerate() {
                let (x, y) = edges[edge];
                let from_a = reach_without(n, &edges, edge, (x, y));
                prop_assert_eq!(found.is_some(), from_a.is_some(), "edge {}", edge);
                if let (Some((small, large)), Some(a_side)) = (found, from_a) {
                    let b_side = reach_without(n, &edges, edge, (y, x))
                        .expect("a bridge splits both ways");
                    prop_assert_ne!(x, y);
                    prop_assert_eq!((*small, *large), (a_side.min(b_side), a_side.max(b_side)));
                }
            }
        }
    }
}
