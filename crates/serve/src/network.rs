//! The real network behind the server: `sneaker_model`'s [`Predictor`] (the pretrained
//! EfficientNet-Lite0 alone, or a trained run with the footwear check from the pretrained head),
//! plus what the page and `GET /api/v1/model` say about it, read from the run's manifest.

use std::path::PathBuf;

use sneaker_model::predictor::{Predictor, PredictorKind};
use sneaker_vision::INPUT_SIZE;

use crate::classifier::{Classifier, ModelInfo, ModelKind, Scores};
use crate::error::{Result, ServeError};

const BACKBONE_NAME: &str = "EfficientNet-Lite0 (ImageNet)";

/// The network the server runs, with its description.
pub struct Network {
    inner: Predictor,
    info: ModelInfo,
}

impl Network {
    /// Serves `predictor`: labels are the 1000 ImageNet class names for the pretrained network,
    /// the run's sneaker models otherwise.
    pub fn new(predictor: Predictor) -> Network {
        let labels = predictor.labels().to_vec();
        let run = predictor.run();
        let info = ModelInfo {
            kind: match predictor.kind() {
                PredictorKind::Imagenet => ModelKind::Imagenet,
                PredictorKind::Trained => ModelKind::Trained,
            },
            name: match run {
                None => BACKBONE_NAME.to_owned(),
                Some(_) => format!("{BACKBONE_NAME} + trained head ({} sneaker models)", labels.len()),
            },
            labels,
            input_size: INPUT_SIZE,
            run_id: run.map(|r| r.manifest().run_id.clone()),
            created: run.map(|r| r.manifest().created.clone()).filter(|c| !c.is_empty()),
        };
        Network { inner: predictor, info }
    }

    /// The catalog the run was trained on, as its manifest names it.
    pub fn catalog(&self) -> Option<PathBuf> {
        self.inner.run().and_then(|r| r.catalog())
    }
}

impl Classifier for Network {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn classify(&mut self, batch: &[Vec<f32>]) -> Result<Vec<Scores>> {
        self.inner.scores_of_tensors(batch).map_err(|e| ServeError::Internal(e.to_string()))
    }
}
