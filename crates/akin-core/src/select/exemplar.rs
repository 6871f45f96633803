//! The exemplar strategy of Cabannes et al., in batches, on cosine similarity.
//!
//! The classes are [`Graph::classes`](crate::Graph::classes); an item is labelled when its
//! component holds one. A class is asked about through its [hub](crate::Graph::hubs), the
//! member most answers name, its exemplar here: each new member hangs off it, so a wrong
//! "same" between two groups stays a single join that consensus can hold back. A class is
//! seen through its prototype, the mean direction of its members' embeddings, steadier than
//! the one exemplar item once a class has grown, and through its labelled members, which
//! vote on where each unlabelled item goes. Items are compared with prototypes, probes, a
//! few group centres and at most [`max_voters`] labelled items, so the cost is
//! `n x (classes + groups + voters) x dim`, with `n x voters` at most [`VOTE_WORK`] or
//! `n x` [`MIN_VOTERS`], whichever is larger.
//!
//! A batch lists its discovery pairs first, then its exploitation pairs:
//! 1. Discovery, at most [`discovery_share`] of the budget, and a fifth of that once every
//!    class has [grown](discovery_budget): the items are grouped by spherical k-means, and
//!    a group's unlabelled item nearest its centre is a candidate probe. Probes are taken
//!    first from groups whose members two classes or more refused and no class holds, then
//!    from the groups least similar to every prototype and to the probes taken before
//!    (farthest-point over group centres). Each probe is asked against every exemplar and
//!    earlier probe, likeliest match first; one found different from all of them becomes a
//!    new class. A dense group's central item is a typical member of a class; the single
//!    item farthest from everything, which earlier versions probed, was mostly an odd
//!    member of a known class. Once the answers draw a boundary between "same" and
//!    "different", a centre that lies above it for some class, in a group the classes
//!    refused no more of than they hold, is left to exploitation, and so is the share when
//!    every centre is.
//! 2. Exploitation, the rest: every other unlabelled item goes to the class that its most
//!    similar labelled items [vote](neighbour_votes) for, among those it may still be asked
//!    against; by prototype while fewer than two classes are known (on a fresh project,
//!    this batch's probes count as classes). Classes then take turns, so that every class
//!    grows and not only the easy ones. Each asks first the items another class refused,
//!    then, once the answers draw a boundary, the others in a random order: the labels are
//!    close to a fair sample of the class, its border included, which is what a kNN bank
//!    needs.
//!
//! At most one pair per pair of components is asked in a batch, since one answer decides
//! the others.

