//! The vote log as [`settle`](super::settle) counts it: grouped by pair, one voice per
//! annotator, counted with given weights, and the evidence each vote gives about its
//! annotator.

use std::collections::HashMap;

use super::{ConsensusSettings, JOIN_LEAD, JoinConfirmation, SettledPair, Vote, joins};
use crate::{Applied, Graph, Relation, Verdict};

/// The vote log, grouped by pair, with one voice per annotator.
pub(super) struct Ballot {
    n: usize,
    /// Annotator ids, ascending; votes refer to them by position.
    pub(super) annotators: Vec<u32>,
    pairs: Vec<PairVotes>,
    /// `(annotator position, says same)`, grouped by pair.
    voices: Vec<(usize, bool)>,
}

/// The votes on one pair, or a gold pair.
struct PairVotes {
    a: usize,
    b: usize,
    /// The pair's range in [`Ballot::voices`].
    voices: std::ops::Range<usize>,
    /// Position in the log of the pair's first vote; past the log for a gold-only pair.
    first_asked: usize,
    gold: Option<Verdict>,
}

/// The result of counting the ballot once with given weights.
pub(super) struct Outcome {
    pub(super) graph: Graph,
    pub(super) settled: Vec<SettledPair>,
    pub(super) awaiting: Vec<(usize, usize)>,
    /// The pairs of `awaiting` that are joins held back, ascending.
    pub(super) held: Vec<(usize, usize)>,
    /// For every pair of the ballot, what the graph said of it just before its verdict was
    /// tried, or in the end when it had no verdict to try.
    reference: Vec<Relation>,
}

/// A verdict to apply: (weighted margin, pair index, verdict, lead); gold pairs rank first.
type Ranked = (f64, usize, Verdict, f64);

/// Leads below this are ties.
const TIE: f64 = 1e-9;

/// Weighted support of one pair.
#[derive(Clone, Copy)]
struct Tally {
    same: f64,
    different: f64,
}

impl Tally {
    /// The verdict with more weight and its lead, when the lead is at least `min_lead` and
    /// not a tie (a lead under [`TIE`], so that rounding does not break ties).
    fn winner(self, min_lead: f64) -> Option<(Verdict, f64)> {
        let total = self.same + self.different;
        if total <= 0.0 {
            return None;
        }
        let lead = (self.same - self.different).abs() / total;
        if lead < TIE {
            return None;
        }
        let verdict = if self.same > self.different {
            Verdict::Same
        } else {
            Verdict::Different
        };
        (lead >= min_lead).then_some((verdict, lead))
    }
}

impl Ballot {
    pub(super) fn new(n: usize, votes: &[Vote], gold: &[(usize, usize, Verdict)]) -> Ballot {
        let mut latest: Vec<(usize, usize, u32, usize, Verdict)> = votes
            .iter()
            .enumerate()
            .map(|(position, vote)| {
                check_item(n, vote.a);
                check_item(n, vote.b);
                let (a, b) = (vote.a.min(vote.b), vote.a.max(vote.b));
                (a, b, vote.annotator, position, vote.verdict)
            })
            .filter(|&(a, b, ..)| a != b)
            .collect();
        latest.sort_unstable_by_key(|&(a, b, annotator, position, _)| (a, b, annotator, position));
        // One voice per annotator and pair: the latest verdict, kept at the first position.
        latest.dedup_by(|later, earlier| {
            let same_voice = (later.0, later.1, later.2) == (earlier.0, earlier.1, earlier.2);
            if same_voice {
                earlier.4 = later.4;
            }
            same_voice
        });

        let mut annotators: Vec<u32> = latest.iter().map(|v| v.2).collect();
        annotators.sort_unstable();
        annotators.dedup();

        let mut known: HashMap<(usize, usize), Verdict> = HashMap::new();
        for &(a, b, verdict) in gold {
            check_item(n, a);
            check_item(n, b);
            if a != b && verdict != Verdict::NotSure {
                known.insert((a.min(b), a.max(b)), verdict);
            }
        }

        let mut pairs = Vec::new();
        let mut voices = Vec::with_capacity(latest.len());
        for group in latest.chunk_by(|x, y| (x.0, x.1) == (y.0, y.1)) {
            let start = voices.len();
            for &(_, _, annotator, _, verdict) in group {
                if verdict != Verdict::NotSure {
                    let position = annotators
                        .binary_search(&annotator)
                        .expect("every voice's annotator is listed");
                    voices.push((position, verdict == Verdict::Same));
                }
            }
            let (a, b) = (group[0].0, group[0].1);
            let gold = known.remove(&(a, b));
            let first_asked = group.iter().map(|vote| vote.3).min().unwrap_or(votes.len());
            pairs.push(PairVotes {
                a,
                b,
                voices: start..voices.len(),
                first_asked,
                gold,
            });
        }
        let mut gold_only: Vec<_> = known.into_iter().collect();
        gold_only.sort_unstable_by_key(|&(key, _)| key);
        for ((a, b), verdict) in gold_only {
            let at = voices.len();
            pairs.push(PairVotes {
                a,
                b,
                voices: at..at,
                first_asked: votes.len(),
                gold: Some(verdict),
            });
        }

        Ballot {
            n,
            annotators,
            pairs,
            voices,
        }
    }

