//! The networks of sneaker-id.
//!
//! Weights are read from PyTorch's legacy format once, kept as safetensors, and turned into ONNX
//! graphs that ONNX Runtime executes: serving and feature extraction never need Python.

pub mod assets;
pub mod colourway;
pub mod efficientnet_lite;
pub mod error;
pub mod imagenet;
pub mod localise;
pub mod onnx;
pub mod predictor;
pub mod run;
pub mod run_layout;
pub mod runtime;
pub mod safetensors_io;
pub mod tensor;
pub mod torch_legacy;

/// prost types generated from the ONNX schema.
#[allow(clippy::doc_overindented_list_items)] // doc comments copied verbatim from onnx.proto
pub mod onnx_proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use error::{ModelError, Result};
pub use tensor::{DType, StateDict, Tensor};
