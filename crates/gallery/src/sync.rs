//! Keeping a gallery in step with a catalog folder: what `gallery build` and `serve --catalog`
//! share. New or changed photos are embedded, photos gone from the catalog leave the gallery,
//! and unchanged ones (same path, same SHA-256) cost one hash each, so a second start is quick.
//! Photos enrolled from elsewhere (uploads, other folders) are kept.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use sneaker_catalog::Catalog;
use sneaker_vision::DecodeLimits;

use crate::backend::GalleryBackend;
use crate::embed::{Embedder, read_bytes};
use crate::enroll::{EnrollReport, Photo, Progress, enroll_with};
use crate::error::Result;

/// What an update did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    #[serde(flatten)]
    pub enrolled: EnrollReport,
    /// Photos of this catalog that were in the gallery but are gone from the catalog or changed.
    pub removed: usize,
}

/// Brings `gallery` up to date with `catalog`: product details from the catalog (name, brand,
/// colourway, style id, url where it has them), stale photos out, new photos in (with thumbnails
/// in `thumbs` when given). `embedder` is called only when there is something new to embed, so
/// an unchanged catalog never loads the network. `on_progress` sees the embedding pass.
pub fn sync_catalog(
    gallery: &mut dyn GalleryBackend,
    embedder: impl FnOnce() -> Result<Embedder>,
    catalog: &Catalog,
    limits: &DecodeLimits,
    thumbs: Option<&Path>,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<SyncReport> {
    for product in catalog.products() {
        gallery.set_product(product.clone())?;
    }
    let photos: Vec<Photo> =
        catalog.images().iter().map(|img| Photo { path: catalog.path_of(img), label: img.label.clone() }).collect();
    // What each catalog photo is now; entries from this catalog that no longer match go.
    let current: HashMap<String, (String, Option<String>)> = photos
        .par_iter()
        .map(|p| {
            let sha = read_bytes(&p.path, limits).ok().map(|(sha, _)| sha);
            (p.path.display().to_string(), (p.label.clone(), sha))
        })
        .collect();
    let root = catalog.root().display().to_string();
    let removed = gallery.retain(&mut |e| {
        if !is_under(&e.source, &root) {
            return true;
        }
        current.get(&e.source).is_some_and(|(label, sha)| *label == e.label && sha.is_some() && *sha == e.sha256)
    })?;
    if removed > 0 {
        tracing::info!(removed, catalog = %root, "photos gone from the catalog left the gallery");
    }
    let mut unchanged = 0;
    for p in &photos {
        let sha = current.get(&p.path.display().to_string()).and_then(|(_, sha)| sha.as_deref());
        if let Some(sha) = sha
            && gallery.contains_image(sha)?
        {
            unchanged += 1;
        }
    }
    if unchanged == photos.len() {
        on_progress(Progress { done: photos.len(), total: photos.len() });
        let enrolled = EnrollReport { already_enrolled: unchanged, ..EnrollReport::default() };
        return Ok(SyncReport { enrolled, removed });
    }
    let mut embedder = embedder()?;
    let enrolled = enroll_with(gallery, &mut embedder, &photos, limits, thumbs, on_progress)?;
    Ok(SyncReport { enrolled, removed })
}

/// Whether the photo path `source` lies in the folder `root` (as written by `Catalog::path_of`).
fn is_under(source: &str, root: &str) -> bool {
    Path::new(source).starts_with(Path::new(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_matched_by_whole_path_components() {
        assert!(is_under("/data/cat/images/a/1.jpg", "/data/cat"));
        assert!(!is_under("/data/catalog2/images/a/1.jpg", "/data/cat"));
        assert!(!is_under("upload:a.jpg", "/data/cat"));
    }
}
