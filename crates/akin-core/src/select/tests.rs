use std::collections::HashMap;

use super::*;
use crate::Verdict::{self, Different, NotSure, Same};
use proptest::prelude::{Just, any, prop_assert, prop_assert_eq, prop_oneof, proptest};
use proptest::strategy::Strategy as _;

const CLUSTER_SIZE: usize = 20;

/// Three tight clusters around orthogonal axes in 6 dimensions: items `0..20` around axis 0,
/// `20..40` around axis 1, `40..60` around axis 2. Small deterministic noise on the other axes.
fn three_clusters() -> Embeddings {
    three_clusters_of(CLUSTER_SIZE)
}

/// [`three_clusters`] with `size` items in each cluster.
fn three_clusters_of(size: usize) -> Embeddings {
    let mut values = Vec::new();
    for item in 0..3 * size {
        let cluster = item / size;
        for axis in 0..6 {
            let noise = ((item * 7 + axis * 13) % 10) as f32 / 100.0;
            values.push(if axis == cluster { 1.0 } else { noise });
        }
    }
    Embeddings::new(6, values).expect("3 clusters x 6")
}

fn cluster_of(item: usize) -> usize {
    item / CLUSTER_SIZE
}

/// Exemplars 0, 20 and 40 known to differ from each other; 0 and 1 known to be the same.
fn three_known_classes() -> Graph {
    let answers = [
        (0, 1, Same),
        (0, 20, Different),
        (0, 40, Different),
        (20, 40, Different),
    ];
    Graph::from_answers(3 * CLUSTER_SIZE, answers)
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
        seed: 7,
        already_asked,
    }
}

/// The exemplar among `exemplars` that a pair holds, and its other item.
fn split_pair(pair: &PairChoice, exemplars: &[usize]) -> (usize, usize) {
    if exemplars.contains(&pair.a) {
        (pair.a, pair.b)
    } else {
        (pair.b, pair.a)
    }
}

/// Cosine of `item` and the unit mean direction of `members`.
fn prototype_cosine(embeddings: &Embeddings, members: &[usize], item: usize) -> f32 {
    let unit = embeddings.normalized();
    let mut mean = vec![0.0f32; embeddings.dim()];
    for &member in members {
        mean.iter_mut()
            .zip(unit.row(member))
            .for_each(|(m, v)| *m += v);
    }
    let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
    mean.iter()
        .zip(unit.row(item))
        .map(|(m, v)| m * v)
        .sum::<f32>()
        / norm
}

#[test]
fn exploitation_pairs_items_with_the_exemplar_of_their_own_cluster() {
    let (graph, embeddings, asked) = (three_known_classes(), three_clusters(), HashSet::new());
    let budget = 30;

    let pairs = select(
        Strategy::Exemplar,
        &request(&graph, &embeddings, budget, &asked),
    );

    assert_eq!(graph.classes(), vec![0, 20, 40]);
    assert_eq!(pairs.len(), budget);
    let exploitation = &pairs[discovery_share(budget)..];
    for pair in exploitation {
        let (exemplar, item) = split_pair(pair, &[0, 20, 40]);
        assert_eq!(cluster_of(item), cluster_of(exemplar), "{pair:?}");
        assert!(pair.score > 0.9, "{pair:?}");
    }
}

#[test]
fn classes_take_turns_even_when_one_class_has_all_the_most_similar_items() {
    // Cluster 1 is loose: every one of its items is less similar to its prototype than any
    // item of clusters 0 and 2. Ranking globally would ask clusters 0 and 2 first.
    let mut values = three_clusters().into_values();
    for item in 21..40 {
        values[item * 6 + 3] = 0.6;
    }
    let embeddings = Embeddings::new(6, values).expect("60 x 6");
    let (graph, asked) = (three_known_classes(), HashSet::new());
    let budget = 33;

    let pairs = select(
        Strategy::Exemplar,
        &request(&graph, &embeddings, budget, &asked),
    );

    let exploitation = &pairs[discovery_share(budget)..];
    let mut per_class = [0; 3];
    for pair in exploitation {
        let (exemplar, _) = split_pair(pair, &[0, 20, 40]);
        per_class[cluster_of(exemplar)] += 1;
    }
    assert_eq!(per_class, [10, 10, 10], "{exploitation:?}");
    for class in 0..3 {
        let scores: Vec<f32> = exploitation
            .iter()
            .filter(|pair| cluster_of(split_pair(pair, &[0, 20, 40]).0) == class)
            .map(|pair| pair.score)
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    }
}

