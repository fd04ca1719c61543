//! Pictures shown next to answers: thumbnails of enrolled photos (made at enrolment, or by
//! `gallery build` / `serve --catalog`) and the URLs of those and of catalog photos.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;

use sneaker_gallery::{GalleryBackend, thumbnail_path, write_thumbnail};

use crate::error::{Result, ServeError};

/// Thumbnails by photo SHA-256: in the gallery folder's `thumbs/`, or in memory for a gallery
/// that is not saved.
pub struct Thumbnails {
    dir: Option<PathBuf>,
    memory: RwLock<HashMap<String, Vec<u8>>>,
}

impl Thumbnails {
    pub fn new(dir: Option<PathBuf>) -> Thumbnails {
        Thumbnails { dir, memory: RwLock::new(HashMap::new()) }
    }

    /// Keeps the thumbnail of a newly enrolled photo.
    pub fn store(&self, sha256: &str, jpeg: Vec<u8>) -> Result<()> {
        match &self.dir {
            Some(dir) => {
                write_thumbnail(dir, sha256, &jpeg)
                    .map_err(|e| ServeError::Internal(format!("saving a thumbnail: {e}")))?;
            }
            None => {
                let mut memory =
                    self.memory.write().map_err(|_| ServeError::Internal("thumbnail lock poisoned".into()))?;
                memory.insert(sha256.to_owned(), jpeg);
            }
        }
        Ok(())
    }

    /// The thumbnail's bytes, if there is one (read off the async runtime by the caller).
    pub(crate) fn load(&self, sha256: &str) -> Option<Vec<u8>> {
        if let Some(jpeg) = self.memory.read().ok()?.get(sha256) {
            return Some(jpeg.clone());
        }
        let path = thumbnail_path(self.dir.as_deref()?, sha256)?;
        std::fs::read(path).ok()
    }

    /// Whether a thumbnail exists for this photo (a cheap check for answers).
    pub fn has(&self, sha256: &str) -> bool {
        if self.memory.read().is_ok_and(|m| m.contains_key(sha256)) {
            return true;
        }
        self.dir.as_deref().and_then(|d| thumbnail_path(d, sha256)).is_some_and(|p| p.is_file())
    }
}

/// The URL of the thumbnail of gallery photo `id`.
pub fn photo_url(id: u64) -> String {
    format!("/api/v1/gallery/photos/{id}")
}

/// For each label, the id of its enrolled photo nearest to `features` among the `k` nearest
/// (which photo the answer rests on), when it has a thumbnail.
pub fn nearest_photos(
    gallery: &dyn GalleryBackend,
    thumbs: &Thumbnails,
    features: &[f32],
    k: usize,
) -> HashMap<String, u64> {
    let mut nearest = HashMap::new();
    let Ok(matches) = gallery.search(features, k) else { return nearest };
    for m in matches {
        if nearest.contains_key(&m.label) {
            continue;
        }
        if m.sha256.as_deref().is_some_and(|s| thumbs.has(s)) {
            nearest.insert(m.label, m.id);
        }
    }
    nearest
}

/// The URL of the catalog photo of `label` (`GET /api/v1/thumbnails/{label}`).
pub fn catalog_photo_url(label: &str) -> String {
    format!("/api/v1/thumbnails/{}", percent_encode(label))
}

/// Percent-encodes everything but unreserved URL characters, for labels in paths.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_keeps_unreserved_and_encodes_the_rest() {
        assert_eq!(percent_encode("nike_air-max.90~"), "nike_air-max.90~");
        assert_eq!(percent_encode("a b/é"), "a%20b%2F%C3%A9");
    }
}
