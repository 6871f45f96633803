//! What one round of a simulation measures: kNN with the full pool bank and with only the
//! items the answers label, a linear probe, RankMe, and how far the answers got.

use akin_core::{Embeddings, Graph, metrics};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// kNN neighbours for the accuracy measures (cosine similarity).
pub const KNN_K: usize = 20;

/// Seed of the random bank that [`Quality::knn_accuracy_random_bank`] draws ("bank" in ASCII).
const RANDOM_BANK_SEED: u64 = 0x6261_6e6b;

/// The embeddings and labels one round is measured on.
pub struct Measured<'a> {
    /// Embeddings of the training pool.
    pub pool: &'a Embeddings,
    /// True labels of the pool (the oracle's knowledge).
    pub pool_labels: &'a [u8],
    /// Embeddings of the held-out test split.
    pub test: &'a Embeddings,
    /// True labels of the test split.
    pub test_labels: &'a [u8],
}

/// The measures of one round; also one line of `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct RoundReport {
    /// "active" or "passive".
    pub strategy: &'static str,
    /// 0 after the warm-up, then 1, 2, ...
    pub round: usize,
    /// Answers given so far.
    pub answers: usize,
    /// What the embeddings and the answer graph are worth now.
    #[serde(flatten)]
    pub quality: Quality,
    /// Settled verdicts that contradicted the graph and were kept out of it.
    pub conflicts: usize,
    /// Pairs waiting for another answer: in conflict, without a clear majority, or a join
    /// of two groups held back until confirmed.
    pub awaiting: usize,
    /// The joins of two groups among `awaiting`.
    pub joins_held: usize,
    /// Answers so far that re-asked an unsettled pair.
    pub reasked_answers: usize,
    /// Answers so far that audited a settled pair.
    pub audit_answers: usize,
    /// Audit answers so far that disagreed with the verdict they checked.
    pub audits_overturned: usize,
    /// Answers flipped by `--noise`.
    pub flipped_answers: usize,
    /// Mean loss of the round's last training steps.
    pub loss: f64,
    /// Seconds since the simulation started.
    pub elapsed_s: f64,
}

/// Everything [`measure`] computes that does not come from the round's bookkeeping.
#[derive(Clone, Debug, Serialize)]
pub struct Quality {
    /// kNN accuracy on the test split with every pool item in the bank, truly labelled.
    pub knn_accuracy: f64,
    /// kNN accuracy on the test split with only the items the answers label in the bank,
    /// each labelled with its class's majority label: what a user who names one exemplar per
    /// class gets. 0 while nothing is recovered.
    pub knn_accuracy_recovered: f64,
    /// kNN accuracy on the test split with as many pool items in the bank as the answers
    /// label, drawn at random (the same draw every round) and truly labelled: what the
    /// recovered bank would give if its items were a fair sample with no wrong labels.
    /// `null` while nothing is recovered.
    pub knn_accuracy_random_bank: Option<f64>,
    /// Test accuracy of a linear classifier trained on the frozen pool embeddings with the
    /// pool's true labels.
    pub linear_probe_accuracy: f64,
    /// Effective rank of the pool embeddings.
    pub rank_me: f64,
    /// Share of the pool whose label the answer graph determines.
    pub label_recovery: f64,
    /// Answers per recovered item; `null` while nothing is recovered.
    pub answers_per_label: Option<f64>,
    /// Share of recovered items whose class's majority label is their own; `null` while
    /// nothing is recovered.
    pub label_precision: Option<f64>,
    /// Classes the answers have found (exemplars of the graph).
    pub classes_found: usize,
    /// Recovered items per true label (index = label).
    pub recovered_per_label: Vec<usize>,
}

