//! The spectral contrastive loss of HaoChen et al. in graph form.

use tch::Tensor;

use super::{Edge, anchor_mean, edge_ends};

/// `-2 * mean over edges of z_l . z_r + mean over pairs of distinct rows of (z_i . z_j)^2`.
///
/// The edge mean is taken within each anchor by edge weight, then over anchors. The second
/// term runs over every ordered pair of distinct rows, positives included, as in the paper's
/// expectation over independent samples. No edges leave only the second term.
pub fn spectral_loss(z: &Tensor, edges: &[Edge]) -> Tensor {
    let rows = z.size()[0];
    let gram = z.matmul(&z.tr());
    let off_diagonal_pairs = (rows * (rows - 1)).max(1) as f64;
    let squares = gram.square();
    let uniformity = (squares.sum(None) - squares.diagonal(0, 0, 1).sum(None)) / off_diagonal_pairs;
    if edges.is_empty() {
        return uniformity;
    }

    let (left, right) = edge_ends(edges, z.device());
    let products = (z.index_select(0, &left) * z.index_select(0, &right)).sum_dim_intlist(
        [1].as_slice(),
        false,
        None,
    );
    anchor_mean(&products, edges) * -2.0 + uniformity
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::fixtures::edge;

    // r0 = (1, 0), r1 = (1, 1), r2 = (0, 1), r3 = (0, 2). Gram matrix:
    //   [[1, 1, 0, 0], [1, 2, 1, 2], [0, 1, 1, 2], [0, 2, 2, 4]].
    // Edges 0-1 (anchor 0): 1; 2-3 (anchor 1): 2. Positive mean (1 + 2) / 2 = 1.5.
    // Off-diagonal squares, each unordered pair twice: 2 * (1 + 0 + 0 + 1 + 4 + 4) = 20,
    //   over 12 ordered pairs: 1.6666667.
    // Loss -2 * 1.5 + 1.6666667 = -1.3333333.
    #[test]
    fn the_loss_rewards_positive_products_and_charges_all_squared_products() {
        let z = Tensor::from_slice(&[1.0f64, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 2.0]).view([4, 2]);
        let edges = [edge(0, 1, 1.0, 0), edge(2, 3, 1.0, 1)];

        let loss = spectral_loss(&z, &edges).double_value(&[]);

        assert!((loss + 4.0 / 3.0).abs() < 1e-12, "{loss}");
    }

    // Anchor 0 gets a second edge 0-3 (product 0) of weight 3: its mean is
    //   (1 * 1 + 3 * 0) / 4 = 0.25, the positive mean (0.25 + 2) / 2 = 1.125, and the loss
    //   -2.25 + 1.6666667 = -0.5833333.
    #[test]
    fn edges_are_averaged_within_their_anchor_first() {
        let z = Tensor::from_slice(&[1.0f64, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 2.0]).view([4, 2]);
        let edges = [edge(0, 1, 1.0, 0), edge(0, 3, 3.0, 0), edge(2, 3, 1.0, 1)];

        let loss = spectral_loss(&z, &edges).double_value(&[]);

        assert!((loss + 0.583_333_333_333).abs() < 1e-12, "{loss}");
    }
}
