//! Tests of the margin, bridging and monitor strategies and of mixing strategies.

use super::*;
use crate::Verdict::{self, Different, Same};
use crate::synthetic;

/// Unit vectors in the plane at the given angles in degrees.
pub(super) fn at_angles(degrees: &[f32]) -> Embeddings {
    let values = degrees
        .iter()
        .flat_map(|d| [d.to_radians().cos(), d.to_radians().sin()])
        .collect();
    Embeddings::new(2, values).expect("n x 2")
}

fn request<'a>(
    graph: &'a Graph,
    embeddings: &'a Embeddings,
    budget: usize,
    already_asked: &'a HashSet<(usize, usize)>,
) -> SelectionRequest<'a> {
    SelectionRequest {
        graph,
        embeddings,
        budget,
        seed: 11,
        already_asked,
    }
}

#[test]
fn the_threshold_lies_halfway_across_the_gap_of_separable_similarities() {
    let same = [0.9, 0.8, 0.95, 0.7, 0.85];
    let different = [0.1, 0.3, -0.2, 0.0, 0.2];

    let threshold = separating_threshold(&same, &different);

    assert_eq!(threshold, Some(0.5));
}

#[test]
fn the_threshold_minimises_the_balanced_error_when_the_kinds_overlap() {
    let same = [0.6, 0.7, 0.8, 0.9, 0.2];
    // Twice as many different pairs: one above 0.5 costs half as much as one same below it.
    let different = [0.1, 0.2, 0.3, 0.4, 0.0, 0.1, 0.2, 0.3, 0.55, 0.0];

    let threshold = separating_threshold(&same, &different).expect("enough pairs");

    assert!((threshold - 0.575).abs() < 1e-6, "{threshold}");
}

#[test]
fn too_few_known_pairs_give_no_threshold() {
    let threshold = separating_threshold(&[0.9, 0.8, 0.7, 0.6], &[0.1; 20]);

    assert_eq!(threshold, None);
}

/// 0 and 1 (at 0° and 5°) are known the same, 2 (at 90°) known different from them, so the
/// learned boundary sits near cos 0.54; 3 (at 57°) is at cos 0.545 from 0; 4 is opposite 0.
fn margin_scene() -> (Graph, Embeddings) {
    let graph = Graph::from_answers(5, [(0, 1, Same), (0, 2, Different)]);
    (graph, at_angles(&[0.0, 5.0, 90.0, 57.0, 180.0]))
}

#[test]
fn margin_asks_first_the_pair_nearest_the_learned_boundary() {
    let ((graph, embeddings), asked) = (margin_scene(), HashSet::new());

    let pairs = select(Strategy::Margin, &request(&graph, &embeddings, 3, &asked));

    assert_eq!(pairs.len(), 3);
    assert_eq!((pairs[0].a, pairs[0].b), (0, 3));
    assert!(pairs[0].score < 0.01, "{:?}", pairs[0]);
    assert!(pairs.windows(2).all(|w| w[0].score <= w[1].score));
    assert!(pairs.iter().all(|p| p.strategy == Strategy::Margin));
}

#[test]
fn margin_without_decided_pairs_centres_on_the_median_candidate_similarity() {
    let (graph, asked) = (Graph::new(5), HashSet::new());
    let embeddings = at_angles(&[0.0, 5.0, 90.0, 57.0, 180.0]);

    let pairs = select(Strategy::Margin, &request(&graph, &embeddings, 20, &asked));

    assert!(!pairs.is_empty());
    assert!(pairs.iter().all(|p| !graph.is_decided(p.a, p.b)));
    assert!(pairs.windows(2).all(|w| w[0].score <= w[1].score));
    assert!(
        pairs[0].score.abs() < 1e-6,
        "the median candidate is itself a candidate"
    );
}

#[test]
fn margin_samples_queries_and_partners_when_items_are_many() {
    let data = synthetic::clustered(5000, 16, 5, 1.0, 4);
    let log = synthetic::exemplar_log(&data.labels, 500, 5);
    let graph = Graph::from_answers(5000, log.iter().copied());
    let asked: HashSet<(usize, usize)> = log.iter().map(|&(a, b, _)| ordered(a, b)).collect();

    let pairs = select(
        Strategy::Margin,
        &request(&graph, &data.embeddings, 200, &asked),
    );

    assert_eq!(pairs.len(), 200);
    assert!(pairs.iter().all(|p| !graph.is_decided(p.a, p.b)));
    assert!(pairs.iter().all(|p| !asked.contains(&(p.a, p.b))));
    assert!(pairs.windows(2).all(|w| w[0].score <= w[1].score));
}

