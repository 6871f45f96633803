use super::*;
use proptest::prelude::*;
use std::collections::HashSet;

use Verdict::{Different, NotSure, Same};

fn all_relations(graph: &Graph) -> Vec<Relation> {
    let n = graph.len();
    (0..n)
        .flat_map(|a| (0..n).map(move |b| graph.relation(a, b)))
        .collect()
}

#[test]
fn different_propagates_over_same_and_a_contradicting_same_is_a_conflict() {
    let mut graph = Graph::from_answers(3, [(0, 1, Same), (1, 2, Different)]);
    assert_eq!(graph.relation(0, 2), Relation::Different);
    let before = all_relations(&graph);

    let applied = graph.apply(0, 2, Same);

    assert_eq!(applied, Applied::Conflict);
    assert_eq!(all_relations(&graph), before);
    assert_eq!(
        graph.conflicts(),
        &[Conflict {
            a: 0,
            b: 2,
            verdict: Same
        }]
    );
}

#[test]
fn a_different_inside_a_component_is_a_conflict() {
    let mut graph = Graph::from_answers(3, [(0, 1, Same), (1, 2, Same)]);

    let applied = graph.apply(2, 0, Different);

    assert_eq!(applied, Applied::Conflict);
    assert_eq!(graph.relation(0, 2), Relation::Same);
    assert_eq!(graph.conflicts().len(), 1);
}

#[test]
fn each_answer_reports_what_it_did() {
    let mut graph = Graph::new(4);

    let outcomes = [
        graph.apply(0, 1, Same),
        graph.apply(1, 0, Same),
        graph.apply(1, 2, Different),
        graph.apply(2, 0, Different),
        graph.apply(2, 3, NotSure),
        graph.apply(3, 3, Different),
    ];

    use Applied::*;
    assert_eq!(
        outcomes,
        [Merged, Redundant, Separated, Redundant, Ignored, Ignored]
    );
    assert!(graph.conflicts().is_empty());
}

#[test]
fn merging_two_components_re_keys_their_different_edges() {
    let answers = [
        (0, 1, Different),
        (2, 3, Different),
        (4, 5, Same),
        (4, 0, Same),
    ];
    let mut graph = Graph::from_answers(6, answers);

    graph.apply(5, 2, Same);

    assert_eq!(graph.relation(1, 4), Relation::Different);
    assert_eq!(graph.relation(3, 0), Relation::Different);
    assert_eq!(graph.relation(1, 3), Relation::Unknown);
    assert!(graph.is_decided(5, 3));
    assert!(!graph.is_decided(1, 3));
}

#[test]
fn components_list_members_ascending_ordered_by_smallest_member() {
    let graph = Graph::from_answers(6, [(4, 1, Same), (5, 0, Same), (1, 3, Same)]);

    let components = graph.components();

    assert_eq!(components, vec![vec![0, 5], vec![1, 3, 4], vec![2]]);
    assert_eq!(graph.positive_groups(), vec![vec![0, 5], vec![1, 3, 4]]);
    assert_eq!((graph.component_size(3), graph.component_size(2)), (3, 1));
    assert_eq!(graph.component_count(), 3);
}

#[test]
fn classes_take_the_largest_component_then_those_different_from_all_accepted() {
    let answers = [
        (3, 4, Same),
        (4, 5, Same),
        (1, 2, Same),
        (2, 5, Different),
        (0, 3, Different),
        (6, 3, Different),
    ];
    let graph = Graph::from_answers(7, answers);

    let classes = graph.classes();

    // {3,4,5} first; {1,2} is different from it; 0 and 6 are different from {3,4,5} but
    // unknown against {1,2}.
    assert_eq!(classes, vec![3, 1]);
}

#[test]
fn a_graph_without_answers_has_one_class_at_its_first_item() {
    let graph = Graph::new(5);

    assert_eq!(graph.classes(), vec![0]);
    assert_eq!(Graph::new(0).classes(), Vec::<usize>::new());
}

#[test]
fn a_hub_is_the_member_most_same_answers_name() {
    let mut graph = Graph::new(7);
    for (a, b) in [(1, 4), (4, 2), (4, 3), (5, 6)] {
        graph.apply(a, b, Same);
    }
    graph.apply(2, 3, Same); // redundant, still an answer about 2 and 3
    graph.apply(0, 4, Different);

    // {1, 2, 3, 4}: 4 is named three times, 2 and 3 twice; {5, 6}: a tie, the smaller wins.
    assert_eq!(graph.hubs(&[1, 3, 6, 0]), vec![4, 4, 5, 0]);
    assert_eq!(graph.hubs(&[]), Vec::<usize>::new());
}

