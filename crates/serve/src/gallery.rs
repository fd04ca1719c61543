//! Gallery identification in the server: answers fuse the classifier with the gallery (see
//! `sneaker_identify`), and `POST /api/v1/gallery/products` enrolls a new product from a few
//! photos, identifiable by the very next request, with no retraining.
//!
//! Enrolment changes what every user is told, so each request must present the server's token
//! (`Authorization: Bearer TOKEN`; `sneaker-id serve` makes one at start-up and prints it, as
//! Jupyter does); without a token enrolment is off. A folder gallery's file is rewritten atomically
//! after each enrolment, so a crash never loses or corrupts it; a PostgreSQL gallery commits each
//! photo, and other servers sharing it identify the product at once. A small thumbnail of each
//! photo is kept (in the gallery folder, or in memory beside a database gallery).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sneaker_catalog::{Product, is_valid_label};
use sneaker_gallery::{Entry, Gallery, GalleryConfig, GalleryError, label_from_name, thumbnail_jpeg};
use sneaker_model::efficientnet_lite::FEATURE_DIM;

use crate::config::MAX_ENROLL_PHOTOS;
use crate::error::{Result, ServeError};
use crate::prepare::PrepareOptions;
use crate::state::{AppState, GalleryState, off_runtime, prepare_blocking};
use crate::upload::read_uploads;

/// Longest accepted product name, brand, colourway, style id or URL, in characters.
const MAX_FIELD_CHARS: usize = 300;

/// Query of `POST /api/v1/gallery/products`: the product's label and details.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollQuery {
    /// Label the product will be answered as, e.g. `nike_air_max_1_86`; default: made from the
    /// name.
    pub label: Option<String>,
    pub name: Option<String>,
    pub brand: Option<String>,
    pub colorway: Option<String>,
    pub style_id: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Enrolled {
    pub label: String,
    /// Photos added to the gallery.
    pub added: usize,
    /// Photos already in the gallery (same bytes), not added again.
    pub duplicates: usize,
    /// Photos in the gallery now.
    pub gallery_size: usize,
    /// Whether the enrolment is stored for good: written to the gallery folder, or committed to
    /// the database (false for a gallery kept in memory).
    pub saved: bool,
}

/// `POST /api/v1/gallery/products?label=...`: multipart `image` fields (1 to 10 photos).
pub async fn enroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: std::result::Result<Query<EnrollQuery>, QueryRejection>,
    request: Request,
) -> Result<(StatusCode, Json<Enrolled>)> {
    let gallery = state.gallery.clone();
    gallery.check_token(&headers)?;
    let Query(q) = query.map_err(|e| ServeError::BadRequest(format!("bad query: {}", e.body_text())))?;
    let q = q.checked()?;
    let label = q.label.clone().unwrap_or_default();
    let uploads = read_uploads(request, state.config.body_limit, MAX_ENROLL_PHOTOS).await?;
    let mut photos = Vec::with_capacity(uploads.len());
    for upload in uploads {
        let sha = hex::encode(Sha256::digest(&upload.bytes));
        // The checks a photo to identify meets come first (and give the same errors).
        let mut prepared =
            prepare_blocking(&state, upload.bytes.clone(), upload.name.clone(), PrepareOptions::default()).await?;
        let thumb = thumbnail_blocking(&state, upload.bytes, upload.name.clone()).await?;
        photos.push((upload.name, sha, std::mem::take(&mut prepared.tensor), thumb));
    }
    let tensors = photos.iter_mut().map(|(_, _, t, _)| std::mem::take(t)).collect();
    let answer = state.batcher.classify(tensors).await?;
    // Thumbnails first (files, off the async runtime): a photo in the gallery always has one.
    let thumbs: Vec<(String, Vec<u8>)> =
        photos.iter_mut().map(|(_, sha, _, t)| (sha.clone(), std::mem::take(t))).collect();
    let store = gallery.clone();
    off_runtime("thumbnail", move || thumbs.into_iter().try_for_each(|(sha, jpeg)| store.thumbnails.store(&sha, jpeg)))
        .await?;

    // One enrolment at a time; the identifier's lock is taken off the async runtime, since adding
    // photos may rebuild the HNSW index while every search waits.
    let _writing = gallery.writing.lock().await;
    let store = gallery.clone();
    let (enrolled, scores) = (label.clone(), answer.scores);
    let (added, duplicates, size) = off_runtime("enrolment", move || {
        let gallery = store;
        let label = enrolled;
        let mut identifier = gallery.identifier.write().map_err(|_| poisoned())?;
        if identifier.gallery().is_none() {
            // As wide as the network's embedding: the uploads' own vectors say.
            let dim = scores.first().map_or(FEATURE_DIM, |s| s.features.len());
            let new = Gallery::new(gallery.model_id.clone(), dim, GalleryConfig::default());
            let new = match &gallery.dir {
                Some(dir) => new.stored_in(dir),
                None => new,
            };
            identifier.set_gallery(Some(Box::new(new)));
        }
        let g = identifier.gallery_mut().expect("a gallery was just ensured");
        let product = Product {
            label: label.clone(),
            name: q.name.clone(),
            brand: q.brand.clone(),
            colorway: q.colorway.clone(),
            style_id: q.style_id.clone(),
            url: q.url.clone(),
            ..Product::default()
        };
        g.set_product(product).map_err(refused)?;
        let (mut added, mut duplicates) = (0, 0);
        for ((name, sha, _, _), scores) in photos.into_iter().zip(scores) {
            if g.contains_image(&sha).map_err(refused)? {
                duplicates += 1;
                continue;
            }
            let entry = Entry { label: label.clone(), source: format!("upload:{name}"), sha256: Some(sha) };
            g.add(entry, &scores.features).map_err(|e| match e {
                GalleryError::Backend(_) => refused(e),
                e => ServeError::BadRequest(format!("{name}: {e}")),
            })?;
            added += 1;
        }
        Ok((added, duplicates, g.len().map_err(refused)?))
    })
    .await?;
    let saved = save(&gallery).await?;
    tracing::info!(%label, added, duplicates, size, "enrolled a product");
    Ok((StatusCode::CREATED, Json(Enrolled { label, added, duplicates, gallery_size: size, saved })))
}

