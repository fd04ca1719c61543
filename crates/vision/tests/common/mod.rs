//! Small in-memory test images in every supported format (HEIC through libheif's own encoder),
//! and an EXIF block to splice in.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::Cursor;
use std::path::PathBuf;

use image::codecs::gif::GifEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, Frame, ImageEncoder, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

mod heic;
#[allow(unused_imports)] // each test binary uses a different subset
pub use heic::{heic, heic_declaring, with_irot};

/// 40×20: left half red, right half blue — orientation is visible in the output.
pub fn two_tone() -> RgbImage {
    RgbImage::from_fn(40, 20, |x, _| if x < 20 { Rgb([255, 0, 0]) } else { Rgb([0, 0, 255]) })
}

/// A smooth gradient: compresses to a multi-segment JPEG worth truncating.
pub fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, ((x + y) % 256) as u8]))
}

pub fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encoding a small in-memory image");
    out.into_inner()
}

pub fn jpeg(img: &RgbImage) -> Vec<u8> {
    encode(&DynamicImage::ImageRgb8(img.clone()), ImageFormat::Jpeg)
}

pub fn png(img: &DynamicImage) -> Vec<u8> {
    encode(img, ImageFormat::Png)
}

/// PNG carrying an `eXIf` chunk (written by image's own encoder).
pub fn png_with_exif(img: &RgbImage, exif_tiff: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = PngEncoder::new(&mut out);
    enc.set_exif_metadata(exif_tiff).expect("PNG encoder writes eXIf");
    enc.write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
        .expect("encoding a small PNG");
    out
}

/// Animated GIF whose frames are solid `colours`, in order.
pub fn gif(colours: &[[u8; 3]]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut out);
        let frames = colours.iter().map(|&[r, g, b]| Frame::new(RgbaImage::from_pixel(8, 6, Rgba([r, g, b, 255]))));
        enc.encode_frames(frames).expect("encoding a small GIF");
    }
    out
}

/// TIFF-structured EXIF with only the Orientation tag, as kamadak-exif writes it.
pub fn exif_orientation(orientation: u16) -> Vec<u8> {
    use exif::experimental::Writer;
    use exif::{Field, In, Tag, Value};
    let field = Field { tag: Tag::Orientation, ifd_num: In::PRIMARY, value: Value::Short(vec![orientation]) };
    let mut writer = Writer::new();
    writer.push_field(&field);
    let mut buf = Cursor::new(Vec::new());
    writer.write(&mut buf, false).expect("writing a one-field EXIF block");
    buf.into_inner()
}

/// Insert an APP1 "Exif" segment right after the JPEG's SOI marker, as cameras do.
pub fn splice_exif_into_jpeg(jpeg: &[u8], exif_tiff: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], b"\xFF\xD8", "not a JPEG");
    let payload_len = 2 + 6 + exif_tiff.len(); // length field counts itself
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&(payload_len as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(exif_tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// CRC-32 (ISO-HDLC, as PNG uses) — only to forge a valid PNG header in tests.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A real 1×1 PNG whose IHDR is rewritten (with a correct CRC) to declare `w`×`h`.
pub fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = png(&DynamicImage::ImageRgb8(RgbImage::new(1, 1)));
    // Signature (8) + length (4) + "IHDR" (4) → width at 16, height at 20, CRC at 29.
    assert_eq!(&bytes[12..16], b"IHDR");
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// `../shared` (datasets, golden tensors), or `None` after saying the test is skipped (a failure
/// under `CI=true`).
pub fn shared_dir() -> Option<PathBuf> {
    sneaker_test_support::shared("")
}
