//! The storage/search seam every gallery backend implements, and the normalisation all of them assume.

use crate::error::{GalleryError, Result};

/// One neighbour: the id given at [`VectorIndex::add`] and its cosine similarity to the query
/// (in [-1, 1]; vectors are L2-normalised, so this is their dot product).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: u64,
    pub similarity: f32,
}

/// Where gallery embeddings live and how they are searched. Vectors handed in are already
/// L2-normalised ([`l2_normalise`]), so every backend ranks by inner product = cosine similarity.
/// Metadata (label, product, source photo) is kept by the caller under the same `id`.
pub trait VectorIndex: Send {
    /// Embedding width every vector must have.
    fn dim(&self) -> usize;
    /// Number of vectors stored.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Store one vector under `id` (ids are unique; adding an existing id is an error).
    fn add(&mut self, id: u64, vector: &[f32]) -> Result<()>;
    /// The `k` most similar stored vectors, most similar first.
    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>>;
}

/// Scale `v` to unit length in place; rejects non-finite or all-zero vectors, which have no
/// direction and would rank arbitrarily.
pub fn l2_normalise(v: &mut [f32]) -> Result<()> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return Err(GalleryError::InvalidVector);
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_vectors_have_unit_length() {
        let mut v = vec![3.0, 4.0];
        l2_normalise(&mut v).unwrap();
        assert_eq!(v, vec![0.6, 0.8]);
    }

    #[test]
    fn zero_and_nan_vectors_are_rejected() {
        assert!(l2_normalise(&mut [0.0, 0.0]).is_err());
        assert!(l2_normalise(&mut [f32::NAN, 1.0]).is_err());
    }
}
