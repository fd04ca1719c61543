//! HEIC/HEIF, iPhones' default photo format, through Debian's libheif (HEVC by libde265).
//!
//! Same rules as the other formats: both sizes the header gives (stored and displayed) are
//! checked before any pixel is decoded, a cut-off file is an error (libheif refuses item data
//! that runs past the end), and 10-bit photos come out as 8-bit RGB. Orientation is the
//! HEIF's own `irot`/`imir` transform, which libheif applies while decoding; an EXIF orientation
//! inside a HEIF is informational only (the HEIF standard says so, and iPhones write both), so
//! it is not applied a second time.

use std::sync::LazyLock;

use image::{DynamicImage, RgbImage, Rgba, RgbaImage};
use libheif_rs::{ColorSpace, HeifContext, HeifError, HeifErrorCode, LibHeif, RgbChroma};

use super::{DecodeLimits, check_dimensions};
use crate::error::{Result, VisionError};
use crate::formats::SUPPORTED_FORMATS;

/// libheif's global set-up, done once and kept: decodes run on any thread at any time.
static LIBHEIF: LazyLock<LibHeif> = LazyLock::new(LibHeif::new);

/// Decodes the primary image of a HEIF file into 8-bit RGB, or RGBA when it has alpha.
pub(super) fn decode(bytes: &[u8], name: &str, limits: &DecodeLimits) -> Result<DynamicImage> {
    let heif = |e: HeifError| map_error(name, e);
    let context = HeifContext::read_from_bytes(bytes).map_err(heif)?;
    let handle = context.primary_image_handle().map_err(heif)?;
    // `ispe` is the stored size, before the transforms; width/height are the displayed size.
    if let (Ok(w), Ok(h)) = (u32::try_from(handle.ispe_width()), u32::try_from(handle.ispe_height()))
        && w > 0
        && h > 0
    {
        check_dimensions(name, w, h, limits)?;
    }
    check_dimensions(name, handle.width(), handle.height(), limits)?;

    let alpha = handle.has_alpha_channel();
    let chroma = if alpha { RgbChroma::Rgba } else { RgbChroma::Rgb };
    // libheif's default options: transforms applied. Never pass `Some(DecodingOptions)`:
    // libheif-rs 0.20 frees them before libheif reads them (fixed only in releases that need
    // libheif 1.17+). Asking for interleaved 8-bit RGB(A) converts 10-bit photos to 8 bits.
    let image = LIBHEIF.decode(&handle, ColorSpace::Rgb(chroma), None).map_err(heif)?;

    let planes = image.planes();
    let plane = planes.interleaved.ok_or_else(|| corrupt(name, "libheif returned no RGB pixels".into()))?;
    let (width, height) = (plane.width, plane.height);
    check_dimensions(name, width, height, limits)?;
    let channels = if alpha { 4 } else { 3 };
    if usize::from(plane.storage_bits_per_pixel) != 8 * channels {
        return Err(corrupt(name, format!("libheif returned {} bits per pixel", plane.storage_bits_per_pixel)));
    }
    let row = width as usize * channels;
    let mut pixels = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        let start = y * plane.stride;
        let src = plane.data.get(start..start + row);
        pixels.extend_from_slice(src.ok_or_else(|| corrupt(name, "libheif returned a short pixel buffer".into()))?);
    }
    let short = || corrupt(name, "libheif returned a short pixel buffer".into());
    if alpha {
        let mut rgba = RgbaImage::from_raw(width, height, pixels).ok_or_else(short)?;
        if image.is_premultiplied_alpha() {
            unpremultiply(&mut rgba);
        }
        Ok(DynamicImage::ImageRgba8(rgba))
    } else {
        Ok(DynamicImage::ImageRgb8(RgbImage::from_raw(width, height, pixels).ok_or_else(short)?))
    }
}

/// Premultiplied colour back to straight colour, which the flattening onto white expects.
fn unpremultiply(img: &mut RgbaImage) {
    for Rgba([r, g, b, a]) in img.pixels_mut() {
        let alpha = u32::from(*a);
        for c in [r, g, b] {
            *c = (u32::from(*c) * 255 + alpha / 2).checked_div(alpha).map_or(0, |v| v.min(255) as u8);
        }
    }
}

fn corrupt(name: &str, detail: String) -> VisionError {
    VisionError::Corrupt { name: name.to_owned(), detail }
}

/// libheif's error, in the kind the other formats use for the same trouble.
fn map_error(name: &str, err: HeifError) -> VisionError {
    let detail = if err.message.is_empty() { format!("{:?}", err.sub_code) } else { err.message.clone() };
    let name = name.to_owned();
    match err.code {
        HeifErrorCode::MemoryAllocationError => {
            VisionError::TooLarge { name, detail: format!("decoding would exceed the memory limit: {detail}") }
        }
        // e.g. a codec inside the HEIF other than HEVC or AV1, which libheif cannot decode.
        HeifErrorCode::UnsupportedFeature | HeifErrorCode::UnsupportedFileType => VisionError::UnsupportedFormat {
            name,
            detail: format!("this HEIF cannot be decoded: {detail} (supported: {SUPPORTED_FORMATS})"),
        },
        _ => VisionError::Corrupt { name, detail: format!("HEIF: {detail}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn premultiplied_colour_is_restored() {
        let mut img = RgbaImage::from_pixel(1, 1, Rgba([64, 0, 128, 128]));
        unpremultiply(&mut img);
        assert_eq!(img.get_pixel(0, 0), &Rgba([128, 0, 255, 128]));
        let mut clear = RgbaImage::from_pixel(1, 1, Rgba([9, 9, 9, 0]));
        unpremultiply(&mut clear);
        assert_eq!(clear.get_pixel(0, 0), &Rgba([0, 0, 0, 0]));
    }

    #[test]
    fn random_bytes_are_an_error_not_a_crash() {
        let mut bytes = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic".to_vec();
        bytes.extend_from_slice(&[0xAB; 200]);
        let err = decode(&bytes, "x.heic", &DecodeLimits::default()).expect_err("not a HEIF");
        assert!(err.to_string().starts_with("x.heic: "), "{err}");
    }
}
