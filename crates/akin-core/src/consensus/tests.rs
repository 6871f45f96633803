use std::collections::HashSet;

use super::*;
use crate::Relation;
use crate::Verdict::{Different, NotSure, Same};
use proptest::prelude::*;

fn vote(a: usize, b: usize, verdict: Verdict, annotator: u32) -> Vote {
    Vote {
        a,
        b,
        verdict,
        annotator,
    }
}

fn all_relations(graph: &Graph) -> Vec<Relation> {
    let n = graph.len();
    (0..n)
        .flat_map(|a| (0..n).map(move |b| graph.relation(a, b)))
        .collect()
}

fn settle_default(n: usize, votes: &[Vote]) -> Settlement {
    settle(n, votes, &[], &ConsensusSettings::default())
}

#[test]
fn a_weak_contradicting_pair_becomes_the_conflict_whatever_the_log_order() {
    let votes = [
        vote(0, 2, Different, 9),
        vote(0, 1, Same, 1),
        vote(0, 1, Same, 2),
        vote(1, 0, Same, 3),
        vote(1, 2, Same, 1),
        vote(2, 1, Same, 2),
        vote(1, 2, Same, 3),
    ];

    let settlement = settle_default(3, &votes);

    assert_eq!(settlement.graph.relation(0, 2), Relation::Same);
    assert_eq!(
        settlement.conflicts,
        vec![Conflict {
            a: 0,
            b: 2,
            verdict: Different
        }]
    );
    assert_eq!(settlement.awaiting, vec![(0, 2)]);
    assert_eq!(settlement.settled.len(), 2);
    let reliability = &settlement.reliability;
    assert!(
        reliability[&9] < 0.5 && reliability[&1] > 0.5,
        "{reliability:?}"
    );
}

#[test]
fn a_tied_pair_is_not_applied_and_awaits_more_votes() {
    let votes = [vote(0, 1, Same, 1), vote(0, 1, Different, 2)];

    let settlement = settle_default(2, &votes);

    assert_eq!(settlement.graph.relation(0, 1), Relation::Unknown);
    assert_eq!(settlement.awaiting, vec![(0, 1)]);
    assert!(settlement.settled.is_empty());
}

#[test]
fn three_against_two_is_too_weak_by_default_and_settles_with_a_lower_bar() {
    let votes = [
        vote(0, 1, Same, 1),
        vote(0, 1, Same, 2),
        vote(0, 1, Same, 3),
        vote(0, 1, Different, 4),
        vote(0, 1, Different, 5),
    ];
    let lenient = ConsensusSettings {
        min_lead: 0.1,
        ..ConsensusSettings::default()
    };

    let strict = settle_default(2, &votes);
    let relaxed = settle(2, &votes, &[], &lenient);

    assert_eq!(strict.awaiting, vec![(0, 1)]);
    assert_eq!(strict.graph.relation(0, 1), Relation::Unknown);
    assert_eq!(relaxed.graph.relation(0, 1), Relation::Same);
    assert!(relaxed.awaiting.is_empty());
}

#[test]
fn a_weak_pair_that_the_graph_decides_otherwise_does_not_await() {
    let votes = [
        vote(0, 1, Same, 1),
        vote(1, 2, Same, 1),
        vote(0, 2, Same, 2),
        vote(0, 2, Different, 3),
    ];

    let settlement = settle_default(3, &votes);

    assert_eq!(settlement.graph.relation(0, 2), Relation::Same);
    assert!(settlement.awaiting.is_empty());
}

