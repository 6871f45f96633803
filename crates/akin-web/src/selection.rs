//! A round's data and its pairs: the snapshot a round trains on, the choice of the next
//! pairs on the freshest answer graph, and the transaction that writes them and opens the
//! round. Graph building and selection run on the blocking pool.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use akin_core::consensus::AuditBudget;
use akin_core::select::{SelectionRequest, select_mix};
use akin_core::{Embeddings, StrategyMix, Verdict};
use akin_store::answers::LoggedAnswer;
use akin_store::claims::{self, Claim};
use akin_store::items::ItemTable;
use akin_store::projects::Project;
use akin_store::queries::NewQuery;
use akin_store::rounds::{self, RoundState};
use akin_store::{answers, items, known_pairs, queries};
use akin_trainer::ImageSet;
use sqlx::PgPool;

use crate::graph_view::{self, AUDIT_STRATEGY, AnswerGraph, REASK_STRATEGY};
use crate::orchestrator::RoundError;

/// The items and the answer graph as they stood when a round began.
pub(crate) struct Snapshot {
    pub table: ItemTable,
    pub answers: AnswerGraph,
    /// Answers in the log when the snapshot was taken; later ones count for the next round.
    pub answers_used: usize,
    /// Those answers, in id order, and the gold pairs, as the graph was built from them.
    pub log: Arc<[LoggedAnswer]>,
    pub gold: Arc<[(i64, i64, Verdict)]>,
}

impl Snapshot {
    pub async fn load(db: &PgPool, project: &Project) -> Result<Self, RoundError> {
        let table = items::table(db, project.id, pixels_per_item(project)).await?;
        if table.ids.is_empty() {
            return Err(RoundError::NoItems);
        }
        let log: Arc<[LoggedAnswer]> = answers::entries(db, project.id).await?.into();
        let gold: Arc<[(i64, i64, Verdict)]> = known_pairs::gold(db, project.id).await?.into();
        let answers_used = log.len();
        let ids = table.ids.clone();
        let (log_for_graph, gold_for_graph) = (Arc::clone(&log), Arc::clone(&gold));
        let answers = tokio::task::spawn_blocking(move || {
            graph_view::build(ids, log_for_graph.iter(), &gold_for_graph)
        })
        .await?;
        Ok(Self {
            table,
            answers,
            answers_used,
            log,
            gold,
        })
    }

    pub fn image_set(&self, project: &Project) -> Result<ImageSet, RoundError> {
        let side = project.image_size.max(0) as usize;
        ImageSet::new(
            project.channels.max(0) as usize,
            side,
            side,
            self.table.pixels.clone(),
        )
        .map_err(|e| RoundError::BadItems(e.to_string()))
    }

    /// The items' raw pixels as embeddings, for a round that has no model yet.
    pub fn raw_embeddings(&self, project: &Project) -> Result<Embeddings, RoundError> {
        Embeddings::from_pixels(pixels_per_item(project), &self.table.pixels)
            .map_err(|e| RoundError::BadItems(e.to_string()))
    }
}

/// Bytes of one item's training copy.
fn pixels_per_item(project: &Project) -> usize {
    let side = project.image_size.max(0) as usize;
    project.channels.max(0) as usize * side * side
}

/// The strategy stored with a query that plants a known pair among the others, so that each
/// annotator is judged against answers that are known. Only admins see it.
pub(crate) const KNOWN_STRATEGY: &str = "known";

/// How many pairs a round writes, how many of them audit settled pairs, and the share spent
/// planting known pairs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    pub pairs: usize,
    /// From [`audit_budget`].
    pub audits: usize,
    /// In `0..=0.5`; see [`crate::Settings::known_pair_share`].
    pub known_share: f64,
}

impl Budget {
    fn plants(&self) -> usize {
        (self.pairs as f64 * self.known_share).round() as usize
    }
}