#[test]
#[should_panic(expected = "item 3 out of range")]
fn an_answer_about_an_unknown_item_panics() {
    let mut graph = Graph::new(3);

    graph.apply(0, 3, Same);
}

/// The obvious quadratic model of the closure: a label per item, "different" between labels.
struct NaiveGraph {
    label: Vec<usize>,
    different: HashSet<(usize, usize)>,
}

impl NaiveGraph {
    fn apply(&mut self, a: usize, b: usize, verdict: Verdict) -> Applied {
        let (la, lb) = (self.label[a], self.label[b]);
        let known_different = self.different.contains(&(la, lb));
        match verdict {
            _ if a == b || verdict == NotSure => Applied::Ignored,
            Same if la == lb => Applied::Redundant,
            Same if known_different => Applied::Conflict,
            Same => {
                self.label
                    .iter_mut()
                    .filter(|l| **l == lb)
                    .for_each(|l| *l = la);
                let rekey = |x: usize| if x == lb { la } else { x };
                self.different = self
                    .different
                    .iter()
                    .map(|&(x, y)| (rekey(x), rekey(y)))
                    .collect();
                Applied::Merged
            }
            _ if la == lb => Applied::Conflict,
            _ if known_different => Applied::Redundant,
            _ => {
                self.different.extend([(la, lb), (lb, la)]);
                Applied::Separated
            }
        }
    }

    fn relation(&self, a: usize, b: usize) -> Relation {
        let (la, lb) = (self.label[a], self.label[b]);
        if la == lb {
            Relation::Same
        } else if self.different.contains(&(la, lb)) {
            Relation::Different
        } else {
            Relation::Unknown
        }
    }
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![3 => Just(Same), 3 => Just(Different), 1 => Just(NotSure)]
}

fn answer_log() -> impl Strategy<Value = (usize, Vec<(usize, usize, Verdict)>)> {
    (1usize..9).prop_flat_map(|n| {
        let answer = (0..n, 0..n, verdict());
        (Just(n), proptest::collection::vec(answer, 0..40))
    })
}

/// Truthful answers about items with hidden labels: never a conflict.
fn consistent_log() -> impl Strategy<Value = (usize, Vec<(usize, usize, Verdict)>)> {
    (1usize..9, 1u8..4).prop_flat_map(|(n, classes)| {
        let labels = proptest::collection::vec(0..classes, n);
        let pairs = proptest::collection::vec((0..n, 0..n), 0..30);
        (labels, pairs).prop_map(move |(labels, pairs)| {
            let truth = |(a, b): (usize, usize)| {
                let verdict = if labels[a] == labels[b] {
                    Same
                } else {
                    Different
                };
                (a, b, verdict)
            };
            (n, pairs.into_iter().map(truth).collect())
        })
    })
}

