//! How the answer log becomes the graph the service works with. This is the one place that
//! decides which answers count: every annotator's latest answer to a pair is a vote, pairs
//! are settled by the reliability-weighted majority of their votes ([`consensus::settle`]),
//! known pairs outweigh every vote, and settled verdicts that contradict the closed graph are
//! set aside and asked again.

use std::collections::{BTreeMap, HashMap, HashSet};

use akin_core::consensus::{self, ConsensusSettings, SettledPair, Vote};
use akin_core::{Embeddings, Graph, Relation, Verdict};
use akin_store::answers::LoggedAnswer;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A pair the majority has not settled is asked again until it has this many answers.
// Past that, more answers rarely settle it: a pair the majority cannot settle after this
// many answers stops being asked and stays listed in the conflicts for an admin to judge.
pub const REASK_LIMIT: usize = 5;

/// The strategy stored with a query that asks a pair in conflict again.
pub const REASK_STRATEGY: &str = "conflict";

/// The strategy stored with a query that asks a settled pair again, so that wrong answers
/// that nothing contradicts yet surface.
pub const AUDIT_STRATEGY: &str = "audit";

/// The graph of a project's answers over a fixed list of items.
#[derive(Clone, Debug)]
pub struct AnswerGraph {
    /// Item ids in increasing order; graph item `i` is `item_ids[i]`.
    pub item_ids: Vec<i64>,
    /// The settled verdicts; its conflicts are the settled verdicts that contradicted it.
    pub graph: Graph,
    /// The answers the graph was built from, by verdict.
    pub tally: Tally,
    /// Every annotator with an answer, by name.
    pub reliability: Vec<AnnotatorReliability>,
    /// The pairs whose verdict went into the graph, over graph items.
    pub settled: Vec<SettledPair>,
    /// Pairs to ask again as `(smaller id, larger id)`, ascending: their settled verdict
    /// contradicts the graph, or their votes are split and the graph does not decide them.
    pub awaiting: Vec<(i64, i64)>,
}

/// How far the settlement trusts one annotator.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnnotatorReliability {
    pub annotator: String,
    /// In `0..1`: how often the annotator agrees with what is settled; 1/2 with no evidence.
    pub reliability: f64,
    /// Answers the annotator gave, "not sure" included.
    pub answers: usize,
}

/// How many answers of each verdict the graph was built from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub same: usize,
    pub different: usize,
    pub not_sure: usize,
}

/// A pair whose answers nothing settles, with every answer the pair has.
#[derive(Clone, Debug, Serialize)]
pub struct PairConflict {
    pub item_a: i64,
    pub item_b: i64,
    /// What the graph concludes for the pair from all the other answers: "same" or
    /// "different" when the pair's majority contradicts it, "unknown" when the pair's own
    /// votes are split.
    pub graph_says: Relation,
    pub answers: Vec<PairAnswer>,
}

/// One answer to a pair.
#[derive(Clone, Debug, Serialize)]
pub struct PairAnswer {
    pub answer_id: i64,
    pub verdict: Verdict,
    pub annotator: String,
    pub created_at: DateTime<Utc>,
}

