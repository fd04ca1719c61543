//! Shapes of the networks trained here that the settings are checked against before any work
//! starts (so `config` needs no model module): the scratch CNN's flattened features at an input
//! size, and where fine-tuning cuts EfficientNet-Lite0.

use sneaker_model::efficientnet_lite::NUM_BLOCKS;

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

/// The block after which a tail of `unfreeze` blocks starts (its input activation), or a
/// config error naming what is possible.
pub fn cut_point(unfreeze: usize) -> Result<usize> {
    if unfreeze == 0 || unfreeze >= NUM_BLOCKS {
        // Unfreezing all 16 would need the stem in burn too, and then nothing is left to cache.
        return Err(TrainError::Config(format!("unfreeze_blocks must be in 1..={}, got {unfreeze}", NUM_BLOCKS - 1)));
    }
    Ok(NUM_BLOCKS - 1 - unfreeze)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_points_cover_one_to_fifteen_blocks() {
        assert_eq!(cut_point(1).unwrap(), 14);
        assert_eq!(cut_point(5).unwrap(), 10);
        assert!(cut_point(0).unwrap_err().to_string().contains("unfreeze_blocks"));
        assert!(cut_point(16).is_err());
    }
}
