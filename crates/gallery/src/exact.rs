//! Exact nearest-neighbour search: every stored vector is compared with the query. Rows live in
//! one contiguous `[n, dim]` f32 matrix, scored in chunks (in parallel with rayon once the matrix
//! is large enough to pay for the threads), and each chunk keeps only its own top k.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::error::{GalleryError, Result};
use crate::index::{Hit, VectorIndex};

/// Rows scored per task. 1024 rows × 1280 dims × 4 bytes = 5 MiB, a few L2-sized passes per task,
/// and enough tasks at 100k rows (≈100) for rayon to balance two to many cores.
const CHUNK_ROWS: usize = 1024;
/// Below this many stored values (rows × dim) one thread is faster than waking the pool:
/// 256k values ≈ 1 MiB, scored in well under 100 µs.
const PARALLEL_ABOVE: usize = 1 << 18;

/// Brute-force inner-product index: exact, no build cost, O(n · dim) per query.
#[derive(Debug, Clone, Default)]
pub struct ExactIndex {
    dim: usize,
    ids: Vec<u64>,
    /// `[ids.len(), dim]`, row-major.
    data: Vec<f32>,
    known: HashSet<u64>,
}

impl ExactIndex {
    pub fn new(dim: usize) -> ExactIndex {
        ExactIndex { dim, ..Default::default() }
    }

    /// Rebuilds an index from stored rows (e.g. a gallery file): `data` is `[ids.len(), dim]`.
    pub fn from_parts(dim: usize, ids: Vec<u64>, data: Vec<f32>) -> Result<ExactIndex> {
        if dim == 0 || data.len() != ids.len().saturating_mul(dim) {
            return Err(GalleryError::Dimension { expected: ids.len().saturating_mul(dim), got: data.len() });
        }
        let mut known = HashSet::with_capacity(ids.len());
        for &id in &ids {
            if !known.insert(id) {
                return Err(GalleryError::DuplicateId(id));
            }
        }
        Ok(ExactIndex { dim, ids, data, known })
    }

    /// Ids in insertion order; row `i` of [`ExactIndex::data`] belongs to `ids()[i]`.
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// The `[len, dim]` row-major matrix of stored vectors.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Stored vector of row `row`.
    pub fn row(&self, row: usize) -> Option<&[f32]> {
        self.data.get(row * self.dim..(row + 1) * self.dim)
    }

    /// Reserves room for `additional` more vectors (one allocation for a bulk build).
    pub fn reserve(&mut self, additional: usize) {
        self.ids.reserve(additional);
        self.data.reserve(additional.saturating_mul(self.dim));
        self.known.reserve(additional);
    }

    /// Scores rows `first..first + rows.len()/dim` and keeps the best `k` of them.
    fn top_of_chunk(&self, first: usize, rows: &[f32], query: &[f32], k: usize) -> Vec<Hit> {
        let mut hits: Vec<Hit> = rows
            .chunks_exact(self.dim)
            .enumerate()
            .map(|(i, row)| Hit { id: self.ids[first + i], similarity: dot(row, query) })
            .collect();
        keep_best(&mut hits, k);
        hits
    }
}

impl VectorIndex for ExactIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn add(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        check_vector(self.dim, vector)?;
        if !self.known.insert(id) {
            return Err(GalleryError::DuplicateId(id));
        }
        self.ids.push(id);
        self.data.extend_from_slice(vector);
        Ok(())
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        check_vector(self.dim, query)?;
        if k == 0 || self.ids.is_empty() {
            return Ok(Vec::new());
        }
        let chunk_len = CHUNK_ROWS * self.dim;
        let mut hits: Vec<Hit> = if self.data.len() > PARALLEL_ABOVE {
            self.data
                .par_chunks(chunk_len)
                .enumerate()
                .flat_map_iter(|(c, rows)| self.top_of_chunk(c * CHUNK_ROWS, rows, query, k))
                .collect()
        } else {
            self.data
                .chunks(chunk_len)
                .enumerate()
                .flat_map(|(c, rows)| self.top_of_chunk(c * CHUNK_ROWS, rows, query, k))
                .collect()
        };
        keep_best(&mut hits, k);
        Ok(hits)
    }
}

/// A vector fit to store or query: the right length and finite values.
pub(crate) fn check_vector(dim: usize, vector: &[f32]) -> Result<()> {
    if vector.len() != dim {
        return Err(GalleryError::Dimension { expected: dim, got: vector.len() });
    }
    if !vector.iter().all(|x| x.is_finite()) {
        return Err(GalleryError::InvalidVector);
    }
    Ok(())
}

