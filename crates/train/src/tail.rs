//! The trainable tail of an EfficientNet-Lite for `finetune` and `embedding`: the last N MBConv
//! blocks, the 1x1 head conv (→1280) + ReLU6 + global average pool, and the [`Head`] top model,
//! in burn. The blocks' shapes come from the network's [`Layout`] (Lite0's, or Lite1/Lite2's read
//! from their weights).
//!
//! Weights come from the ImageNet state dict (`_blocks.{i}.*`, `_conv_head`, `_bn1`, lukemelas
//! names) with BatchNorm folded into each conv (w·γ/√(σ²+ε), β-μγ/√(σ²+ε)). The folded conv +
//! bias is what trains: with batches of 64 augmented shots of 50 classes, BN batch statistics
//! would be noisier than the ImageNet running ones, and a folded conv is exactly what the ONNX
//! graph runs, so parity needs no BN arithmetic. Tuned weights go back into a state dict as the
//! conv weight + an identity BN (γ=1, β=bias, μ=0, σ²=1-ε), which the stock graph writer folds
//! back to the same numbers.
//!
//! The tail runs channels last (`[N, H, W, C]`): its 1x1 convs are then plain matrix products with
//! no transposes, and its depthwise convs run on the hand-written kernels of [`crate::depthwise`],
//! whose inner loops are over contiguous channels. Activations arrive channels first (as ONNX
//! Runtime writes them) and are transposed once, on entry.

pub use crate::arch::cut_point;
use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor, TensorData, activation};
use sneaker_model::StateDict;
use sneaker_model::efficientnet_lite::{BlockSpec, FEATURE_DIM, Layout};
use sneaker_model::onnx::{BatchNorm, fold_batch_norm, same_padding, weight};

use crate::depthwise::{Geometry, depthwise};
use crate::error::{Result, TrainError};
use crate::fit::Net;
use crate::head::Head;

/// BatchNorm ε of the TF-trained weights (as in `sneaker_model::efficientnet_lite`).
const BN_EPS: f32 = 1e-3;

/// One MBConv block: [expand 1x1 + ReLU6] → depthwise k×k + ReLU6 → project 1x1 → [+ input].
/// The convs hold the weights (`Conv2d` layout, as saved and exported); `forward` runs them
/// channels last.
#[derive(Module, Debug)]
pub struct MbConv {
    pub expand: Option<Conv2d>,
    pub depthwise: Conv2d,
    pub project: Conv2d,
    #[module(skip)]
    pub skip: bool,
    /// The depthwise conv's kernel, stride and TF SAME padding.
    #[module(skip)]
    pub geometry: Geometry,
}

impl MbConv {
    /// `[N, H, W, Cin]` → `[N, H', W', Cout]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = x.clone();
        if let Some(e) = &self.expand {
            y = activation::relu6(pointwise(e, y));
        }
        let dw = &self.depthwise;
        let bias = dw.bias.as_ref().expect("folded convs have a bias").val();
        y = activation::relu6(depthwise(y, dw.weight.val(), bias, self.geometry));
        y = pointwise(&self.project, y);
        if self.skip { y + x } else { y }
    }
}

/// A 1x1 conv on channels-last `[N, H, W, Cin]` → `[N, H, W, Cout]`, as one matrix product over all
/// N·H·W pixels.
///
/// Same numbers as `conv.forward` on the channels-first tensor, but burn 0.22 Flex runs a 1x1
/// `Conv2d`'s forward and backward 2–3× slower than this matmul (`examples/bench_layers.rs`:
/// 192→1152 at 64×7×7, forward + backward 0.27 s as a conv, 0.10 s as a matmul).
pub fn pointwise(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [n, h, w, cin] = x.dims();
    let [cout, ..] = conv.weight.dims();
    let weight = conv.weight.val().reshape([cout, cin]).transpose();
    let mut y = x.reshape([n * h * w, cin]).matmul(weight);
    if let Some(b) = &conv.bias {
        y = y + b.val().reshape([1, cout]);
    }
    y.reshape([n, h, w, cout])
}

/// Blocks `first..` + head conv + pooling: activation after block `first-1` `[batch, C, H, W]`
/// → pooled features `[batch, 1280]`. What every tuned model on the backbone trains.
#[derive(Module, Debug)]
pub struct Trunk {
    pub blocks: Vec<MbConv>,
    pub head_conv: Conv2d,
    #[module(skip)]
    pub first: usize,
    /// The whole network's blocks, for the tensor names and shapes of [`Trunk::state_dict`].
    #[module(skip)]
    pub layout: Layout,
}

