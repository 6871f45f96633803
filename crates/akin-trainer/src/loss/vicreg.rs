//! The graph form of VICReg: invariance over the weighted edges of a batch, averaged per
//! anchor, plus the variance and covariance regularisers over every row of the batch.

use tch::Tensor;

use super::{Edge, anchor_mean, edge_ends};

/// Weights of the three VICReg terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VicregWeights {
    /// Weight of the invariance (positive-pair MSE) term.
    pub invariance: f64,
    /// Weight of the per-dimension standard deviation hinge.
    pub variance: f64,
    /// Weight of the off-diagonal covariance penalty.
    pub covariance: f64,
}

impl Default for VicregWeights {
    /// The paper's 25 / 25 / 1.
    fn default() -> Self {
        VicregWeights {
            invariance: 25.0,
            variance: 25.0,
            covariance: 1.0,
        }
    }
}

/// The three unweighted terms of one loss evaluation (scalar tensors, still in the graph).
#[derive(Debug)]
pub struct VicregParts {
    /// Mean over anchors of the weighted mean MSE of the anchor's edges.
    pub invariance: Tensor,
    /// Mean over dimensions of `relu(1 - sqrt(var + 1e-4))`.
    pub variance: Tensor,
    /// Sum of squared off-diagonal covariances divided by the dimension.
    pub covariance: Tensor,
}

/// Keeps the standard deviation differentiable when a dimension collapses.
const VARIANCE_EPSILON: f64 = 1e-4;

/// VICReg on a batch `z` (`[rows, dim]`) whose positive pairs are `edges`.
///
/// Invariance: every edge's MSE (squared difference averaged over dimensions) is averaged
/// within its anchor by weight, and the anchors are averaged, so an anchor with many edges
/// counts as much as one with a single edge. Anchors whose weights sum to zero drop out.
/// Variance and covariance use the unbiased estimate over all rows of `z`.
///
/// Panics (via libtorch) if an edge names a row outside `z`.
pub fn vicreg_loss(z: &Tensor, edges: &[Edge], weights: &VicregWeights) -> (Tensor, VicregParts) {
    let parts = VicregParts {
        invariance: invariance_term(z, edges),
        variance: variance_term(z),
        covariance: covariance_term(z),
    };
    let total = &parts.invariance * weights.invariance
        + &parts.variance * weights.variance
        + &parts.covariance * weights.covariance;
    (total, parts)
}

fn invariance_term(z: &Tensor, edges: &[Edge]) -> Tensor {
    if edges.is_empty() {
        return Tensor::zeros([], (z.kind(), z.device()));
    }
    let (left, right) = edge_ends(edges, z.device());
    let squared = (z.index_select(0, &left) - z.index_select(0, &right)).square();
    anchor_mean(&squared.mean_dim(1, false, None), edges)
}

fn variance_term(z: &Tensor) -> Tensor {
    let std = (z.var_dim(0, true, false) + VARIANCE_EPSILON).sqrt();
    (1.0_f64 - std).relu().mean(None)
}

