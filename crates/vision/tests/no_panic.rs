//! Untrusted bytes never panic the decoder: random bytes, random truncations and byte flips
//! of small real images in every format only ever produce `Ok` or a `VisionError`.

mod common;

use common::*;
use image::{DynamicImage, ImageFormat, RgbImage, RgbaImage};
use proptest::prelude::*;
use sneaker_vision::{DecodeLimits, decode_bytes, to_input_tensor};

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
    ]
}

/// Decode, and if it succeeds push the result through the whole input pipeline too.
fn exercise(bytes: &[u8]) {
    // Small limits keep any declared-huge image cheap to refuse.
    let limits = DecodeLimits {
        max_bytes: 1 << 20,
        max_width: 4096,
        max_height: 4096,
        max_pixels: 4_000_000,
    };
    match decode_bytes(bytes, "fuzz.bin", &limits) {
        Ok(img) => assert_eq!(to_input_tensor(&img).len(), 3 * 224 * 224),
        Err(e) => assert!(e.to_string().starts_with("fuzz.bin: "), "{e}"),
    }
}

#[test]
fn samples_decode() {
    for (i, bytes) in samples().iter().enumerate() {
        decode_bytes(bytes, "sample", &DecodeLimits::default())
            .unwrap_or_else(|e| panic!("sample {i}: {e}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn random_bytes_behind_real_magic_never_panic(
        which in 0usize..8, tail in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        // Reach past format sniffing into each decoder's header parsing.
        let sample = &samples()[which];
        let mut bytes = sample[..sample.len().min(16)].to_vec();
        bytes.extend_from_slice(&tail);
        exercise(&bytes);
    }

    #[test]
    fn truncations_never_panic(which in 0usize..8, frac in 0.0f64..1.0) {
        let sample = &samples()[which];
        exercise(&sample[..(sample.len() as f64 * frac) as usize]);
    }

    #[test]
    fn byte_flips_never_panic(
        which in 0usize..8,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = samples()[which].clone();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        exercise(&bytes);
    }
}
