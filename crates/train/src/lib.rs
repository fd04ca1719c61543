//! Training and evaluation of sneaker classifiers: the `random` baseline, the from-scratch CNN,
//! `bottleneck` transfer learning on cached EfficientNet-Lite0 features and `finetune`.
//!
//! Training runs on burn's Flex CPU backend; every trained model is written as one ONNX graph
//! (`RUN/model.onnx`, input `input` → output `probs`) so serving and evaluation only need
//! ONNX Runtime.

mod arch;
pub mod augment;
pub mod background;
pub mod bottleneck;
#[cfg(test)]
mod compat;
pub mod config;
pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod export;
pub mod features;
pub mod finetune;
pub mod fit;
pub mod head;
pub mod metrics;
pub mod onnx_backbone;
mod pipeline;
pub mod plot;
pub mod random;
pub mod report;
pub mod run;
pub mod scratch;
mod split;
pub mod tail;
pub mod train;

pub use config::{AugmentConfig, ModelKind, TrainConfig};
pub use dataset::{Dataset, Sample, Skipped};
pub use error::{Result, TrainError};