proptest! {
    #[test]
    fn the_graph_agrees_with_a_naive_model_answer_by_answer((n, log) in answer_log()) {
        let mut graph = Graph::new(n);
        let mut naive = NaiveGraph { label: (0..n).collect(), different: HashSet::new() };

        for &(a, b, verdict) in &log {
            prop_assert_eq!(graph.apply(a, b, verdict), naive.apply(a, b, verdict));
        }

        for a in 0..n {
            for b in 0..n {
                prop_assert_eq!(graph.relation(a, b), naive.relation(a, b));
            }
        }
    }

    #[test]
    fn same_is_an_equivalence_relation((n, log) in answer_log()) {
        let graph = Graph::from_answers(n, log);

        for a in 0..n {
            prop_assert_eq!(graph.relation(a, a), Relation::Same);
            for b in 0..n {
                let same = graph.relation(a, b) == Relation::Same;
                prop_assert_eq!(same, graph.relation(b, a) == Relation::Same);
                for c in 0..n {
                    if same && graph.relation(b, c) == Relation::Same {
                        prop_assert_eq!(graph.relation(a, c), Relation::Same);
                    }
                }
            }
        }
    }

    #[test]
    fn different_is_symmetric_outside_components_and_propagates_over_same(
        (n, log) in answer_log()
    ) {
        let graph = Graph::from_answers(n, log);

        for a in 0..n {
            for b in 0..n {
                if graph.relation(a, b) != Relation::Different {
                    continue;
                }
                prop_assert_eq!(graph.relation(b, a), Relation::Different);
                prop_assert_ne!(graph.component_of(a), graph.component_of(b));
                for c in (0..n).filter(|&c| graph.relation(b, c) == Relation::Same) {
                    prop_assert_eq!(graph.relation(a, c), Relation::Different);
                }
            }
        }
    }

    #[test]
    fn every_applied_answer_holds_in_the_final_graph((n, log) in answer_log()) {
        let mut graph = Graph::new(n);
        let outcomes: Vec<Applied> =
            log.iter().map(|&(a, b, verdict)| graph.apply(a, b, verdict)).collect();

        for (&(a, b, verdict), applied) in log.iter().zip(outcomes) {
            let expected = match verdict {
                Same => Relation::Same,
                Different => Relation::Different,
                NotSure => continue,
            };
            if applied != Applied::Conflict && a != b {
                prop_assert_eq!(graph.relation(a, b), expected);
            }
        }
    }

    #[test]
    fn conflicts_are_recorded_and_change_nothing((n, log) in answer_log()) {
        let mut graph = Graph::new(n);

        for (a, b, verdict) in log {
            let (relations, components) = (all_relations(&graph), graph.components());
            let conflicts_before = graph.conflicts().len();

            let applied = graph.apply(a, b, verdict);

            let is_conflict = applied == Applied::Conflict;
            prop_assert_eq!(graph.conflicts().len(), conflicts_before + usize::from(is_conflict));
            if is_conflict || applied == Applied::Redundant || applied == Applied::Ignored {
                prop_assert_eq!(all_relations(&graph), relations);
                prop_assert_eq!(graph.components(), components);
            }
        }
    }

    #[test]
    fn the_graph_rebuilt_from_the_log_equals_the_incremental_one((n, log) in answer_log()) {
        let mut incremental = Graph::new(n);
        for &(a, b, verdict) in &log {
            incremental.apply(a, b, verdict);
            let _ = incremental.classes();
        }

        let rebuilt = Graph::from_answers(n, log);

        prop_assert_eq!(all_relations(&rebuilt), all_relations(&incremental));
        prop_assert_eq!(rebuilt.components(), incremental.components());
        prop_assert_eq!(rebuilt.conflicts(), incremental.conflicts());
        prop_assert_eq!(rebuilt.classes(), incremental.classes());
    }

    #[test]
    fn the_order_of_consistent_answers_does_not_matter(
        (n, log, shuffled) in consistent_log().prop_flat_map(|(n, log)| {
            let shuffled = Just(log.clone()).prop_shuffle();
            (Just(n), Just(log), shuffled)
        })
    ) {
        let in_order = Graph::from_answers(n, log);

        let reordered = Graph::from_answers(n, shuffled);

        prop_assert!(in_order.conflicts().is_empty() && reordered.conflicts().is_empty());
        prop_assert_eq!(all_relations(&in_order), all_relations(&reordered));
        prop_assert_eq!(in_order.classes(), reordered.classes());
    }

    #[test]
    fn classes_are_pairwise_different_and_no_other_component_could_join_them(
        (n, log) in answer_log()
    ) {
        let graph = Graph::from_answers(n, log);

        let classes = graph.classes();

        prop_assert!(!classes.is_empty());
        let components = graph.components();
        for (i, &x) in classes.iter().enumerate() {
            let smallest_member = components.iter().find(|c| c.contains(&x)).map(|c| c[0]);
            prop_assert_eq!(smallest_member, Some(x));
            for &y in &classes[i + 1..] {
                prop_assert_eq!(graph.relation(x, y), Relation::Different);
            }
        }
        for component in components {
            let member = component[0];
            let is_class = classes.iter().any(|&c| graph.relation(c, member) == Relation::Same);
            let different_from_all =
                classes.iter().all(|&c| graph.relation(c, member) == Relation::Different);
            prop_assert!(is_class || !different_from_all);
        }
    }

    #[test]
    fn components_partition_the_items((n, log) in answer_log()) {
        let graph = Graph::from_answers(n, log);

        let components = graph.components();

        let mut all: Vec<usize> = components.iter().flatten().copied().collect();
        all.sort_unstable();
        prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
        prop_assert!(components.windows(2).all(|w| w[0][0] < w[1][0]));
        prop_assert!(components.iter().all(|c| c.windows(2).all(|w| w[0] < w[1])));
        prop_assert_eq!(components.len(), graph.component_count());
    }
}