/// Chooses up to `budget.pairs` pairs among `item_ids` (the rows of `embeddings`): first the
/// pairs the majority has not settled that need another answer (at most half the budget, so
/// that a project with many conflicts still learns something new), then the audits of
/// settled pairs, then planted known pairs, then new pairs split between the strategies by
/// the project's mix. Reads the answer log afresh, so that answers given while the round
/// trained are never asked about again.
pub(crate) async fn choose(
    db: &PgPool,
    project: &Project,
    round_id: i64,
    item_ids: Vec<i64>,
    embeddings: Embeddings,
    budget: Budget,
) -> Result<Vec<NewQuery>, RoundError> {
    let log = answers::entries(db, project.id).await?;
    let gold = known_pairs::gold(db, project.id).await?;
    let asked = queries::asked_pairs(db, project.id).await?;
    let pending: HashSet<(i64, i64)> = queries::pending_pairs(db, project.id)
        .await?
        .into_iter()
        .collect();
    let mix = project.effective_mix();
    let seed = round_id as u64;

    let choices = tokio::task::spawn_blocking(move || {
        let view = graph_view::build(item_ids, &log, &gold);
        let mut chosen = second_opinions(&view, &log, &pending, &embeddings, budget, seed);
        let plants = budget
            .plants()
            .min(budget.pairs.saturating_sub(chosen.len()));
        chosen.extend(known_to_plant(&gold, &log, &pending, plants));
        let left = budget.pairs.saturating_sub(chosen.len());
        chosen.extend(new_pairs(&view, &asked, &embeddings, &mix, left, seed));
        chosen
    })
    .await?;
    Ok(choices)
}

/// Pairs answered before that need another answer: re-asks of unsettled pairs, then audits
/// of settled ones that are not pending already, those the model disagrees with first. A
/// re-ask scores 1; an audit scores the lead of the verdict it checks.
fn second_opinions(
    view: &AnswerGraph,
    log: &[LoggedAnswer],
    pending: &HashSet<(i64, i64)>,
    embeddings: &Embeddings,
    budget: Budget,
    seed: u64,
) -> Vec<NewQuery> {
    let query = |item_a, item_b, strategy: &str, score| NewQuery {
        item_a,
        item_b,
        strategy: strategy.to_owned(),
        score,
    };
    let mut chosen: Vec<NewQuery> = view
        .pairs_to_reask(log)
        .into_iter()
        .take(budget.pairs.div_ceil(2))
        .map(|(a, b)| query(a, b, REASK_STRATEGY, 1.0))
        .collect();

    let audits = budget.audits.min(budget.pairs - chosen.len());
    if audits > 0 {
        let drawn = view.pairs_to_audit(audits + pending.len(), seed, embeddings);
        chosen.extend(
            drawn
                .into_iter()
                .filter(|&(a, b, _)| !pending.contains(&(a, b)))
                .take(audits)
                .map(|(a, b, lead)| query(a, b, AUDIT_STRATEGY, lead as f32)),
        );
    }
    chosen
}

/// What the answered audits of a round found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct AuditOutcome {
    /// Audits answered "same" or "different" whose pair had a verdict to check.
    pub answered: usize,
    /// Those answered against it.
    pub overturned: usize,
}

/// How many settled pairs round `round_id` of `project_id` audits, by [`AuditBudget`], with
/// what the previous round's audits found. `full` is the configured share of a round. The
/// budget carries on from the `audit_pairs` the previous round stored in its metrics, by
/// what its audits answered up to `snapshot` found; later answers count for no round. A
/// round whose previous round stored none (the import's round 0) gets the full share.
pub(crate) async fn audit_budget(
    db: &PgPool,
    project_id: i64,
    round_id: i64,
    snapshot: &Snapshot,
    full: usize,
) -> Result<(AuditBudget, AuditOutcome), RoundError> {
    let previous = rounds::list(db, project_id)
        .await?
        .into_iter()
        .filter(|round| round.id < round_id)
        .max_by_key(|round| round.id);
    let planned = previous.as_ref().and_then(|round| {
        let pairs = round.metrics.get("audit_pairs")?.as_u64()?;
        Some((round.id, usize::try_from(pairs).ok()?))
    });
    let Some((previous_id, pairs)) = planned else {
        return Ok((AuditBudget::new(full), AuditOutcome::default()));
    };
    let mut budget = AuditBudget::resume(full, pairs);
    let last_answer_id = snapshot.log.last().map_or(0, |answer| answer.id);
    let audit_answers: HashSet<i64> = answers::to_round_strategy(db, previous_id, AUDIT_STRATEGY)
        .await?
        .into_iter()
        .filter(|&id| id <= last_answer_id)
        .collect();
    if audit_answers.is_empty() {
        return Ok((budget, AuditOutcome::default()));
    }
    let (log, gold) = (Arc::clone(&snapshot.log), Arc::clone(&snapshot.gold));
    let item_ids = snapshot.table.ids.clone();
    let outcome =
        tokio::task::spawn_blocking(move || audit_outcome(item_ids, &log, &gold, &audit_answers))
            .await?;
    budget.after_round(outcome.answered, outcome.overturned);
    Ok((budget, outcome))
}

