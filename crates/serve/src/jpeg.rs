//! Truncated-JPEG detection. The JPEG decoder under `image` (zune-jpeg) pads a JPEG that ends
//! mid-scan with grey and returns it without error; a cut-off upload would then be classified as
//! if it were a photo. This walks the marker structure to the end-of-image marker, which a
//! complete JPEG always has, and allows trailing data after it (phones append motion-photo video).
//! Belongs in `sneaker-vision`'s decode; kept here until it moves there.

/// True when `bytes` (starting with the JPEG SOI marker) reach an EOI marker through a valid
/// segment structure. Never panics, whatever the bytes.
pub fn is_complete(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut i = 2;
    loop {
        // Expect a marker, possibly after fill bytes (0xFF repeated).
        if bytes.get(i) != Some(&0xFF) {
            return false;
        }
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else { return false };
        i += 1;
        match marker {
            0xD9 => return true,                            // EOI
            0x01 | 0xD0..=0xD7 => continue,                 // TEM, RSTn: no length
            0x00 => return false,                           // stuffing outside a scan
            _ => {}
        }
        let (Some(&hi), Some(&lo)) = (bytes.get(i), bytes.get(i + 1)) else { return false };
        let length = usize::from(u16::from_be_bytes([hi, lo]));
        if length < 2 {
            return false;
        }
        i += length;
        if i > bytes.len() {
            return false;
        }
        if marker == 0xDA {
            // SOS: entropy-coded data follows until a marker other than stuffing or RSTn.
            loop {
                let Some(offset) = bytes[i..].iter().position(|&b| b == 0xFF) else { return false };
                i += offset;
                match bytes.get(i + 1) {
                    None => return false,
                    Some(0x00 | 0xD0..=0xD7 | 0xFF) => i += if bytes[i + 1] == 0xFF { 1 } else { 2 },
                    Some(_) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn jpeg(progressive_like_big: bool) -> Vec<u8> {
        let (w, h) = if progressive_like_big { (300, 200) } else { (96, 64) };
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7 % 256) as u8, (y * 3) as u8, ((x ^ y) % 256) as u8]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg).expect("encode");
        out
    }

    #[test]
    fn complete_jpegs_pass_and_trailing_data_is_allowed() {
        for big in [false, true] {
            let full = jpeg(big);
            assert!(is_complete(&full));
            let mut with_trailer = full.clone();
            with_trailer.extend_from_slice(b"\0\0\0\x18ftypmp42 appended motion-photo video");
            assert!(is_complete(&with_trailer));
        }
    }

    #[test]
    fn every_truncation_is_caught() {
        let full = jpeg(true);
        // Cutting anywhere before the final EOI marker leaves an incomplete JPEG.
        for cut in 0..full.len() - 1 {
            assert!(!is_complete(&full[..cut]), "cut at {cut} of {} passed", full.len());
        }
    }

    #[test]
    fn a_real_shoe_photo_is_complete() {
        let dir = std::env::var_os("SNEAKER_ID_SHARED")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
        let Ok(entries) = std::fs::read_dir(dir.join("datasets/sneakers50-wild-dev/nike_air_max_90")) else {
            eprintln!("skipped: ../shared not found");
            return;
        };
        for entry in entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "jpg")) {
            let bytes = std::fs::read(entry.path()).expect("read");
            assert!(is_complete(&bytes), "{}", entry.path().display());
        }
    }
}