    fn tally(&self, pair: &PairVotes, weights: &[f64]) -> Tally {
        self.tally_without(pair, usize::MAX, weights)
    }

    /// Settles every pair with the given weight of every voice.
    pub(super) fn count(&self, weights: &[f64], settings: &ConsensusSettings) -> Outcome {
        let mut order: Vec<Ranked> = Vec::new();
        let mut undecided: Vec<usize> = Vec::new();
        for (index, pair) in self.pairs.iter().enumerate() {
            let tally = self.tally(pair, weights);
            match (pair.gold, tally.winner(settings.min_lead)) {
                (Some(verdict), _) => order.push((f64::INFINITY, index, verdict, 1.0)),
                (None, Some((verdict, lead))) => {
                    let margin = (tally.same - tally.different).abs();
                    order.push((margin, index, verdict, lead));
                }
                (None, None) => undecided.push(index),
            }
        }
        order.sort_by(|x, y| {
            let votes = |i: usize| self.pairs[i].voices.len();
            y.0.total_cmp(&x.0)
                .then(votes(y.1).cmp(&votes(x.1)))
                .then(x.1.cmp(&y.1))
        });

        let unconfirmed = |order: &[Ranked]| {
            let different = self.pairs_told_apart(order);
            let mut held = self.unconfirmed_joins(order, &different);
            let in_order = self.joins_held_in_answer_order(order, &different);
            for (held, later) in held.iter_mut().zip(in_order) {
                *held |= later;
            }
            held
        };
        match settings.confirm_joins {
            JoinConfirmation::Never => self.apply(&order, &undecided, None),
            JoinConfirmation::Always => self.apply(&order, &undecided, Some(&unconfirmed(&order))),
            JoinConfirmation::OnceErrorsSeen => {
                if !self.has_split_pair() {
                    let outcome = self.apply(&order, &undecided, None);
                    if outcome.graph.conflicts().is_empty() {
                        return outcome;
                    }
                }
                self.apply(&order, &undecided, Some(&unconfirmed(&order)))
            }
        }
    }