/// What the audit answers `audit_answers` (ids in `log`) found. The verdict an audit checked
/// is the pair's verdict as the rest of `log` settles it (with `gold`, over `item_ids`): what
/// the audit was chosen to check, as the server's consensus weighs it. An audit answered
/// "not sure", or of a pair that the rest of the log leaves unsettled, checks nothing.
fn audit_outcome(
    item_ids: Vec<i64>,
    log: &[LoggedAnswer],
    gold: &[(i64, i64, Verdict)],
    audit_answers: &HashSet<i64>,
) -> AuditOutcome {
    let (audits, others): (Vec<&LoggedAnswer>, Vec<&LoggedAnswer>) = log
        .iter()
        .partition(|answer| audit_answers.contains(&answer.id));
    let view = graph_view::build(item_ids, others, gold);
    let settled: HashMap<(i64, i64), Verdict> = view
        .settled
        .iter()
        .map(|pair| ((view.item_ids[pair.a], view.item_ids[pair.b]), pair.verdict))
        .collect();
    let mut outcome = AuditOutcome::default();
    for audit in audits.iter().filter(|a| a.verdict != Verdict::NotSure) {
        let pair = (
            audit.item_a.min(audit.item_b),
            audit.item_a.max(audit.item_b),
        );
        if let Some(&checked) = settled.get(&pair) {
            outcome.answered += 1;
            outcome.overturned += usize::from(audit.verdict != checked);
        }
    }
    outcome
}

/// Up to `count` known pairs to plant among the round's pairs, those answered least first.
/// The graph decides known pairs, so no other strategy picks them; pending ones are left
/// out, since a pair is never asked twice at once.
fn known_to_plant(
    gold: &[(i64, i64, Verdict)],
    log: &[LoggedAnswer],
    pending: &HashSet<(i64, i64)>,
    count: usize,
) -> Vec<NewQuery> {
    let mut answers: HashMap<(i64, i64), usize> = HashMap::new();
    for answer in log {
        *answers.entry((answer.item_a, answer.item_b)).or_default() += 1;
    }
    let mut candidates: Vec<(usize, i64, i64)> = gold
        .iter()
        .filter(|&&(a, b, _)| !pending.contains(&(a, b)))
        .map(|&(a, b, _)| (answers.get(&(a, b)).copied().unwrap_or(0), a, b))
        .collect();
    candidates.sort_unstable();
    candidates
        .into_iter()
        .take(count)
        .map(|(_, item_a, item_b)| NewQuery {
            item_a,
            item_b,
            strategy: KNOWN_STRATEGY.to_owned(),
            score: 1.0,
        })
        .collect()
}

/// Up to `budget` pairs never asked before, split between the strategies by `mix`.
fn new_pairs(
    view: &AnswerGraph,
    asked: &[(i64, i64)],
    embeddings: &Embeddings,
    mix: &StrategyMix,
    budget: usize,
    seed: u64,
) -> Vec<NewQuery> {
    let index_of = |id: i64| view.item_ids.binary_search(&id).ok();
    let asked: HashSet<(usize, usize)> = asked
        .iter()
        .filter_map(|&(a, b)| Some((index_of(a)?, index_of(b)?)))
        .collect();
    let request = SelectionRequest {
        graph: &view.graph,
        embeddings,
        budget,
        seed,
        already_asked: &asked,
    };
    select_mix(mix, &request)
        .into_iter()
        .map(|choice| NewQuery {
            item_a: view.item_ids[choice.a],
            item_b: view.item_ids[choice.b],
            strategy: choice.strategy.as_str().to_owned(),
            score: choice.score,
        })
        .collect()
}

