//! Barlow Twins in graph form: the cross-correlation of standardised rows over the edges of
//! a batch, pushed to the identity.

use tch::Tensor;

use super::{Edge, edge_ends};

/// Added to each dimension's variance before the square root, as batch norm does.
const STANDARDISE_EPSILON: f64 = 1e-5;

/// Barlow Twins on `z` (`[rows, dim]`).
///
/// Every dimension is standardised over all rows (biased variance, as batch norm). The
/// cross-correlation `C` is the weighted sum over edges of the outer products
/// `z_left z_right^T`, each edge weighing its share of its anchor's edge weights divided by
/// the number of anchors, so that every anchor counts alike and the weights sum to 1.
/// The loss is `sum_i (1 - C_ii)^2 + off_diagonal * sum_{i != j} C_ij^2`. No edges give 0.
pub fn barlow_loss(z: &Tensor, edges: &[Edge], off_diagonal: f64) -> Tensor {
    let (kind, device) = (z.kind(), z.device());
    if edges.is_empty() {
        return Tensor::zeros([], (kind, device));
    }
    let mean = z.mean_dim(0, true, None);
    let variance = z.var_dim(0, false, true);
    let standard = (z - mean) / (variance + STANDARDISE_EPSILON).sqrt();

    let edge_weights = Tensor::from_slice(&anchor_shares(edges))
        .to_kind(kind)
        .to_device(device);
    let (left, right) = edge_ends(edges, device);
    let weighted_left = standard.index_select(0, &left) * edge_weights.unsqueeze(1);
    let correlation = weighted_left.tr().matmul(&standard.index_select(0, &right));

    let diagonal = correlation.diagonal(0, 0, 1);
    let on_diagonal = (1.0_f64 - &diagonal).square().sum(None);
    let off = correlation.square().sum(None) - diagonal.square().sum(None);
    on_diagonal + off * off_diagonal
}

/// Each edge's weight divided by its anchor's total and by the number of anchors with
/// weight; edges of weightless anchors get 0.
fn anchor_shares(edges: &[Edge]) -> Vec<f64> {
    let anchors = edges.iter().map(|e| e.anchor).max().unwrap_or(0) as usize + 1;
    let mut totals = vec![0.0; anchors];
    for edge in edges {
        totals[edge.anchor as usize] += edge.weight;
    }
    let weighted_anchors = totals.iter().filter(|&&t| t > 0.0).count().max(1) as f64;
    edges
        .iter()
        .map(|e| {
            let total = totals[e.anchor as usize];
            if total > 0.0 {
                e.weight / total / weighted_anchors
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::fixtures::{edge, four_by_two};

    // Standardise (biased): x = 0, 1, 0, 1 has mean 0.5, variance 0.25, std 0.5, so
    //   x~ = -1, 1, -1, 1. y = 0, 2, 0, 0 has mean 0.5, variance 3/4, std 0.8660254, so
    //   y~ = -0.5773503, 1.7320508, -0.5773503, -0.5773503.
    // Edges 0-1 (anchor 0) and 2-3 (anchor 1) each weigh 1/2:
    //   r0~ r1~^T = [[-1, -1.7320508], [-0.5773503, -1]]
    //   r2~ r3~^T = [[-1, 0.5773503], [-0.5773503, 0.3333333]]
    //   C = [[-1, -0.5773503], [-0.5773503, -0.3333333]].
    // On the diagonal (1 + 1)^2 + (1 + 1/3)^2 = 4 + 1.7777778 = 5.7777778; off it
    //   2 * (1/3) = 0.6666667, times 5e-3 = 0.0033333. Loss 5.7811111.
    // The 1e-5 under the square root moves it by 1.7e-4 (to 5.7809391).
    #[test]
    fn the_loss_pushes_the_edge_cross_correlation_to_the_identity() {
        let edges = [edge(0, 1, 1.0, 0), edge(2, 3, 1.0, 1)];

        let loss = barlow_loss(&four_by_two(), &edges, 5e-3).double_value(&[]);

        assert!((loss - 5.780_939_09).abs() < 1e-7, "{loss}");
        assert!((loss - 5.781_111_1).abs() < 2e-4);
    }

    // Anchor 0 now has edges 0-1 (weight 1) and 0-3 (weight 3): shares 1/8 and 3/8.
    //   r0~ r3~^T = [[-1, 0.5773503], [-0.5773503, 0.3333333]]
    //   C = 1/8 [[-1, -1.7320508], [-0.5773503, -1]] + 3/8 [[-1, 0.5773503],
    //       [-0.5773503, 0.3333333]] + 1/2 [[-1, 0.5773503], [-0.5773503, 0.3333333]]
    //     = [[-1, 0.2886751], [-0.5773503, 0.1666667]].
    // Diagonal: 4 + (5/6)^2 = 4.6944444; off: (1/12 + 1/3) * 5e-3 = 0.0020833.
    // Loss 4.6965278 (4.6963714 with the 1e-5).
    #[test]
    fn edges_share_their_anchors_weight() {
        let edges = [edge(0, 1, 1.0, 0), edge(0, 3, 3.0, 0), edge(2, 3, 1.0, 1)];

        let loss = barlow_loss(&four_by_two(), &edges, 5e-3).double_value(&[]);

        assert!((loss - 4.696_371_38).abs() < 1e-7, "{loss}");
    }

    #[test]
    fn without_edges_the_loss_is_zero() {
        assert_eq!(
            barlow_loss(&four_by_two(), &[], 5e-3).double_value(&[]),
            0.0
        );
    }
}
