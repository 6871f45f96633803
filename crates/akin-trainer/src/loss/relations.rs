//! What the answers say about every pair of rows of a batch, and the repulsion of the pairs
//! known to differ.

use std::collections::HashMap;

use tch::{Device, Kind, Tensor};

/// Pairwise relations of the rows of one batch, as `[rows, rows]` boolean tensors.
///
/// A pair is either known same (one item, or one "same" component), known different (the
/// components were answered different), or unknown: true in neither tensor.
#[derive(Debug)]
pub struct RowRelations {
    /// Rows of one component, the diagonal included.
    pub same: Tensor,
    /// Rows whose components are known to differ.
    pub different: Tensor,
}

impl RowRelations {
    /// Relations of rows whose components are `components` (one label per row; equal labels
    /// mean one component), given the pairs of component labels known to differ.
    pub fn new(components: &[i64], different: &[(i64, i64)], device: Device) -> RowRelations {
        let mut compact: HashMap<i64, usize> = HashMap::new();
        let slots: Vec<usize> = components
            .iter()
            .map(|&c| {
                let next = compact.len();
                *compact.entry(c).or_insert(next)
            })
            .collect();
        let distinct = compact.len();
        let mut component_differs = vec![false; distinct * distinct];
        for (a, b) in different {
            if let (Some(&a), Some(&b)) = (compact.get(a), compact.get(b)) {
                component_differs[a * distinct + b] = true;
                component_differs[b * distinct + a] = true;
            }
        }

        let rows = components.len();
        let mut same = vec![0u8; rows * rows];
        let mut differs = vec![0u8; rows * rows];
        for (i, &si) in slots.iter().enumerate() {
            for (j, &sj) in slots.iter().enumerate() {
                same[i * rows + j] = u8::from(si == sj);
                differs[i * rows + j] = u8::from(component_differs[si * distinct + sj]);
            }
        }
        let matrix = |flags: &[u8]| {
            Tensor::from_slice(flags)
                .view([rows as i64, rows as i64])
                .to_kind(Kind::Bool)
                .to_device(device)
        };
        RowRelations {
            same: matrix(&same),
            different: matrix(&differs),
        }
    }

    /// Relations that know nothing but that each row is itself: for losses that read no
    /// relations, without the cost of working them out.
    pub fn unknown(rows: usize, device: Device) -> RowRelations {
        let rows = rows as i64;
        RowRelations {
            same: Tensor::eye(rows, (Kind::Bool, device)),
            different: Tensor::zeros([rows, rows], (Kind::Bool, device)),
        }
    }

    /// Whether any pair of rows is known to differ.
    pub fn has_negatives(&self) -> bool {
        self.different.any().int64_value(&[]) != 0
    }
}

/// Mean over the known-different pairs of rows of `relu(cos(z_i, z_j))²`: zero once such
/// pairs are orthogonal or opposed, so it pushes known negatives apart without pulling
/// anything else. Scale-free, so it sits beside any loss. 0 when no pair is known to differ.
pub fn repulsion_term(z: &Tensor, relations: &RowRelations) -> Tensor {
    let (kind, device) = (z.kind(), z.device());
    if !relations.has_negatives() {
        return Tensor::zeros([], (kind, device));
    }
    let unit = normalise_rows(z);
    let cosine = unit.matmul(&unit.tr());
    let upper = relations.different.triu(1);
    cosine.masked_select(&upper).relu().square().mean(None)
}

/// Rows scaled to unit length (rows of zeros stay zero).
pub(crate) fn normalise_rows(z: &Tensor) -> Tensor {
    let norms = z
        .square()
        .sum_dim_intlist([1].as_slice(), true, None)
        .sqrt()
        .clamp_min(1e-12);
    z / norms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(matrix: &Tensor) -> Vec<i64> {
        Vec::<i64>::try_from(matrix.to_kind(Kind::Int64).flatten(0, -1)).expect("int64")
    }

    #[test]
    fn rows_of_one_component_are_same_and_answered_components_are_different() {
        let relations = RowRelations::new(&[7, 3, 7], &[(3, 7)], Device::Cpu);

        assert_eq!(flags(&relations.same), [1, 0, 1, 0, 1, 0, 1, 0, 1]);
        assert_eq!(flags(&relations.different), [0, 1, 0, 1, 0, 1, 0, 1, 0]);
    }

    #[test]
    fn unknown_relations_know_only_the_diagonal() {
        let relations = RowRelations::unknown(2, Device::Cpu);

        assert_eq!(flags(&relations.same), [1, 0, 0, 1]);
        assert_eq!(flags(&relations.different), [0, 0, 0, 0]);
    }

    #[test]
    fn components_never_answered_stay_unknown() {
        let relations = RowRelations::new(&[1, 2, 3], &[(1, 2)], Device::Cpu);

        let different = flags(&relations.different);

        assert_eq!(
            (different[2], different[5]),
            (0, 0),
            "1-3 and 2-3 are unknown"
        );
        assert_eq!(flags(&relations.same), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
    }

    // Rows r0 = (1, 0), r1 = (1, 1), r2 = (0, 1), r3 = (-1, 0), all of their own component;
    // known different: 0-1, 0-3, 1-2.
    // cos(0, 1) = 1 / sqrt(2), relu^2 = 0.5; cos(0, 3) = -1, relu^2 = 0; cos(1, 2) = 0.5.
    // Mean over the three pairs: (0.5 + 0 + 0.5) / 3 = 1/3. The unknown 0-2 and 2-3 and
    // 1-3 pairs do not count (1-3 has cosine -0.71 anyway; 0-2 has 0).
    #[test]
    fn repulsion_is_the_mean_squared_positive_cosine_of_known_negatives() {
        let z = Tensor::from_slice(&[1.0f64, 0.0, 1.0, 1.0, 0.0, 1.0, -1.0, 0.0]).view([4, 2]);
        let relations = RowRelations::new(&[0, 1, 2, 3], &[(0, 1), (0, 3), (1, 2)], Device::Cpu);

        let repulsion = repulsion_term(&z, &relations).double_value(&[]);

        assert!((repulsion - 1.0 / 3.0).abs() < 1e-12, "{repulsion}");
    }

    #[test]
    fn without_known_negatives_there_is_no_repulsion() {
        let z = Tensor::ones([3, 2], (Kind::Double, Device::Cpu));
        let relations = RowRelations::new(&[0, 1, 2], &[], Device::Cpu);

        assert_eq!(repulsion_term(&z, &relations).double_value(&[]), 0.0);
        assert!(!relations.has_negatives());
    }
}
