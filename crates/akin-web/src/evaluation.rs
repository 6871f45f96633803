//! What a round measures once its model is trained: RankMe of every item's embedding, how
//! far the answers got, and, for items that carry a hidden ground-truth label (the IDX import
//! fills them), kNN and linear-probe accuracy on a fixed held-out split of those items.
//! Labels are read here only, never for training or selection.

use std::time::Instant;

use akin_core::{Embeddings, Graph, metrics};
use akin_store::items::ItemTable;
use akin_trainer::TrainerHandle;
use akin_trainer::eval::{EvalJob, ProbeSets};

/// Neighbours of the kNN accuracy (cosine), as in `akin simulate`.
pub const KNN_K: usize = 20;

/// Every fifth labelled item, by item id, is a query; the others are the kNN bank and the
/// probe's training set.
const QUERY_EVERY: usize = 5;

/// The most labelled items a round evaluates; above it, a fixed subsample chosen by a hash of
/// the item ids. On all 60,000 Fashion-MNIST training images a round's evaluation took 16.7 s
/// on the shared 2-core machine (kNN 9.7 s, probe and RankMe 7.0 s); with this cap, 1.7 s.
pub const MAX_EVALUATED: usize = 10_000;

/// The fewest queries, and the fewest bank items, for the label measures to mean anything.
const MIN_SIDE: usize = 2;

/// A round's measures, as they go into its metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoundEvaluation {
    /// RankMe of every item's embedding; `None` only when the measure failed.
    pub rank_me: Option<f64>,
    /// Share of the items whose class the answers determine.
    pub label_recovery: f64,
    /// Answers used per recovered item; `None` while none is recovered.
    pub answers_per_label: Option<f64>,
    /// kNN accuracy of the held-out labelled items against the others.
    pub knn_accuracy: Option<f64>,
    /// Test accuracy of a linear probe trained on the others.
    pub linear_probe_accuracy: Option<f64>,
    /// Labelled items in the split (queries and the others).
    pub evaluated_items: Option<usize>,
    /// Why a measure is missing.
    pub warnings: Vec<String>,
}

/// What a round is measured on.
pub struct RoundData<'a> {
    /// Every item's embedding, row `i` for `table.ids[i]`.
    pub embeddings: &'a Embeddings,
    /// The items, with their labels.
    pub table: &'a ItemTable,
    /// The answer graph the round trained on, over the same items.
    pub graph: &'a Graph,
    /// Answers in the log the round trained on.
    pub answers_used: usize,
}

/// Measures a round on `trainer`'s thread (RankMe, the probe) and the blocking pool (kNN).
/// A measure that fails is left out with a warning: it never fails the round.
pub async fn evaluate(trainer: &TrainerHandle, data: RoundData<'_>) -> RoundEvaluation {
    let started = Instant::now();
    let mut evaluation = RoundEvaluation {
        label_recovery: metrics::label_recovery(data.graph),
        answers_per_label: answers_per_label(data.graph, data.answers_used),
        ..RoundEvaluation::default()
    };
    let split = HeldOut::choose(&data.table.ids, &data.table.labels, MAX_EVALUATED);
    let probe = match split.shortage() {
        // A project without labels (images imported from folders) has no ground truth to
        // measure against; saying so every round would bury the warnings that matter.
        _ if split.labelled == 0 => None,
        Some(warning) => {
            evaluation.warnings.push(warning);
            None
        }
        None => {
            evaluation.evaluated_items = Some(split.len());
            let sets = split.sets(data.embeddings);
            evaluation.knn_accuracy = knn(&sets, &mut evaluation.warnings).await;
            Some(sets)
        }
    };

    let job = EvalJob {
        embeddings: data.embeddings.clone(),
        probe,
    };
    match trainer.evaluate(job).await {
        Ok(measured) => {
            evaluation.rank_me = Some(measured.rank_me);
            evaluation.linear_probe_accuracy = measured.linear_probe_accuracy;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot measure RankMe and the linear probe: {e}");
            evaluation
                .warnings
                .push(format!("RankMe and the linear probe failed: {e}"));
        }
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        elapsed_ms,
        evaluated_items = evaluation.evaluated_items,
        "round evaluated in {elapsed_ms} ms"
    );
    evaluation
}

/// Answers used per recovered item (as [`metrics::recovered_labels`] counts them); `None`
/// while none is recovered.
pub fn answers_per_label(graph: &Graph, answers_used: usize) -> Option<f64> {
    let recovered = metrics::recovered_labels(graph).iter().flatten().count();
    (recovered > 0).then(|| answers_used as f64 / recovered as f64)
}