/// Builds the graph of `log` over `item_ids` (sorted), with `gold` pairs (ids and the known
/// verdict, as [`akin_store::known_pairs::gold`] gives them) that outweigh any vote and
/// count in every annotator's reliability. Answers and gold pairs about items outside the
/// list (imported after a snapshot was taken) are left out. `log` is borrowed answer by
/// answer, so a caller can leave some out without copying the rest.
pub fn build<'a>(
    item_ids: Vec<i64>,
    log: impl IntoIterator<Item = &'a LoggedAnswer>,
    gold: &[(i64, i64, Verdict)],
) -> AnswerGraph {
    let log = log.into_iter();
    debug_assert!(item_ids.is_sorted(), "item ids come sorted from the store");
    let index_of = |id: i64| item_ids.binary_search(&id).ok();

    let mut annotators: BTreeMap<&str, (u32, usize)> = BTreeMap::new();
    let mut tally = Tally::default();
    let mut votes = Vec::with_capacity(log.size_hint().0);
    for answer in log {
        let (Some(a), Some(b)) = (index_of(answer.item_a), index_of(answer.item_b)) else {
            continue;
        };
        let next_id = annotators.len() as u32;
        let entry = annotators.entry(&answer.annotator).or_insert((next_id, 0));
        entry.1 += 1;
        match answer.verdict {
            Verdict::Same => tally.same += 1,
            Verdict::Different => tally.different += 1,
            Verdict::NotSure => tally.not_sure += 1,
        }
        votes.push(Vote {
            a,
            b,
            verdict: answer.verdict,
            annotator: entry.0,
        });
    }
    let gold: Vec<(usize, usize, Verdict)> = gold
        .iter()
        .filter_map(|&(a, b, verdict)| Some((index_of(a)?, index_of(b)?, verdict)))
        .collect();

    let settings = ConsensusSettings::default();
    let settlement = consensus::settle(item_ids.len(), &votes, &gold, &settings);

    let reliability = annotators
        .into_iter()
        .map(|(name, (id, answers))| AnnotatorReliability {
            annotator: name.to_owned(),
            reliability: settlement.reliability.get(&id).copied().unwrap_or(0.5),
            answers,
        })
        .collect();
    let awaiting = settlement
        .awaiting
        .iter()
        .map(|&(a, b)| (item_ids[a], item_ids[b]))
        .collect();
    AnswerGraph {
        item_ids,
        graph: settlement.graph,
        tally,
        reliability,
        settled: settlement.settled,
        awaiting,
    }
}

impl AnswerGraph {
    /// The pairs whose answers nothing settles, each with all of its answers from `log`:
    /// first those whose majority contradicts the graph, in the order they were tried, then
    /// those whose votes are split or whose lone "same" waits to join two groups, ascending. They stay listed after they are no longer
    /// asked.
    pub fn conflicts(&self, log: &[LoggedAnswer]) -> Vec<PairConflict> {
        let mut pairs = self.conflict_pairs();
        let contradicted: HashSet<(i64, i64)> = pairs.iter().copied().collect();
        pairs.extend(
            self.awaiting
                .iter()
                .filter(|pair| !contradicted.contains(pair)),
        );
        let listed: HashSet<(i64, i64)> = pairs.iter().copied().collect();
        let mut answers: HashMap<(i64, i64), Vec<PairAnswer>> = HashMap::new();
        for answer in log {
            let pair = (answer.item_a, answer.item_b);
            if listed.contains(&pair) {
                answers.entry(pair).or_default().push(PairAnswer {
                    answer_id: answer.id,
                    verdict: answer.verdict,
                    annotator: answer.annotator.clone(),
                    created_at: answer.created_at,
                });
            }
        }
        pairs
            .into_iter()
            .map(|(item_a, item_b)| PairConflict {
                item_a,
                item_b,
                graph_says: self.relation(item_a, item_b),
                answers: answers.remove(&(item_a, item_b)).unwrap_or_default(),
            })
            .collect()
    }

    /// The pairs the majority has not settled that should be asked again: those of
    /// [`AnswerGraph::awaiting`] with fewer than [`REASK_LIMIT`] answers in `log`.
    pub fn pairs_to_reask(&self, log: &[LoggedAnswer]) -> Vec<(i64, i64)> {
        let mut counts: HashMap<(i64, i64), usize> = HashMap::new();
        for answer in log {
            *counts.entry((answer.item_a, answer.item_b)).or_default() += 1;
        }
        self.awaiting
            .iter()
            .copied()
            .filter(|pair| counts.get(pair).copied().unwrap_or(0) < REASK_LIMIT)
            .collect()
    }