#[test]
fn a_single_question_goes_to_the_item_most_similar_to_a_class_prototype() {
    let (graph, embeddings, asked) = (three_known_classes(), three_clusters(), HashSet::new());
    let members = [vec![0, 1], vec![20], vec![40]];

    let pairs = select(Strategy::Exemplar, &request(&graph, &embeddings, 1, &asked));

    assert_eq!(pairs.len(), 1);
    let best = (2..60)
        .filter(|&item| ![20, 40].contains(&item))
        .map(|item| {
            let cosine = prototype_cosine(&embeddings, &members[cluster_of(item)], item);
            (cosine, item)
        })
        .max_by(|x, y| x.0.total_cmp(&y.0).then(y.1.cmp(&x.1)))
        .expect("unlabelled items exist");
    assert!(
        (pairs[0].score - best.0).abs() < 1e-5,
        "{:?} vs {best:?}",
        pairs[0]
    );
    assert_eq!(split_pair(&pairs[0], &[0, 20, 40]).1, best.1);
}

/// Items `0..200` around axis 0 (item 0 the only exemplar), `200..400` around axis 1, and
/// item 400 alone on axis 2: an outlier farther from the exemplar than anything.
fn dense_group_and_outlier() -> (Graph, Embeddings) {
    let mut values = Vec::new();
    for item in 0..401 {
        let axis = if item == 400 { 2 } else { item / 200 };
        for dim in 0..4 {
            let noise = ((item * 7 + dim * 13) % 10) as f32 / 50.0;
            values.push(if dim == axis { 1.0 } else { noise });
        }
    }
    let embeddings = Embeddings::new(4, values).expect("401 x 4");
    let graph = Graph::from_answers(401, [(0, 1, Same)]);
    (graph, embeddings)
}

#[test]
fn discovery_probes_the_centre_of_a_dense_group_before_an_outlier() {
    let (graph, embeddings) = dense_group_and_outlier();
    let asked = HashSet::new();

    let pairs = select(
        Strategy::Exemplar,
        &request(&graph, &embeddings, 30, &asked),
    );

    let first = &pairs[0];
    assert_eq!(first.a, 0, "{first:?}");
    assert!((200..400).contains(&first.b), "{first:?}");
}

#[test]
fn a_first_batch_asks_items_against_its_probes_as_well_as_the_one_exemplar() {
    let (graph, embeddings, asked) = (Graph::new(60), three_clusters(), HashSet::new());
    let budget = 30;

    let pairs = select(
        Strategy::Exemplar,
        &request(&graph, &embeddings, budget, &asked),
    );

    let discovery = &pairs[..discovery_share(budget)];
    let probes = [discovery[0].b, discovery[1].b];
    let targets = [0, probes[0], probes[1]];
    let mut per_target = [0; 3];
    for pair in &pairs[discovery.len()..] {
        let (target, item) = split_pair(pair, &targets);
        assert_eq!(cluster_of(item), cluster_of(target), "{pair:?}");
        per_target[targets.iter().position(|&t| t == target).expect("a target")] += 1;
    }
    assert_eq!(per_target, [9, 9, 9]);
}

/// Classes 0, 20 and 40 of [`three_clusters`] with six members each, all asked: the answers
/// put the boundary between "same" and "different" far below every remaining item of its own
/// class. Returns the graph and the pairs asked.
fn three_answered_classes() -> (Graph, HashSet<(usize, usize)>) {
    three_answered_classes_and(&[])
}

