//! Photos → gallery embeddings: the L2-normalised pooled features of the run's
//! [`Predictor`] (its own tuned backbone for bottleneck and finetune runs, the pretrained one
//! otherwise; the run's manifest says which). The identifier is handed the same features in
//! `Scores`, so every run type can embed and a gallery always matches what is searched.
//!
//! Each embedder carries the predictor's embedding id, a digest of the graph that embeds, so a
//! gallery is never searched with vectors from a different network.

use std::path::{Path, PathBuf};

use image::RgbImage;
use sha2::{Digest, Sha256};
use sneaker_model::assets::Assets;
use sneaker_model::predictor::Predictor;
use sneaker_vision::{DecodeLimits, INPUT_SIZE, decode_bytes_for_input, to_input_tensor};

use crate::error::{GalleryError, Result};
use crate::index::l2_normalise;

/// Turns decoded photos into unit-length embeddings.
pub struct Embedder {
    predictor: Predictor,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("model_id", &self.model_id()).finish()
    }
}

impl Embedder {
    /// Embeds with `predictor`'s features.
    pub fn new(predictor: Predictor) -> Embedder {
        Embedder { predictor }
    }

    /// The pretrained ImageNet EfficientNet-Lite0 backbone.
    pub fn pretrained(assets: &Assets) -> Result<Embedder> {
        Ok(Embedder::new(Predictor::pretrained(assets)?))
    }

    /// A trained run folder's embedding (see the module comment).
    pub fn from_run(assets: &Assets, run_dir: &Path) -> Result<Embedder> {
        Ok(Embedder::new(Predictor::open(assets, Some(run_dir))?))
    }

    /// Names the network; stored in the gallery and compared on load.
    pub fn model_id(&self) -> &str {
        self.predictor.embedding_id()
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.predictor.embedding_dim()
    }

    /// Embeds CHW tensors made by `sneaker_vision::to_input_tensor`, one unit vector per tensor.
    pub fn embed_tensors(&mut self, tensors: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let features = self.predictor.embed_tensors(tensors)?;
        features
            .rows()
            .into_iter()
            .map(|row| {
                let mut v = row.to_vec();
                l2_normalise(&mut v)?;
                Ok(v)
            })
            .collect()
    }

    /// Embeds one decoded photo.
    pub fn embed_image(&mut self, image: &RgbImage) -> Result<Vec<f32>> {
        let mut out = self.embed_tensors(&[to_input_tensor(image)])?;
        Ok(out.pop().expect("one tensor in, one embedding out"))
    }
}

/// A photo's bytes (size-checked before reading), their SHA-256 and the decoded image.
pub fn read_photo(path: &Path, limits: &DecodeLimits) -> Result<(String, RgbImage)> {
    let (sha, bytes) = read_bytes(path, limits)?;
    let image = decode_bytes_for_input(&bytes, &path.display().to_string(), limits, INPUT_SIZE)?;
    Ok((sha, image))
}

/// A photo's SHA-256 and bytes, refused before reading when the file is over the byte limit.
pub fn read_bytes(path: &Path, limits: &DecodeLimits) -> Result<(String, Vec<u8>)> {
    let io = |source| GalleryError::Io { path: path.to_owned(), source };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > limits.max_bytes as u64 {
        // A huge file must not be pulled into memory to be hashed.
        return Err(sneaker_vision::VisionError::TooLarge {
            name: path.display().to_string(),
            detail: format!("the file is {len} bytes, more than the {} byte limit", limits.max_bytes),
        }
        .into());
    }
    let bytes = std::fs::read(path).map_err(io)?;
    Ok((hex::encode(Sha256::digest(&bytes)), bytes))
}

/// The folder a run keeps its gallery in.
pub fn run_gallery_dir(run_dir: &Path) -> PathBuf {
    run_dir.join(crate::store::GALLERY_DIR)
}
