//! Decoding real and crafted files through the public API: every format, every error kind,
//! orientation, alpha and bit-depth handling.

mod common;

use common::*;
use image::{DynamicImage, ImageFormat, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use sneaker_vision::{DecodeLimits, VisionError, decode_bytes, decode_file};

fn decode(bytes: &[u8]) -> sneaker_vision::Result<RgbImage> {
    decode_bytes(bytes, "photo.upload", &DecodeLimits::default())
}

fn expect_err(bytes: &[u8], kind: &str) -> VisionError {
    let err = decode(bytes).expect_err("decoding should fail");
    assert_eq!(err.kind(), kind, "{err}");
    assert!(err.to_string().starts_with("photo.upload: "), "message must name the file: {err}");
    err
}

fn close(a: Rgb<u8>, b: [u8; 3], tol: u8) -> bool {
    a.0.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= tol)
}

#[test]
fn zero_bytes_is_empty() {
    expect_err(b"", "empty");
}

#[test]
fn text_is_unsupported_and_lists_supported_formats() {
    let err = expect_err(b"hello", "unsupported_format");
    assert!(err.to_string().contains("JPEG, PNG, WebP, GIF, BMP"), "{err}");
}

#[test]
fn a_jpeg_cut_to_a_third_is_corrupt_not_grey() {
    // The scraper's case: a 320×240 photo whose download stopped a third of the way in. The
    // JPEG decoder alone would pad the missing rows with grey and call it an image.
    let full = jpeg(&gradient(320, 240));
    decode(&full).expect("the untruncated JPEG decodes");
    let err = expect_err(&full[..full.len() / 3], "corrupt");
    let msg = err.to_string();
    assert!(msg.contains("corrupt or truncated") && msg.contains("end-of-image marker"), "{msg}");
}

#[test]
fn truncated_files_of_every_format_are_corrupt() {
    let picture = DynamicImage::ImageRgb8(gradient(160, 120));
    let files = [
        ("JPEG", jpeg(&gradient(160, 120))),
        ("PNG", png(&picture)),
        ("WebP", encode(&picture, ImageFormat::WebP)),
        ("BMP", encode(&picture, ImageFormat::Bmp)),
        ("GIF", gif(&[[10, 20, 30], [200, 100, 0]])),
    ];
    for (format, full) in files {
        decode(&full).unwrap_or_else(|e| panic!("the whole {format} decodes: {e}"));
        for cut in [full.len() / 10, full.len() / 3, full.len() / 2, full.len() - 1] {
            let err = decode(&full[..cut]).expect_err("a cut file must not decode");
            assert_eq!(err.kind(), "corrupt", "{format} cut at {cut}/{}: {err}", full.len());
            assert!(err.to_string().starts_with("photo.upload: "), "{err}");
        }
    }
}

#[test]
fn corrupt_png_is_corrupt() {
    let full = png(&DynamicImage::ImageRgb8(gradient(64, 48)));
    // A flipped byte inside the compressed pixels: the chunk CRC no longer matches.
    let idat = full.windows(4).position(|w| w == b"IDAT").expect("an IDAT chunk");
    let mut bytes = full.clone();
    bytes[idat + 20] ^= 0xFF;
    expect_err(&bytes, "corrupt");
    // A chunk length running past the end of the file.
    let mut bytes = full.clone();
    bytes[idat - 4..idat].copy_from_slice(&0x00FF_FFFFu32.to_be_bytes());
    let err = expect_err(&bytes, "corrupt");
    assert!(err.to_string().contains("IDAT"), "{err}");
}

#[test]
fn truncated_jpeg_is_corrupt() {
    let full = jpeg(&gradient(64, 48));
    decode(&full).expect("the untruncated JPEG decodes");
    for cut in [full.len() / 10, full.len() / 3, full.len() / 2] {
        let err = expect_err(&full[..cut], "corrupt");
        assert!(err.to_string().contains("corrupt or truncated"), "{err}");
    }
}

#[test]
fn truncated_png_is_corrupt() {
    let full = png(&DynamicImage::ImageRgb8(gradient(64, 48)));
    decode(&full).expect("the untruncated PNG decodes");
    for cut in [20, full.len() / 2, full.len() - 13] {
        expect_err(&full[..cut], "corrupt");
    }
}

