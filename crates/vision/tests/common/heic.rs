//! HEIC test files written by libheif's own HEVC encoder (x265, which Debian's libheif links):
//! no photo needs to be committed. Also used by the web app's tests (through `#[path]`).
#![allow(dead_code)] // each test binary uses a different subset

use image::{DynamicImage, Rgb, RgbImage};
use libheif_rs::{Channel, ColorSpace, CompressionFormat, EncoderQuality, HeifContext, LibHeif, RgbChroma};

/// `img` as a HEIC written by libheif's HEVC encoder (x265, which Debian's libheif links),
/// losslessly. (For a turned photo, see [`with_irot`].)
pub fn heic(img: &DynamicImage) -> Vec<u8> {
    let (w, h) = (img.width(), img.height());
    let alpha = img.color().has_alpha();
    let (chroma, raw, channels) = if alpha {
        (RgbChroma::Rgba, img.to_rgba8().into_raw(), 4)
    } else {
        (RgbChroma::Rgb, img.to_rgb8().into_raw(), 3)
    };
    let mut image = libheif_rs::Image::new(w, h, ColorSpace::Rgb(chroma)).expect("a libheif image");
    image.create_plane(Channel::Interleaved, w, h, 8 * channels as u8).expect("an interleaved plane");
    let plane = image.planes_mut().interleaved.expect("the interleaved plane");
    let row = w as usize * channels;
    for (y, src) in raw.chunks_exact(row).enumerate() {
        plane.data[y * plane.stride..y * plane.stride + row].copy_from_slice(src);
    }
    let lib = LibHeif::new();
    let mut encoder = lib.encoder_for_format(CompressionFormat::Hevc).expect("libheif has an HEVC encoder (x265)");
    encoder.set_quality(EncoderQuality::LossLess).expect("lossless");
    // No `Some(EncodingOptions)`: libheif-rs 0.20 frees them before libheif reads them.
    let mut context = HeifContext::new().expect("a HEIF context");
    context.encode_image(&image, &mut encoder, None).expect("encoding a small HEIC");
    context.write_to_bytes().expect("writing the HEIC")
}

/// A real small HEIC whose every `ispe` (stored size) property is rewritten to `w`×`h`.
pub fn heic_declaring(w: u32, h: u32) -> Vec<u8> {
    let picture = RgbImage::from_fn(64, 48, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, 128]));
    let mut bytes = heic(&DynamicImage::ImageRgb8(picture));
    let mut found = 0;
    let mut i = 0;
    while let Some(at) = bytes[i..].windows(4).position(|win| win == b"ispe") {
        // "ispe", version and flags (4), width (4), height (4).
        let start = i + at + 8;
        bytes[start..start + 4].copy_from_slice(&w.to_be_bytes());
        bytes[start + 4..start + 8].copy_from_slice(&h.to_be_bytes());
        found += 1;
        i = start + 8;
    }
    assert!(found > 0, "the HEIC has no ispe property");
    bytes
}

/// `heic` with an `irot` property (`quarter_turns` × 90° anti-clockwise) added to its primary
/// image, as an iPhone held sideways writes it. libheif 1.15's encoder ignores its own
/// orientation option, so the box is spliced in: appended to `ipco`, associated in `ipma`,
/// enclosing box sizes and `iloc` file offsets moved along. Handles what libheif writes
/// (`ipma` version 0, `iloc` version 0 or 1), nothing more.
pub fn with_irot(heic: &[u8], quarter_turns: u8) -> Vec<u8> {
    let u16_at = |b: &[u8], i: usize| usize::from(u16::from_be_bytes([b[i], b[i + 1]]));
    let u32_at = |b: &[u8], i: usize| u32::from_be_bytes(b[i..i + 4].try_into().expect("4 bytes")) as usize;
    // Child boxes of the box whose payload is `start..end`: (type, offset, size).
    let children = |b: &[u8], start: usize, end: usize| {
        let mut out = Vec::new();
        let mut i = start;
        while i + 8 <= end {
            let size = u32_at(b, i);
            out.push((b[i + 4..i + 8].to_vec(), i, size));
            i += size.max(8);
        }
        out
    };
    let find = |list: &[(Vec<u8>, usize, usize)], kind: &[u8]| {
        list.iter().find(|c| c.0 == kind).map(|c| (c.1, c.2)).expect("box present")
    };
    let mut b = heic.to_vec();
    let (meta, meta_size) = find(&children(&b, 0, b.len()), b"meta");
    let in_meta = children(&b, meta + 12, meta + meta_size); // meta is a full box
    let (pitm, _) = find(&in_meta, b"pitm");
    let primary = u16_at(&b, pitm + 12);
    let (iprp, iprp_size) = find(&in_meta, b"iprp");
    let in_iprp = children(&b, iprp + 8, iprp + iprp_size);
    let (ipco, ipco_size) = find(&in_iprp, b"ipco");
    let property = children(&b, ipco + 8, ipco + ipco_size).len() + 1;
    let (ipma, _) = find(&in_iprp, b"ipma");
    assert_eq!(b[ipma + 8..ipma + 12], [0, 0, 0, 0], "ipma version 0, 1-byte associations");
    let mut i = ipma + 16;
    let mut insert_at = None;
    for _ in 0..u32_at(&b, ipma + 12) {
        let count = usize::from(b[i + 2]);
        if u16_at(&b, i) == primary {
            b[i + 2] += 1;
            insert_at = Some(i + 3 + count);
        }
        i += 3 + count;
    }
    let insert_at = insert_at.expect("the primary item has properties");
    let grow = 9 + 1; // the irot box, one association byte
    for (at, by) in [(meta, grow), (iprp, grow), (ipco, 9), (ipma, 1)] {
        let size = u32_at(&b, at) + by;
        b[at..at + 4].copy_from_slice(&(size as u32).to_be_bytes());
    }
    // iloc: file offsets past meta move by `grow` (construction method 0 only).
    let (iloc, _) = find(&in_meta, b"iloc");
    let version = b[iloc + 8];
    assert!(version <= 1, "iloc version {version}");
    let (offset_size, length_size) = (usize::from(b[iloc + 12] >> 4), usize::from(b[iloc + 12] & 15));
    let (base_size, index_size) = (usize::from(b[iloc + 13] >> 4), usize::from(b[iloc + 13] & 15));
    let mut i = iloc + 16;
    for _ in 0..u16_at(&b, iloc + 14) {
        let method = if version == 1 { u16_at(&b, i + 2) & 15 } else { 0 };
        i += if version == 1 { 6 } else { 4 };
        let shift = |b: &mut [u8], at: usize, size: usize| {
            if method == 0 && size == 4 && u32_at(b, at) > meta {
                let moved = (u32_at(b, at) + grow) as u32;
                b[at..at + 4].copy_from_slice(&moved.to_be_bytes());
            }
        };
        shift(&mut b, i, base_size);
        i += base_size;
        let extents = u16_at(&b, i);
        i += 2;
        for _ in 0..extents {
            i += if version == 1 { index_size } else { 0 };
            shift(&mut b, i, offset_size);
            i += offset_size + length_size;
        }
    }
    b.insert(insert_at, 0x80 | property as u8);
    let irot = [0, 0, 0, 9, b'i', b'r', b'o', b't', quarter_turns & 3];
    b.splice(ipco + ipco_size..ipco + ipco_size, irot);
    b
}