    /// Applies the ranked verdicts in order, except the pairs marked in `hold`, which await
    /// another answer like the pairs in conflict and the `undecided` ones.
    fn apply(&self, order: &[Ranked], undecided: &[usize], hold: Option<&[bool]>) -> Outcome {
        let is_held = |index: usize| hold.is_some_and(|hold| hold[index]);
        let mut graph = Graph::new(self.n);
        let mut reference = vec![Relation::Unknown; self.pairs.len()];
        let mut settled = Vec::with_capacity(order.len());
        let (mut awaiting, mut held) = (Vec::new(), Vec::new());
        for &(_, index, verdict, lead) in order {
            let pair = &self.pairs[index];
            reference[index] = graph.relation(pair.a, pair.b);
            if is_held(index) {
                held.push((pair.a, pair.b));
                continue;
            }
            if graph.apply(pair.a, pair.b, verdict) == Applied::Conflict {
                if pair.gold.is_none() {
                    awaiting.push((pair.a, pair.b));
                }
                continue;
            }
            settled.push(SettledPair {
                a: pair.a,
                b: pair.b,
                verdict,
                votes: pair.voices.len(),
                lead,
                gold: pair.gold.is_some(),
            });
        }
        for &index in undecided {
            let pair = &self.pairs[index];
            reference[index] = graph.relation(pair.a, pair.b);
            if !pair.voices.is_empty() && reference[index] == Relation::Unknown {
                awaiting.push((pair.a, pair.b));
            }
        }
        // A held join that other verdicts make anyway needs no more answers.
        held.retain(|&(a, b)| graph.relation(a, b) != Relation::Same);
        awaiting.extend(&held);
        awaiting.sort_unstable();
        held.sort_unstable();

        Outcome {
            graph,
            settled,
            awaiting,
            held,
            reference,
        }
    }

    /// Marks the pairs of `order` that are unconfirmed joins: "same" verdicts, not gold, that
    /// join two groups of two or more items and whose "same" voices outnumber their
    /// "different" ones by less than [`JOIN_LEAD`], plus the "different" verdicts between
    /// the two groups where the join is a bridge. `different` holds the pairs of `order`
    /// whose verdict is "different".
    ///
    /// The groups are what the uncontested "same" verdicts hold together, so a join is:
    /// - an uncontested verdict that is a bridge of them with two or more items on either
    ///   side;
    /// - a contested verdict (some voice says "different") between two such groups once the
    ///   uncontested joins are held. On Fashion-MNIST with 10% of answers flipped, two
    ///   sandals each drew two flipped "same" against one "different" with the hub of the
    ///   dresses; neither pair was a bridge, since each backed the other up, and together
    ///   they merged 122 sandals into the dresses.
    ///
    /// The "different" verdicts between the two sides of a bridge count against it because
    /// it overrules them all: applied first, as the pair with the largest lead, it turns
    /// every one of them into a conflict. In the same simulation, asking more pairs near
    /// class borders, a wrong "same" between shirts and dresses already told apart once drew
    /// two more flipped answers (the one time in a hundred of [`JOIN_LEAD`]) and merged 84
    /// shirts into the dresses; counting the verdict between them asks for a fourth.
    fn unconfirmed_joins(&self, order: &[Ranked], different: &[(usize, usize)]) -> Vec<bool> {
        let is_join_candidate = |index: usize| self.pairs[index].gold.is_none();
        let (mut uncontested, mut contested) = (Vec::new(), Vec::new());
        for ranked in order.iter().filter(|ranked| ranked.2 == Verdict::Same) {
            let pair = &self.pairs[ranked.1];
            match self.voice_counts(pair) {
                (_, 0) => uncontested.push((ranked.1, (pair.a, pair.b))),
                _ => contested.push(ranked.1),
            }
        }
        let edges: Vec<(usize, usize)> = uncontested.iter().map(|&(_, edge)| edge).collect();

        let mut held = vec![false; self.pairs.len()];
        let mut sides = joins::Sides::new(self.n, &edges);
        let mut groups = Graph::new(self.n);
        let splits = sides.bridge_sides();
        for (edge, (&(index, (a, b)), split)) in uncontested.iter().zip(splits).enumerate() {
            let joins_groups = split.is_some_and(|(smaller, _)| smaller >= 2);
            if joins_groups && is_join_candidate(index) {
                let (same_voices, _) = self.voice_counts(&self.pairs[index]);
                held[index] = same_voices < JOIN_LEAD
                    || same_voices < JOIN_LEAD + sides.pairs_across(edge, (a, b), different);
            }
            if !held[index] {
                groups.apply(a, b, Verdict::Same);
            }
        }
        for index in contested {
            let pair = &self.pairs[index];
            let (same_voices, different_voices) = self.voice_counts(pair);
            let apart = groups.relation(pair.a, pair.b) != Relation::Same;
            let both_groups =
                groups.component_size(pair.a) >= 2 && groups.component_size(pair.b) >= 2;
            held[index] = is_join_candidate(index)
                && apart
                && both_groups
                && same_voices < different_voices + JOIN_LEAD;
        }
        held
    }