/// In one transaction, and only while `claim` holds: retires the unleased pending pairs of
/// earlier rounds, writes `choices`, merges `metrics` and `queries_written` into the round's
/// metrics, and opens the round. Returns how many pairs were written.
pub(crate) async fn open(
    db: &PgPool,
    claim: &Claim,
    model_id: Option<i64>,
    choices: &[NewQuery],
    mut metrics: serde_json::Value,
) -> Result<u64, RoundError> {
    let mut tx = db.begin().await?;
    if !claims::hold(&mut tx, claim).await? {
        return Err(RoundError::LostClaim);
    }
    queries::retire_unleased(&mut *tx, claim.project_id).await?;
    let written = queries::insert_many(
        &mut *tx,
        claim.project_id,
        claim.round_id,
        model_id,
        choices,
    )
    .await?;
    metrics["queries_written"] = written.into();
    rounds::set_progress(&mut *tx, claim.round_id, 1.0, &metrics).await?;
    claims::set_state(&mut *tx, claim, RoundState::Open, None).await?;
    tx.commit().await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn answer(pair: (i64, i64)) -> LoggedAnswer {
        answer_with(0, pair, Verdict::Same)
    }

    fn answer_with(id: i64, pair: (i64, i64), verdict: Verdict) -> LoggedAnswer {
        LoggedAnswer {
            id,
            item_a: pair.0,
            item_b: pair.1,
            verdict,
            annotator: "ann".to_owned(),
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn an_audit_is_overturned_when_it_goes_against_what_the_rest_of_the_log_settles() {
        use Verdict::{Different, NotSure, Same};
        let by = |id, pair, verdict, annotator: &str| LoggedAnswer {
            annotator: annotator.to_owned(),
            ..answer_with(id, pair, verdict)
        };
        let log = [
            by(1, (1, 2), Same, "a1"),
            by(2, (1, 3), Different, "a1"),
            by(3, (1, 4), Same, "a1"),
            by(4, (1, 4), Different, "a2"),
            by(5, (1, 2), Same, "a3"),
            by(6, (1, 3), Same, "a3"),
            by(7, (1, 4), Same, "a3"),
            by(8, (1, 2), NotSure, "a4"),
            by(9, (1, 2), Different, "a5"),
            by(10, (2, 3), Same, "a3"),
        ];
        let audits = HashSet::from([5, 6, 7, 8, 9, 10]);

        // 5 agrees with 1; 6 goes against 2; 7 checks a pair that 3 and 4 leave tied; 8 says
        // nothing; 9 goes against 1; 10 checks a pair nothing else answered; 3 is no audit.
        let outcome = audit_outcome(vec![1, 2, 3, 4], &log, &[], &audits);

        assert_eq!(
            outcome,
            AuditOutcome {
                answered: 3,
                overturned: 2
            }
        );
    }

    #[test]
    fn known_pairs_answered_least_are_planted_first_and_pending_ones_never() {
        let gold = [
            (1, 2, Verdict::Same),
            (1, 3, Verdict::Different),
            (2, 3, Verdict::Different),
            (3, 4, Verdict::Same),
        ];
        let log = [answer((1, 2)), answer((1, 2)), answer((1, 3))];
        let pending = HashSet::from([(2, 3)]);

        let planted = known_to_plant(&gold, &log, &pending, 2);

        let pairs: Vec<(i64, i64)> = planted.iter().map(|q| (q.item_a, q.item_b)).collect();
        assert_eq!(pairs, [(3, 4), (1, 3)]);
        assert!(planted.iter().all(|q| q.strategy == KNOWN_STRATEGY));
    }
}