/// Measures embeddings and the answer graph after `answers` answers.
pub fn measure(set: &Measured, graph: &Graph, answers: usize) -> anyhow::Result<Quality> {
    let recovered = RecoveredBank::new(graph, set.pool_labels);
    let bank = rows_of(set.pool, &recovered.items)?;
    let recovered_count = recovered.items.len();
    let random_bank = (recovered_count > 0).then(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(RANDOM_BANK_SEED);
        let items = rand::seq::index::sample(&mut rng, set.pool.len(), recovered_count).into_vec();
        let labels: Vec<u8> = items.iter().map(|&item| set.pool_labels[item]).collect();
        rows_of(set.pool, &items)
            .map(|bank| metrics::knn_accuracy(&bank, &labels, set.test, set.test_labels, KNN_K))
    });
    Ok(Quality {
        knn_accuracy: metrics::knn_accuracy(
            set.pool,
            set.pool_labels,
            set.test,
            set.test_labels,
            KNN_K,
        ),
        knn_accuracy_recovered: metrics::knn_accuracy(
            &bank,
            &recovered.labels,
            set.test,
            set.test_labels,
            KNN_K,
        ),
        knn_accuracy_random_bank: random_bank.transpose()?,
        linear_probe_accuracy: akin_trainer::eval::linear_probe_accuracy(
            set.pool,
            set.pool_labels,
            set.test,
            set.test_labels,
        )?,
        rank_me: akin_trainer::eval::rank_me(set.pool)?,
        label_recovery: metrics::label_recovery(graph),
        answers_per_label: (recovered_count > 0).then(|| answers as f64 / recovered_count as f64),
        label_precision: (recovered_count > 0)
            .then(|| recovered.correct as f64 / recovered_count as f64),
        classes_found: graph.classes().len(),
        recovered_per_label: recovered.per_true_label(set.pool_labels),
    })
}

/// The rows `items` of `embeddings`, in that order.
fn rows_of(embeddings: &Embeddings, items: &[usize]) -> anyhow::Result<Embeddings> {
    let values = items
        .iter()
        .flat_map(|&item| embeddings.row(item).iter().copied())
        .collect();
    Ok(Embeddings::new(embeddings.dim(), values)?)
}

/// The pool items whose class the answers determine, each with its class's label.
struct RecoveredBank {
    items: Vec<usize>,
    labels: Vec<u8>,
    /// Recovered items whose true label is their class's label.
    correct: usize,
}

impl RecoveredBank {
    /// A class is named by the majority true label of its recovered members: what a user
    /// gets by naming one exemplar per class.
    fn new(graph: &Graph, truth: &[u8]) -> RecoveredBank {
        let classes = metrics::recovered_labels(graph);
        let class_count = graph.classes().len();
        let mut votes = vec![[0usize; 256]; class_count];
        for (class, &label) in classes.iter().zip(truth) {
            if let Some(class) = class {
                votes[*class][usize::from(label)] += 1;
            }
        }
        let name_of: Vec<u8> = votes.iter().map(majority).collect();

        let mut bank = RecoveredBank {
            items: Vec::new(),
            labels: Vec::new(),
            correct: 0,
        };
        for (item, class) in classes.iter().enumerate() {
            if let Some(class) = class {
                let label = name_of[*class];
                bank.items.push(item);
                bank.labels.push(label);
                bank.correct += usize::from(truth[item] == label);
            }
        }
        bank
    }
}

impl RecoveredBank {
    /// How many recovered items carry each true label, up to the largest label of `truth`.
    fn per_true_label(&self, truth: &[u8]) -> Vec<usize> {
        let labels = truth
            .iter()
            .copied()
            .max()
            .map_or(0, |max| usize::from(max) + 1);
        let mut counts = vec![0; labels];
        for &item in &self.items {
            counts[usize::from(truth[item])] += 1;
        }
        counts
    }
}

/// The label with most votes; ties go to the smaller label.
fn majority(votes: &[usize; 256]) -> u8 {
    let mut best = 0;
    for label in 1..256 {
        if votes[label] > votes[best] {
            best = label;
        }
    }
    best as u8
}

#[cfg(test)]
mod tests {
    use akin_core::Verdict;

    use super::*;

    #[test]
    fn a_class_is_named_by_its_majority_and_its_minority_counts_as_wrong() {
        // Items 0-2 answered same (labels 4, 4, 7), item 3 different from them (label 1)
        // and the same as item 4 (label 1); item 5 is unanswered.
        let graph = Graph::from_answers(
            6,
            [
                (0, 1, Verdict::Same),
                (1, 2, Verdict::Same),
                (0, 3, Verdict::Different),
                (3, 4, Verdict::Same),
            ],
        );

        let bank = RecoveredBank::new(&graph, &[4, 4, 7, 1, 1, 9]);

        assert_eq!(bank.items, [0, 1, 2, 3, 4]);
        assert_eq!(bank.labels, [4, 4, 4, 1, 1]);
        assert_eq!(bank.correct, 4);
    }

    #[test]
    fn with_no_answers_nothing_is_recovered() {
        let bank = RecoveredBank::new(&Graph::new(3), &[0, 1, 2]);

        assert!(bank.items.is_empty());
    }
}