    /// Marks the "same" verdicts of `order` that join two groups unconfirmed when the
    /// verdicts are applied as the answers came: the pairs whose votes agree by more first,
    /// then each tier in the order its pairs were first answered. `different` holds the pairs
    /// of `order` whose verdict is "different".
    ///
    /// [`Ballot::unconfirmed_joins`] judges a join by the structure of all the "same"
    /// verdicts, which misses joins that wrong answers back up. On Fashion-MNIST with 10% of
    /// answers flipped, two probe images each drew a flipped "same" with both the hub of the
    /// t-shirts and the hub of the dresses: four lone verdicts on a cycle, none of them a
    /// bridge, merged the two classes. Applied as answered, whichever verdict came second for
    /// each probe joins the two classes and waits. A verdict in conflict is never applied,
    /// so it backs up nothing here either. The weighted order of [`Ballot::count`] would not
    /// do: a slightly more reliable annotator's verdicts all go first, and a wrong join among
    /// them meets groups not yet built.
    fn joins_held_in_answer_order(
        &self,
        order: &[Ranked],
        different: &[(usize, usize)],
    ) -> Vec<bool> {
        let mut answered: Vec<&Ranked> = order.iter().collect();
        answered.sort_by_key(|ranked| {
            let pair = &self.pairs[ranked.1];
            let (same, different) = self.voice_counts(pair);
            (
                pair.gold.is_none(),
                std::cmp::Reverse(same.abs_diff(different)),
                pair.first_asked,
            )
        });
        let mut graph = Graph::new(self.n);
        let mut held = vec![false; self.pairs.len()];
        for &&(_, index, verdict, _) in &answered {
            let pair = &self.pairs[index];
            if verdict == Verdict::Same && self.joins_unconfirmed(&graph, index, different) {
                held[index] = true;
            } else {
                graph.apply(pair.a, pair.b, verdict);
            }
        }
        held
    }

    /// Whether "same" on pair `index`, tried now, would join two groups of `graph` of two or
    /// more items while its "same" voices fall short of [`JOIN_LEAD`] more than its
    /// "different" ones and the `different` verdicts between the two groups.
    fn joins_unconfirmed(&self, graph: &Graph, index: usize, different: &[(usize, usize)]) -> bool {
        let pair = &self.pairs[index];
        let groups = [pair.a, pair.b].map(|item| graph.component_of(item));
        let is_join = pair.gold.is_none()
            && groups[0] != groups[1]
            && graph.component_size(pair.a) >= 2
            && graph.component_size(pair.b) >= 2;
        if !is_join {
            return false;
        }
        let (same_voices, different_voices) = self.voice_counts(pair);
        if same_voices < different_voices + JOIN_LEAD {
            return true;
        }
        let told_apart = different
            .iter()
            .filter(|&&(x, y)| {
                let ends = [graph.component_of(x), graph.component_of(y)];
                ends == groups || ends == [groups[1], groups[0]]
            })
            .count();
        same_voices < different_voices + JOIN_LEAD + told_apart
    }

    /// The pairs of `order` whose verdict is "different".
    fn pairs_told_apart(&self, order: &[Ranked]) -> Vec<(usize, usize)> {
        order
            .iter()
            .filter(|ranked| ranked.2 == Verdict::Different)
            .map(|ranked| (self.pairs[ranked.1].a, self.pairs[ranked.1].b))
            .collect()
    }

    /// How many voices on `pair` say "same", and how many "different".
    fn voice_counts(&self, pair: &PairVotes) -> (usize, usize) {
        let voices = &self.voices[pair.voices.clone()];
        let same = voices.iter().filter(|&&(_, says_same)| says_same).count();
        (same, voices.len() - same)
    }

    /// Whether some pair has votes both ways: annotators err.
    fn has_split_pair(&self) -> bool {
        self.pairs.iter().any(|pair| {
            let (same, different) = self.voice_counts(pair);
            same > 0 && different > 0
        })
    }