use std::collections::{HashMap, HashSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::groups;
use super::{Batch, Context, Strategy, separating_threshold};
use crate::Relation;
use crate::vector::{self, dot};

/// Floor of the discovery share for budgets large enough to spare it.
const MIN_DISCOVERY: usize = 3;

/// Groups per class for discovery, plus [`EXTRA_GROUPS`]: enough that a class not found yet
/// gets a group of its own, few enough that groups stay dense.
const GROUPS_PER_CLASS: usize = 2;
const EXTRA_GROUPS: usize = 12;
const MAX_GROUPS: usize = 64;

/// A group smaller than this share of the mean group size is too sparse to probe: its
/// centre is an outlier, not a class.
const SPARSE_GROUP: f32 = 0.25;

/// Once no class is [young](is_young), discovery spends its share divided by this.
const SETTLED_DISCOVERY: usize = 5;

/// The labelled items that vote on an unlabelled item's class: its most similar ones, as
/// many as the kNN of the evaluation reads.
const VOTERS_PER_ITEM: usize = 20;

/// The most similarities between unlabelled items and voters that one batch computes while
/// that leaves [`MIN_VOTERS`]: about 9 GFLOP at 128 dimensions, under a second on two cores
/// (`akin bench selection --strategy exemplar`, 60,000 items: 955 ms).
const VOTE_WORK: usize = 1 << 26;

/// The fewest voters [`max_voters`] samples down to, however many items wait.
const MIN_VOTERS: usize = 512;

/// How many labelled items vote when `unlabelled` items wait: all of them up to
/// [`VOTE_WORK`] / `unlabelled`, a seeded sample of that many past it, and never fewer
/// than [`MIN_VOTERS`]. On 10,000 items every labelled item votes; on a million, 512 do.
fn max_voters(unlabelled: usize) -> usize {
    (VOTE_WORK / unlabelled.max(1)).max(MIN_VOTERS)
}

/// The most pairs of a batch of `budget` that go to discovering new classes: a tenth, and at
/// least 3 as long as that leaves exploitation half of the budget. Batches spend less than
/// that once every class has [grown](discovery_budget) or probes look like known classes.
pub fn discovery_share(budget: usize) -> usize {
    (budget / 10).max(discovery_floor(budget))
}

fn discovery_floor(budget: usize) -> usize {
    MIN_DISCOVERY.min(budget / 2)
}

/// A class is young while it holds fewer members than half of `budget / classes`, the pairs
/// a batch of `budget` has for each class.
fn is_young(members: usize, budget: usize, classes: usize) -> bool {
    2 * members * classes < budget
}

/// The pairs this batch spends on discovery: the whole [`discovery_share`] while some class
/// is [young](is_young), and once none is, a fifth of it, but never under the share's floor
/// of 3 pairs.
///
/// A young class is one discovery found lately, or one still hard to grow, and where
/// discovery found one class it may find more. Once discovery goes on finding none, its
/// probes are members of the known classes, each asked against every class to win one
/// label: in a simulated run that spent the whole share every batch, from the second batch
/// on 47 to 49 of every 500 pairs went to probes and 9% to 14% of them were answered
/// "same", against 57% to 78% of the pairs exploitation asked. A fifth of the share still
/// probes the least known group every batch, and the groups the classes keep refusing come
/// first, so a class nobody has named is still looked for; once found, it is young and the
/// whole share returns.
fn discovery_budget(scene: &Scene, budget: usize) -> usize {
    let classes = scene.exemplars.len();
    let some_class_is_young = classes == 0
        || scene.exemplars.iter().any(|&exemplar| {
            let members = scene.context.members().of(scene.context.roots[exemplar]);
            is_young(members.len(), budget, classes)
        });
    let share = discovery_share(budget);
    if some_class_is_young {
        share
    } else {
        (share / SETTLED_DISCOVERY).max(discovery_floor(budget))
    }
}

/// The embeddings seen through the classes.
struct Scene<'a> {
    context: &'a Context<'a>,
    exemplars: Vec<usize>,
    /// Unit-length prototype of class `e`, at `e * dim..(e + 1) * dim`.
    prototypes: Vec<f32>,
    /// Whether a root is the root of a class's component.
    is_class_root: Vec<bool>,
    unlabelled: Vec<usize>,
    /// Cosine similarity of `unlabelled[u]` and prototype `e` at `u * exemplars.len() + e`.
    similarity: Vec<f32>,
}

impl Scene<'_> {
    fn cosine(&self, a: usize, b: usize) -> f32 {
        self.context.cosine(a, b)
    }

    fn similarities_of(&self, u: usize) -> &[f32] {
        let width = self.exemplars.len();
        &self.similarity[u * width..(u + 1) * width]
    }

    fn dim(&self) -> usize {
        self.context.request.embeddings.dim()
    }

    /// The class, by index of its exemplar, of each class's root.
    fn class_of_root(&self) -> HashMap<usize, usize> {
        self.exemplars
            .iter()
            .enumerate()
            .map(|(class, &exemplar)| (self.context.roots[exemplar], class))
            .collect()
    }

    /// How many classes answered `item` "different": each asked it when it looked most like
    /// that class, and refused it.
    fn refusals(&self, item: usize) -> usize {
        let root = self.context.roots[item];
        self.context
            .graph()
            .different_roots(root)
            .filter(|&other| self.is_class_root[other])
            .count()
    }
}

pub(super) fn fill(batch: &mut Batch) {
    batch.context.embeddings(Strategy::Exemplar);
    batch.one_per_component_pair();

    let scene = build_scene(batch.context);
    if scene.unlabelled.is_empty() {
        return;
    }
    let boundary = learned_boundary(&scene);
    let share = discovery_budget(&scene, batch.budget);
    let probes = discover(batch, &scene, share, boundary);
    exploit(batch, &scene, &probes, boundary);
}

