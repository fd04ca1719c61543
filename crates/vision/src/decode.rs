//! Untrusted bytes → upright 8-bit RGB: size limits first, format from the magic bytes, the file
//! checked to be complete, orientation applied, alpha flattened onto white.

mod complete;
mod heif;
mod scaled;

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

use crate::error::{Result, VisionError};
use crate::formats::{Format, Sniffed, sniff};

/// Bounds checked before any pixel memory is allocated.
///
/// Defaults are sized for phone photos with headroom, while keeping one decode's memory
/// bounded (≈ `max_pixels` × 8 bytes worst case, 400 MB) so a few concurrent uploads cannot
/// exhaust a small server:
/// - `max_bytes` 20 MiB: a 48 Mpx phone JPEG is 8–15 MB; anything bigger is not a photo upload.
/// - `max_width`/`max_height` 12 000 px: above every phone sensor (48 Mpx is 8064×6048) and
///   typical stitched panoramas are refused rather than shrunk to a meaningless 224² strip.
/// - `max_pixels` 50 Mpx: admits 48 Mpx sensors; PNG/GIF "bombs" declaring gigapixels are
///   refused from the header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted file/upload, in bytes.
    pub max_bytes: usize,
    /// Largest accepted width in pixels (before EXIF rotation).
    pub max_width: u32,
    /// Largest accepted height in pixels (before EXIF rotation).
    pub max_height: u32,
    /// Largest accepted width × height.
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_bytes: 20 * 1024 * 1024, max_width: 12_000, max_height: 12_000, max_pixels: 50_000_000 }
    }
}

impl DecodeLimits {
    /// Allocation budget handed to the decoder: the output buffer at the widest colour type
    /// we accept (16-bit RGBA, 8 bytes/px) plus 64 MiB for decoder internals.
    fn max_alloc(&self) -> u64 {
        self.max_pixels.saturating_mul(8).saturating_add(64 * 1024 * 1024)
    }

    fn image_limits(&self, with_dimensions: bool) -> image::Limits {
        // `image::Limits` is non-exhaustive, so start from its default and overwrite.
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(self.max_alloc());
        if with_dimensions {
            limits.max_image_width = Some(self.max_width);
            limits.max_image_height = Some(self.max_height);
        }
        limits
    }
}

/// Decode an image from memory. `name` is only used in error messages and logs.
///
/// The format comes from the bytes (JPEG, PNG, WebP, GIF first frame, BMP, HEIC/HEIF). A file
/// that ends before its format says it does is an error, never an image padded with grey.
/// Orientation is applied: EXIF (JPEG, PNG `eXIf`, WebP) via `image`'s
/// `ImageDecoder::orientation`, a HEIF's own transforms by libheif. Transparent pixels become
/// white; 16-bit, 10-bit and grey images become 8-bit RGB.
pub fn decode_bytes(bytes: &[u8], name: &str, limits: &DecodeLimits) -> Result<RgbImage> {
    decode(bytes, name, limits, None)
}

/// [`decode_bytes`] for a photo that is going to be shrunk to at most `side`×`side` (the
/// network's input): a large JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) that
/// keeps both of its sides ≥ `side`, which costs a fraction of a full decode. Other formats,
/// and photos already near `side`, decode in full. Every front end that feeds the network
/// (predict, evaluate, the gallery, the server) decodes this way, so they see the same pixels.
pub fn decode_bytes_for_input(bytes: &[u8], name: &str, limits: &DecodeLimits, side: u32) -> Result<RgbImage> {
    decode(bytes, name, limits, Some(side))
}

fn decode(bytes: &[u8], name: &str, limits: &DecodeLimits, at_least: Option<u32>) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(VisionError::Empty { name: name.to_owned() });
    }
    if bytes.len() > limits.max_bytes {
        return Err(too_large(
            name,
            format!("the file is {} bytes, more than the {} byte limit", bytes.len(), limits.max_bytes),
        ));
    }
    let format = match sniff(bytes) {
        Sniffed::Supported(format) => format,
        Sniffed::Unsupported(detail) => {
            return Err(VisionError::UnsupportedFormat { name: name.to_owned(), detail: detail.to_owned() });
        }
    };
    let (decoded, orientation) = match format {
        Format::Image(format) => {
            complete::check(format, bytes).map_err(|detail| VisionError::Corrupt { name: name.to_owned(), detail })?;
            let small = match (format, at_least) {
                (ImageFormat::Jpeg, Some(side)) => scaled::decode_jpeg_at_least(bytes, name, limits, side)?,
                _ => None,
            };
            match small {
                Some((image, orientation)) => (DynamicImage::ImageRgb8(image), orientation),
                None => decode_with_image(bytes, format, name, limits)?,
            }
        }
        Format::Heif => (heif::decode(bytes, name, limits)?, Orientation::NoTransforms),
    };
    let (width, height) = (decoded.width(), decoded.height());
    let mut upright = DynamicImage::ImageRgb8(flatten_to_rgb8(decoded));
    upright.apply_orientation(orientation);
    let rgb = upright.into_rgb8();
    tracing::debug!(name, ?format, width, height, ?orientation, "decoded image");
    Ok(rgb)
}

