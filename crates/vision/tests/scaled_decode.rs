//! Photos bound for the network are decoded at a reduced JPEG scale: same picture, upright,
//! never smaller than the input, and everything that is not a large JPEG exactly as before.

mod common;

use common::*;
use image::{DynamicImage, Rgb, RgbImage};
use sneaker_vision::{DecodeLimits, INPUT_SIZE, decode_bytes, decode_bytes_for_input, to_input_tensor};

fn for_input(bytes: &[u8]) -> RgbImage {
    decode_bytes_for_input(bytes, "photo.upload", &DecodeLimits::default(), INPUT_SIZE).expect("decodes")
}

fn mean_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

#[test]
fn a_large_jpeg_decodes_at_the_smallest_scale_still_above_the_input() {
    let photo = gradient(800, 600);
    let bytes = jpeg(&photo);
    let small = for_input(&bytes);
    // 1/2 keeps 400×300; 1/4 would be 200×150, below 224.
    assert_eq!(small.dimensions(), (400, 300));
    // Same picture at the network's input as the full decode: a smooth gradient differs by
    // rounding only (normalised units; one grey level is 0.0078).
    let full = decode_bytes(&bytes, "photo.upload", &DecodeLimits::default()).expect("decodes");
    let delta = mean_abs(&to_input_tensor(&small), &to_input_tensor(&full));
    assert!(delta < 0.01, "mean |Δ| {delta}");
}

#[test]
fn orientation_is_applied_to_the_scaled_decode() {
    let photo = RgbImage::from_fn(960, 480, |x, _| if x < 480 { Rgb([255, 0, 0]) } else { Rgb([0, 0, 255]) });
    let rotated = splice_exif_into_jpeg(&jpeg(&photo), &exif_orientation(6));
    let img = for_input(&rotated);
    // 1/2 scale: 480×240, then rotated 90° clockwise: the red left half ends up on top.
    assert_eq!(img.dimensions(), (240, 480));
    let (top, bottom) = (img.get_pixel(120, 20).0, img.get_pixel(120, 460).0);
    assert!(top[0] > 200 && top[2] < 60, "{top:?}");
    assert!(bottom[2] > 200 && bottom[0] < 60, "{bottom:?}");
}

#[test]
fn small_photos_and_other_formats_decode_exactly_as_before() {
    let limits = DecodeLimits::default();
    let small = jpeg(&gradient(300, 200));
    assert_eq!(for_input(&small), decode_bytes(&small, "a", &limits).expect("decodes"));
    let big_png = png(&DynamicImage::ImageRgb8(gradient(800, 600)));
    assert_eq!(for_input(&big_png), decode_bytes(&big_png, "a", &limits).expect("decodes"));
}

#[test]
fn damaged_and_oversized_jpegs_are_refused_by_the_scaled_path_too() {
    let bytes = jpeg(&gradient(800, 600));
    let cut = &bytes[..bytes.len() / 3];
    let err = decode_bytes_for_input(cut, "cut.jpg", &DecodeLimits::default(), INPUT_SIZE).expect_err("truncated");
    assert_eq!(err.kind(), "corrupt", "{err}");
    let tight = DecodeLimits { max_width: 500, ..DecodeLimits::default() };
    let err = decode_bytes_for_input(&bytes, "wide.jpg", &tight, INPUT_SIZE).expect_err("too wide");
    assert_eq!(err.kind(), "too_large", "{err}");
}
