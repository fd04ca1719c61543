//! Enrolled photos as the page shows them: a small JPEG thumbnail of each gallery photo, made at
//! enrolment (or by `gallery build` / `serve --catalog`) and served by
//! `GET /api/v1/gallery/photos/{id}`, so a match can be checked by eye against the photo it
//! matched. Originals are never kept or served.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sneaker_gallery::{Gallery, thumbnail_path, write_thumbnail};

use crate::app::AppState;
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
    fn load(&self, sha256: &str) -> Option<Vec<u8>> {
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
pub fn nearest_photos(gallery: &Gallery, thumbs: &Thumbnails, features: &[f32], k: usize) -> HashMap<String, u64> {
    let mut nearest = HashMap::new();
    let Ok(matches) = gallery.search(features, k) else { return nearest };
    for m in matches {
        if nearest.contains_key(&m.label) {
            continue;
        }
        let sha = gallery.entries().get(m.id as usize).and_then(|e| e.sha256.as_deref());
        if sha.is_some_and(|s| thumbs.has(s)) {
            nearest.insert(m.label, m.id);
        }
    }
    nearest
}

/// `GET /api/v1/gallery/photos/{id}`: the thumbnail of an enrolled photo.
pub async fn photo(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let index: usize = id.parse().map_err(|_| ServeError::BadRequest(format!("photo id {id:?} is not a number")))?;
    let missing = move || ServeError::NotFound(format!("no enrolled photo {index}"));
    let gallery = state.gallery.clone();
    let jpeg = crate::app::off_runtime("thumbnail", move || {
        let sha = {
            let identifier =
                gallery.identifier.read().map_err(|_| ServeError::Internal("the gallery lock was poisoned".into()))?;
            identifier
                .gallery()
                .and_then(|g| g.entries().get(index))
                .and_then(|e| e.sha256.clone())
                .ok_or_else(missing)?
        };
        gallery.thumbnails.load(&sha).ok_or_else(missing)
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            // Ids are renumbered when a catalog update drops photos: cache briefly.
            (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=60")),
        ],
        jpeg,
    )
        .into_response())
}
