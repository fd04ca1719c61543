//! Layer-level pieces shared by the networks: checked weight lookup, BatchNorm folded into the
//! preceding convolution, and a conv+BN block with TF "SAME" padding.

use super::builder::GraphBuilder;
use super::ops::{Window, same_padding};
use crate::error::{ModelError, Result};
use crate::tensor::StateDict;

/// The f32 values of `name`, after checking it exists with exactly `shape`.
pub fn weight(dict: &StateDict, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let t = dict.get(name).ok_or_else(|| ModelError::Mismatch(format!("missing tensor {name}")))?;
    if t.shape != shape {
        return Err(ModelError::Mismatch(format!("{name} has shape {:?}, the network needs {shape:?}", t.shape)));
    }
    t.to_f32()
        .filter(|v| v.len() == t.numel())
        .ok_or_else(|| ModelError::Mismatch(format!("{name} is not a float32 tensor")))
}

/// Inference-time BatchNorm parameters of one layer, each `[channels]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

impl BatchNorm {
    /// Reads `{prefix}.weight`, `.bias`, `.running_mean`, `.running_var` (PyTorch names).
    pub fn from_dict(dict: &StateDict, prefix: &str, channels: usize) -> Result<BatchNorm> {
        let get = |field: &str| weight(dict, &format!("{prefix}.{field}"), &[channels]);
        Ok(BatchNorm {
            gamma: get("weight")?,
            beta: get("bias")?,
            mean: get("running_mean")?,
            var: get("running_var")?,
        })
    }
}

/// Folds BatchNorm into the convolution before it, so the graph has one Conv instead of Conv+BN:
/// `w' = w·γ/√(σ²+ε)` per output channel, `b' = β - μ·γ/√(σ²+ε)`.
///
/// `w` is `[out, ...]` row-major; returns `(w', b')`. Done in f64 so folding adds no error of its own.
pub fn fold_batch_norm(w: &[f32], bn: &BatchNorm, eps: f32) -> (Vec<f32>, Vec<f32>) {
    let out = bn.gamma.len();
    let per = w.len() / out.max(1);
    let mut folded = Vec::with_capacity(w.len());
    let mut bias = Vec::with_capacity(out);
    for c in 0..out {
        let scale = f64::from(bn.gamma[c]) / (f64::from(bn.var[c]) + f64::from(eps)).sqrt();
        folded.extend(w[c * per..(c + 1) * per].iter().map(|&v| (f64::from(v) * scale) as f32));
        bias.push((f64::from(bn.beta[c]) - f64::from(bn.mean[c]) * scale) as f32);
    }
    (folded, bias)
}

/// A bias-free convolution followed by BatchNorm, as stored in a state dict.
#[derive(Debug, Clone, Copy)]
pub struct ConvBn<'a> {
    /// Prefix of the conv weight, e.g. `_blocks.3._depthwise_conv` (reads `{conv}.weight`).
    pub conv: &'a str,
    /// Prefix of the BatchNorm tensors, e.g. `_blocks.3._bn1`.
    pub bn: &'a str,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    /// 1 for a full conv, `in_channels` for depthwise.
    pub group: usize,
    pub eps: f32,
}

impl ConvBn<'_> {
    /// Appends the folded conv with TF "SAME" padding for a square `in_size` input; returns the
    /// output value and its spatial size. The folded tensors are named `{conv}.weight` / `{conv}.bias`.
    pub fn build(&self, g: &mut GraphBuilder, dict: &StateDict, x: &str, in_size: usize) -> Result<(String, usize)> {
        let shape = [self.out_channels, self.in_channels / self.group, self.kernel, self.kernel];
        let w = weight(dict, &format!("{}.weight", self.conv), &shape)?;
        let bn = BatchNorm::from_dict(dict, self.bn, self.out_channels)?;
        let (w, b) = fold_batch_norm(&w, &bn, self.eps);
        let w = g.initializer(&format!("{}.weight", self.conv), &shape, &w)?;
        let b = g.initializer(&format!("{}.bias", self.conv), &[self.out_channels], &b)?;
        let (begin, end, out) = same_padding(in_size, self.kernel, self.stride);
        let win = Window { kernel: [self.kernel; 2], strides: [self.stride; 2], pads: [begin, begin, end, end] };
        Ok((g.conv(x, &w, Some(&b), win, self.group), out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    #[test]
    fn fold_matches_conv_then_batch_norm() {
        // A 1x1 conv on a single pixel x = 2 with two output channels w = [0.5, -1]:
        // conv gives [1, -2]; BN(y) = γ(y-μ)/√(σ²+ε) + β with γ=[2,1], β=[0.1,0], μ=[0.5,1], σ²=[3,0.25], ε=1:
        // channel 0: 2·(1-0.5)/2 + 0.1 = 0.6; channel 1: 1·(-2-1)/√1.25 = -2.683281...
        let bn = BatchNorm { gamma: vec![2.0, 1.0], beta: vec![0.1, 0.0], mean: vec![0.5, 1.0], var: vec![3.0, 0.25] };
        let (w, b) = fold_batch_norm(&[0.5, -1.0], &bn, 1.0);
        let y: Vec<f32> = w.iter().zip(&b).map(|(w, b)| w * 2.0 + b).collect();
        assert!((y[0] - 0.6).abs() < 1e-6, "{y:?}");
        assert!((y[1] + 2.683_281_5).abs() < 1e-6, "{y:?}");
    }

    #[test]
    fn weight_names_the_problem() {
        let mut dict = StateDict::new();
        dict.insert("a".into(), Tensor::from_f32(vec![2, 2], &[0.0; 4]));
        assert!(weight(&dict, "a", &[2, 2]).is_ok());
        let wrong = weight(&dict, "a", &[4]).unwrap_err().to_string();
        assert!(wrong.contains("a has shape [2, 2]") && wrong.contains("[4]"), "{wrong}");
        let missing = weight(&dict, "b", &[4]).unwrap_err().to_string();
        assert!(missing.contains("missing tensor b"), "{missing}");
    }
}
