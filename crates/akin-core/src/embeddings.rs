//! Item embeddings: one `f32` row per item, all rows of one dimension, stored row-major.

use crate::vector;

/// Why values cannot form an embedding matrix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmbeddingsError {
    /// The dimension is zero.
    #[error("embedding dimension must be positive")]
    ZeroDimension,
    /// The number of values is not a multiple of the dimension.
    #[error("{len} values do not split into rows of dimension {dim}")]
    RaggedRows {
        /// Number of values given.
        len: usize,
        /// Dimension asked for.
        dim: usize,
    },
}

/// An `n x dim` matrix of embeddings, row `i` for item `i`.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    dim: usize,
    values: Vec<f32>,
}

impl Embeddings {
    /// Wraps row-major values; `values.len()` must be a multiple of `dim > 0`.
    pub fn new(dim: usize, values: Vec<f32>) -> Result<Self, EmbeddingsError> {
        if dim == 0 {
            return Err(EmbeddingsError::ZeroDimension);
        }
        if !values.len().is_multiple_of(dim) {
            return Err(EmbeddingsError::RaggedRows {
                len: values.len(),
                dim,
            });
        }
        Ok(Self { dim, values })
    }

    /// Raw-pixel embeddings (each byte divided by 255), used before the first model exists.
    pub fn from_pixels(dim: usize, pixels: &[u8]) -> Result<Self, EmbeddingsError> {
        let values = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        Self::new(dim, values)
    }

    /// Number of rows (items).
    pub fn len(&self) -> usize {
        self.values.len() / self.dim
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Length of every row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The embedding of item `i`.
    ///
    /// # Panics
    /// When `i >= len()`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// All rows, one after the other.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.values.chunks_exact(self.dim)
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Gives the values back, row-major.
    pub fn into_values(self) -> Vec<f32> {
        self.values
    }

    /// A copy with every row scaled to unit L2 norm; zero rows stay zero.
    pub fn normalized(&self) -> Embeddings {
        let inverse = vector::inverse_norms(&self.values, self.dim);
        let values = self
            .rows()
            .zip(&inverse)
            .flat_map(|(row, &scale)| row.iter().map(move |&v| v * scale))
            .collect();
        Embeddings {
            dim: self.dim,
            values,
        }
    }

    /// Cosine similarity of rows `a` and `b` (0 when either row is zero).
    pub fn cosine(&self, a: usize, b: usize) -> f32 {
        let (row_a, row_b) = (self.row(a), self.row(b));
        let norms = vector::dot(row_a, row_a).sqrt() * vector::dot(row_b, row_b).sqrt();
        if norms > 0.0 {
            vector::dot(row_a, row_b) / norms
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_do_not_fill_whole_rows_are_refused() {
        let result = Embeddings::new(3, vec![0.0; 7]);

        assert_eq!(result, Err(EmbeddingsError::RaggedRows { len: 7, dim: 3 }));
    }

    #[test]
    fn a_zero_dimension_is_refused() {
        let result = Embeddings::new(0, vec![]);

        assert_eq!(result, Err(EmbeddingsError::ZeroDimension));
    }

    #[test]
    fn rows_are_read_row_major() {
        let embeddings = Embeddings::new(2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).expect("3 x 2");

        let second = embeddings.row(1);

        assert_eq!(second, &[3.0, 4.0]);
        assert_eq!((embeddings.len(), embeddings.dim()), (3, 2));
        assert!(!embeddings.is_empty());
    }

    #[test]
    fn pixels_are_scaled_to_the_unit_interval() {
        let embeddings = Embeddings::from_pixels(2, &[0, 255, 51, 102]).expect("2 x 2");

        let values = embeddings.into_values();

        assert_eq!(values, vec![0.0, 1.0, 0.2, 0.4]);
    }

    #[test]
    fn normalized_rows_have_unit_length_and_zero_rows_stay_zero() {
        let embeddings = Embeddings::new(2, vec![3.0, 4.0, 0.0, 0.0, -2.0, 0.0]).expect("3 x 2");

        let unit = embeddings.normalized();

        let expected = [0.6, 0.8, 0.0, 0.0, -1.0, 0.0];
        assert!(
            unit.values()
                .iter()
                .zip(expected)
                .all(|(v, e)| (v - e).abs() < 1e-6)
        );
    }

    #[test]
    fn cosine_of_orthogonal_rows_is_zero_and_of_parallel_rows_is_one() {
        let embeddings = Embeddings::new(2, vec![1.0, 0.0, 0.0, 2.0, 3.0, 0.0]).expect("3 x 2");

        let orthogonal = embeddings.cosine(0, 1);
        let parallel = embeddings.cosine(0, 2);

        assert_eq!((orthogonal, parallel), (0.0, 1.0));
    }

    #[test]
    fn an_empty_matrix_has_no_rows() {
        let embeddings = Embeddings::new(4, vec![]).expect("0 x 4");

        assert!(embeddings.is_empty());
        assert_eq!(embeddings.len(), 0);
    }
}