/// The [`Trunk`] + the [`Head`] top model: activation → logits `[batch, classes]`.
#[derive(Module, Debug)]
pub struct Tail {
    pub trunk: Trunk,
    pub head: Head,
}

/// A conv with TF "SAME" padding for a square `in_size` input (asymmetric at stride 2, as the
/// TF-trained weights expect), loaded from folded `(w, b)`.
fn conv(
    w: Vec<f32>,
    b: Vec<f32>,
    shape: [usize; 4],
    stride: usize,
    group: usize,
    in_size: usize,
    device: &Device,
) -> Conv2d {
    let [out, per_group, k, _] = shape;
    let (begin, end, _) = same_padding(in_size, k, stride);
    let mut c = Conv2dConfig::new([per_group * group, out], [k, k])
        .with_stride([stride, stride])
        .with_groups(group)
        .with_padding(PaddingConfig2d::Explicit(begin, begin, end, end))
        .init(device);
    c.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, shape), device));
    c.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(b, [out]), device)));
    c
}

/// Reads `{conv}.weight` + BN `{bn}.*` from `dict` and folds them.
fn folded(dict: &StateDict, conv_name: &str, bn: &str, shape: [usize; 4]) -> Result<(Vec<f32>, Vec<f32>)> {
    let w = weight(dict, &format!("{conv_name}.weight"), &shape)?;
    let bn = BatchNorm::from_dict(dict, bn, shape[0])?;
    Ok(fold_batch_norm(&w, &bn, BN_EPS))
}

/// The (conv, bn, shape, stride, group, in_size) of every conv of block `b`, in order.
fn block_convs(b: &BlockSpec) -> Vec<(String, String, [usize; 4], usize, usize, usize)> {
    let p = format!("_blocks.{}", b.index);
    let h = b.in_channels * b.expand;
    let mut v = Vec::new();
    if b.expand != 1 {
        v.push((format!("{p}._expand_conv"), format!("{p}._bn0"), [h, b.in_channels, 1, 1], 1, 1, b.in_size));
    }
    v.push((format!("{p}._depthwise_conv"), format!("{p}._bn1"), [h, 1, b.kernel, b.kernel], b.stride, h, b.in_size));
    v.push((format!("{p}._project_conv"), format!("{p}._bn2"), [b.out_channels, h, 1, 1], 1, 1, b.out_size));
    v
}

fn head_conv_spec(layout: &Layout) -> (&'static str, &'static str, [usize; 4], usize) {
    let last = layout.last();
    ("_conv_head", "_bn1", [FEATURE_DIM, last.out_channels, 1, 1], last.out_size)
}

impl Trunk {
    /// Blocks after `cut` and the head conv from `backbone` (ImageNet or a tuned dict in the
    /// same names), a network of `layout`.
    pub fn from_backbone(backbone: &StateDict, layout: &Layout, cut: usize, device: &Device) -> Result<Self> {
        if cut + 1 >= layout.blocks.len() {
            return Err(TrainError::Config(format!("no block after block {cut}")));
        }
        let mut blocks = Vec::new();
        for b in &layout.blocks[cut + 1..] {
            let mut convs = Vec::new();
            for (c, bn, shape, stride, group, size) in block_convs(b) {
                let (w, bias) = folded(backbone, &c, &bn, shape)?;
                convs.push(conv(w, bias, shape, stride, group, size, device));
            }
            let project = convs.pop().expect("a block has a project conv");
            let depthwise = convs.pop().expect("a block has a depthwise conv");
            let (pad_begin, pad_end, _) = same_padding(b.in_size, b.kernel, b.stride);
            let geometry = Geometry { kernel: b.kernel, stride: b.stride, pad_begin, pad_end };
            blocks.push(MbConv { expand: convs.pop(), depthwise, project, skip: b.has_skip(), geometry });
        }
        let (c, bn, shape, size) = head_conv_spec(layout);
        let (w, bias) = folded(backbone, c, bn, shape)?;
        let head_conv = conv(w, bias, shape, 1, 1, size, device);
        Ok(Trunk { blocks, head_conv, first: cut + 1, layout: layout.clone() })
    }

