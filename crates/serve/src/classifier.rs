//! What the server needs from a network: a batch of input tensors in, per-image class
//! probabilities and a footwear probability out. The HTTP layer, the batching queue and the
//! tests are written against this trait; `crate::network` implements it with ONNX Runtime.

use serde::{Deserialize, Serialize};

use crate::error::Result;

pub use sneaker_model::predictor::{Scores, top_k};

/// Which kind of model is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// The pretrained ImageNet network alone: labels are the 1000 ImageNet classes.
    Imagenet,
    /// A trained run (`--model RUN`): labels are sneaker models.
    Trained,
}

/// Describes the model for `GET /api/v1/model` and the page.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub kind: ModelKind,
    /// Short name shown on the page, e.g. "EfficientNet-Lite0 (ImageNet)".
    pub name: String,
    /// Class names, in the order of [`Scores::probs`].
    pub labels: Vec<String>,
    /// Side of the square input, in pixels.
    pub input_size: u32,
    /// The run's id (its folder name unless `config.json` says otherwise); `None` untrained.
    pub run_id: Option<String>,
    /// When the run was created (RFC 3339), if known.
    pub created: Option<String>,
}

/// A network the server can run. Lives on the inference thread, hence `Send` and `&mut self`.
pub trait Classifier: Send + 'static {
    /// Labels, run id and the like. Must not change after construction.
    fn info(&self) -> &ModelInfo;

    /// Classifies a batch of `[3, INPUT_SIZE, INPUT_SIZE]` CHW tensors (as made by
    /// `sneaker_vision::to_input_tensor`). Returns one [`Scores`] per input, in order.
    fn classify(&mut self, batch: &[Vec<f32>]) -> Result<Vec<Scores>>;
}
