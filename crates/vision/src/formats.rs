//! Which image formats we accept, recognised from the bytes (never the name), and friendly
//! explanations for the common ones we do not (AVIF, videos, text/HTML error pages).

use std::path::Path;

use image::ImageFormat;

/// Formats [`crate::decode_bytes`] decodes; listed in every "unsupported" message.
pub const SUPPORTED_FORMATS: &str = "JPEG, PNG, WebP, GIF, BMP, HEIC/HEIF";

/// File extensions (lower case) of the formats we decode: the one list every folder scan uses
/// (catalogs, training sets, galleries, `predict` on a folder).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "jpe", "jfif", "png", "webp", "gif", "bmp", "heic", "heif"];

/// Whether `path` looks like an image we can decode, by its extension (case-insensitive).
///
/// Only for picking files out of a folder; decoding itself trusts the bytes, not the name.
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| IMAGE_EXTENSIONS.iter().any(|known| ext.eq_ignore_ascii_case(known)))
}

/// The canonical file extension of an image in a format we decode, from its bytes: what a file
/// saved from downloaded bytes should be called. `None` for anything we do not decode.
pub fn image_extension(bytes: &[u8]) -> Option<&'static str> {
    match sniff(bytes) {
        Sniffed::Supported(Format::Image(format)) => format.extensions_str().first().copied(),
        Sniffed::Supported(Format::Heif) => Some("heic"),
        Sniffed::Unsupported(_) => None,
    }
}

/// A format we decode, and which decoder does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// JPEG, PNG, WebP, GIF or BMP, through `image`.
    Image(ImageFormat),
    /// HEIC/HEIF, through libheif.
    Heif,
}

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    /// One of the formats we decode.
    Supported(Format),
    /// Anything else; the string explains what it is and what to do.
    Unsupported(&'static str),
}

/// Recognise the container from its magic bytes.
pub(crate) fn sniff(bytes: &[u8]) -> Sniffed {
    if let Some(kind) = iso_media_kind(bytes) {
        return kind;
    }
    match image::guess_format(bytes) {
        Ok(
            format @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif | ImageFormat::Bmp),
        ) => Sniffed::Supported(Format::Image(format)),
        Ok(ImageFormat::Tiff) => Sniffed::Unsupported(
            "TIFF images are not supported (supported: JPEG, PNG, WebP, GIF, BMP, HEIC/HEIF); export as JPEG or PNG",
        ),
        Ok(_) => Sniffed::Unsupported(
            "this image format is not supported (supported: JPEG, PNG, WebP, GIF, BMP, HEIC/HEIF); export as JPEG or PNG",
        ),
        Err(_) if looks_like_text(bytes) => Sniffed::Unsupported(
            "this is text (an HTML page or error message?), not an image (supported: JPEG, PNG, WebP, GIF, BMP, HEIC/HEIF)",
        ),
        Err(_) => Sniffed::Unsupported("not a recognised image (supported: JPEG, PNG, WebP, GIF, BMP, HEIC/HEIF)"),
    }
}

const AVIF_ADVICE: &str =
    "AVIF images are not supported (supported: JPEG, PNG, WebP, GIF, BMP, HEIC/HEIF); export as JPEG";
const SEQUENCE_ADVICE: &str = "this is a HEIF image sequence (a burst or animation), not a \
still photo (supported: JPEG, PNG, WebP, GIF, BMP, HEIC/HEIF); export one photo as JPEG or HEIC";
const VIDEO_ADVICE: &str = "this is a video or other ISO media file, not a photo \
(supported: JPEG, PNG, WebP, GIF, BMP, HEIC/HEIF); take a screenshot or export a frame as JPEG";