    /// Pooled features `[batch, 1280]` from the activation after block `first-1`
    /// (`[batch, C, H, W]`, channels first as ONNX Runtime gives it).
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x.permute([0, 2, 3, 1]);
        for b in &self.blocks {
            x = b.forward(x);
        }
        let x = activation::relu6(pointwise(&self.head_conv, x));
        let [n, _, _, c] = x.dims();
        // [batch, H, W, 1280] → [batch, 1280]
        x.mean_dims(&[1, 2]).reshape([n, c])
    }

    /// The tuned blocks and head conv as backbone tensors (conv weight + identity BN, see the
    /// module comment), to overlay on the ImageNet dict for export.
    pub fn state_dict(&self) -> StateDict {
        let mut d = StateDict::new();
        for (b, m) in self.layout.blocks[self.first..].iter().zip(&self.blocks) {
            let convs: Vec<&Conv2d> = m.expand.iter().chain([&m.depthwise, &m.project]).collect();
            for ((c, bn, ..), layer) in block_convs(b).into_iter().zip(convs) {
                put_conv(&mut d, &c, &bn, layer);
            }
        }
        let (c, bn, ..) = head_conv_spec(&self.layout);
        put_conv(&mut d, c, bn, &self.head_conv);
        d
    }
}

impl Tail {
    /// [`Trunk::from_backbone`] + `head`.
    pub fn from_backbone(
        backbone: &StateDict,
        layout: &Layout,
        cut: usize,
        head: Head,
        device: &Device,
    ) -> Result<Self> {
        if head.spec().inputs != FEATURE_DIM {
            return Err(TrainError::Config(format!(
                "the top model takes {} inputs, the backbone gives {FEATURE_DIM}",
                head.spec().inputs
            )));
        }
        Ok(Tail { trunk: Trunk::from_backbone(backbone, layout, cut, device)?, head })
    }

    /// The trunk's tensors (see [`Trunk::state_dict`]) plus the top model's.
    pub fn state_dict(&self) -> StateDict {
        let mut d = self.trunk.state_dict();
        d.extend(self.head.state_dict());
        d
    }
}

fn to_vec(t: Tensor<1>) -> Vec<f32> {
    t.into_data().try_to_vec().expect("weights are f32")
}

/// `{conv}.weight` and an identity BN whose fold gives back exactly the conv's bias.
fn put_conv(d: &mut StateDict, conv_name: &str, bn: &str, layer: &Conv2d) {
    let w = layer.weight.val();
    let shape = w.dims().to_vec();
    let out = shape[0];
    let wv: Vec<f32> = w.into_data().try_to_vec().expect("weights are f32");
    let b = layer.bias.as_ref().map_or(vec![0.0; out], |b| to_vec(b.val()));
    let t = |v: &[f32]| sneaker_model::Tensor::from_f32(vec![out], v);
    d.insert(format!("{conv_name}.weight"), sneaker_model::Tensor::from_f32(shape, &wv));
    d.insert(format!("{bn}.weight"), t(&vec![1.0; out]));
    d.insert(format!("{bn}.bias"), t(&b));
    d.insert(format!("{bn}.running_mean"), t(&vec![0.0; out]));
    d.insert(format!("{bn}.running_var"), t(&vec![1.0 - BN_EPS; out]));
}

/// `base` (the ImageNet dict) with the tuned tensors of `tuned` laid over it.
pub fn overlay(base: &StateDict, tuned: &StateDict) -> StateDict {
    let mut d = base.clone();
    for (k, v) in tuned.iter().filter(|(k, _)| !k.starts_with("head.")) {
        d.insert(k.clone(), v.clone());
    }
    d
}

impl Net<4> for Tail {
    fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.trunk.features(x))
    }
}

/// Activations (row-major `[n, C, H, W]` after block `first - 1` of `layout`) as a batch tensor.
pub fn activation_batch(layout: &Layout, first: usize, acts: &[f32], device: &Device) -> Result<Tensor<4>> {
    let [c, h, w] = layout.activation_shape(first - 1)?;
    let per = c * h * w;
    if !acts.len().is_multiple_of(per) {
        return Err(TrainError::Config(format!(
            "activation buffer of {} is not a multiple of {c}x{h}x{w}",
            acts.len()
        )));
    }
    Ok(Tensor::<4>::from_data(TensorData::new(acts.to_vec(), [acts.len() / per, c, h, w]), device))
}