    /// Up to `count` settled pairs to ask again, as `(smaller id, larger id, lead)` with the
    /// lead of the settled verdict: those resting on the fewest votes first, and among them
    /// those the model behind `embeddings` (one row per item) disagrees with most, then in an
    /// order drawn from `seed`.
    pub fn pairs_to_audit(
        &self,
        count: usize,
        seed: u64,
        embeddings: &Embeddings,
    ) -> Vec<(i64, i64, f64)> {
        let lead: HashMap<(usize, usize), f64> = self
            .settled
            .iter()
            .map(|pair| ((pair.a, pair.b), pair.lead))
            .collect();
        consensus::audit_pairs(&self.settled, count, seed, Some(embeddings))
            .into_iter()
            .map(|(a, b)| (self.item_ids[a], self.item_ids[b], lead[&(a, b)]))
            .collect()
    }

    /// The accepted "different" verdicts as pairs of graph items: the settled pairs and known
    /// pairs whose "different" went into the graph, which the trainer takes as known
    /// negatives. A "different" that contradicted the graph, or whose votes are split, is none.
    pub fn negatives(&self) -> Vec<(usize, usize)> {
        consensus::negatives(&self.settled)
    }

    /// What the answers cannot teach yet, in words for the round's metrics.
    pub fn warnings(&self) -> Vec<String> {
        let Tally {
            same,
            different,
            not_sure,
        } = self.tally;
        let mut warnings = Vec::new();
        if same + different == 0 {
            warnings.push("no answers yet: trained on augmentations only".to_owned());
            if not_sure > 0 {
                warnings.push("every answer so far says 'not sure'".to_owned());
            }
        } else if same == 0 {
            warnings.push("no 'same' answers yet: trained on augmentations only".to_owned());
            warnings.push("every answer so far says 'different'".to_owned());
        } else if different == 0 {
            warnings.push("no 'different' answers yet: classes cannot be told apart".to_owned());
            warnings.push("every answer so far says 'same'".to_owned());
        }
        let conflicts = self.graph.conflicts().len();
        if conflicts > 0 {
            warnings.push(format!(
                "the majority verdicts of {conflicts} pairs contradict the others and were set \
                 aside; they are asked again"
            ));
        }
        if self.graph.len() > 1 && self.graph.component_count() == 1 {
            warnings.push("the answers put every item in one group".to_owned());
        }
        warnings
    }

    /// Distinct pairs in conflict as `(smaller id, larger id)`, first contradiction first.
    fn conflict_pairs(&self) -> Vec<(i64, i64)> {
        let mut seen = HashSet::new();
        self.graph
            .conflicts()
            .iter()
            .map(|c| {
                let (a, b) = (self.item_ids[c.a], self.item_ids[c.b]);
                (a.min(b), a.max(b))
            })
            .filter(|pair| seen.insert(*pair))
            .collect()
    }

