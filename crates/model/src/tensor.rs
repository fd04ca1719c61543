//! A named set of tensors as read from a weight file: the common currency between the torch reader,
//! safetensors files and the graph writer.

use std::collections::BTreeMap;

/// Element type of a stored tensor. Only what the weight files we read actually contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    I64,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::I64 => 8,
        }
    }
}

/// One tensor: element type, shape (row-major, PyTorch order) and little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl Tensor {
    pub fn from_f32(shape: Vec<usize>, values: &[f32]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor { dtype: DType::F32, shape, data }
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values as f32; `None` for a non-f32 tensor.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        (self.dtype == DType::F32)
            .then(|| self.data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }
}

/// Tensors by their PyTorch state-dict name, e.g. `_blocks.3._depthwise_conv.weight`.
pub type StateDict = BTreeMap<String, Tensor>;
