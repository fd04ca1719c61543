//! HEIC/HEIF photos (iPhones' default) through the public API: colours, orientation, alpha,
//! limits from the header, and damaged files, on HEICs written by libheif's own encoder.

mod common;

use common::*;
use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};
use sneaker_vision::{DecodeLimits, decode_bytes, is_image_path};

fn decode(bytes: &[u8]) -> sneaker_vision::Result<RgbImage> {
    decode_bytes(bytes, "IMG_0001.HEIC", &DecodeLimits::default())
}

fn expect_err(bytes: &[u8], kinds: &[&str]) -> String {
    let err = decode(bytes).expect_err("decoding should fail");
    assert!(kinds.contains(&err.kind()), "{} not in {kinds:?}: {err}", err.kind());
    let msg = err.to_string();
    assert!(msg.starts_with("IMG_0001.HEIC: "), "message must name the file: {msg}");
    msg
}

/// Within `tol` per channel: lossless HEVC still goes through RGB → YCbCr → RGB.
fn close(a: Rgb<u8>, b: [u8; 3], tol: u8) -> bool {
    a.0.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= tol)
}

#[test]
fn a_small_heic_decodes_to_the_right_colours() {
    let bytes = heic(&DynamicImage::ImageRgb8(two_tone()));
    assert_eq!(&bytes[4..8], b"ftyp", "libheif wrote an ISO-BMFF file");
    let img = decode(&bytes).expect("the HEIC decodes");
    assert_eq!(img.dimensions(), (40, 20));
    // two_tone: left half red, right half blue; sample away from the edge where chroma blends.
    for (x, colour) in [(2, [255, 0, 0]), (17, [255, 0, 0]), (22, [0, 0, 255]), (37, [0, 0, 255])] {
        for y in [1, 10, 18] {
            let p = *img.get_pixel(x, y);
            assert!(close(p, colour, 12), "({x}, {y}) is {p:?}, expected {colour:?}");
        }
    }
}

#[test]
fn the_heif_orientation_is_applied_like_exif() {
    let plain = heic(&DynamicImage::ImageRgb8(two_tone()));
    // irot 1 = 90° anti-clockwise, EXIF orientation 8: the left (red) edge ends up at the bottom.
    let img = decode(&with_irot(&plain, 1)).expect("the turned HEIC decodes");
    assert_eq!(img.dimensions(), (20, 40));
    assert!(close(*img.get_pixel(10, 37), [255, 0, 0], 12), "{:?}", img.get_pixel(10, 37));
    assert!(close(*img.get_pixel(10, 2), [0, 0, 255], 12), "{:?}", img.get_pixel(10, 2));
    // irot 3 = 90° clockwise, EXIF orientation 6: red on top, as in the JPEG test.
    let img = decode(&with_irot(&plain, 3)).expect("the turned HEIC decodes");
    assert_eq!(img.dimensions(), (20, 40));
    assert!(close(*img.get_pixel(10, 2), [255, 0, 0], 12), "{:?}", img.get_pixel(10, 2));
    // irot 2 = upside down: red on the right.
    let img = decode(&with_irot(&plain, 2)).expect("the upside-down HEIC decodes");
    assert_eq!(img.dimensions(), (40, 20));
    assert!(close(*img.get_pixel(37, 10), [255, 0, 0], 12), "{:?}", img.get_pixel(37, 10));
    // Not applied twice: the EXIF-like size check sees the stored 40×20 and the shown 20×40.
    let narrow = DecodeLimits { max_width: 39, ..DecodeLimits::default() };
    let err = decode_bytes(&with_irot(&plain, 1), "x.heic", &narrow).expect_err("40 px wide as stored");
    assert_eq!(err.kind(), "too_large", "{err}");
}

#[test]
fn transparent_heic_pixels_become_white() {
    let rgba = RgbaImage::from_fn(32, 16, |x, _| if x < 16 { Rgba([0, 0, 0, 0]) } else { Rgba([0, 160, 0, 255]) });
    let img = decode(&heic(&DynamicImage::ImageRgba8(rgba))).expect("RGBA HEIC decodes");
    assert_eq!(img.dimensions(), (32, 16));
    assert!(close(*img.get_pixel(4, 8), [255, 255, 255], 12), "{:?}", img.get_pixel(4, 8));
    assert!(close(*img.get_pixel(28, 8), [0, 160, 0], 12), "{:?}", img.get_pixel(28, 8));
}

#[test]
fn a_heic_declaring_30000_square_is_refused_from_the_header() {
    let msg = expect_err(&heic_declaring(30_000, 30_000), &["too_large"]);
    assert!(msg.contains("30000×30000"), "{msg}");
}

#[test]
fn limits_apply_to_heic_as_to_every_format() {
    let bytes = heic(&DynamicImage::ImageRgb8(gradient(64, 48)));
    let d = DecodeLimits::default();
    let kind = |l: DecodeLimits| decode_bytes(&bytes, "x.heic", &l).map(|i| i.dimensions()).map_err(|e| e.kind());
    assert_eq!(kind(d), Ok((64, 48)));
    assert_eq!(kind(DecodeLimits { max_bytes: bytes.len() - 1, ..d }), Err("too_large"));
    assert_eq!(kind(DecodeLimits { max_width: 63, ..d }), Err("too_large"));
    assert_eq!(kind(DecodeLimits { max_pixels: 64 * 48 - 1, ..d }), Err("too_large"));
}

#[test]
fn truncated_heic_is_corrupt() {
    let full = heic(&DynamicImage::ImageRgb8(gradient(128, 96)));
    decode(&full).expect("the untruncated HEIC decodes");
    for cut in [full.len() / 10, full.len() / 3, full.len() / 2, full.len() - 1] {
        let msg = expect_err(&full[..cut], &["corrupt"]);
        assert!(msg.contains("corrupt or truncated"), "cut at {cut}: {msg}");
    }
}

#[test]
fn heic_with_flipped_bytes_is_an_error_or_an_image_never_a_crash() {
    let full = heic(&DynamicImage::ImageRgb8(gradient(64, 48)));
    for at in (0..full.len()).step_by(7) {
        let mut bytes = full.clone();
        bytes[at] ^= 0x5A;
        if let Err(e) = decode(&bytes) {
            assert!(e.to_string().starts_with("IMG_0001.HEIC: "), "{e}");
        }
    }
}

#[test]
fn heif_sequences_and_avif_are_explained() {
    let mut seq = b"\x00\x00\x00\x14ftypmsf1\x00\x00\x00\x00hevc".to_vec();
    seq.resize(256, 0);
    let msg = expect_err(&seq, &["unsupported_format"]);
    assert!(msg.contains("image sequence"), "{msg}");
    let mut avif = b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1miaf".to_vec();
    avif.resize(256, 0);
    let msg = expect_err(&avif, &["unsupported_format"]);
    assert!(msg.contains("AVIF") && msg.contains("HEIC/HEIF"), "{msg}");
}

#[test]
fn heic_files_are_picked_out_of_folders() {
    assert!(is_image_path(std::path::Path::new("IMG_0001.HEIC")));
    assert!(is_image_path(std::path::Path::new("photo.heif")));
}
