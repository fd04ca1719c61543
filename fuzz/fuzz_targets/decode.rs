//! Fuzzes the server's upload decode path (`sneaker_serve::prepare`: truncated-JPEG check,
//! limited decode with EXIF orientation, resize, normalise) with arbitrary bytes. It must return
//! a tensor or an error, never panic, and never allocate past the limits.
//!
//!   cargo +nightly fuzz run decode -- -max_len=2000000 -rss_limit_mb=2048
#![no_main]

use libfuzzer_sys::fuzz_target;
use sneaker_serve::prepare::{PrepareOptions, prepare};
use sneaker_vision::{DecodeLimits, INPUT_LEN};

fuzz_target!(|data: &[u8]| {
    // Smaller pixel budget than the server's so each run stays fast; the logic is the same.
    let limits = DecodeLimits { max_pixels: 4_000_000, ..DecodeLimits::default() };
    let options = PrepareOptions { include_image: data.first().is_some_and(|b| b & 1 == 1) };
    if let Ok(prepared) = prepare(data, "fuzz", &limits, options) {
        assert_eq!(prepared.tensor.len(), INPUT_LEN);
        assert!(prepared.tensor.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
});