/// [`three_answered_classes`] with `more` answers.
fn three_answered_classes_and(
    more: &[(usize, usize, Verdict)],
) -> (Graph, HashSet<(usize, usize)>) {
    let mut answers = vec![(0, 20, Different), (0, 40, Different), (20, 40, Different)];
    for exemplar in [0, 20, 40] {
        answers.extend((1..6).map(|i| (exemplar, exemplar + i, Same)));
    }
    answers.extend(more);
    let asked = answers.iter().map(|&(a, b, _)| (a, b)).collect();
    (Graph::from_answers(60, answers), asked)
}

/// Class 0 (exemplar 0) holds items `0..20` around 65 degrees. Class 1 (exemplar 20) holds
/// two modes, items `20..30` around 100 degrees and `30..40` around 0, so its prototype points
/// at 50 degrees. Items `40..50` lie around 95 degrees: nearer class 0's prototype (30
/// degrees off, against 45), but the ten labelled items most similar to them are class 1's,
/// about 5 degrees off, and they outvote the next ten, class 0's, about 30 degrees off.
fn a_class_of_two_modes() -> (Graph, Embeddings, HashSet<(usize, usize)>) {
    let spread = |centre: f32, i: usize| centre + (i % 5) as f32 - 2.0;
    let degrees: Vec<f32> = (0..50)
        .map(|item| match item {
            0..20 => spread(65.0, item),
            20..30 => spread(100.0, item),
            30..40 => spread(0.0, item),
            _ => spread(95.0, item),
        })
        .collect();
    let mut answers = vec![(0, 20, Different)];
    answers.extend((1..20).map(|i| (0, i, Same)));
    answers.extend((21..40).map(|i| (20, i, Same)));
    let asked = answers.iter().map(|&(a, b, _)| (a, b)).collect();
    let embeddings = super::strategy_tests::at_angles(&degrees);
    (Graph::from_answers(50, answers), embeddings, asked)
}

#[test]
fn an_item_goes_to_the_class_its_labelled_neighbours_vote_for_not_the_nearest_prototype() {
    let (graph, embeddings, asked) = a_class_of_two_modes();
    let members: Vec<Vec<usize>> = vec![(0..20).collect(), (20..40).collect()];
    for item in 40..50 {
        let to_class_0 = prototype_cosine(&embeddings, &members[0], item);
        let to_class_1 = prototype_cosine(&embeddings, &members[1], item);
        assert!(
            to_class_0 > to_class_1 + 0.1,
            "{item}: {to_class_0} {to_class_1}"
        );
    }

    let budget = 20;

    let pairs = select(
        Strategy::Exemplar,
        &request(&graph, &embeddings, budget, &asked),
    );

    let exploitation = &pairs[discovery_share(budget)..];
    let exemplars: Vec<usize> = exploitation
        .iter()
        .map(|pair| split_pair(pair, &[0, 20]))
        .filter(|&(_, item)| (40..50).contains(&item))
        .map(|(exemplar, _)| exemplar)
        .collect();
    assert!(exemplars.len() >= 5, "{pairs:?}");
    assert!(exemplars.iter().all(|&e| e == 20), "{pairs:?}");
}

#[test]
fn once_every_group_looks_like_a_known_class_discovery_leaves_its_share_to_exploitation() {
    let ((graph, asked), embeddings) = (three_answered_classes(), three_clusters());
    let budget = 40;

    let pairs = select(
        Strategy::Exemplar,
        &request(&graph, &embeddings, budget, &asked),
    );

    assert_eq!(pairs.len(), budget);
    for pair in &pairs {
        let (exemplar, item) = split_pair(pair, &[0, 20, 40]);
        assert!([0, 20, 40].contains(&exemplar), "no probe: {pair:?}");
        assert_eq!(cluster_of(item), cluster_of(exemplar), "{pair:?}");
    }
}

#[test]
fn once_answers_draw_a_boundary_a_class_asks_its_items_in_a_random_order() {
    let ((graph, asked), embeddings) = (three_answered_classes(), three_clusters());
    let budget = 40;

    let pairs = select(
        Strategy::Exemplar,
        &request(&graph, &embeddings, budget, &asked),
    );

    let scores: Vec<f32> = pairs[discovery_share(budget)..]
        .iter()
        .filter(|pair| split_pair(pair, &[0, 20, 40]).0 == 0)
        .map(|pair| pair.score)
        .collect();
    assert!(scores.len() >= 5, "{scores:?}");
    assert!(
        scores.windows(2).any(|w| w[0] < w[1]),
        "not most similar first: {scores:?}"
    );
}