    /// What every vote says about its annotator, given how the ballot was counted.
    pub(super) fn evidence(
        &self,
        outcome: &Outcome,
        weights: &[f64],
        settings: &ConsensusSettings,
    ) -> Evidence {
        let mut evidence = Evidence::none(self);
        for (index, pair) in self.pairs.iter().enumerate() {
            let voices = &self.voices[pair.voices.clone()];
            for (position, &(annotator, says_same)) in voices.iter().enumerate() {
                let others = self.tally_without(pair, position, weights);
                let reference = reference_for(pair, outcome.reference[index], others, settings);
                let Some((truth_is_same, weight)) = reference else {
                    continue;
                };
                let agreed = if truth_is_same == says_same {
                    weight
                } else {
                    0.0
                };
                evidence.by_voice[pair.voices.start + position] = (agreed, weight);
                evidence.agree[annotator] += agreed;
                evidence.total[annotator] += weight;
            }
        }
        evidence
    }

    /// The tally of a pair without its voice at `skipped`, summed afresh rather than
    /// subtracted so that no rounding residue reads as a vote. Quadratic in the votes on one
    /// pair, which are a handful.
    fn tally_without(&self, pair: &PairVotes, skipped: usize, weights: &[f64]) -> Tally {
        let mut tally = Tally {
            same: 0.0,
            different: 0.0,
        };
        let voices = &self.voices[pair.voices.clone()];
        let voice_weights = &weights[pair.voices.clone()];
        for (position, (&(_, says_same), &weight)) in voices.iter().zip(voice_weights).enumerate() {
            if position == skipped {
                continue;
            } else if says_same {
                tally.same += weight;
            } else {
                tally.different += weight;
            }
        }
        tally
    }
}

/// How often each annotator agreed with a reference, weighted, and what each voice added.
pub(super) struct Evidence {
    agree: Vec<f64>,
    total: Vec<f64>,
    /// `(agreed, compared)` added by every voice of [`Ballot::voices`].
    by_voice: Vec<(f64, f64)>,
}

impl Evidence {
    /// No evidence: every reliability is 1/2.
    pub(super) fn none(ballot: &Ballot) -> Evidence {
        Evidence {
            agree: vec![0.0; ballot.annotators.len()],
            total: vec![0.0; ballot.annotators.len()],
            by_voice: vec![(0.0, 0.0); ballot.voices.len()],
        }
    }

    pub(super) fn reliability(&self, annotator: usize) -> f64 {
        (self.agree[annotator] + 1.0) / (self.total[annotator] + 2.0)
    }

    /// The weight of every voice: its annotator's reliability judged on every pair but the
    /// one the voice is about, so that a pair's own votes never weigh themselves.
    pub(super) fn voice_weights(&self, ballot: &Ballot) -> Vec<f64> {
        ballot
            .voices
            .iter()
            .zip(&self.by_voice)
            .map(|(&(annotator, _), &(agreed, compared))| {
                let agree = (self.agree[annotator] - agreed).max(0.0);
                let total = (self.total[annotator] - compared).max(0.0);
                (agree + 1.0) / (total + 2.0)
            })
            .collect()
    }
}

/// What a vote on `pair` is compared with, as `(truth is same, how much it counts)`: the gold
/// verdict, else what the graph said of the pair before it was tried, else the settled
/// majority of the other votes.
fn reference_for(
    pair: &PairVotes,
    graph_said: Relation,
    others: Tally,
    settings: &ConsensusSettings,
) -> Option<(bool, f64)> {
    if let Some(verdict) = pair.gold {
        return Some((verdict == Verdict::Same, settings.gold_weight));
    }
    match graph_said {
        Relation::Same => Some((true, 1.0)),
        Relation::Different => Some((false, 1.0)),
        Relation::Unknown => others
            .winner(settings.min_lead)
            .map(|(verdict, _)| (verdict == Verdict::Same, 1.0)),
    }
}

fn check_item(n: usize, item: usize) {
    assert!(item < n, "item {item} out of range for {n} items");
}
