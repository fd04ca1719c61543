//! Enrolling photos into a gallery: every image of a catalog with its product details, or a few
//! photos of one new product. Per-photo failures are collected, not fatal; a photo already
//! enrolled (same SHA-256) is skipped, so rebuilding or re-adding is idempotent.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use sneaker_catalog::{Catalog, Product};
use sneaker_vision::{DecodeLimits, INPUT_SIZE, decode_bytes_for_input, to_input_tensor};

use crate::backend::GalleryBackend;
use crate::embed::{Embedder, read_bytes};
use crate::error::{GalleryError, Result};
use crate::gallery::Entry;
use crate::thumbs::{thumbnail_jpeg, write_thumbnail};

/// Photos per network call: both cores busy, memory flat on big catalogs (as `predict`).
pub const BATCH: usize = 16;

/// How far an enrolment has got, reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Photos handled so far (embedded, skipped or failed).
    pub done: usize,
    pub total: usize,
}

/// One photo to enrol under a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub path: PathBuf,
    pub label: String,
}

/// A photo that could not be enrolled, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub path: PathBuf,
    pub error: String,
}

/// What an enrolment did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EnrollReport {
    pub added: usize,
    /// Photos whose bytes were already in the gallery.
    pub already_enrolled: usize,
    pub failed: Vec<Failure>,
}

impl EnrollReport {
    fn fail(&mut self, photo: &Photo, e: GalleryError) {
        tracing::warn!(path = %photo.path.display(), error = %e, "photo not enrolled");
        self.failed.push(Failure { path: photo.path.clone(), error: e.to_string() });
    }
}

/// Embeds `photos` and adds them to `gallery`.
pub fn enroll(
    gallery: &mut dyn GalleryBackend,
    embedder: &mut Embedder,
    photos: &[Photo],
    limits: &DecodeLimits,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<EnrollReport> {
    enroll_with(gallery, embedder, photos, limits, None, on_progress)
}

/// As [`enroll`], also writing a small thumbnail of every added photo into `thumbs`
/// (a gallery folder; see [`crate::thumbnail_path`]). A photo whose bytes are already enrolled
/// is only hashed, never decoded, so updating a large gallery costs little.
pub fn enroll_with(
    gallery: &mut dyn GalleryBackend,
    embedder: &mut Embedder,
    photos: &[Photo],
    limits: &DecodeLimits,
    thumbs: Option<&Path>,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<EnrollReport> {
    if gallery.model_id() != embedder.model_id() || gallery.dim() != embedder.dim() {
        return Err(GalleryError::ModelMismatch {
            gallery: gallery.location(),
            built_with: gallery.model_id().to_owned(),
            expected: embedder.model_id().to_owned(),
        });
    }
    let mut report = EnrollReport::default();
    let total = photos.len();
    for (b, batch) in photos.chunks(BATCH).enumerate() {
        // Hash first: a photo already in the gallery needs no decoding.
        let hashed: Vec<_> = batch.par_iter().map(|p| read_bytes(&p.path, limits)).collect();
        let mut new = Vec::with_capacity(batch.len());
        for (photo, r) in batch.iter().zip(hashed) {
            match r {
                Ok((sha, _)) if gallery.contains_image(&sha)? => report.already_enrolled += 1,
                Ok((sha, bytes)) => new.push((photo, sha, bytes)),
                Err(e) => report.fail(photo, e),
            }
        }
        // Decoding is the other half of the work; spread it over the cores while inference waits.
        let decoded: Vec<_> = new
            .par_iter()
            .map(|(photo, _, bytes)| -> Result<(Vec<f32>, Option<Vec<u8>>)> {
                let image = decode_bytes_for_input(bytes, &photo.path.display().to_string(), limits, INPUT_SIZE)?;
                let thumb = thumbs.map(|_| thumbnail_jpeg(&image)).transpose()?;
                Ok((to_input_tensor(&image), thumb))
            })
            .collect();
        let mut todo = Vec::with_capacity(new.len());
        let mut tensors = Vec::with_capacity(new.len());
        for ((photo, sha, _), r) in new.into_iter().zip(decoded) {
            match r {
                Ok((tensor, thumb)) => {
                    todo.push((photo, sha, thumb));
                    tensors.push(tensor);
                }
                Err(e) => report.fail(photo, e),
            }
        }
        let embeddings = embedder.embed_tensors(&tensors)?;
        for ((photo, sha, thumb), embedding) in todo.into_iter().zip(embeddings) {
            // The same bytes twice in one batch: the first copy is enough.
            if gallery.contains_image(&sha)? {
                report.already_enrolled += 1;
                continue;
            }
            if let (Some(dir), Some(jpeg)) = (thumbs, thumb) {
                write_thumbnail(dir, &sha, &jpeg)?;
            }
            let entry =
                Entry { label: photo.label.clone(), source: photo.path.display().to_string(), sha256: Some(sha) };
            gallery.add(entry, &embedding)?;
            report.added += 1;
        }
        on_progress(Progress { done: (b * BATCH + batch.len()).min(total), total });
    }
    tracing::info!(
        added = report.added,
        skipped = report.already_enrolled,
        failed = report.failed.len(),
        "enrolled photos"
    );
    Ok(report)
}

/// Enrolls every image of `catalog` under its label, with the catalog's product details.
pub fn enroll_catalog(
    gallery: &mut dyn GalleryBackend,
    embedder: &mut Embedder,
    catalog: &Catalog,
    limits: &DecodeLimits,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<EnrollReport> {
    for product in catalog.products() {
        gallery.set_product(product.clone())?;
    }
    let photos: Vec<Photo> =
        catalog.images().iter().map(|img| Photo { path: catalog.path_of(img), label: img.label.clone() }).collect();
    enroll(gallery, embedder, &photos, limits, on_progress)
}

/// Enrolls a new product from a few photos (with thumbnails in `thumbs`, a gallery folder, when
/// given); it is searchable as soon as this returns.
pub fn enroll_product(
    gallery: &mut dyn GalleryBackend,
    embedder: &mut Embedder,
    product: Product,
    paths: &[PathBuf],
    limits: &DecodeLimits,
    thumbs: Option<&Path>,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<EnrollReport> {
    let label = product.label.clone();
    gallery.set_product(product)?;
    let photos: Vec<Photo> = paths.iter().map(|p| Photo { path: p.clone(), label: label.clone() }).collect();
    enroll_with(gallery, embedder, &photos, limits, thumbs, on_progress)
}

/// A label made from a product name: lower-case ASCII letters and digits joined by `_`
/// ("Nike Air Max 90 'Infrared'" → `nike_air_max_90_infrared`). `None` if nothing is left.
pub fn label_from_name(name: &str) -> Option<String> {
    let mut label = String::new();
    for word in name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        if !label.is_empty() {
            label.push('_');
        }
        label.push_str(&word.to_ascii_lowercase());
    }
    (!label.is_empty()).then_some(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_from_names_are_plain_and_valid() {
        assert_eq!(label_from_name("Nike Air Max 90 'Infrared'").as_deref(), Some("nike_air_max_90_infrared"));
        assert_eq!(label_from_name("  adidas / Samba OG ").as_deref(), Some("adidas_samba_og"));
        assert_eq!(label_from_name("../../etc").as_deref(), Some("etc"));
        assert_eq!(label_from_name("!!!"), None);
        assert!(sneaker_catalog::is_valid_label(&label_from_name("Yeezy 350 V2 \"Zebra\"").unwrap()));
    }
}
