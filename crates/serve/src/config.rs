//! How the server is set up: limits, thresholds and batching, with defaults that suit a small
//! CPU machine. The CLI validates its flags into this before anything starts.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sneaker_identify::ThresholdOverrides;
use sneaker_vision::DecodeLimits;

use crate::batcher::BatchPolicy;
use crate::error::{Result, ServeError};

/// Photos accepted per enrolment.
pub const MAX_ENROLL_PHOTOS: usize = 10;

/// Everything the web app needs besides the network itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServeConfig {
    /// Largest request body in bytes (a batch request carries several photos).
    pub body_limit: usize,
    /// Largest accepted width/height of a photo, in pixels.
    pub max_dimension: u32,
    /// Largest accepted width × height of a photo.
    pub max_pixels: u64,
    /// Matches shown when the request does not say (`top_k`).
    pub default_top_k: usize,
    /// Upper bound for `top_k`.
    pub max_top_k: usize,
    /// Thresholds set by hand; each one given replaces the calibrated (or default) value.
    pub thresholds: ThresholdOverrides,
    /// Most images per network call; also the most photos per batch request.
    pub max_batch: usize,
    /// How long a request waits for others to share its network call, in milliseconds.
    pub batch_wait_ms: u64,
    /// Requests that may wait for the network before new ones get 503.
    pub queue_capacity: usize,
    /// Whole-request time limit in seconds, upload included.
    pub request_timeout_s: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            body_limit: 20 * 1024 * 1024,
            max_dimension: DecodeLimits::default().max_width,
            max_pixels: DecodeLimits::default().max_pixels,
            default_top_k: 5,
            max_top_k: 20,
            thresholds: ThresholdOverrides::default(),
            max_batch: 32,
            batch_wait_ms: 3,
            queue_capacity: 64,
            request_timeout_s: 30,
        }
    }
}

impl ServeConfig {
    /// Rejects settings that would make the server useless or unsafe.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: &str| Err(ServeError::Setup(msg.to_owned()));
        if self.body_limit == 0 {
            return bad("body_limit must be positive");
        }
        if self.max_dimension == 0 || self.max_pixels == 0 {
            return bad("max_dimension and max_pixels must be positive");
        }
        if self.default_top_k == 0 || self.max_top_k < self.default_top_k {
            return bad("need 1 <= default_top_k <= max_top_k");
        }
        self.thresholds.validate().map_err(|e| ServeError::Setup(e.to_string()))?;
        if self.max_batch == 0 || self.queue_capacity == 0 {
            return bad("max_batch and queue_capacity must be positive");
        }
        if self.request_timeout_s == 0 {
            return bad("request_timeout_s must be positive");
        }
        Ok(())
    }

    pub fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_bytes: self.body_limit,
            max_width: self.max_dimension,
            max_height: self.max_dimension,
            max_pixels: self.max_pixels,
        }
    }

    pub fn batch_policy(&self) -> BatchPolicy {
        BatchPolicy {
            max_batch: self.max_batch,
            max_wait: Duration::from_millis(self.batch_wait_ms),
            queue_capacity: self.queue_capacity,
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        ServeConfig::default().validate().expect("defaults should be valid");
        let thresholds = ThresholdOverrides { footwear: Some(1.5), ..Default::default() };
        let bad = ServeConfig { thresholds, ..ServeConfig::default() };
        let err = bad.validate().expect_err("1.5 is not a probability");
        assert!(err.to_string().contains("footwear threshold"), "{err}");
        let bad = ServeConfig { default_top_k: 30, ..ServeConfig::default() };
        assert!(bad.validate().is_err());
    }
}
