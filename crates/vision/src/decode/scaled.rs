//! JPEG decoding at a reduced DCT scale, for photos that are only going to be shrunk to the
//! network's input: an 800-px photo decoded at 1/2 (a 4000-px one at 1/8) skips three quarters
//! (63/64) of the inverse-DCT, upsampling and colour work, and the scaled IDCT is itself an area
//! filter, so the bilinear resize after it starts from a clean, small image.
//!
//! `image`'s JPEG decoder (zune-jpeg) cannot scale while decoding. `jpeg-decoder` can, but
//! without SIMD it was slower at 1/2 than zune-jpeg in full (2.1 against 1.9 ms per 800-px
//! photo, decode and resize). libjpeg-turbo's scaled IDCT with SIMD, through the `mozjpeg`
//! crate (a maintained libjpeg-turbo fork, built from source with nasm), decodes the same photo
//! at 1/2 in 0.56 ms against zune-jpeg's 0.94 ms in full. It is also the decoder Pillow uses, so
//! the pixels stay close to the reference preprocessing.

use std::panic::{AssertUnwindSafe, catch_unwind};

use image::RgbImage;
use image::metadata::Orientation;
use mozjpeg::{ALL_MARKERS, ColorSpace, Decompress, Marker};

use super::{DecodeLimits, check_dimensions};
use crate::error::{Result, VisionError};

/// `len` at DCT scale `eighths`/8, as libjpeg rounds it.
fn scaled(len: u32, eighths: u32) -> u32 {
    (len * eighths).div_ceil(8)
}

/// The smallest scale (in eighths) keeping both sides ≥ `side`, below full size; `None` when
/// only the full size does (small photos decode as before).
pub(super) fn choose_scale(width: u32, height: u32, side: u32) -> Option<u32> {
    [1, 2, 4].into_iter().find(|&s| scaled(width, s) >= side && scaled(height, s) >= side)
}

/// Decodes `bytes` (a complete JPEG) at the smallest DCT scale that keeps both sides ≥ `side`.
/// `Ok(None)` when scaling would not help (the photo is small) or the photo is in a colour space
/// this path does not convert (CMYK): the caller then decodes it in full.
pub(super) fn decode_jpeg_at_least(
    bytes: &[u8],
    name: &str,
    limits: &DecodeLimits,
    side: u32,
) -> Result<Option<(RgbImage, Orientation)>> {
    // libjpeg reports errors by unwinding out of its callbacks (`mozjpeg`'s documented
    // contract): caught here, so a damaged photo is an error naming it, never a crash.
    match catch_unwind(AssertUnwindSafe(|| decode(bytes, name, limits, side))) {
        Ok(result) => result,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "the JPEG decoder stopped on damaged data".to_owned());
            Err(VisionError::Corrupt { name: name.to_owned(), detail })
        }
    }
}

fn decode(bytes: &[u8], name: &str, limits: &DecodeLimits, side: u32) -> Result<Option<(RgbImage, Orientation)>> {
    let corrupt = |e: std::io::Error| VisionError::Corrupt { name: name.to_owned(), detail: e.to_string() };
    let mut decoder = Decompress::with_markers(ALL_MARKERS).from_mem(bytes).map_err(corrupt)?;
    let (width, height) = (decoder.width() as u32, decoder.height() as u32);
    check_dimensions(name, width, height, limits)?;
    if !matches!(decoder.color_space(), ColorSpace::JCS_YCbCr | ColorSpace::JCS_RGB | ColorSpace::JCS_GRAYSCALE) {
        return Ok(None);
    }
    let Some(eighths) = choose_scale(width, height, side) else { return Ok(None) };
    let orientation = decoder
        .markers()
        .filter(|m| m.marker == Marker::APP(1))
        .find_map(|m| m.data.strip_prefix(b"Exif\0\0").and_then(Orientation::from_exif_chunk))
        .unwrap_or(Orientation::NoTransforms);
    decoder.scale(eighths as u8);
    let mut started = decoder.rgb().map_err(corrupt)?;
    let (w, h) = (started.width() as u32, started.height() as u32);
    if w < side || h < side {
        // Never hand on less than `side`: the caller decodes in full instead.
        return Ok(None);
    }
    let pixels: Vec<u8> = started.read_scanlines().map_err(corrupt)?;
    started.finish().map_err(corrupt)?;
    let image = RgbImage::from_raw(w, h, pixels).ok_or_else(|| VisionError::Corrupt {
        name: name.to_owned(),
        detail: format!("the decoder returned too few pixels for {w}×{h}"),
    })?;
    Ok(Some((image, orientation)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_keeps_both_sides_at_least_the_input() {
        // 800×600 → 1/2 is 400×300; 1/4 would be 200×150 < 224.
        assert_eq!(choose_scale(800, 600, 224), Some(4));
        // 4032×3024 (a phone photo) → 1/8 is 504×378.
        assert_eq!(choose_scale(4032, 3024, 224), Some(1));
        // Tall: the narrow side decides. 900×1800 at 1/4 is 225×450.
        assert_eq!(choose_scale(900, 1800, 224), Some(2));
        // Small photos are decoded in full.
        assert_eq!(choose_scale(300, 140, 224), None);
        // Sizes round up, as libjpeg's do: 447 at 1/2 is 223.5 → 224.
        assert_eq!(choose_scale(446, 446, 224), None);
        assert_eq!(choose_scale(447, 447, 224), Some(4));
    }
}