#[test]
fn an_item_a_class_refused_is_asked_against_its_next_class_before_that_class_draws_others() {
    // Items 30 and 35 of cluster 1 were asked against class 0 and refused.
    let (graph, asked) = three_answered_classes_and(&[(0, 30, Different), (0, 35, Different)]);
    let embeddings = three_clusters();

    let pairs = select(
        Strategy::Exemplar,
        &request(&graph, &embeddings, 40, &asked),
    );

    let asked_against_class_1: Vec<usize> = pairs
        .iter()
        .map(|pair| split_pair(pair, &[0, 20, 40]))
        .filter(|&(exemplar, _)| exemplar == 20)
        .map(|(_, item)| item)
        .collect();
    assert!(asked_against_class_1.len() >= 5, "{pairs:?}");
    let mut first_two = asked_against_class_1[..2].to_vec();
    first_two.sort_unstable();
    assert_eq!(first_two, [30, 35], "{asked_against_class_1:?}");
}

#[test]
fn once_two_classes_are_known_items_are_asked_against_classes_not_probes() {
    let (graph, embeddings, asked) = (three_known_classes(), three_clusters(), HashSet::new());
    let budget = 40;

    let pairs = select(
        Strategy::Exemplar,
        &request(&graph, &embeddings, budget, &asked),
    );

    let in_a_class = |item: usize| {
        [0, 20, 40]
            .iter()
            .any(|&e| graph.relation(item, e) == Relation::Same)
    };
    let discovery = discovery_share(budget);
    let probe = pairs[0].b;
    assert!(!in_a_class(probe), "{pairs:?}");
    let probed = pairs[..discovery].iter().filter(|p| p.b == probe).count();
    assert!(
        probed >= 2,
        "a probe is asked against several classes: {pairs:?}"
    );
    for pair in &pairs[discovery..] {
        assert!(in_a_class(pair.a) || in_a_class(pair.b), "{pair:?}");
    }
}

/// [`three_clusters_of`] 50 items, with classes 0 and 50 of `members` items each, known to
/// differ; the third cluster has no class.
fn two_classes_of(members: usize) -> (Graph, Embeddings, HashSet<(usize, usize)>) {
    let mut answers = vec![(0, 50, Different)];
    for exemplar in [0, 50] {
        answers.extend((1..members).map(|i| (exemplar, exemplar + i, Same)));
    }
    let asked = answers.iter().map(|&(a, b, _)| (a, b)).collect();
    (
        Graph::from_answers(150, answers),
        three_clusters_of(50),
        asked,
    )
}

/// Items other than `exemplars` asked in more than one pair of `pairs`: a batch asks an item
/// against one class, and a probe against every class.
fn probes_of(pairs: &[PairChoice], exemplars: &[usize]) -> usize {
    let mut times: HashMap<usize, usize> = HashMap::new();
    for pair in pairs {
        for item in [pair.a, pair.b] {
            if !exemplars.contains(&item) {
                *times.entry(item).or_default() += 1;
            }
        }
    }
    times.values().filter(|&&n| n > 1).count()
}

#[test]
fn once_every_class_has_grown_discovery_spends_a_fifth_of_its_share() {
    // 100 pairs for 2 classes: a class is young below 25 members.
    let budget = 100;
    let young = two_classes_of(24);
    let grown = two_classes_of(25);

    let [young_pairs, grown_pairs] = [young, grown].map(|(graph, embeddings, asked)| {
        select(
            Strategy::Exemplar,
            &request(&graph, &embeddings, budget, &asked),
        )
    });

    assert_eq!(young_pairs.len(), budget);
    assert_eq!(grown_pairs.len(), budget);
    assert!(probes_of(&young_pairs, &[0, 50]) >= 3, "{young_pairs:?}");
    assert_eq!(probes_of(&grown_pairs, &[0, 50]), 1, "{grown_pairs:?}");
}