#[test]
fn reliability_learned_on_gold_pairs_breaks_a_tie_between_two_annotators() {
    // Items 0..4 are one class and 4..8 another; annotator 1 gets the gold pairs right,
    // annotator 2 gets them wrong, then they disagree about 8 and 9.
    let gold = [
        (0, 4, Different),
        (1, 5, Different),
        (0, 1, Same),
        (4, 5, Same),
    ];
    let mut votes: Vec<Vote> = gold.iter().map(|&(a, b, v)| vote(a, b, v, 1)).collect();
    let flip = |v: Verdict| if v == Same { Different } else { Same };
    votes.extend(gold.iter().map(|&(a, b, v)| vote(a, b, flip(v), 2)));
    votes.extend([vote(8, 9, Same, 1), vote(8, 9, Different, 2)]);

    let settlement = settle(10, &votes, &gold, &ConsensusSettings::default());

    let (good, bad) = (settlement.reliability[&1], settlement.reliability[&2]);
    assert!(good > 0.8 && bad < 0.2, "{good} {bad}");
    assert_eq!(settlement.graph.relation(8, 9), Relation::Same);
    assert_eq!(settlement.graph.relation(0, 5), Relation::Different);
    assert!(settlement.settled.iter().filter(|p| p.gold).count() == 4);
}

#[test]
fn a_gold_pair_overrides_the_votes_on_it() {
    let votes = [vote(0, 1, Same, 1), vote(0, 1, Same, 2)];

    let settlement = settle(
        2,
        &votes,
        &[(1, 0, Different)],
        &ConsensusSettings::default(),
    );

    assert_eq!(settlement.graph.relation(0, 1), Relation::Different);
    assert!(settlement.conflicts.is_empty());
    assert_eq!(settlement.settled.len(), 1);
    assert!(settlement.settled[0].gold);
    assert!(settlement.reliability[&1] < 0.5);
}

#[test]
fn only_the_latest_vote_of_an_annotator_on_a_pair_counts() {
    let votes = [vote(0, 1, Same, 1), vote(1, 0, Different, 1)];

    let settlement = settle_default(2, &votes);

    assert_eq!(settlement.graph.relation(0, 1), Relation::Different);
    assert_eq!(settlement.settled[0].votes, 1);
}

#[test]
fn not_sure_votes_and_self_pairs_count_for_nothing() {
    let votes = [
        vote(0, 1, Same, 1),
        vote(0, 1, NotSure, 2),
        vote(2, 3, NotSure, 1),
        vote(2, 2, Different, 1),
    ];

    let settlement = settle_default(4, &votes);

    assert_eq!(settlement.graph.relation(0, 1), Relation::Same);
    assert_eq!(settlement.settled.len(), 1);
    assert_eq!(settlement.settled[0].votes, 1);
    assert_eq!(settlement.graph.relation(2, 3), Relation::Unknown);
    assert!(settlement.awaiting.is_empty());
}

#[test]
#[should_panic(expected = "item 5 out of range")]
fn a_vote_about_an_unknown_item_panics() {
    settle_default(3, &[vote(0, 5, Same, 1)]);
}

fn settled_pair(a: usize, b: usize, votes: usize, gold: bool) -> SettledPair {
    SettledPair {
        a,
        b,
        verdict: Same,
        votes,
        lead: 1.0,
        gold,
    }
}

#[test]
fn audits_take_pairs_resting_on_the_fewest_votes_and_never_gold_ones() {
    let settled = [
        settled_pair(0, 1, 3, false),
        settled_pair(0, 2, 1, false),
        settled_pair(0, 3, 0, true),
        settled_pair(1, 2, 2, false),
        settled_pair(1, 3, 1, false),
        settled_pair(2, 3, 1, false),
    ];

    let four = audit_pairs(&settled, 4, 7, None);
    let again = audit_pairs(&settled, 4, 7, None);
    let everything = audit_pairs(&settled, 100, 7, None);

    assert_eq!(four, again);
    let mut single_votes = four[..3].to_vec();
    single_votes.sort_unstable();
    assert_eq!(single_votes, vec![(0, 2), (1, 3), (2, 3)]);
    assert_eq!(four[3], (1, 2));
    assert_eq!(everything.len(), 5);
    assert!(!everything.contains(&(0, 3)));
}