fn build_scene<'a>(context: &'a Context<'a>) -> Scene<'a> {
    let exemplars = context.graph().hubs(&context.graph().classes());
    let roots = &context.roots;
    let mut is_class_root = vec![false; roots.len()];
    for &exemplar in &exemplars {
        is_class_root[roots[exemplar]] = true;
    }
    let unlabelled: Vec<usize> = (0..roots.len())
        .filter(|&i| !is_class_root[roots[i]])
        .collect();

    let mut scene = Scene {
        context,
        prototypes: prototypes(context, &exemplars),
        exemplars,
        is_class_root,
        unlabelled,
        similarity: Vec::new(),
    };
    scene.similarity = similarity_to_prototypes(&scene);
    scene
}

/// The unit mean direction of each exemplar's component.
fn prototypes(context: &Context, exemplars: &[usize]) -> Vec<f32> {
    let dim = context.request.embeddings.dim();
    let mut prototypes = Vec::with_capacity(exemplars.len() * dim);
    for &exemplar in exemplars {
        let members = context.members().of(context.roots[exemplar]);
        let mut sum = vec![0.0f32; dim];
        for row in groups::unit_rows(context, members).chunks_exact(dim) {
            sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
        }
        if !groups::normalise(&mut sum) {
            sum = groups::unit_rows(context, &[exemplar]);
        }
        prototypes.extend(sum);
    }
    prototypes
}

fn similarity_to_prototypes(scene: &Scene) -> Vec<f32> {
    let (width, dim) = (scene.exemplars.len(), scene.dim());
    let embeddings = scene.context.request.embeddings;
    let inverse = scene.context.inverse_norms();
    let mut similarity = vec![0.0; scene.unlabelled.len() * width];
    vector::for_row_blocks(&mut similarity, width, |first_row, block| {
        for (offset, row) in block.chunks_exact_mut(width).enumerate() {
            let item = scene.unlabelled[first_row + offset];
            let embedding = embeddings.row(item);
            for (slot, prototype) in row.iter_mut().zip(scene.prototypes.chunks_exact(dim)) {
                *slot = dot(embedding, prototype) * inverse[item];
            }
        }
    });
    similarity
}

/// The unlabelled item nearest a group's centre as a candidate probe.
///
/// `closeness` is the group centre's highest similarity to a prototype or a probe taken so
/// far; `likeness` the item's own highest similarity to a prototype; `refused` and
/// `labelled` the shares of the group's members that two classes or more refused and that a
/// class holds. A group whose members the classes refused and none of them hold is where a
/// class nobody has named hides. One refusal is a weak sign of that: exploitation asks
/// each refused item against its next likeliest class, so an item one class refused is most
/// often one that lies between two known classes and waits for its second question. A
/// group a class holds much of is that class's, whatever its refusals.
/// Groups nobody asked about yet go by distance alone.
struct Candidate {
    item: usize,
    centroid: Vec<f32>,
    closeness: f32,
    likeness: f32,
    refused: f32,
    labelled: f32,
}

impl Candidate {
    fn novelty(&self) -> f32 {
        self.refused - self.labelled + (1.0 - self.closeness)
    }

    /// Whether the item is as good as labelled already: more similar to a prototype than
    /// the learned same/different `boundary`, in a group the classes refused no more of than
    /// they hold. Exploitation asks such an item against that class for one answer; as a
    /// probe it would cost one answer per class.
    fn looks_known(&self, boundary: Option<f32>) -> bool {
        boundary.is_some_and(|b| self.likeness >= b) && self.refused <= self.labelled
    }
}

/// Asks probes against exemplars and earlier probes until `share` pairs are chosen;
/// returns the probes in the order taken. Probes whose pairs were all asked already count
/// against a cap, so that a batch full of pending questions does not try every group.
/// Candidates that [look known](Candidate::looks_known) are not probed, so once every group
/// looks like a class, discovery leaves its share to exploitation.
fn discover(batch: &mut Batch, scene: &Scene, share: usize, boundary: Option<f32>) -> Vec<usize> {
    let mut pool = candidates(scene);
    pool.retain(|candidate| !candidate.looks_known(boundary));
    let mut probes: Vec<usize> = Vec::new();
    let mut probe_roots = HashSet::new();

    let max_probes = 2 * share + 16;
    while batch.len() < share && probes.len() < max_probes {
        let Some(position) = pool
            .iter()
            .enumerate()
            .filter(|(_, candidate)| !probe_roots.contains(&batch.roots()[candidate.item]))
            .max_by(|(_, x), (_, y)| {
                x.novelty()
                    .total_cmp(&y.novelty())
                    .then(y.item.cmp(&x.item))
            })
            .map(|(position, _)| position)
        else {
            break;
        };
        let probe = pool.swap_remove(position);

        ask_probe(batch, scene, probe.item, &probes, share);
        probes.push(probe.item);
        probe_roots.insert(batch.roots()[probe.item]);
        let probe_direction = groups::unit_rows(scene.context, &[probe.item]);
        for candidate in &mut pool {
            let similarity = dot(&candidate.centroid, &probe_direction);
            candidate.closeness = candidate.closeness.max(similarity);
        }
    }
    probes
}