#[test]
fn groups_find_the_three_clusters() {
    let (graph, embeddings, asked) = (Graph::new(60), three_clusters(), HashSet::new());
    let selection = request(&graph, &embeddings, 1, &asked);
    let context = Context::new(&selection);
    let items: Vec<usize> = (0..60).collect();

    let found = groups::group(&context, &items, 3, 11);

    let mut sizes: Vec<usize> = found.iter().map(|g| g.members.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [20, 20, 20]);
    let mut centres: Vec<usize> = found.iter().map(|g| cluster_of(g.members[0])).collect();
    centres.sort_unstable();
    assert_eq!(centres, [0, 1, 2]);
}

#[test]
fn discovery_probes_the_clusters_that_have_no_exemplar_yet() {
    let (graph, embeddings, asked) = (Graph::new(60), three_clusters(), HashSet::new());

    let pairs = select(
        Strategy::Exemplar,
        &request(&graph, &embeddings, 15, &asked),
    );

    let discovery = &pairs[..discovery_share(15)];
    assert_eq!(discovery.len(), 3);
    let first_probe = discovery[0].b;
    let second_probe = discovery[1].b;
    assert_eq!((discovery[0].a, discovery[1].a), (0, 0));
    let probed_clusters = [cluster_of(first_probe), cluster_of(second_probe)];
    assert!(
        probed_clusters == [1, 2] || probed_clusters == [2, 1],
        "{discovery:?}"
    );
    let between = &discovery[2];
    assert_eq!(
        (between.a, between.b),
        (first_probe.min(second_probe), first_probe.max(second_probe))
    );
}

#[test]
fn once_every_item_is_labelled_nothing_is_asked() {
    let answers = (1..6).map(|i| (0, i, Same));
    let graph = Graph::from_answers(6, answers);
    let (embeddings, asked) = (
        Embeddings::new(1, vec![1.0; 6]).expect("6 x 1"),
        HashSet::new(),
    );

    let pairs = select(
        Strategy::Exemplar,
        &request(&graph, &embeddings, 10, &asked),
    );

    assert!(pairs.is_empty());
}

#[test]
fn passive_batches_repeat_under_a_seed_and_change_with_it() {
    let (graph, embeddings, asked) = (Graph::new(60), three_clusters(), HashSet::new());
    let mut seeded = request(&graph, &embeddings, 20, &asked);

    let first = select(Strategy::Passive, &seeded);
    let again = select(Strategy::Passive, &seeded);
    seeded.seed = 8;
    let other = select(Strategy::Passive, &seeded);

    assert_eq!(first, again);
    assert_ne!(first, other);
    assert!(
        first
            .iter()
            .all(|pair| pair.strategy == Strategy::Passive && pair.score == 0.0)
    );
}

#[test]
fn exemplar_batches_are_deterministic() {
    let (graph, embeddings, asked) = (three_known_classes(), three_clusters(), HashSet::new());
    let selection = request(&graph, &embeddings, 25, &asked);

    let first = select(Strategy::Exemplar, &selection);
    let again = select(Strategy::Exemplar, &selection);

    assert_eq!(first, again);
}

#[test]
fn passive_samples_by_components_when_there_are_many_items() {
    // 3,000 items in two big components and 100 singletons: too many pairs to list.
    let n = 3000;
    let mut answers: Vec<(usize, usize, Verdict)> = (1..1450).map(|i| (0, i, Same)).collect();
    answers.extend((1451..2900).map(|i| (1450, i, Same)));
    answers.push((0, 1450, Different));
    let graph = Graph::from_answers(n, answers);
    let (embeddings, asked) = (
        Embeddings::new(1, vec![1.0; n]).expect("n x 1"),
        HashSet::new(),
    );

    let pairs = select(
        Strategy::Passive,
        &request(&graph, &embeddings, 500, &asked),
    );

    assert_eq!(pairs.len(), 500);
    assert!(pairs.iter().all(|pair| !graph.is_decided(pair.a, pair.b)));
    assert!(
        pairs.iter().all(|pair| pair.b >= 2900),
        "every undecided pair touches a singleton"
    );
}