#[test]
fn audits_start_with_the_lone_same_that_holds_the_most_items_together() {
    // Stars {0: 1, 2} and {3: 4, 5}, joined by 2-3 alone: 2-3 holds 3 items to 3, 0-2
    // holds 2 to 4, and the other pairs hold one item each.
    let settled: Vec<SettledPair> = [(0, 1), (0, 2), (3, 4), (3, 5), (2, 3)]
        .into_iter()
        .map(|(a, b)| settled_pair(a, b, 1, false))
        .collect();

    for seed in 0..8 {
        let audits = audit_pairs(&settled, 2, seed, None);

        assert_eq!(audits, vec![(2, 3), (0, 2)], "seed {seed}");
    }
}

#[test]
fn audits_are_drawn_differently_under_other_seeds() {
    let settled: Vec<SettledPair> = (1..40).map(|b| settled_pair(0, b, 1, false)).collect();

    let draws: HashSet<Vec<(usize, usize)>> = (0..5)
        .map(|seed| audit_pairs(&settled, 5, seed, None))
        .collect();

    assert!(draws.len() > 1);
}

#[test]
fn with_embeddings_audits_start_with_the_pairs_the_model_disagrees_with() {
    // Items 0..6 point along x, items 6..12 along y. Settled: "same" within each half,
    // "different" across, plus one wrong "same" (2, 8) and one wrong "different" (3, 4).
    let values: Vec<f32> = (0..12)
        .flat_map(|i| {
            if i < 6 {
                [1.0, 0.05 * i as f32]
            } else {
                [0.05 * i as f32, 1.0]
            }
        })
        .collect();
    let embeddings = Embeddings::new(2, values).expect("12 x 2");
    let mut settled: Vec<SettledPair> = [(0, 1), (0, 5), (0, 2), (6, 7), (6, 9), (10, 11)]
        .into_iter()
        .map(|(a, b)| settled_pair(a, b, 1, false))
        .collect();
    for (a, b) in [(0, 6), (1, 7), (2, 9), (5, 10), (4, 11)] {
        settled.push(SettledPair {
            verdict: Different,
            ..settled_pair(a, b, 1, false)
        });
    }
    settled.push(settled_pair(0, 8, 1, false));
    settled.push(SettledPair {
        verdict: Different,
        ..settled_pair(3, 4, 1, false)
    });

    let audits = audit_pairs(&settled, 2, 7, Some(&embeddings));
    let blind = audit_pairs(&settled, 2, 7, None);

    let mut first_two = audits.clone();
    first_two.sort_unstable();
    assert_eq!(first_two, vec![(0, 8), (3, 4)]);
    assert_ne!(
        blind, audits,
        "without embeddings the order is a seeded draw"
    );
}

/// Stars {0, 1, 2} and {3, 4, 5} of single "same" votes, and one "same" vote from annotator
/// 7 that alone joins their hubs 0 and 3.
fn two_groups_and_a_lone_join() -> Vec<Vote> {
    vec![
        vote(0, 1, Same, 1),
        vote(0, 2, Same, 1),
        vote(3, 4, Same, 1),
        vote(3, 5, Same, 1),
        vote(0, 3, Same, 7),
    ]
}

/// Annotators 1 and 2 disagree about the pair (8, 9).
fn a_disagreement() -> [Vote; 2] {
    [vote(8, 9, Same, 1), vote(8, 9, Different, 2)]
}

fn settle_joins(votes: &[Vote], confirm_joins: JoinConfirmation) -> Settlement {
    let settings = ConsensusSettings {
        confirm_joins,
        ..ConsensusSettings::default()
    };
    settle(10, votes, &[], &settings)
}

