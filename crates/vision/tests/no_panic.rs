//! Untrusted bytes never panic the decoder: random bytes, random truncations and byte flips
//! of small real images in every format (HEIC included) only ever produce `Ok` or a
//! `VisionError`, and a file cut short is always an error.

mod common;

use common::*;
use std::sync::LazyLock;

use image::{DynamicImage, ImageFormat, RgbImage, RgbaImage};
use proptest::prelude::*;
use sneaker_vision::{DecodeLimits, decode_bytes, to_input_tensor};

/// Encoded once: HEIC encoding is too slow to repeat for every case.
static SAMPLES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(samples);

/// One small real file per supported format (plus EXIF and alpha variants).
fn samples() -> Vec<Vec<u8>> {
    let rgb = DynamicImage::ImageRgb8(gradient(24, 16));
    let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(12, 9, |x, y| {
        image::Rgba([x as u8 * 20, y as u8 * 25, 90, (x * y * 7) as u8])
    }));
    vec![
        jpeg(&gradient(24, 16)),
        splice_exif_into_jpeg(&jpeg(&gradient(24, 16)), &exif_orientation(6)),
        png(&rgb),
        png(&rgba),
        png_with_exif(&RgbImage::new(5, 3), exif_orientation(3)),
        encode(&rgb, ImageFormat::WebP),
        encode(&rgb, ImageFormat::Bmp),
        gif(&[[10, 20, 30], [200, 100, 0]]),
        heic(&rgb),
        with_irot(&heic(&rgba), 1),
    ]
}

const SAMPLE_COUNT: usize = 10;

/// Decode, and if it succeeds push the result through the whole input pipeline too.
fn exercise(bytes: &[u8]) -> Result<(), String> {
    // Small limits keep any declared-huge image cheap to refuse.
    let limits = DecodeLimits { max_bytes: 1 << 20, max_width: 4096, max_height: 4096, max_pixels: 4_000_000 };
    match decode_bytes(bytes, "fuzz.bin", &limits) {
        Ok(img) => {
            assert_eq!(to_input_tensor(&img).len(), 3 * 224 * 224);
            Ok(())
        }
        Err(e) => {
            assert!(e.to_string().starts_with("fuzz.bin: "), "{e}");
            Err(e.to_string())
        }
    }
}

#[test]
fn samples_decode() {
    assert_eq!(SAMPLES.len(), SAMPLE_COUNT);
    for (i, bytes) in SAMPLES.iter().enumerate() {
        decode_bytes(bytes, "sample", &DecodeLimits::default()).unwrap_or_else(|e| panic!("sample {i}: {e}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = exercise(&bytes);
    }

    #[test]
    fn random_bytes_behind_real_magic_never_panic(
        which in 0usize..SAMPLE_COUNT, tail in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        // Reach past format sniffing into each decoder's header parsing.
        let sample = &SAMPLES[which];
        let mut bytes = sample[..sample.len().min(16)].to_vec();
        bytes.extend_from_slice(&tail);
        let _ = exercise(&bytes);
    }

    #[test]
    fn truncations_are_errors(which in 0usize..SAMPLE_COUNT, frac in 0.0f64..1.0) {
        let sample = &SAMPLES[which];
        let cut = (sample.len() as f64 * frac) as usize;
        prop_assert!(exercise(&sample[..cut]).is_err(), "sample {} cut at {}/{} decoded", which, cut, sample.len());
    }

    #[test]
    fn byte_flips_never_panic(
        which in 0usize..SAMPLE_COUNT,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = SAMPLES[which].clone();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let _ = exercise(&bytes);
    }
}
