//! Measures of frozen embeddings that need libtorch: RankMe, the effective rank of an
//! embedding matrix, and the test accuracy of a linear probe trained on labelled rows.
//! [`EvalJob`] bundles both for [`crate::TrainerHandle::evaluate`], which runs them on the
//! trainer thread.

use akin_core::Embeddings;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::TrainError;

/// Keeps `p log p` finite for singular values of zero, as the RankMe paper does.
const RANK_ME_EPSILON: f64 = 1e-7;

/// Full-batch Adam steps of the linear probe: enough for the convex problem to settle on
/// tens of thousands of rows.
const PROBE_STEPS: usize = 300;

/// Adam's learning rate on standardised features.
const PROBE_LEARNING_RATE: f64 = 0.05;

/// L2 penalty on the probe's weights, so that separable data does not drive them to
/// infinity.
const PROBE_WEIGHT_DECAY: f64 = 1e-4;

/// Measures of one model's embeddings, run on the trainer thread.
#[derive(Clone, Debug)]
pub struct EvalJob {
    /// The embeddings whose RankMe is measured (a round passes every item's).
    pub embeddings: Embeddings,
    /// Labelled rows to train and test a linear probe on; `None` measures no probe.
    pub probe: Option<ProbeSets>,
}

/// The training and test rows of a linear probe, with one label per row.
#[derive(Clone, Debug)]
pub struct ProbeSets {
    pub train: Embeddings,
    pub train_labels: Vec<u8>,
    pub test: Embeddings,
    pub test_labels: Vec<u8>,
}

/// What an [`EvalJob`] measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalOutcome {
    /// [`rank_me`] of the job's embeddings.
    pub rank_me: f64,
    /// [`linear_probe_accuracy`] of the job's probe sets; `None` when it had none.
    pub linear_probe_accuracy: Option<f64>,
}

/// Runs `job` on the current thread.
///
/// # Panics
/// When a probe set does not have one label per row.
pub fn evaluate(job: &EvalJob) -> Result<EvalOutcome, TrainError> {
    let rank_me = rank_me(&job.embeddings)?;
    let linear_probe_accuracy = match &job.probe {
        Some(sets) => Some(linear_probe_accuracy(
            &sets.train,
            &sets.train_labels,
            &sets.test,
            &sets.test_labels,
        )?),
        None => None,
    };
    Ok(EvalOutcome {
        rank_me,
        linear_probe_accuracy,
    })
}

/// RankMe (Garrido et al., 2023): `exp` of the entropy of the singular values of the
/// `[rows, dim]` embedding matrix, normalised to sum to one. Between 1 (every row on one
/// line) and `min(rows, dim)` (all directions used alike). 0 for no rows.
pub fn rank_me(embeddings: &Embeddings) -> Result<f64, TrainError> {
    if embeddings.is_empty() {
        return Ok(0.0);
    }
    let matrix = matrix_of(embeddings)?.to_kind(Kind::Double);
    // The singular values are the square roots of the eigenvalues of the small
    // `[dim, dim]` Gram matrix; rounding can leave tiny negative ones, hence the clamp.
    let gram = matrix.tr().matmul(&matrix);
    let singular = Tensor::f_linalg_eigvalsh(&gram, "L")?.clamp_min(0.0).sqrt();
    let total = singular.sum(None).double_value(&[]);
    if total <= 0.0 {
        return Ok(1.0);
    }
    let shares = singular / total + RANK_ME_EPSILON;
    let entropy = -(&shares * shares.log()).sum(None).double_value(&[]);
    Ok(entropy.exp())
}

/// Trains a multinomial logistic regression on `train` with `train_labels` (features
/// standardised with the training rows' mean and deviation) and returns its accuracy on
/// `test`. Deterministic: the weights start at zero and every step sees every row. Runs on
/// the CPU; 0 when either side is empty.
///
/// # Panics
/// When a label slice does not have one label per row.
pub fn linear_probe_accuracy(
    train: &Embeddings,
    train_labels: &[u8],
    test: &Embeddings,
    test_labels: &[u8],
) -> Result<f64, TrainError> {
    assert_eq!(
        train.len(),
        train_labels.len(),
        "one label per training row"
    );
    assert_eq!(test.len(), test_labels.len(), "one label per test row");
    if train.is_empty() || test.is_empty() {
        return Ok(0.0);
    }
    let classes = train_labels
        .iter()
        .chain(test_labels)
        .copied()
        .max()
        .map_or(1, |max| i64::from(max) + 1);

    let features = matrix_of(train)?;
    let mean = features.mean_dim(0, true, None);
    let deviation = features.std_dim(0, false, true) + 1e-6;
    let standardise = |x: &Tensor| (x - &mean) / &deviation;
    let targets = labels_tensor(train_labels);

    let store = nn::VarStore::new(Device::Cpu);
    let zeros = nn::LinearConfig {
        ws_init: nn::Init::Const(0.0),
        bs_init: Some(nn::Init::Const(0.0)),
        bias: true,
    };
    let probe = nn::linear(store.root(), train.dim() as i64, classes, zeros);
    let mut optimizer =
        nn::adam(0.9, 0.999, PROBE_WEIGHT_DECAY).build(&store, PROBE_LEARNING_RATE)?;
    let inputs = standardise(&features);
    for _ in 0..PROBE_STEPS {
        let loss = probe.forward(&inputs).cross_entropy_for_logits(&targets);
        optimizer.backward_step(&loss);
    }

    let test_inputs = standardise(&matrix_of(test)?);
    let predictions = tch::no_grad(|| probe.forward(&test_inputs).argmax(1, false));
    let correct = predictions
        .eq_tensor(&labels_tensor(test_labels))
        .to_kind(Kind::Double)
        .sum(None)
        .double_value(&[]);
    Ok(correct / test.len() as f64)
}

