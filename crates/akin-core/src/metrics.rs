//! How good the embeddings and the answers are: k-nearest-neighbour accuracy of the
//! embeddings, and how many items the answers alone have labelled.

use crate::vector::{self, dot};
use crate::{Embeddings, Graph};

/// Queries handled together, so that a block of bank rows is reused while in cache.
const QUERY_BLOCK: usize = 32;

/// Bank rows compared with a block of queries before moving on.
const BANK_BLOCK: usize = 256;

/// The share of queries whose label wins the vote of their `k` most similar bank rows.
///
/// Similarity is cosine (both sides are normalised here). The label with most votes wins;
/// equal votes go to the label with the larger summed similarity, then to the smaller label.
/// Among equally similar bank rows the earlier one is the nearer. `k` is clamped to
/// `1..=bank.len()`. Returns 0 when the bank or the queries are empty.
///
/// # Panics
/// When a label slice does not have one label per row, or the dimensions differ.
pub fn knn_accuracy(
    bank: &Embeddings,
    bank_labels: &[u8],
    queries: &Embeddings,
    query_labels: &[u8],
    k: usize,
) -> f64 {
    assert_eq!(bank.len(), bank_labels.len(), "one label per bank row");
    assert_eq!(queries.len(), query_labels.len(), "one label per query row");
    if bank.is_empty() || queries.is_empty() {
        return 0.0;
    }
    assert_eq!(
        bank.dim(),
        queries.dim(),
        "bank and queries share a dimension"
    );

    let k = k.clamp(1, bank.len());
    let (bank, queries) = (bank.normalized(), queries.normalized());
    let mut predictions = vec![0u8; queries.len()];
    vector::for_row_blocks(&mut predictions, 1, |first_query, block| {
        predict_block(&bank, bank_labels, &queries, first_query, block, k);
    });

    let correct = predictions
        .iter()
        .zip(query_labels)
        .filter(|(p, t)| p == t)
        .count();
    correct as f64 / queries.len() as f64
}

/// Predicts the labels of queries `first_query..first_query + out.len()`.
fn predict_block(
    bank: &Embeddings,
    bank_labels: &[u8],
    queries: &Embeddings,
    first_query: usize,
    out: &mut [u8],
    k: usize,
) {
    for (block_index, out_block) in out.chunks_mut(QUERY_BLOCK).enumerate() {
        let first = first_query + block_index * QUERY_BLOCK;
        let mut nearest: Vec<Vec<(f32, usize)>> = vec![Vec::with_capacity(k + 1); out_block.len()];

        for bank_start in (0..bank.len()).step_by(BANK_BLOCK) {
            let bank_end = (bank_start + BANK_BLOCK).min(bank.len());
            for (offset, top) in nearest.iter_mut().enumerate() {
                let query = queries.row(first + offset);
                for b in bank_start..bank_end {
                    keep_if_nearer(top, k, dot(query, bank.row(b)), b);
                }
            }
        }

        for (prediction, top) in out_block.iter_mut().zip(&nearest) {
            *prediction = vote(top, bank_labels);
        }
    }
}

/// Keeps `top` as the `k` most similar rows seen so far, most similar first.
fn keep_if_nearer(top: &mut Vec<(f32, usize)>, k: usize, similarity: f32, row: usize) {
    if top.len() == k {
        if top[k - 1].0 >= similarity || similarity.is_nan() {
            return;
        }
        top.pop();
    }
    let at = top.partition_point(|&(s, _)| s >= similarity);
    top.insert(at, (similarity, row));
}

/// The label with most votes, then the larger summed similarity, then the smaller label.
fn vote(top: &[(f32, usize)], labels: &[u8]) -> u8 {
    let mut tally: Vec<(u8, usize, f32)> = Vec::with_capacity(top.len());
    for &(similarity, row) in top {
        let label = labels[row];
        match tally.iter_mut().find(|entry| entry.0 == label) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += similarity;
            }
            None => tally.push((label, 1, similarity)),
        }
    }
    tally
        .into_iter()
        .max_by(|x, y| x.1.cmp(&y.1).then(x.2.total_cmp(&y.2)).then(y.0.cmp(&x.0)))
        .map_or(0, |entry| entry.0)
}

/// For each item, the index in [`Graph::classes`] of its class when the answers have
/// recovered it, else `None`.
///
/// An item is recovered when its component is the component of one of the classes and
/// holds at least two items: a lone exemplar has not been labelled by any answer.
pub fn recovered_labels(graph: &Graph) -> Vec<Option<usize>> {
    let roots = graph.component_ids();
    let mut class_of_root = vec![None; graph.len()];
    for (class, &exemplar) in graph.classes().iter().enumerate() {
        if graph.component_size(exemplar) >= 2 {
            class_of_root[roots[exemplar]] = Some(class);
        }
    }
    roots.iter().map(|&root| class_of_root[root]).collect()
}

/// The share of items recovered as in [`recovered_labels`]; 0 for an empty graph.
pub fn label_recovery(graph: &Graph) -> f64 {
    if graph.is_empty() {
        return 0.0;
    }
    let recovered = recovered_labels(graph).iter().flatten().count();
    recovered as f64 / graph.len() as f64
}

/// The share of all items that are recovered and carry the majority true label of their
/// class; 0 for an empty graph. Measures recovery against ground
/// truth, so that a wrong "same" that merged two classes shows.
///
/// # Panics
/// When `truth` does not have one label per item.
pub fn recovered_label_accuracy(graph: &Graph, truth: &[u8]) -> f64 {
    assert_eq!(truth.len(), graph.len(), "one true label per item");
    if graph.is_empty() {
        return 0.0;
    }
    let recovered = recovered_labels(graph);
    let classes = graph.classes().len();

    let mut counts = vec![[0usize; 256]; classes];
    for (class, &label) in recovered.iter().zip(truth) {
        if let Some(class) = class {
            counts[*class][usize::from(label)] += 1;
        }
    }
    let correct: usize = counts
        .iter()
        .map(|count| count.iter().max().copied().unwrap_or(0))
        .sum();
    correct as f64 / graph.len() as f64
}

#[cfg(test)]
mod tests;
