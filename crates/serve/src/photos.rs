//! Enrolled photos as the page shows them: a small JPEG thumbnail of each gallery photo, made at
//! enrolment (or by `gallery build` / `serve --catalog`) and served by
//! `GET /api/v1/gallery/photos/{id}`, so a match can be checked by eye against the photo it
//! matched. Originals are never kept or served.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::{Result, ServeError};
use crate::state::AppState;

/// `GET /api/v1/gallery/photos/{id}`: the thumbnail of an enrolled photo.
pub async fn photo(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let index: u64 = id.parse().map_err(|_| ServeError::BadRequest(format!("photo id {id:?} is not a number")))?;
    let missing = move || ServeError::NotFound(format!("no enrolled photo {index}"));
    let gallery = state.gallery.clone();
    let jpeg = crate::state::off_runtime("thumbnail", move || {
        let sha = {
            let identifier =
                gallery.identifier.read().map_err(|_| ServeError::Internal("the gallery lock was poisoned".into()))?;
            let entry = match identifier.gallery() {
                Some(g) => g.entry(index).map_err(|e| ServeError::Internal(format!("the gallery: {e}")))?,
                None => None,
            };
            entry.and_then(|e| e.sha256).ok_or_else(missing)?
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
