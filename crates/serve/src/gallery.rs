//! Gallery identification in the server: answers fuse the classifier with the gallery (see
//! `sneaker_identify`), and `POST /api/v1/gallery/products` enrolls a new product from a few
//! photos, identifiable by the very next request, with no retraining.
//!
//! Enrolment changes what every user is told, so it is off unless the server was started with a
//! token, and each request must present it (`Authorization: Bearer TOKEN`). The gallery file is
//! rewritten atomically after each enrolment, so a crash never loses or corrupts it.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sneaker_catalog::{Product, is_valid_label};
use sneaker_gallery::{Entry, Gallery, GalleryConfig};
use sneaker_identify::Identifier;
use sneaker_model::efficientnet_lite::FEATURE_DIM;

use crate::app::AppState;
use crate::error::{Result, ServeError};
use crate::prepare::PrepareOptions;
use crate::upload::read_uploads;

/// Photos accepted per enrolment.
pub const MAX_ENROLL_PHOTOS: usize = 10;

/// What `App::with_identifier` needs to identify against a gallery and enroll into it.
pub struct GalleryOptions {
    pub identifier: Identifier,
    /// Where the gallery is saved after an enrolment; `None` keeps enrolments in memory only.
    pub dir: Option<PathBuf>,
    /// Embedding model id stored with a gallery created by the first enrolment.
    pub model_id: String,
    /// Enrolment is refused unless this is set and presented.
    pub enroll_token: Option<String>,
}

/// Shared, lockable identification state.
pub struct GalleryState {
    pub identifier: RwLock<Identifier>,
    dir: Option<PathBuf>,
    model_id: String,
    token: Option<String>,
    /// One enrolment (and gallery write) at a time.
    writing: tokio::sync::Mutex<()>,
}

impl GalleryState {
    pub fn new(options: GalleryOptions) -> GalleryState {
        GalleryState {
            identifier: RwLock::new(options.identifier),
            dir: options.dir,
            model_id: options.model_id,
            token: options.enroll_token.filter(|t| !t.is_empty()),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn enrollment_enabled(&self) -> bool {
        self.token.is_some()
    }

    fn check_token(&self, headers: &HeaderMap) -> Result<()> {
        let Some(expected) = &self.token else {
            return Err(ServeError::Forbidden("enrolment is disabled: start the server with --enroll-token".into()));
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ServeError::Unauthorized("enrolment needs the header `Authorization: Bearer TOKEN`".into()))?;
        // Compare digests so the time taken does not reveal how much of the token matched.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(expected.as_bytes()) {
            return Err(ServeError::Unauthorized("wrong enrolment token".into()));
        }
        Ok(())
    }
}

/// Query of `POST /api/v1/gallery/products`: the product's label and details.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollQuery {
    /// Label the product will be answered as, e.g. `nike_air_max_1_86`.
    pub label: String,
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
    /// Whether the gallery was written to disk.
    pub saved: bool,
}

/// `POST /api/v1/gallery/products?label=...`: multipart `image` fields (1 to 10 photos).
pub async fn enroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: std::result::Result<Query<EnrollQuery>, QueryRejection>,
    request: Request,
) -> Result<(StatusCode, Json<Enrolled>)> {
    let gallery = state
        .gallery
        .clone()
        .ok_or_else(|| ServeError::Forbidden("enrolment is disabled: start the server with --enroll-token".into()))?;
    gallery.check_token(&headers)?;
    let Query(q) = query.map_err(|e| ServeError::BadRequest(format!("bad query: {}", e.body_text())))?;
    if !is_valid_label(&q.label) {
        return Err(ServeError::BadRequest(format!(
            "label {:?} is not usable: it must be non-empty, at most 255 bytes, without '/' or '\\'",
            q.label
        )));
    }
    let uploads = read_uploads(request, state.config.body_limit, MAX_ENROLL_PHOTOS).await?;
    let mut photos = Vec::with_capacity(uploads.len());
    for upload in uploads {
        let sha = hex::encode(Sha256::digest(&upload.bytes));
        let mut prepared =
            crate::api::prepare_blocking(&state, upload.bytes, upload.name.clone(), PrepareOptions::default()).await?;
        photos.push((upload.name, sha, std::mem::take(&mut prepared.tensor)));
    }
    let tensors = photos.iter_mut().map(|(_, _, t)| std::mem::take(t)).collect();
    let answer = state.batcher.classify(tensors).await?;

    let _writing = gallery.writing.lock().await;
    let (added, duplicates, size) = {
        let mut identifier = gallery.identifier.write().map_err(|_| poisoned())?;
        if identifier.gallery().is_none() {
            identifier.set_gallery(Some(Gallery::new(gallery.model_id.clone(), FEATURE_DIM, GalleryConfig::default())));
        }
        let g = identifier.gallery_mut().expect("a gallery was just ensured");
        let product = Product {
            label: q.label.clone(),
            name: q.name.clone(),
            brand: q.brand.clone(),
            colorway: q.colorway.clone(),
            style_id: q.style_id.clone(),
            url: q.url.clone(),
            ..Product::default()
        };
        g.set_product(product).map_err(|e| ServeError::BadRequest(e.to_string()))?;
        let (mut added, mut duplicates) = (0, 0);
        for ((name, sha, _), scores) in photos.into_iter().zip(answer.scores) {
            if g.contains_image(&sha) {
                duplicates += 1;
                continue;
            }
            let entry = Entry { label: q.label.clone(), source: format!("upload:{name}"), sha256: Some(sha) };
            g.add(entry, &scores.features).map_err(|e| ServeError::BadRequest(format!("{name}: {e}")))?;
            added += 1;
        }
        (added, duplicates, g.len())
    };
    let saved = save(&gallery).await?;
    tracing::info!(label = %q.label, added, duplicates, size, "enrolled a product");
    Ok((StatusCode::CREATED, Json(Enrolled { label: q.label, added, duplicates, gallery_size: size, saved })))
}

/// Writes the gallery (temp file + rename inside `Gallery::save`) off the async runtime.
async fn save(gallery: &Arc<GalleryState>) -> Result<bool> {
    let Some(dir) = gallery.dir.clone() else { return Ok(false) };
    let state = gallery.clone();
    tokio::task::spawn_blocking(move || {
        let identifier = state.identifier.read().map_err(|_| poisoned())?;
        match identifier.gallery() {
            Some(g) => g.save(&dir).map(|_| true).map_err(|e| ServeError::Internal(format!("saving the gallery: {e}"))),
            None => Ok(false),
        }
    })
    .await
    .map_err(|e| ServeError::Internal(format!("the gallery write failed: {e}")))?
}

fn poisoned() -> ServeError {
    ServeError::Internal("the gallery lock was poisoned by an earlier failure".into())
}