/// Components {0..5} and {5..9} point one way, {9..12} another; {0..5} and {9..12} are known
/// to differ; 12 and 13 are alone.
fn bridging_scene() -> (Graph, Embeddings) {
    let mut answers: Vec<(usize, usize, Verdict)> = (1..5).map(|i| (0, i, Same)).collect();
    answers.extend((6..9).map(|i| (5, i, Same)));
    answers.extend([(9, 10, Same), (9, 11, Same), (0, 9, Different)]);
    let graph = Graph::from_answers(14, answers);
    let mut angles = vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0];
    angles.extend([90.0, 92.0, 94.0, 45.0, 180.0]);
    (graph, at_angles(&angles))
}

#[test]
fn bridging_first_asks_the_closest_pair_across_the_two_largest_undecided_components() {
    let ((graph, embeddings), asked) = (bridging_scene(), HashSet::new());

    let pairs = select(
        Strategy::Bridging,
        &request(&graph, &embeddings, 20, &asked),
    );

    assert_eq!((pairs[0].a, pairs[0].b), (4, 5));
    let expected = embeddings.cosine(4, 5) * (5.0f32 * 4.0).sqrt();
    assert!((pairs[0].score - expected).abs() < 1e-4, "{:?}", pairs[0]);
    assert!(pairs.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn bridging_asks_one_pair_per_pair_of_undecided_components() {
    let ((graph, embeddings), asked) = (bridging_scene(), HashSet::new());

    let pairs = select(
        Strategy::Bridging,
        &request(&graph, &embeddings, 100, &asked),
    );

    // Five components; of their ten pairs one is known different.
    assert_eq!(pairs.len(), 9);
    let component_pairs: HashSet<(usize, usize)> = pairs
        .iter()
        .map(|p| ordered(graph.component_of(p.a), graph.component_of(p.b)))
        .collect();
    assert_eq!(component_pairs.len(), 9);
}

#[test]
fn monitor_draws_like_passive_under_its_own_name_and_seed() {
    let (graph, asked) = (Graph::new(40), HashSet::new());
    let embeddings = Embeddings::new(1, vec![1.0; 40]).expect("40 x 1");
    let selection = request(&graph, &embeddings, 15, &asked);

    let monitor = select(Strategy::Monitor, &selection);
    let again = select(Strategy::Monitor, &selection);
    let passive = select(Strategy::Passive, &selection);

    assert_eq!(monitor, again);
    assert_eq!(monitor.len(), 15);
    assert!(
        monitor
            .iter()
            .all(|p| p.strategy == Strategy::Monitor && p.score == 0.0)
    );
    let pairs = |choices: &[PairChoice]| -> Vec<(usize, usize)> {
        choices.iter().map(|p| (p.a, p.b)).collect()
    };
    assert_ne!(pairs(&monitor), pairs(&passive));
}

#[test]
fn the_default_mix_splits_a_thousand_pairs_seven_one_one_one() {
    let mix = StrategyMix::default();

    let quotas = mix.quotas(1000);

    use Strategy::*;
    assert_eq!(
        quotas,
        vec![
            (Exemplar, 700),
            (Margin, 100),
            (Bridging, 100),
            (Monitor, 100),
            (Passive, 0)
        ]
    );
}

#[test]
fn leftover_pairs_go_to_the_largest_remainders_then_in_listing_order() {
    let mix = StrategyMix {
        exemplar: 1.0,
        margin: 0.0,
        bridging: 1.0,
        monitor: 1.0,
        passive: 0.0,
    };
    let skewed = StrategyMix {
        exemplar: 0.5,
        margin: 0.3,
        bridging: 0.2,
        monitor: 0.0,
        passive: 0.0,
    };

    let even = mix.quotas(10);
    let uneven = skewed.quotas(4);

    let counts = |quotas: Vec<(Strategy, usize)>| -> Vec<usize> {
        quotas.into_iter().map(|(_, quota)| quota).collect()
    };
    assert_eq!(counts(even), vec![4, 0, 3, 3, 0]);
    // Exact shares 2.0, 1.2, 0.8: the leftover pair goes to the 0.8.
    assert_eq!(counts(uneven), vec![2, 1, 1, 0, 0]);
}

#[test]
fn mixes_read_missing_weights_as_zero_and_refuse_unknown_strategies() {
    let parsed: StrategyMix =
        serde_json::from_str(r#"{"exemplar": 3, "monitor": 1}"#).expect("valid mix");
    let unknown = serde_json::from_str::<StrategyMix>(r#"{"exemplar": 1, "random": 1}"#);
    let default_json = serde_json::to_value(StrategyMix::default()).expect("serializable");

    assert_eq!(parsed.weight(Strategy::Exemplar), 3.0);
    assert_eq!(parsed.weight(Strategy::Margin), 0.0);
    assert_eq!(parsed.quotas(8)[0], (Strategy::Exemplar, 6));
    assert!(unknown.is_err());
    assert_eq!(default_json["exemplar"], 0.7);
    assert_eq!(
        serde_json::from_value::<StrategyMix>(default_json).expect("round trip"),
        StrategyMix::default()
    );
}

#[test]
fn a_mix_without_a_usable_weight_is_refused_and_chooses_nothing() {
    let mut zero = StrategyMix::only(Strategy::Margin);
    zero.margin = 0.0;
    let negative = StrategyMix {
        bridging: -1.0,
        ..StrategyMix::default()
    };
    let (graph, asked) = (Graph::new(10), HashSet::new());
    let embeddings = Embeddings::new(1, vec![1.0; 10]).expect("10 x 1");

    let pairs = select_mix(&zero, &request(&graph, &embeddings, 5, &asked));

    assert_eq!(zero.validate(), Err(MixError::AllZero));
    assert!(matches!(
        negative.validate(),
        Err(MixError::BadWeight {
            strategy: Strategy::Bridging,
            ..
        })
    ));
    assert_eq!(StrategyMix::default().validate(), Ok(()));
    assert!(pairs.is_empty());
}

#[test]
fn a_mixed_batch_gives_every_strategy_its_quota_grouped_in_listing_order() {
    let data = synthetic::clustered(3000, 16, 5, 1.0, 8);
    let log = synthetic::exemplar_log(&data.labels, 300, 9);
    let graph = Graph::from_answers(3000, log.iter().copied());
    let asked: HashSet<(usize, usize)> = log.iter().map(|&(a, b, _)| ordered(a, b)).collect();

    let pairs = select_mix(
        &StrategyMix::default(),
        &request(&graph, &data.embeddings, 100, &asked),
    );

    let strategies: Vec<Strategy> = pairs.iter().map(|p| p.strategy).collect();
    let mut expected = vec![Strategy::Exemplar; 70];
    expected.extend([Strategy::Margin; 10]);
    expected.extend([Strategy::Bridging; 10]);
    expected.extend([Strategy::Monitor; 10]);
    assert_eq!(strategies, expected);
    let distinct: HashSet<(usize, usize)> = pairs.iter().map(|p| (p.a, p.b)).collect();
    assert_eq!(distinct.len(), 100);
}

#[test]
fn strategies_that_fill_their_quota_make_up_for_those_that_come_back_short() {
    // Eight pairs of items, all known to differ from each other, and six loose items:
    // bridging compares only the eight largest components and finds them all decided, while
    // exemplar can ask every loose item against every pair.
    let mut answers: Vec<(usize, usize, Verdict)> =
        (0..8).map(|k| (2 * k, 2 * k + 1, Same)).collect();
    for x in 0..8 {
        answers.extend((x + 1..8).map(|y| (2 * x, 2 * y, Different)));
    }
    let graph = Graph::from_answers(22, answers);
    let angles: Vec<f32> = (0..22).map(|i| 16.0 * i as f32).collect();
    let (embeddings, asked) = (at_angles(&angles), HashSet::new());
    let mix = StrategyMix {
        exemplar: 1.0,
        margin: 0.0,
        bridging: 3.0,
        monitor: 0.0,
        passive: 0.0,
    };

    let alone = select(Strategy::Bridging, &request(&graph, &embeddings, 6, &asked));
    let mixed = select_mix(&mix, &request(&graph, &embeddings, 8, &asked));

    assert!(alone.is_empty(), "{alone:?}");
    assert_eq!(mixed.len(), 8);
    assert!(mixed.iter().all(|p| p.strategy == Strategy::Exemplar));
}