#[test]
fn once_annotators_disagree_a_lone_same_between_two_groups_waits_until_same_leads_by_three() {
    let mut votes = two_groups_and_a_lone_join();
    votes.extend(a_disagreement());

    let held = settle_default(10, &votes);

    assert_eq!(held.graph.relation(0, 5), Relation::Unknown);
    assert_eq!(held.awaiting, vec![(0, 3), (8, 9)]);
    assert_eq!(held.held_joins, vec![(0, 3)]);
    assert!(held.settled.iter().all(|pair| (pair.a, pair.b) != (0, 3)));
    assert!(held.conflicts.is_empty());

    votes.extend([vote(3, 0, Same, 8), vote(0, 3, Same, 9)]);
    let confirmed = settle_default(10, &votes);

    assert_eq!(confirmed.graph.relation(0, 5), Relation::Same);
    assert_eq!(confirmed.awaiting, vec![(8, 9)]);
    assert!(confirmed.held_joins.is_empty());
}

#[test]
fn a_second_vote_against_a_held_join_leaves_the_groups_apart() {
    let mut votes = two_groups_and_a_lone_join();
    votes.extend(a_disagreement());
    votes.push(vote(0, 3, Different, 8));

    let settlement = settle_default(10, &votes);

    assert_eq!(settlement.graph.relation(0, 5), Relation::Unknown);
    assert_eq!(settlement.awaiting, vec![(0, 3), (8, 9)]);
}

#[test]
fn a_join_needs_three_more_same_votes_than_different_ones() {
    let mut votes = two_groups_and_a_lone_join();
    votes.extend(a_disagreement());
    votes.push(vote(0, 3, Same, 8));
    let two_to_none = settle_default(10, &votes);
    votes.push(vote(0, 3, Different, 9));
    let two_to_one = settle_default(10, &votes);
    votes.extend([vote(0, 3, Same, 10), vote(0, 3, Same, 11)]);
    let four_to_one = settle_default(10, &votes);

    for held in [two_to_none, two_to_one] {
        assert_eq!(held.graph.relation(0, 5), Relation::Unknown);
        assert_eq!(held.held_joins, vec![(0, 3)]);
    }
    assert_eq!(four_to_one.graph.relation(0, 5), Relation::Same);
    assert_eq!(four_to_one.awaiting, vec![(8, 9)]);
}

#[test]
fn a_join_of_groups_told_apart_needs_one_more_same_per_different_verdict_between_them() {
    let mut votes = two_groups_and_a_lone_join();
    votes.extend(a_disagreement());
    votes.push(vote(1, 4, Different, 2));
    votes.extend([vote(0, 3, Same, 8), vote(0, 3, Same, 9)]);
    let three_to_none = settle_default(10, &votes);
    votes.push(vote(0, 3, Same, 10));
    let four_to_none = settle_default(10, &votes);

    assert_eq!(three_to_none.graph.relation(0, 5), Relation::Different);
    assert_eq!(three_to_none.held_joins, vec![(0, 3)]);
    assert!(three_to_none.conflicts.is_empty());
    assert_eq!(four_to_none.graph.relation(0, 5), Relation::Same);
    assert!(four_to_none.held_joins.is_empty());
    assert_eq!(four_to_none.conflicts.len(), 1);
}

#[test]
fn two_contested_joins_between_the_same_two_groups_wait_though_each_backs_the_other_up() {
    let mut votes = vec![
        vote(0, 1, Same, 1),
        vote(0, 2, Same, 1),
        vote(3, 4, Same, 1),
        vote(3, 5, Same, 1),
    ];
    for (a, b) in [(0, 4), (0, 5)] {
        votes.extend([
            vote(a, b, Same, 7),
            vote(a, b, Different, 8),
            vote(a, b, Same, 9),
        ]);
    }
    let two_to_one = settle_default(10, &votes);
    votes.extend([vote(0, 4, Same, 10), vote(0, 4, Same, 11)]);
    let four_to_one = settle_default(10, &votes);

    assert_eq!(two_to_one.graph.relation(1, 5), Relation::Unknown);
    assert_eq!(two_to_one.held_joins, vec![(0, 4), (0, 5)]);
    assert_eq!(four_to_one.graph.relation(1, 5), Relation::Same);
    assert!(four_to_one.held_joins.is_empty());
    assert!(four_to_one.awaiting.is_empty());
}

