//! How the answer log becomes the graph the service works with. This is the one place that
//! decides which answers count: today every answer is replayed in order and those that
//! contradict the closed graph are set aside ([`Graph::from_answers`]). Settling pairs by
//! majority and annotator reliability replaces the body of [`build`] and nothing else.

use std::collections::{HashMap, HashSet};

use akin_core::{Graph, Relation, Verdict};
use akin_store::answers::LoggedAnswer;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A pair in conflict is asked again until it has this many answers.
// Until answers are settled by majority, more answers do not resolve a conflict; the limit
// keeps such a pair from being asked forever.
pub const REASK_LIMIT: usize = 3;

/// The strategy stored with a query that asks a pair in conflict again.
pub const REASK_STRATEGY: &str = "conflict";

/// The graph of a project's answers over a fixed list of items.
#[derive(Clone, Debug)]
pub struct AnswerGraph {
    /// Item ids in increasing order; graph item `i` is `item_ids[i]`.
    pub item_ids: Vec<i64>,
    pub graph: Graph,
    /// The answers the graph was built from, by verdict.
    pub tally: Tally,
}

/// How many answers of each verdict the graph was built from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub same: usize,
    pub different: usize,
    pub not_sure: usize,
}

/// A pair whose answers contradict the closed graph, with every answer the pair has.
#[derive(Clone, Debug, Serialize)]
pub struct PairConflict {
    pub item_a: i64,
    pub item_b: i64,
    /// What the graph concludes for the pair from all the other answers.
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

/// Builds the graph of `log` over `item_ids` (sorted). Answers about items outside the list
/// (imported after a snapshot was taken) are left out.
pub fn build(item_ids: Vec<i64>, log: &[LoggedAnswer]) -> AnswerGraph {
    debug_assert!(item_ids.is_sorted(), "item ids come sorted from the store");
    let index_of = |id: i64| item_ids.binary_search(&id).ok();
    let mut tally = Tally::default();
    let edges: Vec<(usize, usize, Verdict)> = log
        .iter()
        .filter_map(|answer| {
            let edge = (
                index_of(answer.item_a)?,
                index_of(answer.item_b)?,
                answer.verdict,
            );
            match answer.verdict {
                Verdict::Same => tally.same += 1,
                Verdict::Different => tally.different += 1,
                Verdict::NotSure => tally.not_sure += 1,
            }
            Some(edge)
        })
        .collect();
    let graph = Graph::from_answers(item_ids.len(), edges);
    AnswerGraph {
        item_ids,
        graph,
        tally,
    }
}

impl AnswerGraph {
    /// The pairs whose answers contradict the graph, in the order the first contradiction
    /// arrived, each with all of its answers from `log`.
    pub fn conflicts(&self, log: &[LoggedAnswer]) -> Vec<PairConflict> {
        let pairs = self.conflict_pairs();
        let mut answers: HashMap<(i64, i64), Vec<PairAnswer>> = HashMap::new();
        for answer in log {
            let pair = (answer.item_a, answer.item_b);
            if pairs.contains(&pair) {
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

    /// The pairs in conflict that should be asked again: those with fewer than
    /// [`REASK_LIMIT`] answers in `log`.
    pub fn pairs_to_reask(&self, log: &[LoggedAnswer]) -> Vec<(i64, i64)> {
        let mut counts: HashMap<(i64, i64), usize> = HashMap::new();
        for answer in log {
            *counts.entry((answer.item_a, answer.item_b)).or_default() += 1;
        }
        self.conflict_pairs()
            .into_iter()
            .filter(|pair| counts.get(pair).copied().unwrap_or(0) < REASK_LIMIT)
            .collect()
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
                "{conflicts} answers contradict the others and were set aside; their pairs are \
                 asked again"
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
    fn a_different_inside_a_group_is_listed_with_every_answer_to_its_pair() {
        let log = [
            answer(1, (10, 20), Verdict::Same, "ann"),
            answer(2, (20, 30), Verdict::Same, "ann"),
            answer(3, (10, 30), Verdict::Different, "bob"),
            answer(4, (10, 30), Verdict::Same, "cy"),
        ];

        let view = build(vec![10, 20, 30, 40], &log);
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
        assert_eq!(given, [("bob", Verdict::Different), ("cy", Verdict::Same)]);
    }

    #[test]
    fn a_pair_in_conflict_is_asked_again_until_it_has_enough_answers() {
        let mut log = vec![
            answer(1, (1, 2), Verdict::Same, "ann"),
            answer(2, (2, 3), Verdict::Same, "ann"),
            answer(3, (1, 3), Verdict::Different, "bob"),
        ];
        let before = build(vec![1, 2, 3], &log).pairs_to_reask(&log);
        log.push(answer(4, (1, 3), Verdict::Different, "cy"));
        log.push(answer(5, (1, 3), Verdict::Different, "dee"));

        let after = build(vec![1, 2, 3], &log).pairs_to_reask(&log);

        assert_eq!(before, [(1, 3)]);
        assert!(after.is_empty(), "{after:?}");
    }

    #[test]
    fn answers_about_items_outside_the_list_are_left_out() {
        let log = [
            answer(1, (1, 2), Verdict::Same, "ann"),
            answer(2, (2, 99), Verdict::Different, "ann"),
        ];

        let view = build(vec![1, 2, 3], &log);

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

        let warnings = build(vec![1, 2, 3], &log).warnings();

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

        let warnings = build(vec![1, 2, 3], &log).warnings();

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

        let warnings = build(vec![1, 2, 3], &log).warnings();

        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
