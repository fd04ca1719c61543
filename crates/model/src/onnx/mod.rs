//! Writing ONNX graphs from Rust: a generic builder, operator shorthands, shared layers and the
//! small from-scratch CNN. The EfficientNet-Lite0 graph lives in [`crate::efficientnet_lite`].

pub mod builder;
pub mod layers;
pub mod ops;
pub mod small_cnn;

pub use builder::{Attr, BATCH, Dim, GraphBuilder, IR_VERSION, OPSET, encode};
pub use layers::{BatchNorm, ConvBn, fold_batch_norm, weight};
pub use ops::{Window, same_padding, window_output};
pub use small_cnn::{SmallCnn, SmallCnnSpec};