/// A candidate probe from every dense group of items that still has an unlabelled member.
fn candidates(scene: &Scene) -> Vec<Candidate> {
    let k = (GROUPS_PER_CLASS * scene.exemplars.len() + EXTRA_GROUPS).min(MAX_GROUPS);
    let seed = scene.context.seed_for(Strategy::Exemplar);
    let everything: Vec<usize> = (0..scene.context.roots.len()).collect();
    let groups = groups::group(scene.context, &everything, k, seed);
    let sampled: usize = groups.iter().map(|g| g.members.len()).sum();
    let floor = SPARSE_GROUP * sampled as f32 / groups.len().max(1) as f32;

    let dim = scene.dim();
    let is_labelled = |item: usize| scene.is_class_root[scene.context.roots[item]];
    groups
        .into_iter()
        .filter(|group| group.members.len() as f32 >= floor)
        .filter_map(|group| {
            let item = group.members.iter().copied().find(|&m| !is_labelled(m))?;
            let nearest_prototype = |direction: &[f32]| {
                scene
                    .prototypes
                    .chunks_exact(dim)
                    .map(|prototype| dot(direction, prototype))
                    .fold(f32::MIN, f32::max)
            };
            let closeness = nearest_prototype(&group.centroid);
            let likeness = nearest_prototype(&groups::unit_rows(scene.context, &[item]));
            let share = |count: usize| count as f32 / group.members.len() as f32;
            let labelled = group.members.iter().filter(|&&m| is_labelled(m)).count();
            let refused = group
                .members
                .iter()
                .filter(|&&m| !is_labelled(m) && scene.refusals(m) >= 2)
                .count();
            Some(Candidate {
                item,
                centroid: group.centroid,
                closeness,
                likeness,
                refused: share(refused),
                labelled: share(labelled),
            })
        })
        .collect()
}

fn ask_probe(batch: &mut Batch, scene: &Scene, probe: usize, earlier: &[usize], share: usize) {
    let direction = groups::unit_rows(scene.context, &[probe]);
    let mut exemplars: Vec<(f32, usize)> = scene
        .prototypes
        .chunks_exact(scene.dim())
        .map(|prototype| dot(&direction, prototype))
        .zip(scene.exemplars.iter().copied())
        .collect();
    exemplars.sort_by(|x, y| y.0.total_cmp(&x.0));
    let earlier_probes = earlier.iter().map(|&p| (scene.cosine(probe, p), p));

    for (similarity, other) in exemplars.into_iter().chain(earlier_probes) {
        if batch.len() >= share {
            return;
        }
        batch.offer(probe, other, similarity);
    }
}