/// kNN accuracy of the probe's test rows against its training rows, on the blocking pool.
async fn knn(sets: &ProbeSets, warnings: &mut Vec<String>) -> Option<f64> {
    let sets = sets.clone();
    let accuracy = tokio::task::spawn_blocking(move || {
        metrics::knn_accuracy(
            &sets.train,
            &sets.train_labels,
            &sets.test,
            &sets.test_labels,
            KNN_K,
        )
    })
    .await;
    match accuracy {
        Ok(accuracy) => Some(accuracy),
        Err(e) => {
            tracing::warn!(error = %e, "cannot measure the kNN accuracy: {e}");
            warnings.push(format!("the kNN accuracy failed: {e}"));
            None
        }
    }
}

/// The labelled items a round is measured on, as rows of the item table: every
/// [`QUERY_EVERY`]th by item id is a query, the others are the bank.
#[derive(Clone, Debug, Default, PartialEq)]
struct HeldOut {
    bank: Vec<usize>,
    bank_labels: Vec<u8>,
    queries: Vec<usize>,
    query_labels: Vec<u8>,
    /// Items with a label, before any subsample.
    labelled: usize,
}

impl HeldOut {
    /// Splits the items of `ids` (ascending) that have a label. Above `cap` labelled items,
    /// only the `cap` whose ids hash lowest take part, so that the sample stays the same from
    /// round to round.
    // Labels are bytes (the IDX format's); an item whose label does not fit one is counted as
    // unlabelled, which no import produces today.
    fn choose(ids: &[i64], labels: &[Option<i32>], cap: usize) -> HeldOut {
        let mut labelled: Vec<(usize, u8)> = labels
            .iter()
            .enumerate()
            .filter_map(|(row, label)| Some((row, u8::try_from((*label)?).ok()?)))
            .collect();
        let mut split = HeldOut {
            labelled: labelled.len(),
            ..HeldOut::default()
        };
        if labelled.len() > cap {
            labelled.sort_unstable_by_key(|&(row, _)| (mix(ids[row]), ids[row]));
            labelled.truncate(cap);
            labelled.sort_unstable_by_key(|&(row, _)| row);
        }
        for (position, (row, label)) in labelled.into_iter().enumerate() {
            if position % QUERY_EVERY == QUERY_EVERY - 1 {
                split.queries.push(row);
                split.query_labels.push(label);
            } else {
                split.bank.push(row);
                split.bank_labels.push(label);
            }
        }
        split
    }

    /// Labelled items in the split.
    fn len(&self) -> usize {
        self.bank.len() + self.queries.len()
    }

    /// Why the split is too small to measure anything, if it is.
    fn shortage(&self) -> Option<String> {
        (self.queries.len() < MIN_SIDE || self.bank.len() < MIN_SIDE).then(|| {
            format!(
                "only {} items carry a ground-truth label, {} held out: knn_accuracy and \
                 linear_probe_accuracy need at least {MIN_SIDE} on each side",
                self.labelled,
                self.queries.len()
            )
        })
    }

    /// The bank as training rows and the queries as test rows of `embeddings`.
    fn sets(&self, embeddings: &Embeddings) -> ProbeSets {
        ProbeSets {
            train: rows_of(embeddings, &self.bank),
            train_labels: self.bank_labels.clone(),
            test: rows_of(embeddings, &self.queries),
            test_labels: self.query_labels.clone(),
        }
    }
}

/// Rows `rows` of `embeddings`, in that order.
fn rows_of(embeddings: &Embeddings, rows: &[usize]) -> Embeddings {
    let values = rows
        .iter()
        .flat_map(|&row| embeddings.row(row).iter().copied())
        .collect();
    Embeddings::new(embeddings.dim(), values).expect("whole rows of the same dimension")
}