/// The formats `image` decodes, with the EXIF orientation it reads.
fn decode_with_image(
    bytes: &[u8],
    format: ImageFormat,
    name: &str,
    limits: &DecodeLimits,
) -> Result<(DynamicImage, Orientation)> {
    // First pass: header only, under an allocation budget but without the dimension limits,
    // so an oversized image gets our precise message rather than a generic "limits exceeded".
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits.image_limits(false));
    let mut decoder = reader.into_decoder().map_err(|e| map_image_error(name, e))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(name, width, height, limits)?;
    // Second line of defence: the decoder itself enforces the same bounds while decoding.
    decoder.set_limits(limits.image_limits(true)).map_err(|e| map_image_error(name, e))?;

    let orientation = decoder.orientation().unwrap_or_else(|err| {
        // Damaged EXIF should not cost the user their photo; decode it unrotated.
        tracing::warn!(name, %err, "ignoring unreadable EXIF orientation");
        Orientation::NoTransforms
    });
    let decoded = DynamicImage::from_decoder(decoder).map_err(|e| map_image_error(name, e))?;
    Ok((decoded, orientation))
}

/// Read and decode an image file; every error names the file. The byte limit is checked
/// against the file's size before reading it.
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<RgbImage> {
    let (name, bytes) = read_file(path, limits)?;
    decode_bytes(&bytes, &name, limits)
}

/// [`decode_bytes_for_input`] of a file.
pub fn decode_file_for_input(path: &Path, limits: &DecodeLimits, side: u32) -> Result<RgbImage> {
    let (name, bytes) = read_file(path, limits)?;
    decode_bytes_for_input(&bytes, &name, limits, side)
}

fn read_file(path: &Path, limits: &DecodeLimits) -> Result<(String, Vec<u8>)> {
    let name = path.display().to_string();
    let io_err = |source| VisionError::Io { name: name.clone(), source };
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    if len > limits.max_bytes as u64 {
        return Err(too_large(
            &name,
            format!("the file is {len} bytes, more than the {} byte limit", limits.max_bytes),
        ));
    }
    // `take` guards against a file that grows between `metadata` and `read`.
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limits.max_bytes as u64 + 1).read_to_end(&mut bytes).map_err(io_err)?;
    Ok((name, bytes))
}

fn too_large(name: &str, detail: String) -> VisionError {
    VisionError::TooLarge { name: name.to_owned(), detail }
}

fn check_dimensions(name: &str, width: u32, height: u32, limits: &DecodeLimits) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(VisionError::Corrupt {
            name: name.to_owned(),
            detail: format!("the header declares an empty {width}×{height} image"),
        });
    }
    let pixels = u64::from(width) * u64::from(height);
    if width > limits.max_width || height > limits.max_height || pixels > limits.max_pixels {
        return Err(too_large(
            name,
            format!(
                "the image is {width}×{height} px ({:.1} Mpx); the limit is {}×{} px and {:.1} Mpx",
                pixels as f64 / 1e6,
                limits.max_width,
                limits.max_height,
                limits.max_pixels as f64 / 1e6
            ),
        ));
    }
    Ok(())
}

fn map_image_error(name: &str, err: ImageError) -> VisionError {
    let name = name.to_owned();
    match err {
        ImageError::Limits(e) => {
            VisionError::TooLarge { name, detail: format!("decoding would exceed the memory limit: {e}") }
        }
        // e.g. a BMP/PNG sub-variant the decoder does not implement.
        ImageError::Unsupported(e) => VisionError::UnsupportedFormat {
            name,
            detail: format!("{e} (supported: {})", crate::formats::SUPPORTED_FORMATS),
        },
        // Reading from memory only fails with an I/O error when the data ends early.
        ImageError::IoError(e) => VisionError::Corrupt { name, detail: e.to_string() },
        other => VisionError::Corrupt { name, detail: other.to_string() },
    }
}

/// Any decoded colour type → 8-bit RGB; transparent pixels are composited onto white, the
/// background a product photo is expected to have (dropping alpha would often give black).
fn flatten_to_rgb8(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let (width, height) = (img.width(), img.height());
    let mut out = RgbImage::new(width, height);
    if img.color().bytes_per_pixel() / img.color().channel_count() == 1 {
        let rgba = img.into_rgba8();
        for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
            let a = u32::from(src[3]);
            for c in 0..3 {
                let v = (u32::from(src[c]) * a + 255 * (255 - a) + 127) / 255;
                dst[c] = v as u8;
            }
        }
    } else {
        let rgba = img.into_rgba16();
        for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
            let a = u64::from(src[3]);
            for c in 0..3 {
                let v16 = (u64::from(src[c]) * a + 65_535 * (65_535 - a) + 32_767) / 65_535;
                dst[c] = ((v16 + 128) / 257) as u8;
            }
        }
    }
    out
}
