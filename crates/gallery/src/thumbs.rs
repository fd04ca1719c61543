//! Small JPEG thumbnails of enrolled photos, kept beside the gallery file in `thumbs/<sha256>.jpg`,
//! so an answer can show the enrolled photo it matched without keeping (or serving) the original.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;

use crate::error::{GalleryError, Result};

/// Sub-folder of a gallery folder holding the thumbnails.
pub const THUMBS_DIR: &str = "thumbs";
/// Longest side of a thumbnail, in pixels: sharp at 2× on a 160 px card.
pub const THUMB_SIDE: u32 = 320;
const QUALITY: u8 = 80;

/// The photo scaled down to fit [`THUMB_SIDE`] (never up), as JPEG bytes.
pub fn thumbnail_jpeg(image: &RgbImage) -> Result<Vec<u8>> {
    let (w, h) = image.dimensions();
    let scale = f64::from(THUMB_SIDE) / f64::from(w.max(h).max(1));
    let small;
    let image = if scale < 1.0 {
        let nw = ((f64::from(w) * scale).round() as u32).max(1);
        let nh = ((f64::from(h) * scale).round() as u32).max(1);
        small = image::imageops::thumbnail(image, nw, nh);
        &small
    } else {
        image
    };
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut Cursor::new(&mut out), QUALITY)
        .encode_image(image)
        .map_err(|e| GalleryError::Backend(format!("encoding a thumbnail: {e}")))?;
    Ok(out)
}

/// Where the thumbnail of the photo with this SHA-256 lives in `gallery_dir`; `None` for anything
/// but 64 lower-case hex digits, so a stored or requested hash can never name another file.
pub fn thumbnail_path(gallery_dir: &Path, sha256: &str) -> Option<PathBuf> {
    let is_hash = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    is_hash.then(|| gallery_dir.join(THUMBS_DIR).join(format!("{sha256}.jpg")))
}

/// Writes a thumbnail atomically (temporary file in the same folder, fsync, rename).
pub fn write_thumbnail(gallery_dir: &Path, sha256: &str, jpeg: &[u8]) -> Result<PathBuf> {
    let path = thumbnail_path(gallery_dir, sha256)
        .ok_or_else(|| GalleryError::Backend(format!("{sha256:?} is not a SHA-256 digest")))?;
    let dir = gallery_dir.join(THUMBS_DIR);
    let io = |source| GalleryError::Io { path: path.clone(), source };
    std::fs::create_dir_all(&dir).map_err(io)?;
    sneaker_files::write_atomic(&path, jpeg).map_err(io)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_are_small_jpegs_and_only_hashes_name_files() {
        let big = RgbImage::from_pixel(800, 400, image::Rgb([200, 30, 30]));
        let jpeg = thumbnail_jpeg(&big).unwrap();
        let back = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (THUMB_SIDE, THUMB_SIDE / 2));
        let tiny = thumbnail_jpeg(&RgbImage::from_pixel(40, 30, image::Rgb([0, 0, 0]))).unwrap();
        assert_eq!(image::load_from_memory(&tiny).unwrap().width(), 40);

        let dir = tempfile::tempdir().unwrap();
        let sha = "ab".repeat(32);
        let path = write_thumbnail(dir.path(), &sha, &jpeg).unwrap();
        assert_eq!(std::fs::read(path).unwrap(), jpeg);
        assert!(thumbnail_path(dir.path(), "../../etc/passwd").is_none());
        assert!(thumbnail_path(dir.path(), &"AB".repeat(32)).is_none());
    }
}
