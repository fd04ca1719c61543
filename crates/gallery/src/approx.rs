//! Approximate nearest-neighbour search over an HNSW graph (Malkov & Yashunin, 2016), from
//! USearch (`usearch` crate, Unum).
//!
//! Why USearch over the pure-Rust alternatives: it is the most actively released of them (several
//! releases a year, used by ClickHouse and DuckDB), it takes insertions after the build (a product
//! enrolled later is searchable at once; `instant-distance` builds once and is frozen), inserts
//! from many threads at once, and serialises to a single byte buffer we can wrap in our own
//! checksummed, atomically written file (`hnsw_rs` dumps two files whose reloaded index borrows its
//! loader).

use rayon::prelude::*;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::error::{GalleryError, Result};
use crate::exact::{ExactIndex, check_vector, rank};
use crate::index::{Hit, VectorIndex};

/// HNSW settings: M = 16, efConstruction = 128, ef = 128. On synthetic uniform 1280-d unit
/// vectors (a worst case: no clusters) recall@10 at 10k vectors is only 0.45 (random queries) to
/// 0.65 (noisy copies of stored vectors), see BENCHMARKS.md › Gallery; raise `expansion_search`
/// to trade latency for recall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswConfig {
    /// Edges per node (M).
    pub connectivity: usize,
    /// Candidate list size while inserting (efConstruction).
    pub expansion_add: usize,
    /// Candidate list size while searching (ef).
    pub expansion_search: usize,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig { connectivity: 16, expansion_add: 128, expansion_search: 128 }
    }
}

/// HNSW index over L2-normalised f32 vectors, ranked by inner product.
pub struct HnswIndex {
    index: Index,
    dim: usize,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex").field("dim", &self.dim).field("len", &self.index.size()).finish()
    }
}

fn backend(e: impl std::fmt::Display) -> GalleryError {
    GalleryError::Backend(format!("usearch: {e}"))
}

impl HnswIndex {
    pub fn new(dim: usize, config: HnswConfig) -> Result<HnswIndex> {
        let options = IndexOptions {
            dimensions: dim,
            metric: MetricKind::IP,
            // Full precision: the gallery's vectors are f32 and recall is what we measure against.
            quantization: ScalarKind::F32,
            connectivity: config.connectivity,
            expansion_add: config.expansion_add,
            expansion_search: config.expansion_search,
            multi: false,
        };
        Ok(HnswIndex { index: Index::new(&options).map_err(backend)?, dim })
    }

    /// Builds the graph over every row of `exact`, inserting from all rayon threads.
    pub fn from_exact(exact: &ExactIndex, config: HnswConfig) -> Result<HnswIndex> {
        let hnsw = HnswIndex::new(exact.dim(), config)?;
        let threads = rayon::current_num_threads();
        hnsw.index.reserve_capacity_and_threads(exact.len(), threads).map_err(backend)?;
        let started = std::time::Instant::now();
        exact
            .ids()
            .par_iter()
            .zip(exact.data().par_chunks_exact(exact.dim()))
            .try_for_each(|(&id, row)| hnsw.index.add(id, row).map_err(backend))?;
        tracing::info!(len = exact.len(), secs = started.elapsed().as_secs_f32(), "built HNSW index");
        Ok(hnsw)
    }

    /// The graph and vectors as one byte buffer (USearch's own serialisation).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.index.serialized_length()];
        self.index.save_to_buffer(&mut buf).map_err(backend)?;
        Ok(buf)
    }

    /// Reads [`HnswIndex::to_bytes`] output. Only hand it bytes this crate wrote and checksummed:
    /// USearch trusts its buffer.
    pub fn from_bytes(dim: usize, config: HnswConfig, bytes: &[u8]) -> Result<HnswIndex> {
        let hnsw = HnswIndex::new(dim, config)?;
        hnsw.index.load_from_buffer(bytes).map_err(backend)?;
        if hnsw.index.dimensions() != dim {
            return Err(backend(format!("stored index has {} dimensions, expected {dim}", hnsw.index.dimensions())));
        }
        Ok(hnsw)
    }

    /// Bytes of memory the index holds (graph and vector copies).
    pub fn memory_usage(&self) -> usize {
        self.index.memory_usage()
    }
}

impl VectorIndex for HnswIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.index.size()
    }

    fn add(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        check_vector(self.dim, vector)?;
        if self.index.contains(id) {
            return Err(GalleryError::DuplicateId(id));
        }
        // USearch refuses inserts beyond its reserved capacity; grow geometrically.
        if self.index.size() >= self.index.capacity() {
            let capacity = (self.index.capacity() * 2).max(64);
            self.index.reserve(capacity).map_err(backend)?;
        }
        self.index.add(id, vector).map_err(backend)
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        check_vector(self.dim, query)?;
        if k == 0 || self.index.size() == 0 {
            return Ok(Vec::new());
        }
        let found = self.index.search(query, k).map_err(backend)?;
        // USearch's inner-product "distance" is 1 - dot.
        let mut hits: Vec<Hit> =
            found.keys.iter().zip(&found.distances).map(|(&id, &d)| Hit { id, similarity: 1.0 - d }).collect();
        hits.sort_by(rank);
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::l2_normalise;
    use rand::{Rng, SeedableRng};

    fn random_unit(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        l2_normalise(&mut v).expect("random vector is non-zero");
        v
    }

    #[test]
    fn recall_against_exact_search_is_high() {
        // 2000 random 64-d unit vectors: HNSW with ef = 128 should find nearly all true top-10s.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut exact = ExactIndex::new(64);
        for i in 0..2000u64 {
            exact.add(i, &random_unit(&mut rng, 64)).unwrap();
        }
        let hnsw = HnswIndex::from_exact(&exact, HnswConfig::default()).unwrap();
        assert_eq!(hnsw.len(), 2000);
        let (mut found, mut total) = (0, 0);
        for _ in 0..50 {
            let q = random_unit(&mut rng, 64);
            let truth: Vec<u64> = exact.search(&q, 10).unwrap().into_iter().map(|h| h.id).collect();
            let got = hnsw.search(&q, 10).unwrap();
            assert!(got.windows(2).all(|w| w[0].similarity >= w[1].similarity));
            found += got.iter().filter(|h| truth.contains(&h.id)).count();
            total += truth.len();
        }
        let recall = found as f64 / total as f64;
        assert!(recall >= 0.9, "recall@10 = {recall}");
    }

    #[test]
    fn similarity_is_the_inner_product_and_inserts_grow_the_index() {
        let mut hnsw = HnswIndex::new(2, HnswConfig::default()).unwrap();
        for i in 0..100u64 {
            let (s, c) = (i as f32 * 0.01).sin_cos();
            hnsw.add(i, &[c, s]).unwrap();
        }
        assert!(matches!(hnsw.add(3, &[1.0, 0.0]), Err(GalleryError::DuplicateId(3))));
        let hits = hnsw.search(&[1.0, 0.0], 1).unwrap();
        assert_eq!(hits[0].id, 0);
        assert!((hits[0].similarity - 1.0).abs() < 1e-5);
        assert!(hnsw.search(&[1.0], 1).is_err());
    }
}