#[test]
fn passive_samples_by_items_when_there_are_many_components() {
    let n = 2100;
    let graph = Graph::from_answers(n, [(0, 1, Same), (0, 2, Different)]);
    let (embeddings, asked) = (
        Embeddings::new(1, vec![1.0; n]).expect("n x 1"),
        HashSet::new(),
    );

    let pairs = select(
        Strategy::Passive,
        &request(&graph, &embeddings, 300, &asked),
    );

    assert_eq!(pairs.len(), 300);
    assert!(
        pairs
            .iter()
            .all(|pair| pair.a < pair.b && !graph.is_decided(pair.a, pair.b))
    );
}

#[test]
fn strategies_and_verdicts_serialize_as_their_spelling() {
    let strategies: Vec<String> = Strategy::ALL
        .iter()
        .map(|s| serde_json::to_string(s).expect("serializable"))
        .collect();
    let verdicts: Vec<String> = Verdict::ALL
        .iter()
        .map(|v| serde_json::to_string(v).expect("serializable"))
        .collect();

    assert_eq!(
        strategies,
        [
            "\"exemplar\"",
            "\"passive\"",
            "\"margin\"",
            "\"bridging\"",
            "\"monitor\""
        ]
    );
    assert_eq!(verdicts, ["\"same\"", "\"different\"", "\"not_sure\""]);
}

#[test]
fn strategies_parse_back_from_their_spelling() {
    let parsed: Vec<Strategy> = Strategy::ALL
        .iter()
        .map(|s| s.as_str().parse().expect("known"))
        .collect();

    assert_eq!(parsed, Strategy::ALL);
    assert!("random".parse::<Strategy>().is_err());
}

#[test]
fn the_discovery_share_is_a_tenth_with_a_floor_for_small_budgets() {
    let shares: Vec<usize> = [0, 1, 2, 4, 10, 20, 50, 1000].map(discovery_share).to_vec();

    assert_eq!(shares, vec![0, 0, 1, 2, 3, 3, 5, 100]);
}

fn verdict() -> impl proptest::strategy::Strategy<Value = Verdict> {
    prop_oneof![Just(Same), Just(Different), Just(NotSure)]
}

type Scenario = (Graph, Embeddings, HashSet<(usize, usize)>, usize, u64);

fn scenario() -> impl proptest::strategy::Strategy<Value = Scenario> {
    (1usize..14).prop_flat_map(|n| {
        let answers = proptest::collection::vec((0..n, 0..n, verdict()), 0..30);
        let values = proptest::collection::vec(-1.0f32..1.0, n * 3);
        let asked = proptest::collection::hash_set((0..n, 0..n), 0..20);
        (answers, values, asked, 0usize..40, any::<u64>()).prop_map(
            move |(answers, values, asked, budget, seed)| {
                let graph = Graph::from_answers(n, answers);
                let embeddings = Embeddings::new(3, values).expect("n x 3");
                let asked = asked
                    .into_iter()
                    .map(|(a, b)| (a.min(b), a.max(b)))
                    .collect();
                (graph, embeddings, asked, budget, seed)
            },
        )
    })
}

fn askable_pairs(graph: &Graph, asked: &HashSet<(usize, usize)>) -> usize {
    let n = graph.len();
    (0..n)
        .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
        .filter(|&(a, b)| !graph.is_decided(a, b) && !asked.contains(&(a, b)))
        .count()
}