/// Most similar first; ties by id so results do not depend on chunking or thread timing.
pub(crate) fn rank(a: &Hit, b: &Hit) -> std::cmp::Ordering {
    b.similarity.total_cmp(&a.similarity).then(a.id.cmp(&b.id))
}

/// Leaves the best `k` hits in `hits`, sorted best first: O(n) selection, then a sort of k.
fn keep_best(hits: &mut Vec<Hit>, k: usize) {
    if hits.len() > k {
        hits.select_nth_unstable_by(k - 1, rank);
        hits.truncate(k);
    }
    hits.sort_unstable_by(rank);
}

/// Inner product with eight independent accumulators, a shape the compiler turns into SIMD
/// (a single running sum is a serial dependency chain it may not reorder for floats).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::l2_normalise;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};

    fn random_unit(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        l2_normalise(&mut v).expect("random vector is non-zero");
        v
    }

    /// Reference: score everything, sort everything.
    fn naive(rows: &[Vec<f32>], q: &[f32], k: usize) -> Vec<u64> {
        let mut all: Vec<Hit> =
            rows.iter().enumerate().map(|(i, r)| Hit { id: i as u64, similarity: dot(r, q) }).collect();
        all.sort_by(rank);
        all.into_iter().take(k).map(|h| h.id).collect()
    }

    #[test]
    fn finds_the_exact_neighbours_in_order() {
        // Hand-made 2-D unit vectors at 0°, 90°, 45°: query at 10° is closest to 0°, then 45°.
        let mut index = ExactIndex::new(2);
        let s = std::f32::consts::FRAC_1_SQRT_2;
        index.add(7, &[1.0, 0.0]).unwrap();
        index.add(8, &[0.0, 1.0]).unwrap();
        index.add(9, &[s, s]).unwrap();
        let (sin, cos) = 10f32.to_radians().sin_cos();
        let hits = index.search(&[cos, sin], 2).unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![7, 9]);
        // cos(10°) = 0.98481, cos(35°) = 0.81915
        assert!((hits[0].similarity - 0.984_807_7).abs() < 1e-6);
        assert!((hits[1].similarity - 0.819_152).abs() < 1e-6);
        assert_eq!(index.search(&[cos, sin], 10).unwrap().len(), 3);
        assert!(index.search(&[cos, sin], 0).unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_vectors_and_duplicate_ids() {
        let mut index = ExactIndex::new(3);
        assert!(matches!(index.add(1, &[1.0, 0.0]), Err(GalleryError::Dimension { expected: 3, got: 2 })));
        assert!(matches!(index.add(1, &[f32::NAN, 0.0, 0.0]), Err(GalleryError::InvalidVector)));
        index.add(1, &[1.0, 0.0, 0.0]).unwrap();
        assert!(matches!(index.add(1, &[0.0, 1.0, 0.0]), Err(GalleryError::DuplicateId(1))));
        assert!(index.search(&[1.0, 0.0], 1).is_err());
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn parallel_chunked_search_matches_naive_search() {
        // 3000 × 128 values = 384k > PARALLEL_ABOVE, and 3 chunks: exercises the rayon path.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let rows: Vec<Vec<f32>> = (0..3000).map(|_| random_unit(&mut rng, 128)).collect();
        let mut index = ExactIndex::new(128);
        for (i, r) in rows.iter().enumerate() {
            index.add(i as u64, r).unwrap();
        }
        assert!(index.data().len() > PARALLEL_ABOVE);
        for _ in 0..5 {
            let q = random_unit(&mut rng, 128);
            let got: Vec<u64> = index.search(&q, 10).unwrap().into_iter().map(|h| h.id).collect();
            assert_eq!(got, naive(&rows, &q, 10));
        }
    }

    #[test]
    fn dot_matches_a_plain_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
    }

    proptest! {
        #[test]
        fn search_returns_min_k_len_sorted_hits(n in 0usize..60, k in 0usize..20, seed in any::<u64>()) {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut index = ExactIndex::new(8);
            let rows: Vec<Vec<f32>> = (0..n).map(|_| random_unit(&mut rng, 8)).collect();
            for (i, r) in rows.iter().enumerate() {
                index.add(i as u64, r).unwrap();
            }
            let q = random_unit(&mut rng, 8);
            let hits = index.search(&q, k).unwrap();
            prop_assert_eq!(hits.len(), k.min(n));
            prop_assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
            prop_assert!(hits.iter().all(|h| (-1.0001..=1.0001).contains(&h.similarity)));
            prop_assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), naive(&rows, &q, k));
        }
    }
}
