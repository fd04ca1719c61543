//! Typed shorthands for the ONNX operators the networks use, on top of [`GraphBuilder::node`].

use super::builder::{Attr, GraphBuilder};
use crate::error::Result;

/// Geometry of a 2-D convolution or pooling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `[height, width]`.
    pub kernel: [usize; 2],
    /// `[height, width]`.
    pub strides: [usize; 2],
    /// ONNX order: `[top, left, bottom, right]`. Explicit, because TF "SAME" padding is asymmetric
    /// at stride 2 and `auto_pad` is deprecated.
    pub pads: [usize; 4],
}

impl Window {
    /// A square window without padding ("valid").
    pub fn valid(kernel: usize, stride: usize) -> Window {
        Window { kernel: [kernel; 2], strides: [stride; 2], pads: [0; 4] }
    }
}

impl GraphBuilder {
    /// `Conv` of `x` [N,C,H,W] with weight `w` [O,C/group,kh,kw] and optional bias `b` [O].
    pub fn conv(&mut self, x: &str, w: &str, b: Option<&str>, win: Window, group: usize) -> String {
        let attrs = vec![
            ("kernel_shape", Attr::ints(&win.kernel)),
            ("strides", Attr::ints(&win.strides)),
            ("pads", Attr::ints(&win.pads)),
            ("group", Attr::Int(group as i64)),
        ];
        match b {
            Some(b) => self.node("Conv", &[x, w, b], attrs),
            None => self.node("Conv", &[x, w], attrs),
        }
    }

    /// `MaxPool` over `win`.
    pub fn max_pool(&mut self, x: &str, win: Window) -> String {
        let attrs = vec![
            ("kernel_shape", Attr::ints(&win.kernel)),
            ("strides", Attr::ints(&win.strides)),
            ("pads", Attr::ints(&win.pads)),
        ];
        self.node("MaxPool", &[x], attrs)
    }

    /// `Clip` to `[min, max]`, bounds as inputs (opset 11+ form).
    pub fn clip(&mut self, x: &str, min: f32, max: f32) -> String {
        let lo = self.scalar(min);
        let hi = self.scalar(max);
        self.node("Clip", &[x, &lo, &hi], Vec::new())
    }

    /// ReLU6, the activation of MobileNet-style networks.
    pub fn relu6(&mut self, x: &str) -> String {
        self.clip(x, 0.0, 6.0)
    }

    pub fn relu(&mut self, x: &str) -> String {
        self.node("Relu", &[x], Vec::new())
    }

    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.node("Add", &[a, b], Vec::new())
    }

    /// [N,C,H,W] -> [N,C,1,1].
    pub fn global_average_pool(&mut self, x: &str) -> String {
        self.node("GlobalAveragePool", &[x], Vec::new())
    }

    /// Collapses dimensions from `axis` on: [N,C,1,1] with axis 1 -> [N,C].
    pub fn flatten(&mut self, x: &str, axis: i64) -> String {
        self.node("Flatten", &[x], vec![("axis", Attr::Int(axis))])
    }

    /// `x @ wᵀ + b` with `w` stored PyTorch-style as [out, in] (what `nn.Linear` keeps).
    pub fn linear(&mut self, x: &str, w: &str, b: &str) -> String {
        self.node("Gemm", &[x, w, b], vec![("transB", Attr::Int(1))])
    }

    pub fn softmax(&mut self, x: &str, axis: i64) -> String {
        self.node("Softmax", &[x], vec![("axis", Attr::Int(axis))])
    }

    /// Bilinear resize of an `[N,C,H,W]` batch to `[N,C,side,side]`, sampling at pixel centres
    /// (`half_pixel`, as PIL and TF2 do). The target is given as sizes built from the input's own
    /// shape, so the batch stays open; scales would round `224·(240/224)` down to 239.
    pub fn resize(&mut self, x: &str, side: usize) -> Result<String> {
        let batch_channels = self.node("Shape", &[x], vec![("end", Attr::Int(2))]);
        let side = self.constant_i64("resize_side", &[2], &[side as i64, side as i64])?;
        let sizes = self.node("Concat", &[&batch_channels, &side], vec![("axis", Attr::Int(0))]);
        Ok(self.node(
            "Resize",
            &[x, "", "", &sizes],
            vec![
                ("mode", Attr::Str("linear".into())),
                ("coordinate_transformation_mode", Attr::Str("half_pixel".into())),
            ],
        ))
    }

    pub fn identity(&mut self, x: &str) -> String {
        self.node("Identity", &[x], Vec::new())
    }
}

/// TF "SAME" padding of one spatial axis: `(pad_begin, pad_end, output_size)`.
///
/// `pad_total = max((ceil(in/s) - 1)·s + k - in, 0)`, and TF puts the odd pixel at the end, so a
/// stride-2 3x3 conv on 224 pads (0, 1), not (1, 1) as PyTorch's symmetric padding would.
pub fn same_padding(input: usize, kernel: usize, stride: usize) -> (usize, usize, usize) {
    let out = input.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(input);
    let begin = total / 2;
    (begin, total - begin, out)
}

/// Output size of a window along one axis: `(in + pads - k) / s + 1`.
pub fn window_output(input: usize, kernel: usize, stride: usize, pad_total: usize) -> Option<usize> {
    (input + pad_total).checked_sub(kernel).map(|span| span / stride + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        // Values from tf.nn.conv2d(padding="SAME") shape arithmetic (TF docs, "SAME" padding):
        // 224 k3 s2 -> out 112, pad 1 split (0, 1); 112 k5 s2 -> out 56, pad 3 split (1, 2).
        assert_eq!(same_padding(224, 3, 2), (0, 1, 112));
        assert_eq!(same_padding(112, 5, 2), (1, 2, 56));
        assert_eq!(same_padding(14, 5, 1), (2, 2, 14));
        assert_eq!(same_padding(7, 1, 1), (0, 0, 7));
    }

    proptest! {
        #[test]
        fn same_padding_keeps_ceil_size(input in 1usize..300, kernel in 1usize..8, stride in 1usize..4) {
            let (b, e, out) = same_padding(input, kernel, stride);
            prop_assert_eq!(out, input.div_ceil(stride));
            prop_assert!(e == b || e == b + 1);
            prop_assert_eq!(window_output(input, kernel, stride, b + e), Some(out));
        }
    }
}