proptest! {
    #[test]
    fn no_strategy_returns_a_decided_asked_repeated_or_reflexive_pair(
        (graph, embeddings, asked, budget, seed) in scenario()
    ) {
        for strategy in Strategy::ALL {
            let selection = SelectionRequest {
                graph: &graph, embeddings: &embeddings, budget, seed, already_asked: &asked,
            };

            let pairs = select(strategy, &selection);

            prop_assert!(pairs.len() <= budget);
            let mut seen = HashSet::new();
            for pair in &pairs {
                prop_assert!(pair.a < pair.b);
                prop_assert!(!graph.is_decided(pair.a, pair.b));
                prop_assert!(!asked.contains(&(pair.a, pair.b)));
                prop_assert!(seen.insert((pair.a, pair.b)));
                prop_assert_eq!(pair.strategy, strategy);
            }
        }
    }

    #[test]
    fn passive_returns_the_budget_or_every_askable_pair(
        (graph, embeddings, asked, budget, seed) in scenario()
    ) {
        let selection = SelectionRequest {
            graph: &graph, embeddings: &embeddings, budget, seed, already_asked: &asked,
        };

        let pairs = select(Strategy::Passive, &selection);

        prop_assert_eq!(pairs.len(), budget.min(askable_pairs(&graph, &asked)));
    }

    #[test]
    fn exemplar_asks_something_while_an_unlabelled_item_can_meet_an_exemplar(
        (graph, embeddings, asked, budget, seed) in scenario()
    ) {
        let selection = SelectionRequest {
            graph: &graph, embeddings: &embeddings, budget, seed, already_asked: &asked,
        };
        // Classes are asked about through their hubs.
        let classes = graph.hubs(&graph.classes());
        let open = (0..graph.len()).any(|item| {
            classes.iter().all(|&e| graph.relation(item, e) != Relation::Same)
                && classes.iter().any(|&e| {
                    graph.relation(item, e) == Relation::Unknown
                        && !asked.contains(&(item.min(e), item.max(e)))
                })
        });

        let pairs = select(Strategy::Exemplar, &selection);

        let all_labelled = (0..graph.len())
            .all(|item| classes.iter().any(|&e| graph.relation(item, e) == Relation::Same));
        if open && budget > 0 {
            prop_assert!(!pairs.is_empty());
        }
        if all_labelled || budget == 0 {
            prop_assert!(pairs.is_empty());
        }
    }

    #[test]
    fn a_mixed_batch_keeps_the_rules_and_random_shares_fill_it_to_what_is_askable(
        (graph, embeddings, asked, budget, seed) in scenario(),
        weights in proptest::collection::vec(prop_oneof![Just(0.0), 0.1f64..3.0], 5),
    ) {
        let mix = StrategyMix {
            exemplar: weights[0],
            margin: weights[1],
            bridging: weights[2],
            monitor: weights[3],
            passive: weights[4],
        };
        let selection = SelectionRequest {
            graph: &graph, embeddings: &embeddings, budget, seed, already_asked: &asked,
        };

        let pairs = select_mix(&mix, &selection);

        prop_assert!(pairs.len() <= budget);
        let mut seen = HashSet::new();
        for pair in &pairs {
            prop_assert!(pair.a < pair.b);
            prop_assert!(!graph.is_decided(pair.a, pair.b));
            prop_assert!(!asked.contains(&(pair.a, pair.b)));
            prop_assert!(seen.insert((pair.a, pair.b)));
            prop_assert!(mix.weight(pair.strategy) > 0.0);
        }
        if mix.monitor > 0.0 || mix.passive > 0.0 {
            prop_assert_eq!(pairs.len(), budget.min(askable_pairs(&graph, &asked)));
        }
    }

    #[test]
    fn quotas_sum_to_the_budget_and_stay_within_one_of_the_exact_share(
        weights in proptest::collection::vec(0.0f64..5.0, 5),
        budget in 0usize..5000,
    ) {
        let mix = StrategyMix {
            exemplar: weights[0],
            margin: weights[1],
            bridging: weights[2],
            monitor: weights[3],
            passive: weights[4],
        };
        let total: f64 = weights.iter().sum();

        let quotas = mix.quotas(budget);

        if total > 0.0 {
            prop_assert_eq!(quotas.iter().map(|q| q.1).sum::<usize>(), budget);
            for (strategy, quota) in quotas {
                let exact = budget as f64 * mix.weight(strategy) / total;
                prop_assert!((quota as f64 - exact).abs() < 1.0 + 1e-9);
            }
        }
    }
}
