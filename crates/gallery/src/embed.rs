//! Photos → gallery embeddings: the L2-normalised 1280-d pooled `features` of EfficientNet-Lite0,
//! from a trained run's `model.onnx` when its graph has a `features` output (bottleneck and
//! finetune runs: the run's own backbone), else from the pretrained backbone (the scratch CNN and
//! the random baseline have none). `sneaker_model::Classifier` hands the identifier the same
//! features, so every run type can embed and a gallery always matches what is searched.
//!
//! Each embedder is named by a model id that includes a digest of its graph file, so a gallery
//! is never searched with vectors from a different network.

use std::io::Read;
use std::path::{Path, PathBuf};

use image::RgbImage;
use ndarray::ArrayView4;
use sha2::{Digest, Sha256};
use sneaker_model::ModelError;
use sneaker_model::assets::Assets;
use sneaker_model::classifier::RUN_MODEL;
use sneaker_model::efficientnet_lite::{FEATURE_DIM, FEATURES, INPUT_SIZE};
use sneaker_model::runtime::{Backbone, Runtime, Session};
use sneaker_vision::{DecodeLimits, decode_bytes, to_input_tensor};

use crate::error::{GalleryError, Result};
use crate::index::l2_normalise;

enum Network {
    Pretrained(Backbone),
    Run(Session),
}

/// Turns decoded photos into unit-length embeddings.
pub struct Embedder {
    network: Network,
    model_id: String,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("model_id", &self.model_id).finish()
    }
}

/// First 16 hex digits of a file's SHA-256: enough to tell graphs apart, short enough to read.
fn file_digest(path: &Path) -> Result<String> {
    let io = |source| GalleryError::Io { path: path.to_owned(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(&hasher.finalize()[..8]))
}

impl Embedder {
    /// The pretrained ImageNet EfficientNet-Lite0 backbone.
    pub fn pretrained(assets: &Assets) -> Result<Embedder> {
        let backbone = Backbone::load(assets)?;
        let model_id = model_id(assets, None)?;
        Ok(Embedder { network: Network::Pretrained(backbone), model_id })
    }

    /// A trained run folder's embedding: its graph's `features` output, or the pretrained
    /// backbone's for a run whose graph has none (see the module comment).
    pub fn from_run(assets: &Assets, run_dir: &Path) -> Result<Embedder> {
        match run_session(assets, run_dir)? {
            Some(session) => {
                let model_id = format!("run-model@{}", file_digest(&run_dir.join(RUN_MODEL))?);
                Ok(Embedder { network: Network::Run(session), model_id })
            }
            None => {
                tracing::info!(run = %run_dir.display(), "the run's graph has no `{FEATURES}` output: embedding with the pretrained backbone");
                Embedder::pretrained(assets)
            }
        }
    }

    /// Names the network; stored in the gallery and compared on load.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        FEATURE_DIM
    }

    /// Embeds CHW tensors made by `sneaker_vision::to_input_tensor`, one unit vector per tensor.
    pub fn embed_tensors(&mut self, tensors: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        if tensors.is_empty() {
            return Ok(Vec::new());
        }
        let len = 3 * INPUT_SIZE * INPUT_SIZE;
        if let Some(bad) = tensors.iter().find(|t| t.len() != len) {
            return Err(ModelError::Input(format!("an input tensor has {} values, expected {len}", bad.len())).into());
        }
        let flat: Vec<f32> = tensors.concat();
        let batch = ArrayView4::from_shape((tensors.len(), 3, INPUT_SIZE, INPUT_SIZE), &flat)
            .map_err(|e| ModelError::Input(e.to_string()))?;
        // [N, 1280]
        let features = match &mut self.network {
            Network::Pretrained(backbone) => backbone.run(batch)?.features,
            Network::Run(session) => session.run(batch)?.take2(FEATURES)?,
        };
        if features.ncols() != FEATURE_DIM {
            return Err(ModelError::Mismatch(format!(
                "`{FEATURES}` has {} columns, expected {FEATURE_DIM}",
                features.ncols()
            ))
            .into());
        }
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
    let image = decode_bytes(&bytes, &path.display().to_string(), limits)?;
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

/// The id [`Embedder`] would carry for the pretrained backbone (`run_dir` `None`) or a run: what
/// a gallery is checked against when opened for search. A run's graph is opened (not run) to see
/// whether it embeds with its own features.
pub fn model_id(assets: &Assets, run_dir: Option<&Path>) -> Result<String> {
    Ok(match run_dir {
        Some(dir) if run_session(assets, dir)?.is_some() => format!("run-model@{}", file_digest(&dir.join(RUN_MODEL))?),
        _ => format!("efficientnet-lite0-imagenet@{}", file_digest(&assets.backbone_onnx()?)?),
    })
}

/// The run's graph, when it has a `features` output to embed with.
fn run_session(assets: &Assets, run_dir: &Path) -> Result<Option<Session>> {
    let session = Session::from_file(&Runtime::from_assets(assets)?, &run_dir.join(RUN_MODEL))?;
    Ok(session.output_names().iter().any(|n| n == FEATURES).then_some(session))
}

/// The folder a run keeps its gallery in.
pub fn run_gallery_dir(run_dir: &Path) -> PathBuf {
    run_dir.join(crate::store::GALLERY_DIR)
}
