//! A small plain CNN, the from-scratch baseline: `[Conv 3x3 valid → ReLU → MaxPool]×L → Flatten →
//! [Linear → ReLU]×(M-1) → Linear`, with logits and softmax probabilities as outputs.
//!
//! Weight names (PyTorch-style, so a dict saved by any trainer fits): `convs.{i}.weight`
//! `[out, in, k, k]`, `convs.{i}.bias`, `fcs.{j}.weight` `[out, in]`, `fcs.{j}.bias`.

use super::builder::{BATCH, Dim, GraphBuilder};
use super::layers::weight;
use super::ops::{Window, window_output};
use crate::error::{ModelError, Result};
use crate::onnx_proto::ModelProto;
use crate::tensor::StateDict;

/// Shape of a [`SmallCnn`]; everything else follows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmallCnnSpec {
    /// Square input side in pixels.
    pub input_size: usize,
    pub in_channels: usize,
    /// Output channels of each conv layer.
    pub conv_channels: Vec<usize>,
    /// Conv kernel side (3 for the usual baseline).
    pub kernel: usize,
    /// MaxPool window and stride after each conv (2 halves the size).
    pub pool: usize,
    /// Widths of the hidden fully connected layers, then the class count last.
    pub fc_widths: Vec<usize>,
}

/// Shapes of all parameters, derived from a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmallCnn {
    spec: SmallCnnSpec,
    /// Spatial side after each conv+pool stage.
    sizes: Vec<usize>,
}

impl SmallCnn {
    /// Checks that every stage leaves at least one pixel.
    pub fn new(spec: SmallCnnSpec) -> Result<SmallCnn> {
        if spec.fc_widths.is_empty() || spec.kernel == 0 || spec.pool == 0 {
            return Err(ModelError::Graph("small CNN needs a kernel, a pool and at least one fc layer".into()));
        }
        let mut sizes = Vec::with_capacity(spec.conv_channels.len());
        let mut size = spec.input_size;
        for i in 0..spec.conv_channels.len() {
            size = window_output(size, spec.kernel, 1, 0)
                .and_then(|s| window_output(s, spec.pool, spec.pool, 0))
                .filter(|&s| s > 0)
                .ok_or_else(|| ModelError::Graph(format!("small CNN: input too small for conv layer {i}")))?;
            sizes.push(size);
        }
        Ok(SmallCnn { spec, sizes })
    }

    pub fn spec(&self) -> &SmallCnnSpec {
        &self.spec
    }

    /// Length of the flattened conv output, the input width of `fcs.0`.
    pub fn flat_len(&self) -> usize {
        match (self.spec.conv_channels.last(), self.sizes.last()) {
            (Some(c), Some(s)) => c * s * s,
            _ => self.spec.in_channels * self.spec.input_size * self.spec.input_size,
        }
    }

    pub fn classes(&self) -> usize {
        *self.spec.fc_widths.last().expect("SmallCnn::new checked fc_widths is not empty")
    }

    /// Every parameter name with its shape, in order: what a trainer must produce.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let k = self.spec.kernel;
        let mut out = Vec::new();
        let mut c_in = self.spec.in_channels;
        for (i, &c) in self.spec.conv_channels.iter().enumerate() {
            out.push((format!("convs.{i}.weight"), vec![c, c_in, k, k]));
            out.push((format!("convs.{i}.bias"), vec![c]));
            c_in = c;
        }
        let mut width = self.flat_len();
        for (j, &w) in self.spec.fc_widths.iter().enumerate() {
            out.push((format!("fcs.{j}.weight"), vec![w, width]));
            out.push((format!("fcs.{j}.bias"), vec![w]));
            width = w;
        }
        out
    }

    /// The graph: input `input` [N, C, S, S] → outputs `logits` and `probs` [N, classes].
    pub fn build(&self, weights: &StateDict) -> Result<ModelProto> {
        let s = &self.spec;
        let mut g = GraphBuilder::new("small_cnn");
        let dims = [BATCH, Dim::Fixed(s.in_channels), Dim::Fixed(s.input_size), Dim::Fixed(s.input_size)];
        let mut x = g.input("input", &dims)?;
        let shapes = self.parameter_shapes();
        let mut params = shapes.iter().map(|(name, shape)| {
            let values = weight(weights, name, shape)?;
            Ok::<_, ModelError>((name.as_str(), shape.as_slice(), values))
        });
        let mut next = |g: &mut GraphBuilder| -> Result<String> {
            let (name, shape, values) = params.next().expect("parameter_shapes lists every layer")?;
            g.initializer(name, shape, &values)
        };
        for _ in &s.conv_channels {
            let (w, b) = (next(&mut g)?, next(&mut g)?);
            let y = g.conv(&x, &w, Some(&b), Window::valid(s.kernel, 1), 1);
            let y = g.relu(&y);
            x = g.max_pool(&y, Window::valid(s.pool, s.pool));
        }
        x = g.flatten(&x, 1);
        for j in 0..s.fc_widths.len() {
            let (w, b) = (next(&mut g)?, next(&mut g)?);
            x = g.linear(&x, &w, &b);
            if j + 1 < s.fc_widths.len() {
                x = g.relu(&x);
            }
        }
        let out = [BATCH, Dim::Fixed(self.classes())];
        let probs = g.softmax(&x, 1);
        g.output(&x, "logits", &out)?;
        g.output(&probs, "probs", &out)?;
        Ok(g.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SmallCnnSpec {
        SmallCnnSpec {
            input_size: 32,
            in_channels: 3,
            conv_channels: vec![8, 16],
            kernel: 3,
            pool: 2,
            fc_widths: vec![64, 5],
        }
    }

    #[test]
    fn shapes_follow_valid_conv_and_pool() {
        // 32 -conv3-> 30 -pool2-> 15 -conv3-> 13 -pool2-> 6: flat = 16·6·6 = 576.
        let cnn = SmallCnn::new(spec()).unwrap();
        assert_eq!(cnn.flat_len(), 576);
        let shapes = cnn.parameter_shapes();
        assert_eq!(shapes[4], ("fcs.0.weight".to_string(), vec![64, 576]));
        assert_eq!(shapes.len(), 8);
    }

    #[test]
    fn too_small_input_is_an_error() {
        let s = SmallCnnSpec { input_size: 6, ..spec() };
        assert!(SmallCnn::new(s).is_err());
    }

    #[test]
    fn missing_weight_is_named() {
        let cnn = SmallCnn::new(spec()).unwrap();
        let err = cnn.build(&StateDict::new()).unwrap_err().to_string();
        assert!(err.contains("convs.0.weight"), "{err}");
    }
}
