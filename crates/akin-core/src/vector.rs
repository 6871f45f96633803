//! Small dense-vector kernels shared by selection and metrics, and a helper that splits
//! row-parallel work over a few scoped threads.

/// Lanes summed independently so that the compiler can vectorise the loop.
const LANES: usize = 8;

/// The most threads one call spreads its work over: the service shares its cores.
const MAX_THREADS: usize = 4;

/// Rows below which spawning threads costs more than it saves.
const MIN_ROWS_PER_THREAD: usize = 256;

/// Dot product of two equally long slices.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut sums = [0.0f32; LANES];
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            sums[lane] += x[lane] * y[lane];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// `1 / ||row||` for every row of a row-major matrix, and 0 for zero rows, so that
/// `dot(a, b) * inv[a] * inv[b]` is the cosine similarity (0 against a zero row).
pub(crate) fn inverse_norms(values: &[f32], dim: usize) -> Vec<f32> {
    values
        .chunks_exact(dim)
        .map(|row| {
            let norm = dot(row, row).sqrt();
            if norm > 0.0 { 1.0 / norm } else { 0.0 }
        })
        .collect()
}

/// Runs `work(first_row, rows_out)` over `out` split into contiguous blocks of whole rows of
/// `row_len` values, on up to [`MAX_THREADS`] scoped threads.
pub(crate) fn for_row_blocks<T, F>(out: &mut [T], row_len: usize, work: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync,
{
    let rows = out.len() / row_len.max(1);
    let threads = thread_count(rows);
    if threads <= 1 {
        work(0, out);
        return;
    }
    let rows_per_block = rows.div_ceil(threads);
    std::thread::scope(|scope| {
        for (block, chunk) in out.chunks_mut(rows_per_block * row_len).enumerate() {
            let work = &work;
            scope.spawn(move || work(block * rows_per_block, chunk));
        }
    });
}

fn thread_count(rows: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores
        .min(MAX_THREADS)
        .min(rows / MIN_ROWS_PER_THREAD)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_sums_products_across_full_lanes_and_the_tail() {
        let a: Vec<f32> = (1..=11).map(|x| x as f32).collect();
        let b = vec![1.0f32; 11];

        let result = dot(&a, &b);

        assert_eq!(result, 66.0);
    }

    #[test]
    fn inverse_norms_are_zero_for_zero_rows() {
        let values = [3.0, 4.0, 0.0, 0.0];

        let inverse = inverse_norms(&values, 2);

        assert_eq!(inverse, vec![0.2, 0.0]);
    }

    #[test]
    fn row_blocks_cover_every_row_exactly_once() {
        let mut out = vec![0usize; 3 * 2000];

        for_row_blocks(&mut out, 3, |first_row, block| {
            for (offset, value) in block.iter_mut().enumerate() {
                *value += first_row * 3 + offset + 1;
            }
        });

        assert!(out.iter().enumerate().all(|(i, &value)| value == i + 1));
    }
}
