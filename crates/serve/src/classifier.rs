//! What the server needs from a network: a batch of input tensors in, per-image class
//! probabilities and a footwear probability out. The HTTP layer, the batching queue and the
//! tests are written against this trait; `crate::network` implements it with ONNX Runtime.

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// What the network says about one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// Probability of each of the model's labels ([`ModelInfo::labels`]), summing to about 1.
    pub probs: Vec<f32>,
    /// Probability that the photo shows footwear at all: the sum of the ImageNet footwear
    /// classes' probabilities from the pretrained network.
    pub footwear: f32,
}

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

/// Indices of the `k` highest probabilities, highest first. NaNs sort last.
pub fn top_k(probs: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (probs[a], probs[b]);
        pb.partial_cmp(&pa).unwrap_or_else(|| pa.is_nan().cmp(&pb.is_nan()))
    });
    order.truncate(k);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_highest_first_and_truncates() {
        assert_eq!(top_k(&[0.1, 0.5, 0.2, 0.2], 3), vec![1, 2, 3]);
        assert_eq!(top_k(&[0.1, 0.5], 5), vec![1, 0]);
        assert_eq!(top_k(&[], 5), Vec::<usize>::new());
    }

    #[test]
    fn top_k_puts_nan_last() {
        assert_eq!(top_k(&[f32::NAN, 0.3, 0.7], 3), vec![2, 1, 0]);
    }
}