/// HEIC/HEIF/AVIF (and MP4/MOV) all start with an ISO-BMFF `ftyp` box:
/// `[u32 size]["ftyp"][major brand][u32 minor][compatible brands...]`. The brands say
/// which it is: a HEIF still image (decoded), or something we explain rather than call
/// "unsupported".
fn iso_media_kind(bytes: &[u8]) -> Option<Sniffed> {
    if bytes.len() < 12 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let declared = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let box_end = declared.clamp(12, bytes.len().min(4096));
    let major = &bytes[8..12];
    let compatible = bytes.get(16..box_end).unwrap_or(&[]).chunks_exact(4);
    let brands: Vec<&[u8]> = std::iter::once(major).chain(compatible).collect();
    const AVIF: &[&[u8]] = &[b"avif", b"avis"];
    // Still images (`mif1`, `mif2` and the HEVC profiles), then image sequences.
    const HEIF: &[&[u8]] = &[b"heic", b"heix", b"heim", b"heis", b"mif1", b"mif2"];
    const SEQUENCE: &[&[u8]] = &[b"hevc", b"hevx", b"hevm", b"hevs", b"msf1"];
    // AVIF files also list the generic `mif1`, so test AVIF brands first.
    Some(if brands.iter().any(|b| AVIF.contains(b)) {
        Sniffed::Unsupported(AVIF_ADVICE)
    } else if brands.iter().any(|b| HEIF.contains(b)) {
        Sniffed::Supported(Format::Heif)
    } else if brands.iter().any(|b| SEQUENCE.contains(b)) {
        Sniffed::Unsupported(SEQUENCE_ADVICE)
    } else {
        Sniffed::Unsupported(VIDEO_ADVICE)
    })
}

/// Scraped "images" are often HTML error pages or JSON; say so rather than "unknown format".
fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(512)];
    !head.is_empty()
        && head.iter().all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace() || b >= 0x80)
        && std::str::from_utf8(head).is_ok_and(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_by_extension_case_insensitive() {
        for yes in ["a.jpg", "b/C.JPEG", "x.Png", "y.webp", "z.gif", "w.bmp", "v.jfif", "IMG_0001.HEIC", "u.heif"] {
            assert!(is_image_path(Path::new(yes)), "{yes}");
        }
        for no in ["a.avif", "b.txt", "noext", "c.jpg.part", ".jpg", "d.heic.tmp"] {
            assert!(!is_image_path(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn heif_avif_sequences_and_video_are_told_apart_by_brand() {
        let ftyp = |major: &[u8; 4], compat: &[&[u8; 4]]| {
            let size = 16 + 4 * compat.len();
            let mut b = (size as u32).to_be_bytes().to_vec();
            b.extend_from_slice(b"ftyp");
            b.extend_from_slice(major);
            b.extend_from_slice(&[0, 0, 0, 0]);
            for c in compat {
                b.extend_from_slice(*c);
            }
            b.extend_from_slice(&[0u8; 32]);
            b
        };
        assert_eq!(sniff(&ftyp(b"heic", &[b"mif1", b"heic"])), Sniffed::Supported(Format::Heif));
        assert_eq!(sniff(&ftyp(b"mif1", &[b"heic"])), Sniffed::Supported(Format::Heif));
        assert_eq!(sniff(&ftyp(b"msf1", &[b"hevc"])), Sniffed::Unsupported(SEQUENCE_ADVICE));
        assert_eq!(sniff(&ftyp(b"avif", &[b"mif1", b"miaf"])), Sniffed::Unsupported(AVIF_ADVICE));
        assert_eq!(sniff(&ftyp(b"mif1", &[b"avif"])), Sniffed::Unsupported(AVIF_ADVICE));
        assert_eq!(sniff(&ftyp(b"isom", &[b"mp41"])), Sniffed::Unsupported(VIDEO_ADVICE));
    }

    #[test]
    fn text_is_called_text() {
        match sniff(b"<!DOCTYPE html><html>404</html>") {
            Sniffed::Unsupported(msg) => assert!(msg.contains("text"), "{msg}"),
            other => panic!("{other:?}"),
        }
        match sniff(&[0u8, 1, 2, 3, 4, 5]) {
            Sniffed::Unsupported(msg) => assert!(msg.contains("not a recognised image"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn magic_bytes_pick_the_format() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Sniffed::Supported(Format::Image(ImageFormat::Jpeg)));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Sniffed::Supported(Format::Image(ImageFormat::Png)));
        assert_eq!(sniff(b"GIF89a...."), Sniffed::Supported(Format::Image(ImageFormat::Gif)));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Sniffed::Supported(Format::Image(ImageFormat::WebP)));
        assert_eq!(sniff(b"BM\0\0\0\0\0\0\0\0"), Sniffed::Supported(Format::Image(ImageFormat::Bmp)));
    }
}
