//! SimCLR / InfoNCE in graph form: for every edge, minus the log of the softmax weight of
//! the partner among the rows the anchor is contrasted with, in both directions.

use tch::Tensor;

use super::relations::normalise_rows;
use super::{Edge, RowRelations, anchor_mean, edge_ends};

/// How much each kind of non-positive row counts in InfoNCE's denominator.
///
/// Rows known to be the same (the same item, or the same component) other than the partner
/// itself never count: they are positives, not negatives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InfoNceWeights {
    /// Weight of rows whose relation is unknown.
    pub unknown: f64,
    /// Weight of rows known to be different.
    pub known_negative: f64,
}

impl Default for InfoNceWeights {
    /// All non-positives, known negatives twice: unknown pairs weigh 1 because SimCLR needs
    /// every row of the batch in its denominator to spread the embeddings out (with no
    /// answers, every pair but the two views is unknown), and in a dataset of many classes
    /// most unknown pairs do differ. Known negatives weigh 2 because they are certain. Set
    /// `unknown` below 1 to trust the unknown pairs less.
    fn default() -> Self {
        InfoNceWeights {
            unknown: 1.0,
            known_negative: 2.0,
        }
    }
}

/// InfoNCE on the rows of `z` (`[rows, dim]`, normalised here) at `temperature`.
///
/// With `s_ij = cos(z_i, z_j) / temperature` and `w_ik` from `weights` and `relations`, an
/// edge `(l, r)` costs `-log(exp(s_lr) / (exp(s_lr) + sum_k w_lk exp(s_lk)))`, averaged with
/// the same from `r`'s side. Edge costs are averaged within each anchor by edge weight, then
/// over anchors. No edges give 0.
pub fn infonce_loss(
    z: &Tensor,
    edges: &[Edge],
    relations: &RowRelations,
    temperature: f64,
    weights: &InfoNceWeights,
) -> Tensor {
    let (kind, device) = (z.kind(), z.device());
    if edges.is_empty() {
        return Tensor::zeros([], (kind, device));
    }
    let unit = normalise_rows(z);
    // Cosines are at most 1, so shifting by 1 / temperature keeps every exponent at most 0:
    // no overflow, and no NaN when a row has nothing in its denominator.
    let shift = 1.0 / temperature;
    let shifted = unit.matmul(&unit.tr()) / temperature - shift;

    let unknown = relations
        .same
        .logical_or(&relations.different)
        .logical_not();
    let denominator_weights = unknown.to_kind(kind) * weights.unknown
        + relations.different.to_kind(kind) * weights.known_negative;
    let negative_mass =
        (shifted.exp() * denominator_weights).sum_dim_intlist([1].as_slice(), false, None);

    let (left, right) = edge_ends(edges, device);
    let positive = (unit.index_select(0, &left) * unit.index_select(0, &right)).sum_dim_intlist(
        [1].as_slice(),
        false,
        None,
    ) / temperature
        - shift;
    let cost_from =
        |rows: &Tensor| (positive.exp() + negative_mass.index_select(0, rows)).log() - &positive;
    let per_edge = (cost_from(&left) + cost_from(&right)) / 2.0;
    anchor_mean(&per_edge, edges)
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind};

    use super::*;
    use crate::loss::fixtures::edge;

    /// r0 = (1, 0), r1 = (2, 0), r2 = (0, 1), r3 = (-1, 0). Rows 0 and 1 are one component
    /// (A), row 2 is B, row 3 is C, and A is known different from C.
    fn setting() -> (Tensor, RowRelations) {
        let z = Tensor::from_slice(&[1.0f64, 0.0, 2.0, 0.0, 0.0, 1.0, -1.0, 0.0]).view([4, 2]);
        (z, RowRelations::new(&[0, 0, 1, 2], &[(0, 2)], Device::Cpu))
    }

    fn loss_with(weights: InfoNceWeights) -> f64 {
        let (z, relations) = setting();
        infonce_loss(&z, &[edge(0, 1, 1.0, 0)], &relations, 1.0, &weights).double_value(&[])
    }

    // Temperature 1. Normalised rows: (1, 0), (1, 0), (0, 1), (-1, 0).
    // From row 0: s01 = 1 (the partner), s02 = 0 (unknown, w 1), s03 = -1 (known, w 2).
    //   cost = -log(e / (e + 1 * e^0 + 2 * e^-1)) = log(e + 1 + 2/e) - 1
    //        = log(2.7182818 + 1 + 0.7357589) - 1 = log(4.4540407) - 1 = 0.4938117.
    // From row 1 the same numbers (row 1 sees row 2 at 0 and row 3 at -1), so the edge and
    // the loss are 0.4938117.
    #[test]
    fn known_negatives_weigh_double_and_unknown_rows_once_by_default() {
        let loss = loss_with(InfoNceWeights::default());

        assert!((loss - 0.493_811_709_072).abs() < 1e-9, "{loss}");
    }

    // Unknown weight 0 leaves only the known negative: log(e + 2/e) - 1 = 0.2395448.
    #[test]
    fn an_unknown_weight_of_zero_contrasts_with_known_negatives_only() {
        let loss = loss_with(InfoNceWeights {
            unknown: 0.0,
            known_negative: 2.0,
        });

        assert!((loss - 0.239_544_766_222).abs() < 1e-9, "{loss}");
    }

    // Plain SimCLR, every non-positive once: log(e + 1 + 1/e) - 1 = 0.4076060.
    #[test]
    fn equal_weights_give_plain_simclr_over_all_non_positives() {
        let loss = loss_with(InfoNceWeights {
            unknown: 1.0,
            known_negative: 1.0,
        });

        assert!((loss - 0.407_605_964_444).abs() < 1e-9, "{loss}");
    }

    // Temperature 0.5 doubles every similarity: log(e^2 + 1 + 2 e^-2) - 2
    //   = log(7.3890561 + 1 + 0.2706706) - 2 = log(8.6597267) - 2 = 0.1586832.
    #[test]
    fn the_temperature_divides_the_cosines() {
        let (z, relations) = setting();

        let loss = infonce_loss(
            &z,
            &[edge(0, 1, 1.0, 0)],
            &relations,
            0.5,
            &InfoNceWeights::default(),
        )
        .double_value(&[]);

        let expected = (2f64.exp() + 1.0 + 2.0 * (-2f64).exp()).ln() - 2.0;
        assert!((expected - 0.158_683_2).abs() < 1e-6);
        assert!((loss - expected).abs() < 1e-9, "{loss}");
    }

    /// Central differences of the loss against autograd, on a random batch with an anchor
    /// of two edges, a known negative and unknown rows.
    #[test]
    fn the_gradient_matches_finite_differences() {
        tch::manual_seed(5);
        let z = Tensor::randn([5, 3], (Kind::Double, Device::Cpu));
        let relations = RowRelations::new(&[0, 0, 1, 2, 3], &[(0, 2), (1, 3)], Device::Cpu);
        let edges = [edge(0, 1, 1.0, 0), edge(0, 3, 0.5, 0), edge(2, 4, 1.0, 1)];
        let weights = InfoNceWeights::default();
        let loss_at = |z: &Tensor| infonce_loss(z, &edges, &relations, 0.3, &weights);

        let input = z.copy().set_requires_grad(true);
        loss_at(&input).backward();
        let analytic = Vec::<f64>::try_from(input.grad().flatten(0, -1)).expect("f64");

        let values = Vec::<f64>::try_from(z.flatten(0, -1)).expect("f64");
        let step = 1e-6;
        for (i, &gradient) in analytic.iter().enumerate() {
            let shifted = |delta: f64| {
                let mut moved = values.clone();
                moved[i] += delta;
                loss_at(&Tensor::from_slice(&moved).view([5, 3])).double_value(&[])
            };
            let numeric = (shifted(step) - shifted(-step)) / (2.0 * step);
            assert!(
                (numeric - gradient).abs() < 1e-6,
                "entry {i}: finite differences {numeric}, autograd {gradient}"
            );
        }
        assert!(analytic.iter().any(|g| g.abs() > 1e-3), "a real gradient");
    }
}