/// SplitMix64's finaliser: a fixed, well-spread hash of an item id, the same on every
/// machine and in every release.
fn mix(id: i64) -> u64 {
    let mut x = (id as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use akin_core::Verdict;
    use akin_trainer::{DeviceChoice, TrainerSettings};

    use super::*;

    fn table(labels: Vec<Option<i32>>) -> ItemTable {
        ItemTable {
            ids: (0..labels.len() as i64).map(|i| 100 + 3 * i).collect(),
            labels,
            pixels: Vec::new(),
        }
    }

    /// Two labels whose items point in opposite directions, with a little spread.
    fn separable(count: usize) -> (Embeddings, Vec<Option<i32>>) {
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for item in 0..count {
            let label = (item % 2) as i32;
            let side = if label == 0 { 1.0 } else { -1.0 };
            values.extend([side, 0.1 * (item % 7) as f32, 0.5]);
            labels.push(Some(label));
        }
        (Embeddings::new(3, values).expect("whole rows"), labels)
    }

    fn cpu_trainer() -> TrainerHandle {
        TrainerHandle::spawn(TrainerSettings {
            device: DeviceChoice::Cpu,
            threads: 1,
        })
    }

    #[test]
    fn every_fifth_labelled_item_by_id_is_held_out_and_unlabelled_ones_take_no_part() {
        let labels = (0..12)
            .map(|i| (i != 3).then_some(i % 4))
            .collect::<Vec<_>>();
        let items = table(labels);

        let split = HeldOut::choose(&items.ids, &items.labels, MAX_EVALUATED);

        assert_eq!(split.queries, [5, 10], "the 5th and 10th labelled items");
        assert_eq!(split.query_labels, [1, 2]);
        assert_eq!(split.bank, [0, 1, 2, 4, 6, 7, 8, 9, 11]);
        assert_eq!((split.len(), split.labelled), (11, 11));
        assert_eq!(split.shortage(), None);
    }

    #[test]
    fn above_the_cap_a_fixed_sample_of_items_is_evaluated() {
        let items = table((0..400).map(|i| Some(i % 10)).collect());

        let split = HeldOut::choose(&items.ids, &items.labels, 50);
        let again = HeldOut::choose(&items.ids, &items.labels, 50);

        assert_eq!((split.len(), split.labelled), (50, 400));
        assert_eq!(split.queries.len(), 10);
        assert_eq!(split, again);
        let mut rows: Vec<usize> = split.bank.iter().chain(&split.queries).copied().collect();
        rows.sort_unstable();
        assert!(
            rows.last() > Some(&200),
            "the sample spreads over the ids: {rows:?}"
        );
    }

    #[test]
    fn too_few_labelled_items_on_a_side_say_why_nothing_is_measured() {
        let few = table(vec![Some(1); 9]);
        let none = table(vec![None; 30]);

        let few = HeldOut::choose(&few.ids, &few.labels, MAX_EVALUATED).shortage();
        let none = HeldOut::choose(&none.ids, &none.labels, MAX_EVALUATED).shortage();

        let few = few.expect("one query is too few");
        assert!(
            few.starts_with("only 9 items carry a ground-truth label"),
            "{few}"
        );
        assert!(none.is_some_and(|why| why.starts_with("only 0 items")));
    }

    #[tokio::test]
    async fn a_round_with_labelled_items_measures_knn_the_probe_and_rank_me() {
        let (embeddings, labels) = separable(40);
        let items = table(labels);
        let graph = Graph::from_answers(40, [(0, 2, Verdict::Same), (0, 1, Verdict::Different)]);

        let evaluation = evaluate(
            &cpu_trainer(),
            RoundData {
                embeddings: &embeddings,
                table: &items,
                graph: &graph,
                answers_used: 3,
            },
        )
        .await;

        assert_eq!(evaluation.knn_accuracy, Some(1.0), "{evaluation:?}");
        assert_eq!(evaluation.linear_probe_accuracy, Some(1.0));
        assert_eq!(evaluation.evaluated_items, Some(40));
        let rank_me = evaluation.rank_me.expect("measured");
        assert!(rank_me > 1.0 && rank_me <= 3.0, "{rank_me}");
        assert_eq!(evaluation.label_recovery, 0.05, "items 0 and 2 of 40");
        assert_eq!(evaluation.answers_per_label, Some(1.5));
        assert!(evaluation.warnings.is_empty(), "{:?}", evaluation.warnings);
    }

    #[tokio::test]
    async fn a_round_without_labels_measures_rank_me_and_leaves_the_label_measures_null() {
        let (embeddings, _) = separable(20);
        let items = table(vec![None; 20]);
        let graph = Graph::new(20);

        let evaluation = evaluate(
            &cpu_trainer(),
            RoundData {
                embeddings: &embeddings,
                table: &items,
                graph: &graph,
                answers_used: 0,
            },
        )
        .await;

        assert!(evaluation.rank_me.is_some_and(|rank| rank > 1.0));
        assert_eq!(evaluation.knn_accuracy, None);
        assert_eq!(evaluation.linear_probe_accuracy, None);
        assert_eq!(evaluation.evaluated_items, None);
        assert_eq!(evaluation.answers_per_label, None);
        assert!(
            evaluation.warnings.is_empty(),
            "no labels is no warning: {:?}",
            evaluation.warnings
        );
    }
}
