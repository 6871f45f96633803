use super::*;
use crate::Verdict::{Different, Same};

fn matrix(rows: &[[f32; 2]]) -> Embeddings {
    Embeddings::new(2, rows.iter().flatten().copied().collect()).expect("n x 2")
}

/// A unit vector whose cosine with (1, 0) is `cosine`.
fn at_cosine(cosine: f32) -> [f32; 2] {
    [cosine, (1.0 - cosine * cosine).sqrt()]
}

/// Bank: (1,0) class 0, (0.8,0.6) class 1, (0,1) class 1, (-1,0) class 2.
fn hand_bank() -> (Embeddings, Vec<u8>) {
    let bank = matrix(&[[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]]);
    (bank, vec![0, 1, 1, 2])
}

/// Queries near (1,0) of class 0, near (0,1) of class 1, near (-1,0) of class 2.
fn hand_queries() -> (Embeddings, Vec<u8>) {
    let queries = matrix(&[[1.0, 0.1], [0.1, 1.0], [-1.0, 0.2]]);
    (queries, vec![0, 1, 2])
}

#[test]
fn with_one_neighbour_every_hand_query_finds_its_class() {
    let ((bank, bank_labels), (queries, query_labels)) = (hand_bank(), hand_queries());

    let accuracy = knn_accuracy(&bank, &bank_labels, &queries, &query_labels, 1);

    assert_eq!(accuracy, 1.0);
}

#[test]
fn with_three_neighbours_class_one_outvotes_the_first_and_last_queries() {
    // Query 0's three nearest are classes 0, 1, 1; query 2's are 2, 1, 1; query 1's are 1, 1, 0.
    let ((bank, bank_labels), (queries, query_labels)) = (hand_bank(), hand_queries());

    let accuracy = knn_accuracy(&bank, &bank_labels, &queries, &query_labels, 3);

    assert!((accuracy - 1.0 / 3.0).abs() < 1e-12, "{accuracy}");
}

#[test]
fn a_tied_vote_goes_to_the_label_with_the_larger_summed_similarity() {
    // Class 0 has the single nearest row (0.9) but sums 1.0; class 1 sums 0.85 + 0.8.
    let bank = matrix(&[
        at_cosine(0.9),
        at_cosine(0.85),
        at_cosine(0.8),
        at_cosine(0.1),
    ]);
    let queries = matrix(&[[1.0, 0.0]]);

    let accuracy_for_class_one = knn_accuracy(&bank, &[0, 1, 1, 0], &queries, &[1], 4);
    let accuracy_for_class_zero = knn_accuracy(&bank, &[0, 1, 1, 0], &queries, &[0], 4);

    assert_eq!(
        (accuracy_for_class_one, accuracy_for_class_zero),
        (1.0, 0.0)
    );
}

#[test]
fn k_larger_than_the_bank_uses_the_whole_bank() {
    let ((bank, bank_labels), (queries, _)) = (hand_bank(), hand_queries());

    let accuracy = knn_accuracy(&bank, &bank_labels, &queries, &[1, 1, 1], 50);

    assert_eq!(accuracy, 1.0);
}

#[test]
fn an_empty_bank_or_empty_queries_score_zero() {
    let ((bank, bank_labels), (queries, query_labels)) = (hand_bank(), hand_queries());
    let empty = Embeddings::new(2, vec![]).expect("0 x 2");

    let without_bank = knn_accuracy(&empty, &[], &queries, &query_labels, 1);
    let without_queries = knn_accuracy(&bank, &bank_labels, &empty, &[], 1);

    assert_eq!((without_bank, without_queries), (0.0, 0.0));
}

/// Sorts the whole bank for every query: slow and obviously right.
fn naive_knn_accuracy(
    bank: &Embeddings,
    bank_labels: &[u8],
    queries: &Embeddings,
    truth: &[u8],
    k: usize,
) -> f64 {
    let (bank, queries) = (bank.normalized(), queries.normalized());
    let correct = (0..queries.len())
        .filter(|&q| {
            let mut ranked: Vec<(f32, usize)> = (0..bank.len())
                .map(|b| (dot(queries.row(q), bank.row(b)), b))
                .collect();
            ranked.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
            ranked.truncate(k);
            vote(&ranked, bank_labels) == truth[q]
        })
        .count();
    correct as f64 / queries.len() as f64
}

#[test]
fn blocked_threaded_knn_agrees_with_sorting_the_whole_bank() {
    let mut state = 12345u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let bank = Embeddings::new(5, (0..700 * 5).map(|_| next()).collect()).expect("700 x 5");
    let queries = Embeddings::new(5, (0..900 * 5).map(|_| next()).collect()).expect("900 x 5");
    let bank_labels: Vec<u8> = (0..700).map(|i| (i % 4) as u8).collect();
    let query_labels: Vec<u8> = (0..900).map(|i| (i * 7 % 4) as u8).collect();

    let fast = knn_accuracy(&bank, &bank_labels, &queries, &query_labels, 5);

    let slow = naive_knn_accuracy(&bank, &bank_labels, &queries, &query_labels, 5);
    assert_eq!(fast, slow);
    assert!(fast > 0.0 && fast < 1.0, "{fast}");
}

#[test]
fn recovered_labels_skip_lone_exemplars_and_unlabelled_items() {
    // Classes: {0,1,2} then {3,4} then lone 5; item 6 is not known to differ from {3,4}.
    let answers = [
        (0, 1, Same),
        (1, 2, Same),
        (3, 4, Same),
        (0, 3, Different),
        (5, 0, Different),
        (5, 4, Different),
        (6, 0, Different),
    ];
    let graph = Graph::from_answers(7, answers);

    let recovered = recovered_labels(&graph);

    assert_eq!(graph.classes(), vec![0, 3, 5]);
    assert_eq!(
        recovered,
        vec![Some(0), Some(0), Some(0), Some(1), Some(1), None, None]
    );
    assert!((label_recovery(&graph) - 5.0 / 7.0).abs() < 1e-12);
}

#[test]
fn a_graph_without_answers_recovers_nothing() {
    let graph = Graph::new(4);

    assert_eq!(recovered_labels(&graph), vec![None; 4]);
    assert_eq!(label_recovery(&graph), 0.0);
    assert_eq!(label_recovery(&Graph::new(0)), 0.0);
}

#[test]
fn a_wrong_same_lowers_recovered_label_accuracy() {
    let truth = [0, 0, 0, 1, 1];
    let right = Graph::from_answers(
        5,
        [(0, 1, Same), (1, 2, Same), (3, 4, Same), (0, 3, Different)],
    );
    let wrong = Graph::from_answers(5, [(0, 1, Same), (1, 2, Same), (2, 3, Same)]);

    let accuracies = (
        recovered_label_accuracy(&right, &truth),
        recovered_label_accuracy(&wrong, &truth),
    );

    assert_eq!(accuracies, (1.0, 0.6));
}