#[test]
fn a_conflict_shows_errors_as_a_split_pair_does() {
    let mut votes = two_groups_and_a_lone_join();
    // 1 says 4 and 5 differ, though both are "same" as 3.
    votes.push(vote(4, 5, Different, 1));

    let settlement = settle_default(10, &votes);

    assert_eq!(settlement.graph.relation(0, 5), Relation::Unknown);
    assert!(settlement.awaiting.contains(&(0, 3)));
    assert_eq!(settlement.conflicts.len(), 1);
}

#[test]
fn while_nobody_disagrees_a_lone_join_applies_at_once_unless_joins_always_wait() {
    let votes = two_groups_and_a_lone_join();

    let trusting = settle_default(10, &votes);
    let strict = settle_joins(&votes, JoinConfirmation::Always);

    assert_eq!(trusting.graph.relation(0, 5), Relation::Same);
    assert!(trusting.awaiting.is_empty());
    assert_eq!(strict.graph.relation(0, 5), Relation::Unknown);
    assert_eq!(strict.awaiting, vec![(0, 3)]);
}

#[test]
fn joins_never_wait_when_switched_off() {
    let mut votes = two_groups_and_a_lone_join();
    votes.extend(a_disagreement());

    let settlement = settle_joins(&votes, JoinConfirmation::Never);

    assert_eq!(settlement.graph.relation(0, 5), Relation::Same);
    assert_eq!(settlement.awaiting, vec![(8, 9)]);
}

#[test]
fn a_lone_same_that_adds_one_item_applies_at_once_and_two_lone_joins_of_two_groups_both_wait() {
    let mut votes = two_groups_and_a_lone_join();
    votes.extend(a_disagreement());
    votes.push(vote(3, 6, Same, 7));
    votes.push(vote(1, 4, Same, 3));

    let settlement = settle_default(10, &votes);

    assert_eq!(settlement.graph.relation(3, 6), Relation::Same);
    assert_eq!(settlement.graph.relation(0, 5), Relation::Unknown);
    assert_eq!(settlement.held_joins, vec![(0, 3), (1, 4)]);
    assert_eq!(settlement.awaiting, vec![(0, 3), (1, 4), (8, 9)]);
}

#[test]
fn two_probes_each_said_to_match_both_hubs_join_each_one_group_and_the_groups_stay_apart() {
    let mut votes = two_groups_and_a_lone_join();
    votes.pop();
    votes.extend(a_disagreement());
    // Each probe's second "same" comes when both groups stand; on a cycle, none is a bridge.
    votes.extend([
        vote(6, 0, Same, 7),
        vote(6, 3, Same, 7),
        vote(7, 3, Same, 7),
        vote(7, 0, Same, 7),
    ]);

    let settlement = settle_default(10, &votes);

    assert_eq!(settlement.graph.relation(1, 4), Relation::Unknown);
    assert_eq!(settlement.graph.relation(0, 6), Relation::Same);
    assert_eq!(settlement.graph.relation(3, 7), Relation::Same);
    assert_eq!(settlement.held_joins, vec![(0, 7), (3, 6)]);
}

/// One vote per distinct pair, truthful about hidden labels (or "not sure"), from random
/// annotators: never a conflict.
fn consistent_single_votes() -> impl Strategy<Value = (usize, Vec<Vote>)> {
    (2usize..10, 1u8..4).prop_flat_map(|(n, classes)| {
        let labels = proptest::collection::vec(0..classes, n);
        let pairs = proptest::collection::hash_set((0..n, 0..n), 0..30);
        let extras = proptest::collection::vec((0u32..5, prop::bool::weighted(0.15)), 30);
        (labels, pairs, extras).prop_map(move |(labels, pairs, extras)| {
            let mut seen = HashSet::new();
            let votes = pairs
                .into_iter()
                .filter(|&(a, b)| seen.insert((a.min(b), a.max(b))))
                .zip(extras)
                .map(|((a, b), (annotator, unsure))| {
                    let verdict = match () {
                        _ if unsure => NotSure,
                        _ if labels[a] == labels[b] => Same,
                        _ => Different,
                    };
                    vote(a, b, verdict, annotator)
                })
                .collect();
            (n, votes)
        })
    })
}