/// Softmax probabilities of `net` (a tuned tail of `layout`, first block `first`) on activations
/// (row-major `[n, C, H, W]`), inference mode.
pub fn predict<N: Net<4>>(net: &N, layout: &Layout, first: usize, acts: &[f32], device: &Device) -> Result<Vec<f32>> {
    let x = activation_batch(layout, first, acts, device)?;
    let p = activation::softmax(net.valid().logits(x), 1);
    Ok(p.into_data().try_to_vec().expect("probabilities are f32"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::head::HeadSpec;
    use burn::tensor::Distribution;

    #[test]
    fn pointwise_is_the_1x1_conv() {
        let device = Device::flex();
        let conv = Conv2dConfig::new([6, 4], [1, 1]).init(&device);
        let x = Tensor::<4>::random([3, 6, 5, 2], Distribution::Default, &device);
        let ours = pointwise(&conv, x.clone().permute([0, 2, 3, 1]));
        let diff = (ours - conv.forward(x).permute([0, 2, 3, 1])).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "max |Δ| {diff}");
    }

    /// Made-up weights of the real shapes for blocks `from..` and the head conv.
    pub(crate) fn synthetic(from: usize) -> StateDict {
        let mut d = StateDict::new();
        let mut s = 7u32;
        let mut next = move || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let mut put = |c: &str, bn: &str, shape: [usize; 4]| {
            let n: usize = shape.iter().product();
            d.insert(
                format!("{c}.weight"),
                sneaker_model::Tensor::from_f32(shape.to_vec(), &(0..n).map(|_| next() * 0.2).collect::<Vec<_>>()),
            );
            for (f, base) in [("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)] {
                let v: Vec<f32> = (0..shape[0]).map(|_| base + next() * 0.5).collect();
                d.insert(format!("{bn}.{f}"), sneaker_model::Tensor::from_f32(vec![shape[0]], &v));
            }
        };
        let layout = Layout::lite0();
        for b in &layout.blocks[from..] {
            for (c, bn, shape, ..) in block_convs(b) {
                put(&c, &bn, shape);
            }
        }
        let (c, bn, shape, _) = head_conv_spec(&layout);
        put(c, bn, shape);
        d
    }

    #[test]
    fn stride_two_block_gives_tf_same_sizes_and_state_dict_round_trips() {
        // Block 11 is 5x5 stride 2 on 14x14: TF SAME pads 1 before, 2 after → 7x7.
        let device = Device::flex();
        let dict = synthetic(11);
        let head = Head::new(HeadSpec { inputs: FEATURE_DIM, hidden: 0, classes: 4 }, 0.0, &device);
        let tail = Tail::from_backbone(&dict, &Layout::lite0(), 10, head, &device).unwrap();
        assert_eq!(tail.trunk.blocks.len(), 5);
        let x: Vec<f32> = (0..2 * 112 * 14 * 14).map(|i| ((i % 13) as f32 - 6.0) / 6.0).collect();
        let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [2, 112, 14, 14]), &device);
        let after11 = tail.trunk.blocks[0].forward(t.permute([0, 2, 3, 1]));
        assert_eq!(after11.dims(), [2, 7, 7, 192]);
        let p = predict(&tail, &Layout::lite0(), tail.trunk.first, &x, &device).unwrap();
        // The identity-BN form folds back to the same tail: same probabilities.
        let back = Tail::from_backbone(
            &overlay(&dict, &tail.state_dict()),
            &Layout::lite0(),
            10,
            Head::from_state_dict(tail.head.spec(), 0.0, &tail.state_dict(), &device).unwrap(),
            &device,
        )
        .unwrap();
        let q = predict(&back, &Layout::lite0(), back.trunk.first, &x, &device).unwrap();
        let d = p.iter().zip(&q).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(d < 1e-6, "max |Δ| {d}");
        assert!((p[..4].iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn missing_tensor_is_named() {
        let device = Device::flex();
        let mut dict = synthetic(14);
        dict.remove("_blocks.15._bn1.running_var");
        let head = Head::new(HeadSpec { inputs: FEATURE_DIM, hidden: 0, classes: 2 }, 0.0, &device);
        let e = Tail::from_backbone(&dict, &Layout::lite0(), 14, head, &device).unwrap_err().to_string();
        assert!(e.contains("_blocks.15._bn1.running_var"), "{e}");
    }
}
