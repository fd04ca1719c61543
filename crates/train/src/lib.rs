//! Training and evaluation of sneaker classifiers: the `random` baseline, the from-scratch CNN,
//! `bottleneck` transfer learning on cached EfficientNet-Lite0 features and `finetune`; and the
//! whole best pipeline ([bottleneck →] finetune → calibrate) into one run folder ([`stages`]).
//!
//! Training runs on burn's Flex CPU backend; every trained model is written as one ONNX graph
//! (`RUN/model.onnx`, input `input` → output `probs`) so serving and evaluation only need
//! ONNX Runtime.

mod arch;
mod augment;
mod average;
mod background;
mod bottleneck;
pub mod calibration;
#[cfg(test)]
mod compat;
pub mod config;
mod dataset;
pub mod depthwise;
pub mod embed_head;
mod embedding;
mod error;
pub mod evaluate;
pub mod export;
pub mod features;
mod finetune;
pub mod fit;
pub mod head;
mod head_warmup;
mod metrics;
pub mod onnx_backbone;
mod phone;
mod pipeline;
pub mod plan;
mod plot;
pub mod preset;
mod random;
mod recipe;
pub mod report;
pub mod run;
mod scenes;
pub mod scratch;
mod split;
pub mod stages;
pub mod tail;
mod temperature;
pub mod train;

pub use augment::Augmenter;
pub use config::{AugmentConfig, ModelKind, TrainConfig};
pub use dataset::{Dataset, Sample, Skipped};
pub use error::{Result, TrainError};