impl EnrollQuery {
    /// Trims the fields, drops empty ones, bounds their length and settles the label.
    fn checked(mut self) -> Result<EnrollQuery> {
        for (what, field) in [
            ("name", &mut self.name),
            ("brand", &mut self.brand),
            ("colorway", &mut self.colorway),
            ("style_id", &mut self.style_id),
            ("url", &mut self.url),
            ("label", &mut self.label),
        ] {
            *field = field.take().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
            if field.as_ref().is_some_and(|v| v.chars().count() > MAX_FIELD_CHARS) {
                return Err(ServeError::BadRequest(format!("{what} is longer than {MAX_FIELD_CHARS} characters")));
            }
        }
        if let Some(url) = &self.url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ServeError::BadRequest(format!("url {url:?} must start with https:// or http://")));
        }
        let label = match (&self.label, &self.name) {
            (Some(label), _) => label.clone(),
            (None, Some(name)) => label_from_name(name).ok_or_else(|| {
                ServeError::BadRequest(format!("cannot make a label from the name {name:?}: give a label too"))
            })?,
            (None, None) => return Err(ServeError::BadRequest("give the product a name (or a label)".into())),
        };
        if !is_valid_label(&label) {
            return Err(ServeError::BadRequest(format!(
                "label {label:?} is not usable: it must be non-empty, at most 255 bytes, without '/' or '\\'"
            )));
        }
        self.label = Some(label);
        Ok(self)
    }
}

/// A small JPEG of an uploaded photo for the gallery's thumbnails, made off the async runtime.
async fn thumbnail_blocking(state: &AppState, bytes: axum::body::Bytes, name: String) -> Result<Vec<u8>> {
    let limits = state.config.decode_limits();
    off_runtime("thumbnail", move || {
        let image = sneaker_vision::decode_bytes_for_input(&bytes, &name, &limits, sneaker_vision::INPUT_SIZE)?;
        thumbnail_jpeg(&image).map_err(|e| ServeError::Internal(format!("{name}: {e}")))
    })
    .await
}

/// Makes the enrolment durable off the async runtime: a folder gallery is rewritten (temp file +
/// rename inside `Gallery::save`); a database gallery already committed it.
async fn save(gallery: &Arc<GalleryState>) -> Result<bool> {
    let state = gallery.clone();
    off_runtime("gallery write", move || {
        let identifier = state.identifier.read().map_err(|_| poisoned())?;
        match identifier.gallery() {
            Some(g) => g.save().map_err(|e| ServeError::Internal(format!("saving the gallery: {e}"))),
            None => Ok(false),
        }
    })
    .await
}

/// A gallery error in enrolment: a bad label or vector is the request's fault; a database that
/// fails is the server's (logged, answered 500).
fn refused(e: GalleryError) -> ServeError {
    match e {
        GalleryError::Backend(_) | GalleryError::Io { .. } => ServeError::Internal(format!("the gallery: {e}")),
        e => ServeError::BadRequest(e.to_string()),
    }
}

fn poisoned() -> ServeError {
    ServeError::Internal("the gallery lock was poisoned by an earlier failure".into())
}