/// Any votes at all, with disagreements and conflicts.
fn noisy_votes() -> impl Strategy<Value = (usize, Vec<Vote>)> {
    (2usize..8).prop_flat_map(|n| {
        let verdict = prop_oneof![3 => Just(Same), 3 => Just(Different), 1 => Just(NotSure)];
        let one = (0..n, 0..n, verdict, 0u32..4).prop_map(|(a, b, v, who)| vote(a, b, v, who));
        (Just(n), proptest::collection::vec(one, 1..40))
    })
}

proptest! {
    #[test]
    fn with_one_consistent_vote_per_pair_the_settled_graph_is_the_replayed_log(
        (n, votes) in consistent_single_votes()
    ) {
        let replayed = Graph::from_answers(n, votes.iter().map(|v| (v.a, v.b, v.verdict)));

        let settlement = settle_default(n, &votes);

        prop_assert!(replayed.conflicts().is_empty());
        prop_assert_eq!(all_relations(&settlement.graph), all_relations(&replayed));
        prop_assert!(settlement.conflicts.is_empty());
        prop_assert!(settlement.awaiting.is_empty());
        let decisive = votes.iter().filter(|v| v.a != v.b && v.verdict != NotSure).count();
        prop_assert_eq!(settlement.settled.len(), decisive);
    }

    #[test]
    fn repeating_a_vote_on_a_unanimous_pair_changes_nothing(
        ((n, votes), pick) in (noisy_votes(), any::<prop::sample::Index>())
    ) {
        let repeated = votes[pick.index(votes.len())];
        let key = (repeated.a.min(repeated.b), repeated.a.max(repeated.b));
        let unanimous = votes
            .iter()
            .filter(|v| (v.a.min(v.b), v.a.max(v.b)) == key)
            .all(|v| v.verdict == repeated.verdict);
        prop_assume!(unanimous);
        let before = settle_default(n, &votes);
        let mut more = votes.clone();
        more.push(repeated);

        let after = settle_default(n, &more);

        prop_assert_eq!(all_relations(&after.graph), all_relations(&before.graph));
        prop_assert_eq!(after.conflicts, before.conflicts);
        prop_assert_eq!(after.awaiting, before.awaiting);
        prop_assert_eq!(after.settled, before.settled);
        prop_assert_eq!(after.reliability, before.reliability);
    }

    #[test]
    fn a_new_annotator_agreeing_with_a_consistent_log_changes_no_relation(
        ((n, votes), pick) in (consistent_single_votes(), any::<prop::sample::Index>())
    ) {
        prop_assume!(!votes.is_empty());
        let agreeing = Vote { annotator: 99, ..votes[pick.index(votes.len())] };
        let before = settle_default(n, &votes);
        let mut more = votes.clone();
        more.push(agreeing);

        let after = settle_default(n, &more);

        prop_assert_eq!(all_relations(&after.graph), all_relations(&before.graph));
        prop_assert!(after.conflicts.is_empty() && after.awaiting.is_empty());
    }

    #[test]
    fn two_same_against_one_different_from_equally_reliable_annotators_settles_same(
        (n, a, b) in (2usize..20).prop_flat_map(|n| (Just(n), 0..n, 0..n)),
        annotators in proptest::collection::hash_set(any::<u32>(), 3),
        order in Just(vec![Same, Same, Different]).prop_shuffle(),
    ) {
        prop_assume!(a != b);
        let votes: Vec<Vote> = annotators
            .into_iter()
            .zip(order)
            .map(|(annotator, verdict)| vote(a, b, verdict, annotator))
            .collect();

        let settlement = settle_default(n, &votes);

        prop_assert_eq!(settlement.graph.relation(a, b), Relation::Same);
        prop_assert!(settlement.awaiting.is_empty());
        prop_assert_eq!(settlement.settled.len(), 1);
        prop_assert!((settlement.settled[0].lead - 1.0 / 3.0).abs() < 0.2);
    }

    #[test]
    fn every_settled_pair_holds_and_every_awaiting_pair_is_disputed(
        (n, votes) in noisy_votes()
    ) {
        let settlement = settle_default(n, &votes);

        for pair in &settlement.settled {
            let expected = if pair.verdict == Same { Relation::Same } else { Relation::Different };
            prop_assert_eq!(settlement.graph.relation(pair.a, pair.b), expected);
        }
        for &(a, b) in &settlement.awaiting {
            let in_conflict = settlement
                .conflicts
                .iter()
                .any(|c| (c.a.min(c.b), c.a.max(c.b)) == (a, b));
            let mut latest = std::collections::HashMap::new();
            for v in votes.iter().filter(|v| (v.a.min(v.b), v.a.max(v.b)) == (a, b)) {
                latest.insert(v.annotator, v.verdict);
            }
            let count = |verdict| latest.values().filter(|&&v| v == verdict).count();
            // Weighted by reliability, one "same" can outweigh one "different".
            let unconfirmed_same = count(Same) > 0 && count(Same) < count(Different) + JOIN_LEAD;
            // A join that leads by that much still waits while "different" verdicts between
            // its two sides hold them apart.
            let held_apart = settlement.held_joins.contains(&(a, b))
                && settlement.graph.relation(a, b) == Relation::Different;
            prop_assert!(
                in_conflict || !settlement.graph.is_decided(a, b) || unconfirmed_same || held_apart
            );
        }
        prop_assert!(settlement.reliability.values().all(|r| *r > 0.0 && *r < 1.0));
        prop_assert_eq!(&settlement.conflicts, &settlement.graph.conflicts().to_vec());
    }
}

