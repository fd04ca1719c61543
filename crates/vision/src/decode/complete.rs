//! Is the file all there? Decoders are lenient by design: the JPEG decoder under `image`
//! (zune-jpeg, non-strict) pads a JPEG that ends mid-scan with grey and returns it without an
//! error, so a cut-off download or upload would be used as if it were a photo. These walks of
//! each container's own structure, cheap and before any pixel is decoded, refuse a file that ends
//! before its format says it does. Trailing data after the end is allowed (phones append
//! motion-photo video to JPEGs). PNG, WebP, GIF and BMP decoders already fail on missing pixel
//! data; the PNG and GIF walks also catch a file cut after its pixels, before its end marker.

use image::ImageFormat;

/// `Err(detail)` when `bytes` of `format` end early or their structure is broken.
pub(super) fn check(format: ImageFormat, bytes: &[u8]) -> Result<(), String> {
    match format {
        ImageFormat::Jpeg => jpeg(bytes),
        ImageFormat::Png => png(bytes),
        ImageFormat::Gif => gif(bytes),
        ImageFormat::WebP => webp(bytes),
        _ => Ok(()),
    }
}

const CUT_OFF: &str = "(was the file cut off?)";

/// Walks the JPEG marker segments, through every scan's entropy-coded data, to the EOI marker
/// that a complete JPEG always has. Never panics, whatever the bytes.
fn jpeg(bytes: &[u8]) -> Result<(), String> {
    let ended = || Err(format!("the JPEG ends before its end-of-image marker {CUT_OFF}"));
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err("the JPEG does not start with a start-of-image marker".into());
    }
    let mut i = 2;
    loop {
        // A marker, possibly after fill bytes (0xFF repeated).
        match bytes.get(i) {
            None => return ended(),
            Some(0xFF) => {}
            Some(_) => return Err(format!("the JPEG's segment structure is broken at byte {i}")),
        }
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else { return ended() };
        i += 1;
        match marker {
            0xD9 => return Ok(()),          // EOI
            0x01 | 0xD0..=0xD7 => continue, // TEM, RSTn: no length
            0x00 => return Err(format!("the JPEG's segment structure is broken at byte {}", i - 2)),
            _ => {}
        }
        let (Some(&hi), Some(&lo)) = (bytes.get(i), bytes.get(i + 1)) else { return ended() };
        let length = usize::from(u16::from_be_bytes([hi, lo]));
        if length < 2 {
            return Err(format!("the JPEG has a segment of impossible length {length} at byte {i}"));
        }
        i += length;
        if i > bytes.len() {
            return ended();
        }
        if marker == 0xDA {
            // SOS: entropy-coded data runs until a marker other than stuffing or RSTn.
            loop {
                let Some(offset) = bytes[i..].iter().position(|&b| b == 0xFF) else { return ended() };
                i += offset;
                match bytes.get(i + 1) {
                    None => return ended(),
                    Some(0xFF) => i += 1,
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(_) => break,
                }
            }
        }
    }
}

/// Walks the PNG chunks to IEND; every chunk must fit in the file. (The decoder checks CRCs.)
fn png(bytes: &[u8]) -> Result<(), String> {
    let mut i = 8; // signature, checked by the sniffer
    loop {
        let Some(header) = bytes.get(i..i + 8) else {
            return Err(format!("the PNG ends before its IEND chunk {CUT_OFF}"));
        };
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let end = i.saturating_add(12).saturating_add(length);
        if end > bytes.len() {
            let kind = String::from_utf8_lossy(&header[4..8]).into_owned();
            return Err(format!("the PNG ends inside its {kind:?} chunk {CUT_OFF}"));
        }
        if &header[4..8] == b"IEND" {
            return Ok(());
        }
        i = end;
    }
}

