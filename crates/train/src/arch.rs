//! Shapes of the networks trained here that the settings are checked against before any work
//! starts (so `config` needs no model module): the scratch CNN's flattened features at an input
//! size, and where fine-tuning cuts an EfficientNet-Lite.

use sneaker_model::efficientnet_lite::Layout;

use crate::error::{Result, TrainError};

/// Filters of the four conv layers of the reference network.
pub const CONV_CHANNELS: [usize; 4] = [16, 32, 32, 64];

/// Length of the flattened conv output for a `size`² input, `None` when a stage would be empty.
pub fn flat_features(size: u32) -> Option<usize> {
    let mut s = size as usize;
    for _ in CONV_CHANNELS {
        s = s.checked_sub(2)? / 2;
        if s == 0 {
            return None;
        }
    }
    Some(CONV_CHANNELS[3] * s * s)
}

/// The block after which a tail of `unfreeze` blocks of a network of `blocks` blocks (Lite0: 16,
/// Lite1 and Lite2: 21) starts (its input activation), or a config error naming what is possible.
pub fn cut_point(unfreeze: usize, blocks: usize) -> Result<usize> {
    if unfreeze == 0 || unfreeze >= blocks {
        // Unfreezing every block would need the stem in burn too, and then nothing is left to cache.
        return Err(TrainError::Config(format!("unfreeze_blocks must be in 1..={}, got {unfreeze}", blocks - 1)));
    }
    Ok(blocks - 1 - unfreeze)
}

/// How many trailing blocks of `to` tune the same part of the network as `unfreeze` trailing
/// blocks of `from`: the tail starts in the same stage, as far into it (clamped to the stage's
/// last block). So a Lite1 or Lite2 member of an ensemble tunes what its Lite0 members tune,
/// though its stages hold more blocks.
pub fn same_stages(from: &Layout, unfreeze: usize, to: &Layout) -> Result<usize> {
    let first = cut_point(unfreeze, from.blocks.len())? + 1;
    let (from_stages, to_stages) = (from.stages(), to.stages());
    let (stage, range) =
        from_stages.iter().enumerate().find(|(_, r)| r.contains(&first)).expect("the stages cover every block");
    let target = to_stages
        .get(stage)
        .ok_or_else(|| TrainError::Config(format!("{} has no stage {stage}", to.variant.title())))?;
    let start = (target.start + (first - range.start)).min(target.end - 1);
    Ok(to.blocks.len() - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_points_cover_all_but_one_block() {
        assert_eq!(cut_point(1, 16).unwrap(), 14);
        assert_eq!(cut_point(5, 16).unwrap(), 10);
        assert_eq!(cut_point(6, 21).unwrap(), 14);
        assert!(cut_point(0, 16).unwrap_err().to_string().contains("unfreeze_blocks"));
        assert!(cut_point(16, 16).is_err());
        assert!(cut_point(20, 21).is_ok());
    }

    /// A layout with stages of `lengths` blocks (only the stage boundaries matter here).
    fn staged(lengths: &[usize]) -> Layout {
        use sneaker_model::efficientnet_lite::{BlockSpec, Variant};
        let mut blocks = Vec::new();
        for (stage, &n) in lengths.iter().enumerate() {
            for _ in 0..n {
                let (index, channels) = (blocks.len(), 8 * (stage + 1));
                let b = BlockSpec {
                    index,
                    expand: 6,
                    kernel: 3,
                    stride: 1,
                    in_channels: 8,
                    out_channels: channels,
                    in_size: 8,
                    out_size: 8,
                };
                blocks.push(b);
            }
        }
        Layout { variant: Variant::Lite1, input_size: 240, stem_channels: 32, blocks }
    }

    #[test]
    fn another_backbone_tunes_the_same_stages() {
        let (lite0, lite1) = (Layout::lite0(), staged(&[1, 3, 3, 4, 4, 5, 1]));
        for unfreeze in 1..16 {
            assert_eq!(same_stages(&lite0, unfreeze, &lite0).unwrap(), unfreeze);
        }
        // From stage 3 on (the preset's 11 of Lite0's 16), the first block of stage 3 is 7.
        assert_eq!(same_stages(&lite0, 11, &lite1).unwrap(), 14);
        // Lite0's block 10 is the third of stage 4; Lite1's third of stage 4 is block 13.
        assert_eq!(same_stages(&lite0, 6, &lite1).unwrap(), 8);
        assert_eq!(same_stages(&lite0, 1, &lite1).unwrap(), 1);
        // Further into a stage than the other network's stage goes: its last block.
        assert_eq!(same_stages(&lite1, 7, &lite0).unwrap(), 6);
        assert!(same_stages(&lite0, 16, &lite1).unwrap_err().to_string().contains("unfreeze_blocks"));
    }
}
