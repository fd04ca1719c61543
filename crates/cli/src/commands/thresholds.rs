//! The threshold flags `predict` and `serve` share: each one given replaces the calibrated value.

use sneaker_identify::ThresholdOverrides;

/// Thresholds that replace the calibrated ones (the run's `open_set.json`, else the defaults);
/// `predict` and `serve` take the same flags.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct ThresholdFlags {
    /// Below this ImageNet footwear probability the answer is "not a sneaker" [default: the
    /// calibrated one, else 0.003].
    #[arg(long, env = "SNEAKER_ID_FOOTWEAR_THRESHOLD", value_name = "P")]
    pub footwear_threshold: Option<f32>,
    /// Below this top probability the answer is "not sure" [default: the calibrated one, else 0.3].
    #[arg(long, env = "SNEAKER_ID_CONFIDENCE_THRESHOLD", value_name = "P")]
    pub confidence_threshold: Option<f32>,
    /// Below this best gallery similarity (cosine) the answer is "not sure" [default: the
    /// calibrated one, else none].
    #[arg(long, env = "SNEAKER_ID_SIMILARITY_THRESHOLD", value_name = "COS")]
    pub similarity_threshold: Option<f32>,
}

impl ThresholdFlags {
    pub fn overrides(&self) -> ThresholdOverrides {
        ThresholdOverrides {
            footwear: self.footwear_threshold,
            confidence: self.confidence_threshold,
            similarity: self.similarity_threshold,
        }
    }
}