#[test]
fn png_declaring_30000_square_is_refused_from_the_header() {
    let err = expect_err(&png_declaring(30_000, 30_000), "too_large");
    assert!(err.to_string().contains("30000×30000"), "{err}");
}

#[test]
fn limits_on_bytes_width_and_pixels() {
    let bytes = jpeg(&gradient(64, 48));
    let tight = |l: DecodeLimits| decode_bytes(&bytes, "x.jpg", &l).map(|_| ()).map_err(|e| e.kind());
    let d = DecodeLimits::default();
    assert_eq!(tight(DecodeLimits { max_bytes: bytes.len() - 1, ..d }), Err("too_large"));
    assert_eq!(tight(DecodeLimits { max_bytes: bytes.len(), ..d }), Ok(()));
    assert_eq!(tight(DecodeLimits { max_width: 63, ..d }), Err("too_large"));
    assert_eq!(tight(DecodeLimits { max_height: 47, ..d }), Err("too_large"));
    assert_eq!(tight(DecodeLimits { max_pixels: 64 * 48 - 1, ..d }), Err("too_large"));
    assert_eq!(tight(DecodeLimits { max_width: 64, max_height: 48, max_pixels: 64 * 48, ..d }), Ok(()));
}

#[test]
fn gif_gives_its_first_frame() {
    let img = decode(&gif(&[[0, 200, 0], [200, 0, 0]])).expect("GIF decodes");
    assert_eq!(img.dimensions(), (8, 6));
    assert!(img.pixels().all(|&p| close(p, [0, 200, 0], 2)), "{:?}", img.get_pixel(0, 0));
}

#[test]
fn bmp_and_webp_decode_exactly() {
    let src = two_tone();
    for format in [ImageFormat::Bmp, ImageFormat::WebP] {
        let bytes = encode(&DynamicImage::ImageRgb8(src.clone()), format);
        let img = decode(&bytes).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(img, src, "{format:?} is lossless here");
    }
}

#[test]
fn format_comes_from_the_bytes_not_the_name() {
    let bytes = encode(&DynamicImage::ImageRgb8(two_tone()), ImageFormat::Png);
    let img = decode_bytes(&bytes, "misnamed.jpg", &DecodeLimits::default()).expect("PNG decodes");
    assert_eq!(img, two_tone());
}

#[test]
fn transparent_pixels_become_white() {
    // Fully transparent black, opaque red, half-transparent black (α = 128).
    let rgba = RgbaImage::from_fn(3, 1, |x, _| match x {
        0 => Rgba([0, 0, 0, 0]),
        1 => Rgba([255, 0, 0, 255]),
        _ => Rgba([0, 0, 0, 128]),
    });
    let img = decode(&png(&DynamicImage::ImageRgba8(rgba))).expect("RGBA PNG decodes");
    assert_eq!(img.get_pixel(0, 0), &Rgb([255, 255, 255]));
    assert_eq!(img.get_pixel(1, 0), &Rgb([255, 0, 0]));
    // 0·128/255 + 255·(1 − 128/255) = 127.
    assert_eq!(img.get_pixel(2, 0), &Rgb([127, 127, 127]));
}

#[test]
fn sixteen_bit_and_grey_become_8bit_rgb() {
    // 16-bit grey 0x8080 = 32896 → 32896/257 = 128 exactly.
    let grey16 = image::ImageBuffer::from_pixel(4, 4, Luma([0x8080u16]));
    let img = decode(&png(&DynamicImage::ImageLuma16(grey16))).expect("16-bit PNG decodes");
    assert!(img.pixels().all(|p| p.0 == [128, 128, 128]), "{:?}", img.get_pixel(0, 0));

    let rgba16 = image::ImageBuffer::from_pixel(2, 2, Rgba([65535u16, 0, 0, 0]));
    let img = decode(&png(&DynamicImage::ImageRgba16(rgba16))).expect("16-bit RGBA PNG decodes");
    assert!(img.pixels().all(|p| p.0 == [255, 255, 255]), "transparent 16-bit → white");

    let grey8 = image::GrayImage::from_pixel(3, 3, Luma([77]));
    let img = decode(&png(&DynamicImage::ImageLuma8(grey8))).expect("grey PNG decodes");
    assert!(img.pixels().all(|p| p.0 == [77, 77, 77]));
}