fn covariance_term(z: &Tensor) -> Tensor {
    let (rows, dim) = (z.size()[0], z.size()[1]);
    let centred = z - z.mean_dim(0, true, None);
    let covariance = centred.tr().matmul(&centred) / (rows - 1) as f64;
    let diagonal = covariance.diagonal(0, 0, 1);
    (covariance.square().sum(None) - diagonal.square().sum(None)) / dim as f64
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind};

    use super::*;
    use crate::loss::fixtures::{edge, four_by_two};

    fn value(scalar: &Tensor) -> f64 {
        scalar.double_value(&[])
    }

    // Anchor 0 owns r0-r1 (weight 1) and r0-r3 (weight 3); anchor 1 owns r2-r3 (weight 1).
    // MSE r0-r1 = (1^2 + 2^2) / 2 = 2.5; r0-r3 = (1^2 + 0^2) / 2 = 0.5; r2-r3 = 0.5.
    // Anchor 0: (1 * 2.5 + 3 * 0.5) / (1 + 3) = 1.0. Anchor 1: 0.5. Invariance = 0.75.
    // (A plain weighted mean over edges would give 0.9, an unweighted one 1.1667.)
    #[test]
    fn invariance_averages_weighted_edges_within_each_anchor_then_over_anchors() {
        let edges = [edge(0, 1, 1.0, 0), edge(0, 3, 3.0, 0), edge(2, 3, 1.0, 1)];

        let (_, parts) = vicreg_loss(&four_by_two(), &edges, &VicregWeights::default());

        assert!((value(&parts.invariance) - 0.75).abs() < 1e-12);
    }

    // x = 0, 1, 0, 1: mean 0.5, squared deviations 4 x 0.25 = 1, unbiased var = 1/3,
    //   std = sqrt(1/3 + 1e-4) = 0.5774368652, hinge = 0.4225631348.
    // y = 0, 2, 0, 0: mean 0.5, squared deviations 0.25 + 2.25 + 0.25 + 0.25 = 3, var = 1,
    //   std = sqrt(1.0001) > 1, hinge = 0.
    // Variance = (0.4225631348 + 0) / 2 = 0.2112815674.
    #[test]
    fn variance_is_the_mean_hinge_on_each_dimensions_standard_deviation() {
        let (_, parts) = vicreg_loss(&four_by_two(), &[], &VicregWeights::default());

        assert!((value(&parts.variance) - 0.211_281_567_4).abs() < 1e-9);
    }

    // Deviations x: -0.5, 0.5, -0.5, 0.5; y: -0.5, 1.5, -0.5, -0.5.
    // Products: 0.25 + 0.75 + 0.25 - 0.25 = 1, so cov(x, y) = 1 / 3.
    // Off-diagonal squares: 2 x (1/3)^2 = 2/9; divided by dim 2: 1/9 = 0.1111111111.
    #[test]
    fn covariance_is_the_sum_of_squared_off_diagonal_entries_over_the_dimension() {
        let (_, parts) = vicreg_loss(&four_by_two(), &[], &VicregWeights::default());

        assert!((value(&parts.covariance) - 1.0 / 9.0).abs() < 1e-12);
    }

    // 25 * 0.75 + 25 * 0.2112815674 + 1 * 0.1111111111 = 24.1431502957.
    #[test]
    fn the_total_weighs_the_terms_25_25_1() {
        let edges = [edge(0, 1, 1.0, 0), edge(0, 3, 3.0, 0), edge(2, 3, 1.0, 1)];

        let (total, _) = vicreg_loss(&four_by_two(), &edges, &VicregWeights::default());

        assert!((value(&total) - 24.143_150_295_7).abs() < 1e-8);
    }

    // Every row equal: var = 0, std = sqrt(1e-4) = 0.01, hinge = 0.99 on both dimensions;
    // covariance and invariance vanish.
    #[test]
    fn a_collapsed_batch_is_charged_the_full_variance_hinge() {
        let collapsed = Tensor::ones([4, 2], (Kind::Double, Device::Cpu));
        let edges = [edge(0, 1, 1.0, 0)];

        let (_, parts) = vicreg_loss(&collapsed, &edges, &VicregWeights::default());

        assert!((value(&parts.variance) - 0.99).abs() < 1e-12);
        assert_eq!(value(&parts.covariance), 0.0);
        assert_eq!(value(&parts.invariance), 0.0);
    }

    #[test]
    fn an_anchor_whose_edges_weigh_nothing_drops_out_of_the_invariance_mean() {
        let edges = [edge(0, 1, 1.0, 0), edge(2, 3, 0.0, 1)];

        let (_, parts) = vicreg_loss(&four_by_two(), &edges, &VicregWeights::default());

        assert!((value(&parts.invariance) - 2.5).abs() < 1e-12);
    }
}
