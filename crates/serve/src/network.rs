//! The real network behind the server: `sneaker_model`'s classifier (the pretrained
//! EfficientNet-Lite0 alone, or a trained run folder with the footwear check from the pretrained
//! head), plus what the page and `GET /api/v1/model` say about it.
//!
//! From a run folder (as `sneaker-id train` writes it) the server reads `model.onnx` and
//! `labels.json` through `sneaker_model`, and `config.json` / `summary.json` when present for
//! `run_id`, `created` (RFC 3339) and `data` (the catalog whose `products.csv` describes the
//! labels). Missing facts fall back to the folder name and `model.onnx`'s modification time.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sneaker_model::assets::Assets;
use sneaker_model::classifier::{Classifier as ModelClassifier, RUN_MODEL};
use sneaker_model::run_layout;
use sneaker_vision::INPUT_SIZE;

use crate::classifier::{Classifier, ModelInfo, ModelKind, Scores};
use crate::error::{Result, ServeError};

const BACKBONE_NAME: &str = "EfficientNet-Lite0 (ImageNet)";

/// The fields of `config.json` / `summary.json` the server uses; others are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RunFacts {
    run_id: Option<String>,
    created: Option<String>,
    data: Option<PathBuf>,
}

fn read_facts(path: &Path) -> Result<RunFacts> {
    if !path.is_file() {
        return Ok(RunFacts::default());
    }
    let bytes = std::fs::read(path).map_err(|e| ServeError::Setup(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| ServeError::Setup(format!("{}: {e}", path.display())))
}

/// The network the server runs, with its description.
pub struct Network {
    inner: ModelClassifier,
    info: ModelInfo,
    catalog: Option<PathBuf>,
}

impl Network {
    /// The pretrained network alone: labels are the 1000 ImageNet class names.
    pub fn pretrained(assets: &Assets) -> Result<Network> {
        let inner = ModelClassifier::pretrained(assets).map_err(|e| ServeError::Setup(e.to_string()))?;
        let info = ModelInfo {
            kind: ModelKind::Imagenet,
            name: BACKBONE_NAME.to_owned(),
            labels: inner.labels().to_vec(),
            input_size: INPUT_SIZE,
            run_id: None,
            created: None,
        };
        Ok(Network { inner, info, catalog: None })
    }

    /// A trained run folder.
    pub fn from_run(assets: &Assets, dir: &Path) -> Result<Network> {
        let inner = ModelClassifier::from_run(assets, dir)
            .map_err(|e| ServeError::Setup(format!("run {}: {e}", dir.display())))?;
        let config = read_facts(&dir.join(run_layout::CONFIG))?;
        let summary = read_facts(&dir.join(run_layout::SUMMARY))?;
        let run_id = config
            .run_id
            .or(summary.run_id)
            .or_else(|| dir.canonicalize().ok()?.file_name().map(|n| n.to_string_lossy().into_owned()));
        let created = config.created.or(summary.created).or_else(|| {
            let modified = std::fs::metadata(dir.join(RUN_MODEL)).ok()?.modified().ok()?;
            Some(humantime::format_rfc3339_seconds(modified).to_string())
        });
        let labels = inner.labels().to_vec();
        let info = ModelInfo {
            kind: ModelKind::Trained,
            name: format!("{BACKBONE_NAME} + trained head ({} sneaker models)", labels.len()),
            labels,
            input_size: INPUT_SIZE,
            run_id,
            created,
        };
        let catalog = summary.data.or(config.data).map(|c| if c.is_absolute() { c } else { dir.join(c) });
        Ok(Network { inner, info, catalog })
    }

    /// The catalog the run was trained on, as its `summary.json` names it.
    pub fn catalog(&self) -> Option<&Path> {
        self.catalog.as_deref()
    }
}

impl Classifier for Network {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn classify(&mut self, batch: &[Vec<f32>]) -> Result<Vec<Scores>> {
        self.inner.classify_tensors(batch).map_err(|e| ServeError::Internal(e.to_string()))
    }
}