#[test]
fn exif_orientation_6_rotates_a_jpeg() {
    let plain = jpeg(&two_tone());
    let rotated = splice_exif_into_jpeg(&plain, &exif_orientation(6));
    let upright = decode(&plain).expect("plain JPEG decodes");
    assert_eq!(upright.dimensions(), (40, 20));
    let img = decode(&rotated).expect("EXIF JPEG decodes");
    // Orientation 6 = "rotate 90° clockwise to view": the left (red) edge ends up on top.
    assert_eq!(img.dimensions(), (20, 40));
    assert!(close(*img.get_pixel(10, 2), [255, 0, 0], 40), "{:?}", img.get_pixel(10, 2));
    assert!(close(*img.get_pixel(10, 37), [0, 0, 255], 40), "{:?}", img.get_pixel(10, 37));
}

#[test]
fn every_exif_orientation_gives_the_right_shape() {
    for orientation in 1..=8u16 {
        let img = decode(&splice_exif_into_jpeg(&jpeg(&two_tone()), &exif_orientation(orientation)))
            .expect("EXIF JPEG decodes");
        let expected = if orientation >= 5 { (20, 40) } else { (40, 20) };
        assert_eq!(img.dimensions(), expected, "orientation {orientation}");
    }
}

#[test]
fn exif_orientation_in_png_is_applied() {
    let img = decode(&png_with_exif(&two_tone(), exif_orientation(8))).expect("PNG decodes");
    // Orientation 8 = rotate 90° counter-clockwise: the left (red) edge ends up at the bottom.
    assert_eq!(img.dimensions(), (20, 40));
    assert_eq!(img.get_pixel(10, 39), &Rgb([255, 0, 0]));
    assert_eq!(img.get_pixel(10, 0), &Rgb([0, 0, 255]));
}

#[test]
fn garbage_exif_does_not_lose_the_photo() {
    let bytes = splice_exif_into_jpeg(&jpeg(&two_tone()), b"MM\x00\x2a\xff\xff\xff\xff junk");
    assert_eq!(decode(&bytes).expect("decodes unrotated").dimensions(), (40, 20));
}

#[test]
fn decode_file_reads_names_and_limits() {
    let dir = std::env::temp_dir().join(format!("sneaker-vision-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("shoe.jpg");
    std::fs::write(&path, jpeg(&gradient(32, 16))).expect("write temp JPEG");
    let d = DecodeLimits::default();
    assert_eq!(decode_file(&path, &d).expect("decodes").dimensions(), (32, 16));

    let err = decode_file(&path, &DecodeLimits { max_bytes: 10, ..d }).expect_err("too big");
    assert_eq!(err.kind(), "too_large");
    assert!(err.to_string().contains("shoe.jpg"), "{err}");

    let missing = dir.join("missing.png");
    let err = decode_file(&missing, &d).expect_err("missing file");
    assert_eq!(err.kind(), "io");
    assert!(err.to_string().contains("missing.png"), "{err}");

    let empty = dir.join("empty.png");
    std::fs::write(&empty, b"").expect("write empty file");
    let err = decode_file(&empty, &d).expect_err("empty file");
    assert_eq!(err.kind(), "empty");
    assert!(err.to_string().contains("empty.png"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn real_photos_pass_the_completeness_check() {
    // Phone and studio photos from the datasets: strictness must not cost a real photo.
    let Some(shared) = shared_dir() else { return };
    let mut checked = 0;
    for set in ["sneakers50-wild-dev", "packshots-nike-adidas"] {
        for entry in walk(&shared.join("datasets").join(set)) {
            if sneaker_vision::is_image_path(&entry) {
                decode_file(&entry, &DecodeLimits::default())
                    .unwrap_or_else(|e| panic!("a real photo was refused: {e}"));
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} photos found");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