fn matrix_of(embeddings: &Embeddings) -> Result<Tensor, TrainError> {
    Ok(Tensor::f_from_slice(embeddings.values())?
        .f_view([embeddings.len() as i64, embeddings.dim() as i64])?)
}

fn labels_tensor(labels: &[u8]) -> Tensor {
    Tensor::from_slice(labels).to_kind(Kind::Int64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embeddings(dim: usize, values: Vec<f32>) -> Embeddings {
        Embeddings::new(dim, values).expect("whole rows")
    }

    // Rows (1, 0, 0), (0, 2, 0), (0, 0, 3), (0, 0, 0): singular values 3, 2, 1, summing to
    // 6. Shares 1/2, 1/3, 1/6: entropy 0.5 ln 2 + (1/3) ln 3 + (1/6) ln 6 = 1.0114043,
    // RankMe e^1.0114043 = 2.7494593 (the 1e-7 moves it by about 2e-7).
    #[test]
    fn rank_me_is_the_exponential_of_the_singular_value_entropy() {
        let matrix = embeddings(3, vec![1., 0., 0., 0., 2., 0., 0., 0., 3., 0., 0., 0.]);

        let rank = rank_me(&matrix).expect("svd runs");

        assert!((rank - 2.749_459_3).abs() < 1e-6, "{rank}");
    }

    #[test]
    fn rows_on_one_line_have_rank_one() {
        let line = embeddings(2, vec![1., 1., 2., 2., -3., -3.]);

        let rank = rank_me(&line).expect("svd runs");

        assert!((rank - 1.0).abs() < 1e-5, "{rank}");
    }

    #[test]
    fn a_probe_separates_classes_that_a_hyperplane_separates() {
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for i in 0..60 {
            let class = (i % 3) as u8;
            let offset = (i / 3) as f32 * 0.01;
            let mut row = [offset, -offset];
            match class {
                0 => row[0] += 1.0,
                1 => row[1] += 1.0,
                _ => row[0] -= 1.0,
            }
            values.extend(row);
            labels.push(class);
        }
        let set = embeddings(2, values);

        let accuracy = linear_probe_accuracy(&set, &labels, &set, &labels).expect("trains");

        assert_eq!(accuracy, 1.0);
    }

    #[test]
    fn an_eval_job_measures_a_probe_only_when_it_has_probe_sets() {
        let rows = embeddings(2, vec![1., 0., 0., 1., -1., 0., 0., -1.]);
        let labels = vec![0, 1, 2, 3];
        let without = EvalJob {
            embeddings: rows.clone(),
            probe: None,
        };
        let with = EvalJob {
            probe: Some(ProbeSets {
                train: rows.clone(),
                train_labels: labels.clone(),
                test: rows.clone(),
                test_labels: labels,
            }),
            ..without.clone()
        };

        let without = evaluate(&without).expect("runs");
        let with = evaluate(&with).expect("runs");

        assert!((without.rank_me - 2.0).abs() < 1e-5, "{without:?}");
        assert_eq!(without.linear_probe_accuracy, None);
        assert_eq!(with.rank_me, without.rank_me);
        assert_eq!(with.linear_probe_accuracy, Some(1.0));
    }

    #[test]
    fn a_probe_that_always_answers_one_label_scores_that_labels_share() {
        let rows = embeddings(1, vec![0.0; 4]);

        let accuracy =
            linear_probe_accuracy(&rows, &[1, 1, 1, 0], &rows, &[1, 0, 0, 0]).expect("trains");

        assert_eq!(accuracy, 0.25, "identical rows get the majority label");
    }
}