/// Walks the GIF blocks (extensions and images, each a chain of sub-blocks) to the trailer.
fn gif(bytes: &[u8]) -> Result<(), String> {
    let ended = || Err(format!("the GIF ends before its trailer {CUT_OFF}"));
    // Header (6) + logical screen descriptor (7), then the global colour table if flagged.
    let Some(&flags) = bytes.get(10) else { return ended() };
    let mut i = 13 + colour_table_len(flags);
    loop {
        match bytes.get(i) {
            None => return ended(),
            Some(0x3B) => return Ok(()),
            Some(0x21) => i += 2, // extension introducer and label
            Some(0x2C) => {
                // Image descriptor (10), local colour table, LZW minimum code size (1).
                let Some(&flags) = bytes.get(i + 9) else { return ended() };
                i += 10 + colour_table_len(flags) + 1;
            }
            Some(other) => return Err(format!("the GIF has an unknown block 0x{other:02X} at byte {i}")),
        }
        // Data sub-blocks: a length byte, that many bytes, until a zero length.
        loop {
            match bytes.get(i) {
                None => return ended(),
                Some(0) => break i += 1,
                Some(&n) => i += 1 + usize::from(n),
            }
        }
    }
}

fn colour_table_len(flags: u8) -> usize {
    if flags & 0x80 == 0 { 0 } else { 3 << ((flags & 0x07) + 1) }
}

/// The RIFF header states the file's length; a WebP shorter than that was cut off.
fn webp(bytes: &[u8]) -> Result<(), String> {
    let Some(size) = bytes.get(4..8) else {
        return Err(format!("the WebP ends inside its header {CUT_OFF}"));
    };
    let declared = u64::from(u32::from_le_bytes([size[0], size[1], size[2], size[3]])) + 8;
    if (bytes.len() as u64) < declared {
        return Err(format!("the WebP is {} bytes but declares {declared} {CUT_OFF}", bytes.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use image::{DynamicImage, Rgb, RgbImage};

    use super::*;

    fn picture(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 7 % 256) as u8, (y * 3 % 256) as u8, ((x ^ y) % 256) as u8])
        }))
    }

    fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), format).expect("encode");
        out
    }

    const FORMATS: [ImageFormat; 4] = [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Gif, ImageFormat::WebP];

    #[test]
    fn complete_files_pass_and_trailing_data_is_allowed() {
        for format in FORMATS {
            for (w, h) in [(96, 64), (300, 200)] {
                let full = encode(&picture(w, h), format);
                assert_eq!(check(format, &full), Ok(()), "{format:?}");
                let mut with_trailer = full.clone();
                with_trailer.extend_from_slice(b"\0\0\0\x18ftypmp42 appended motion-photo video");
                assert_eq!(check(format, &with_trailer), Ok(()), "{format:?} with a trailer");
            }
        }
    }

    #[test]
    fn every_truncation_is_caught() {
        for format in FORMATS {
            let full = encode(&picture(120, 80), format);
            // Cutting anywhere before the final end marker leaves an incomplete file.
            for cut in 0..full.len() {
                let err = check(format, &full[..cut]).expect_err("a cut file must not pass");
                assert!(err.contains("cut off") || err.contains("start-of-image"), "{format:?} at {cut}: {err}");
            }
        }
    }

    #[test]
    fn broken_jpeg_structure_is_named() {
        let mut bytes = encode(&picture(32, 32), ImageFormat::Jpeg);
        bytes[2] = 0x00; // the first marker's 0xFF
        let err = check(ImageFormat::Jpeg, &bytes).expect_err("broken");
        assert!(err.contains("structure is broken at byte 2"), "{err}");
    }

    #[test]
    fn a_progressive_jpeg_with_many_scans_is_complete() {
        // A minimal hand-made progressive layout: SOI, SOF2, two SOS scans separated by a DHT,
        // stuffed 0xFF00 and a restart marker inside the scan data, then EOI.
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xC2, 0x00, 0x04, 0xAA, 0xBB];
        b.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x03, 0x01, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        b.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x03, 0x00]);
        b.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x03, 0x02, 0x78, 0xFF, 0xFF, 0xD9]);
        assert_eq!(check(ImageFormat::Jpeg, &b), Ok(()));
        assert!(check(ImageFormat::Jpeg, &b[..b.len() - 1]).is_err());
    }
}