/// Asks the unlabelled items that are not probes against the exemplar of the askable class
/// their labelled neighbours [vote](neighbour_votes) for, the classes taking turns; within a
/// turn the pairs most similar to their class's prototype come first. Each class asks its
/// queue in the [order](order_queue) that labels a fair sample of it.
///
/// On a fresh project, where the first batch knows one class, this batch's probes count as
/// classes too, each seen through its own embedding, and an item goes to the most similar
/// prototype or probe: that spreads the first answers over every group the probes found
/// instead of asking everything against the one exemplar. Once two
/// classes are known, a probe is only asked against the classes: in two simulated runs of
/// 500 pairs a batch, pairs holding a probe (its own discovery pairs included) took 54 to
/// 199 of each later batch and 16% to 53% of them were answered "same", against 70% to 90%
/// of the items asked against a class for the first time.
fn exploit(batch: &mut Batch, scene: &Scene, probes: &[usize], boundary: Option<f32>) {
    let is_probe: HashSet<usize> = probes.iter().copied().collect();
    let probe_targets = if scene.exemplars.len() < 2 {
        probes
    } else {
        &[]
    };
    let targets: Vec<usize> = scene
        .exemplars
        .iter()
        .chain(probe_targets)
        .copied()
        .collect();
    let mut queues: Vec<Vec<(f32, usize)>> = vec![Vec::new(); targets.len()];
    let votes = probe_targets.is_empty().then(|| neighbour_votes(scene));
    let classes = scene.exemplars.len();
    for (u, &item) in scene.unlabelled.iter().enumerate() {
        if is_probe.contains(&item) {
            continue;
        }
        if let Some(votes) = &votes {
            let prototype = scene.similarities_of(u);
            let best =
                chosen_by_votes(&votes[u * classes..(u + 1) * classes], prototype, |class| {
                    batch.is_askable(item, targets[class])
                });
            if let Some(class) = best {
                queues[class].push((prototype[class], item));
            }
            continue;
        }
        let to_probes = probe_targets.iter().map(|&probe| scene.cosine(item, probe));
        let best = scene
            .similarities_of(u)
            .iter()
            .copied()
            .chain(to_probes)
            .zip(&targets)
            .enumerate()
            .filter(|&(_, (_, &target))| batch.is_askable(item, target))
            .max_by(|x, y| x.1.0.total_cmp(&y.1.0).then(y.0.cmp(&x.0)));
        if let Some((target, (similarity, _))) = best {
            queues[target].push((similarity, item));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(scene.context.seed_for(Strategy::Exemplar) ^ 1);
    for queue in &mut queues {
        order_queue(queue, scene, boundary, &mut rng);
    }

    let longest = queues.iter().map(Vec::len).max().unwrap_or(0);
    for turn in 0..longest {
        let mut layer: Vec<(f32, usize, usize)> = queues
            .iter()
            .zip(&targets)
            .filter_map(|(queue, &target)| {
                queue
                    .get(turn)
                    .map(|&(similarity, item)| (similarity, item, target))
            })
            .collect();
        layer.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        for (similarity, item, target) in layer {
            if batch.is_full() {
                return;
            }
            batch.offer(item, target, similarity);
        }
    }
}

/// How strongly the labelled items vote for each class, per unlabelled item: each
/// unlabelled item's [`VOTERS_PER_ITEM`] most similar voters each give their class their
/// cosine similarity (nothing when negative); at `u * classes + class` for
/// `scene.unlabelled[u]`. The voters are the labelled items, sampled down under the seed to
/// [`max_voters`].
///
/// A prototype is one mean direction, and a class with several modes does not lie around
/// it: an image between two classes can be nearer one's prototype while its nearest
/// labelled images belong to the other, and such images are the ones the kNN of a
/// recovered bank most needs labelled. Side by side on Fashion-MNIST (target command, seed
/// 1, one thread each, the warm-up loaded from one checkpoint), after 4,000 answers the
/// recovered-bank kNN was 0.8251 with votes and 0.8170 by prototype, 0.004 and 0.014 below
/// a random bank as large, at 1.43 and 1.44 answers per label; after 2,000 the votes were
/// 0.008 behind, so one pair of runs does not settle it.
fn neighbour_votes(scene: &Scene) -> Vec<f32> {
    let context = scene.context;
    let classes = scene.exemplars.len();
    let class_of_root = scene.class_of_root();
    let mut voters: Vec<usize> = (0..context.roots.len())
        .filter(|&item| scene.is_class_root[context.roots[item]])
        .collect();
    let most = max_voters(scene.unlabelled.len());
    if voters.len() > most {
        let mut rng = ChaCha8Rng::seed_from_u64(context.seed_for(Strategy::Exemplar) ^ 2);
        let mut kept = rand::seq::index::sample(&mut rng, voters.len(), most).into_vec();
        kept.sort_unstable();
        voters = kept.into_iter().map(|index| voters[index]).collect();
    }
    let voter_class: Vec<usize> = voters
        .iter()
        .map(|&voter| class_of_root[&context.roots[voter]])
        .collect();
    let voter_rows = groups::unit_rows(context, &voters);

    let (dim, embeddings, inverse) = (
        scene.dim(),
        context.request.embeddings,
        context.inverse_norms(),
    );
    let mut votes = vec![0.0f32; scene.unlabelled.len() * classes];
    vector::for_row_blocks(&mut votes, classes, |first_row, block| {
        let mut nearest: Vec<(f32, usize)> = Vec::with_capacity(voters.len());
        for (offset, row) in block.chunks_exact_mut(classes).enumerate() {
            let item = scene.unlabelled[first_row + offset];
            let embedding = embeddings.row(item);
            nearest.clear();
            nearest.extend(
                voter_rows
                    .chunks_exact(dim)
                    .map(|voter| dot(embedding, voter) * inverse[item])
                    .zip(voter_class.iter().copied()),
            );
            let k = VOTERS_PER_ITEM.min(nearest.len());
            if k == 0 {
                continue;
            }
            nearest.select_nth_unstable_by(k - 1, |x, y| y.0.total_cmp(&x.0));
            for &(similarity, class) in &nearest[..k] {
                row[class] += similarity.max(0.0);
            }
        }
    });
    votes
}

/// The askable class with the most `votes`; between equal votes, and among classes no
/// neighbour voted for, the one most `similar` by prototype, then the first.
fn chosen_by_votes(
    votes: &[f32],
    similar: &[f32],
    askable: impl Fn(usize) -> bool,
) -> Option<usize> {
    (0..votes.len())
        .filter(|&class| askable(class))
        .max_by(|&x, &y| {
            votes[x]
                .total_cmp(&votes[y])
                .then(similar[x].total_cmp(&similar[y]))
                .then(y.cmp(&x))
        })
}

/// Orders the queue of one class: `(similarity, item)` of the items that will be asked
/// against it.
///
/// 1. Items another class refused come first, most similar first. Each was asked against
///    the class it looked most like and answered "different"; asking it against the next
///    likeliest class turns that answer into a label, and such items are the ones that lie
///    between classes, which a kNN bank labelled only at the cores of its classes lacks.
/// 2. Then the others. While the answers draw no [boundary](learned_boundary), most
///    similar first: the first answers should find each class's members. Once they do, in
///    a random order: the labels are then close to a fair sample of the class. Asking only
///    the items above the boundary labelled the classes' cores, and a bank of such labels
///    took the test items between two classes for the wrong one (recovered-bank kNN 0.787
///    against 0.822 for as many random images). Drawing from the most similar 70% or 50% of
///    the queue spent fewer answers per label (1.48, 1.41 against 1.56 after 3,000 answers)
///    but its bank fell behind (0.778, 0.774 against 0.806).
fn order_queue(
    queue: &mut Vec<(f32, usize)>,
    scene: &Scene,
    boundary: Option<f32>,
    rng: &mut ChaCha8Rng,
) {
    let most_similar_first =
        |x: &(f32, usize), y: &(f32, usize)| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1));
    let (mut refused, mut fresh): (Vec<_>, Vec<_>) = std::mem::take(queue)
        .into_iter()
        .partition(|&(_, item)| scene.refusals(item) > 0);
    refused.sort_by(most_similar_first);
    fresh.sort_by(most_similar_first);
    if boundary.is_some() {
        fresh.shuffle(rng);
    }
    *queue = refused;
    queue.append(&mut fresh);
}

/// The similarity to a class prototype that best separates the items answered "same" as the
/// class from those answered "different", over the pairs asked so far that hold a class's
/// member, each item counted once per class (a hub, asked about with every member, would
/// otherwise weigh as much as all of them); `None` while either kind has fewer than 5 items.
fn learned_boundary(scene: &Scene) -> Option<f32> {
    let context = scene.context;
    let roots = &context.roots;
    let class_of_root = scene.class_of_root();
    let (dim, embeddings, inverse) = (
        scene.dim(),
        context.request.embeddings,
        context.inverse_norms(),
    );
    let (mut same, mut different) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    for &(a, b) in context.request.already_asked {
        for (item, other) in [(a, b), (b, a)] {
            let Some(&class) = class_of_root.get(&roots[other]) else {
                continue;
            };
            if !seen.insert((item, class)) {
                continue;
            }
            let prototype = &scene.prototypes[class * dim..(class + 1) * dim];
            let similarity = dot(embeddings.row(item), prototype) * inverse[item];
            match context.relation(item, other) {
                Relation::Same => same.push(similarity),
                Relation::Different => different.push(similarity),
                Relation::Unknown => {}
            }
        }
    }
    separating_threshold(&same, &different)
}
