//! Shapes of the networks trained here that the settings are checked against before any work
//! starts (so `config` needs no model module): the scratch CNN's flattened features at an input
//! size, and where fine-tuning cuts an EfficientNet-Lite.

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
}