    fn relation(&self, item_a: i64, item_b: i64) -> Relation {
        let index_of = |id: i64| self.item_ids.binary_search(&id).ok();
        match (index_of(item_a), index_of(item_b)) {
            (Some(a), Some(b)) => self.graph.relation(a, b),
            _ => Relation::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` identical embeddings: a model with no opinion.
    fn flat(n: usize) -> Embeddings {
        Embeddings::new(1, vec![1.0; n]).expect("n x 1")
    }

    fn answer(id: i64, pair: (i64, i64), verdict: Verdict, annotator: &str) -> LoggedAnswer {
        LoggedAnswer {
            id,
            item_a: pair.0,
            item_b: pair.1,
            verdict,
            annotator: annotator.to_owned(),
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_majority_that_contradicts_stronger_pairs_is_listed_with_every_answer_to_its_pair() {
        let log = [
            answer(1, (10, 20), Verdict::Same, "ann"),
            answer(2, (10, 20), Verdict::Same, "cy"),
            answer(3, (20, 30), Verdict::Same, "ann"),
            answer(4, (20, 30), Verdict::Same, "cy"),
            answer(5, (10, 30), Verdict::Different, "bob"),
        ];

        let view = build(vec![10, 20, 30, 40], &log, &[]);
        let conflicts = view.conflicts(&log);

        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        let conflict = &conflicts[0];
        assert_eq!((conflict.item_a, conflict.item_b), (10, 30));
        assert_eq!(conflict.graph_says, Relation::Same);
        let given: Vec<(&str, Verdict)> = conflict
            .answers
            .iter()
            .map(|a| (a.annotator.as_str(), a.verdict))
            .collect();
        assert_eq!(given, [("bob", Verdict::Different)]);
        assert_eq!(view.pairs_to_reask(&log), [(10, 30)]);
    }

    #[test]
    fn negatives_are_the_accepted_different_answers_and_never_a_conflict_or_a_split_pair() {
        let log = [
            answer(1, (10, 20), Verdict::Same, "ann"),
            answer(2, (10, 20), Verdict::Same, "cy"),
            answer(3, (20, 30), Verdict::Same, "ann"),
            answer(4, (20, 30), Verdict::Same, "cy"),
            answer(5, (10, 30), Verdict::Different, "bob"),
            answer(6, (30, 40), Verdict::Different, "ann"),
            answer(7, (40, 50), Verdict::Same, "dee"),
            answer(8, (40, 50), Verdict::Different, "eve"),
        ];
        let gold = [(20, 60, Verdict::Different)];

        let view = build(vec![10, 20, 30, 40, 50, 60], &log, &gold);
        let mut negatives = view.negatives();
        negatives.sort_unstable();

        assert_eq!(
            view.conflict_pairs(),
            [(10, 30)],
            "the lone 'different' inside a group is a conflict"
        );
        assert_eq!(view.awaiting, [(10, 30), (40, 50)]);
        assert_eq!(
            negatives,
            [(1, 5), (2, 3)],
            "known pair 20-60 and answer 30-40"
        );
    }

    #[test]
    fn two_answers_against_one_settle_the_pair_and_weigh_down_the_one() {
        let log = [
            answer(1, (1, 2), Verdict::Same, "ann"),
            answer(2, (1, 2), Verdict::Different, "cy"),
            answer(3, (1, 2), Verdict::Same, "bob"),
        ];

        let view = build(vec![1, 2, 3], &log, &[]);

        assert_eq!(view.graph.relation(0, 1), Relation::Same);
        assert!(view.conflicts(&log).is_empty());
        assert!(view.pairs_to_reask(&log).is_empty());
        let names: Vec<&str> = view
            .reliability
            .iter()
            .map(|r| r.annotator.as_str())
            .collect();
        assert_eq!(names, ["ann", "bob", "cy"]);
        let [ann, bob, cy] = &view.reliability[..] else {
            panic!("three annotators");
        };
        assert!(cy.reliability < ann.reliability, "{:?}", view.reliability);
        assert_eq!(ann.reliability, bob.reliability);
        assert_eq!(cy.answers, 1);
    }

    #[test]
    fn a_known_pair_outweighs_a_majority_against_it_and_weighs_down_those_who_missed_it() {
        let log = [
            answer(1, (1, 2), Verdict::Different, "bob"),
            answer(2, (1, 2), Verdict::Different, "cy"),
            answer(3, (1, 2), Verdict::Same, "ann"),
            answer(4, (2, 3), Verdict::Different, "ann"),
            answer(5, (2, 3), Verdict::Different, "bob"),
        ];
        let gold = [(1, 2, Verdict::Same)];

        let without = build(vec![1, 2, 3], &log, &[]);
        let with = build(vec![1, 2, 3], &log, &gold);

        assert_eq!(without.graph.relation(0, 1), Relation::Different);
        assert_eq!(with.graph.relation(0, 1), Relation::Same);
        assert!(
            with.conflicts(&log).is_empty(),
            "{:?}",
            with.conflicts(&log)
        );
        assert!(with.pairs_to_reask(&log).is_empty());
        assert!(
            with.pairs_to_audit(5, 1, &flat(3))
                .iter()
                .all(|&(a, b, _)| (a, b) != (1, 2))
        );
        let trust = |view: &AnswerGraph, name: &str| {
            let found = view.reliability.iter().find(|r| r.annotator == name);
            found.expect("listed").reliability
        };
        assert!(
            trust(&with, "bob") < trust(&with, "ann"),
            "{:?}",
            with.reliability
        );
        assert!(
            trust(&without, "bob") > trust(&without, "ann"),
            "{:?}",
            without.reliability
        );
    }

    #[test]
    fn a_split_pair_is_asked_again_until_it_has_enough_answers_and_stays_listed() {
        let mut log = vec![
            answer(1, (1, 2), Verdict::Same, "ann"),
            answer(2, (1, 2), Verdict::Different, "bob"),
        ];
        let before = build(vec![1, 2, 3], &log, &[]).pairs_to_reask(&log);
        log.push(answer(3, (1, 2), Verdict::Same, "cy"));
        log.push(answer(4, (1, 2), Verdict::Different, "dee"));
        log.push(answer(5, (1, 2), Verdict::Same, "eve"));

        let view = build(vec![1, 2, 3], &log, &[]);
        let after = view.pairs_to_reask(&log);
        let conflicts = view.conflicts(&log);

        assert_eq!(before, [(1, 2)]);
        assert_eq!(log.len(), REASK_LIMIT);
        assert!(after.is_empty(), "{after:?}");
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(conflicts[0].graph_says, Relation::Unknown);
        assert_eq!(conflicts[0].answers.len(), REASK_LIMIT);
    }

    #[test]
    fn settled_pairs_can_be_audited_and_not_sure_answers_settle_nothing() {
        let log = [
            answer(1, (1, 2), Verdict::Same, "ann"),
            answer(2, (2, 3), Verdict::Different, "ann"),
            answer(3, (1, 3), Verdict::NotSure, "bob"),
        ];

        let view = build(vec![1, 2, 3], &log, &[]);
        let mut audited: Vec<(i64, i64)> = view
            .pairs_to_audit(5, 7, &flat(3))
            .into_iter()
            .map(|(a, b, lead)| {
                assert_eq!(lead, 1.0, "a single vote leads all the way");
                (a, b)
            })
            .collect();
        audited.sort_unstable();

        assert_eq!(audited, [(1, 2), (2, 3)]);
        assert_eq!(view.tally.not_sure, 1);
        assert!(view.pairs_to_reask(&log).is_empty());
    }

    #[test]
    fn answers_about_items_outside_the_list_are_left_out() {
        let log = [
            answer(1, (1, 2), Verdict::Same, "ann"),
            answer(2, (2, 99), Verdict::Different, "ann"),
        ];

        let view = build(vec![1, 2, 3], &log, &[]);

        assert_eq!(
            view.tally,
            Tally {
                same: 1,
                different: 0,
                not_sure: 0
            }
        );
        assert_eq!(view.graph.component_count(), 2);
    }

    #[test]
    fn all_different_answers_say_that_nothing_is_the_same_yet() {
        let log = [
            answer(1, (1, 2), Verdict::Different, "ann"),
            answer(2, (2, 3), Verdict::Different, "ann"),
        ];

        let warnings = build(vec![1, 2, 3], &log, &[]).warnings();

        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("no 'same' answers yet")),
            "{warnings:?}"
        );
        assert!(warnings.contains(&"every answer so far says 'different'".to_owned()));
    }

    #[test]
    fn all_same_answers_say_that_classes_cannot_be_told_apart() {
        let log = [
            answer(1, (1, 2), Verdict::Same, "ann"),
            answer(2, (2, 3), Verdict::Same, "ann"),
        ];

        let warnings = build(vec![1, 2, 3], &log, &[]).warnings();

        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("no 'different' answers yet"))
        );
        assert!(warnings.contains(&"every answer so far says 'same'".to_owned()));
        assert!(warnings.contains(&"the answers put every item in one group".to_owned()));
    }

    #[test]
    fn a_log_with_both_verdicts_and_no_conflict_has_no_warnings() {
        let log = [
            answer(1, (1, 2), Verdict::Same, "ann"),
            answer(2, (2, 3), Verdict::Different, "ann"),
        ];

        let warnings = build(vec![1, 2, 3], &log, &[]).warnings();

        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