#[test]
fn audits_grow_while_many_disagree_and_stop_at_eight_times_the_share() {
    let mut budget = AuditBudget::new(25);
    let mut seen = Vec::new();
    for overturned in [10, 20, 40, 80, 60, 10, 0] {
        budget.after_round(budget.pairs, overturned);
        seen.push(budget.pairs);
    }

    assert_eq!(seen, [50, 100, 200, 200, 200, 200, 100]);
}

#[test]
fn audits_shrink_while_they_find_nothing_and_come_back_when_one_disagrees() {
    let mut budget = AuditBudget::new(25);
    let mut seen = Vec::new();
    for overturned in [0, 0, 0, 0, 1, 0] {
        budget.after_round(budget.pairs, overturned);
        seen.push(budget.pairs);
    }

    assert_eq!(seen, [12, 6, 5, 5, 25, 12]);
}

#[test]
fn a_resumed_audit_budget_stays_within_the_bounds_of_the_share_or_starts_over() {
    assert_eq!(AuditBudget::resume(25, 12).pairs, 12);
    assert_eq!(AuditBudget::resume(25, 1).pairs, 5);
    assert_eq!(AuditBudget::resume(25, 0).pairs, 25, "audits were off");
    assert_eq!(AuditBudget::resume(25, 400).pairs, 200);
    assert_eq!(AuditBudget::resume(0, 7).pairs, 0);
}

#[test]
fn a_positive_audit_share_audits_at_least_one_pair() {
    assert_eq!(AuditBudget::full_share(500, 0.05), 25);
    assert_eq!(AuditBudget::full_share(40, 0.25), 10);
    assert_eq!(AuditBudget::full_share(40, 0.01), 1, "0.4 rounds to 0");
    assert_eq!(AuditBudget::full_share(40, 0.0), 0, "audits off");
    assert_eq!(AuditBudget::full_share(0, 0.05), 0, "an empty round");
}
