//! The JSON API: identify one or several photos, describe the model, health and metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sneaker_catalog::Product;
use sneaker_identify::{ThresholdsInForce, Verdict};

use crate::classifier::{ModelKind, Scores, top_k};
use crate::error::{ErrorBody, Result, ServeError};
use crate::prepare::{PrepareOptions, Prepared};
use crate::state::{AppState, off_runtime, prepare_blocking};
use crate::upload::{Upload, read_uploads};

/// Query parameters of the identify routes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifyQuery {
    /// Matches to return (default from the config, at most `max_top_k`).
    pub top_k: Option<usize>,
    /// Cut the shoe out of its background before classifying.
    pub remove_background: Option<bool>,
    /// Return the network's view of the photo as a data URL in `image.seen`.
    pub include_image: Option<bool>,
}

/// The answer for one photo.
#[derive(Debug, Serialize, Deserialize)]
pub struct Identification {
    /// `match`, `not_sure` (top match below the confidence threshold, nothing enrolled like it,
    /// or nothing to name sneakers with) or `not_a_sneaker` (footwear probability below its
    /// threshold); the same decision and names as `sneaker-id predict`.
    pub verdict: Verdict,
    pub predictions: Vec<Prediction>,
    pub footwear: Footwear,
    pub image: ImageSummary,
    pub timings_ms: Timings,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Prediction {
    pub label: String,
    pub probability: f32,
    /// Best cosine similarity of the photo to this label's gallery photos, when a gallery answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// Catalog details for this label, when a catalog is loaded and lists it.
    pub product: Option<Product>,
    /// URL of a catalog photo of this label on this server, when the catalog has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
    /// URL of a thumbnail of this label's enrolled photo nearest to the query (what the match
    /// rests on), when a gallery answered and keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Footwear {
    /// Sum of the ImageNet footwear classes' probabilities.
    pub probability: f32,
    pub threshold: f32,
    pub is_footwear: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ImageSummary {
    pub name: String,
    /// Upright size of the uploaded photo.
    pub width: u32,
    pub height: u32,
    /// What the network saw (`include_image=true`), as a JPEG data URL: the upright photo,
    /// background removed when it was, squashed to the network's square input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
    /// True when the background was removed: asked for with `remove_background=true`, and
    /// GrabCut kept a shoe-sized foreground (otherwise the photo is classified as it was).
    pub background_removed: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Timings {
    pub decode: f64,
    /// Background removal, resize and normalise.
    pub preprocess: f64,
    /// The background removal part of `preprocess` (0 when not asked for).
    pub background_removal: f64,
    /// Waiting for a batch slot.
    pub queue: f64,
    /// The network call of the batch this photo was in.
    pub inference: f64,
    pub batch_size: usize,
}

/// One entry of a batch answer: an identification or the error for that file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchItem {
    Ok(Box<Identification>),
    Err { name: String, status: u16, error: ErrorBody },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BatchAnswer {
    pub results: Vec<BatchItem>,
}

#[derive(Debug, Clone, Copy)]
struct Options {
    top_k: usize,
    prepare: PrepareOptions,
}

fn options(state: &AppState, query: std::result::Result<Query<IdentifyQuery>, QueryRejection>) -> Result<Options> {
    let Query(query) = query.map_err(|e| ServeError::BadRequest(format!("bad query: {}", e.body_text())))?;
    let config = &state.config;
    let top_k = query.top_k.unwrap_or(config.default_top_k);
    if top_k == 0 || top_k > config.max_top_k {
        return Err(ServeError::BadRequest(format!("top_k must be between 1 and {}, not {top_k}", config.max_top_k)));
    }
    let remove_background = query.remove_background.unwrap_or(false);
    if remove_background && !state.background_removal {
        return Err(ServeError::BadRequest(
            "background removal is not available in this build (built without OpenCV)".into(),
        ));
    }
    Ok(Options {
        top_k,
        prepare: PrepareOptions { include_image: query.include_image.unwrap_or(false), remove_background },
    })
}

/// `POST /api/v1/identify`: one photo as multipart field `image` or as the raw body.
pub async fn identify(
    State(state): State<AppState>,
    query: std::result::Result<Query<IdentifyQuery>, QueryRejection>,
    request: Request,
) -> Result<Json<Identification>> {
    let options = options(&state, query)?;
    let mut uploads = read_uploads(request, state.config.body_limit, 1).await?;
    let upload = uploads.pop().expect("read_uploads returns at least one upload");
    let mut prepared = prepare_blocking(&state, upload.bytes, upload.name.clone(), options.prepare).await?;
    let answer = state.batcher.classify(vec![std::mem::take(&mut prepared.tensor)]).await?;
    let scores = answer
        .scores
        .into_iter()
        .next()
        .ok_or_else(|| ServeError::Internal("the network returned no scores".into()))?;
    let timing = BatchTiming { queue: answer.queued, inference: answer.inference, batch_size: answer.batch_size };
    tracing::Span::current().record("batch_size", answer.batch_size);
    let shared = state.clone();
    let found =
        off_runtime("identify", move || identification(&shared, &options, upload.name, prepared, scores, timing));
    Ok(Json(found.await?))
}

/// `POST /api/v1/identify/batch`: several `image` fields; each gets its own answer or error.
pub async fn identify_batch(
    State(state): State<AppState>,
    query: std::result::Result<Query<IdentifyQuery>, QueryRejection>,
    request: Request,
) -> Result<Json<BatchAnswer>> {
    let options = options(&state, query)?;
    let uploads = read_uploads(request, state.config.body_limit, state.batcher.max_batch()).await?;
    let mut prepared = Vec::with_capacity(uploads.len());
    for Upload { name, bytes } in uploads {
        let result = prepare_blocking(&state, bytes, name.clone(), options.prepare).await;
        prepared.push((name, result));
    }
    let tensors: Vec<Vec<f32>> =
        prepared.iter_mut().filter_map(|(_, p)| p.as_mut().ok().map(|p| std::mem::take(&mut p.tensor))).collect();
    let answer = if tensors.is_empty() { None } else { Some(state.batcher.classify(tensors).await?) };
    let timing =
        answer.as_ref().map(|a| BatchTiming { queue: a.queued, inference: a.inference, batch_size: a.batch_size });
    let mut scores = answer.map(|a| a.scores).unwrap_or_default().into_iter();
    if let Some(t) = &timing {
        tracing::Span::current().record("batch_size", t.batch_size);
    }
    let shared = state.clone();
    let results = off_runtime("identify", move || {
        let mut results = Vec::with_capacity(prepared.len());
        for (name, item) in prepared {
            results.push(match item {
                Ok(prepared) => {
                    let s = scores.next().ok_or_else(|| ServeError::Internal("too few scores".into()))?;
                    let timing = timing.expect("some photo was classified");
                    BatchItem::Ok(Box::new(identification(&shared, &options, name, prepared, s, timing)?))
                }
                Err(e) => BatchItem::Err {
                    name,
                    status: e.status().as_u16(),
                    error: ErrorBody { error: e.to_string(), kind: e.kind().to_owned() },
                },
            });
        }
        Ok(results)
    });
    Ok(Json(BatchAnswer { results: results.await? }))
}

#[derive(Debug, Clone, Copy)]
struct BatchTiming {
    queue: Duration,
    inference: Duration,
    batch_size: usize,
}

fn identification(
    state: &AppState,
    options: &Options,
    name: String,
    prepared: Prepared,
    scores: Scores,
    timing: BatchTiming,
) -> Result<Identification> {
    let (verdict, predictions, footwear_threshold) = answer(state, options, &scores)?;
    let is_footwear = verdict != Verdict::NotASneaker;
    let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
    Ok(Identification {
        verdict,
        predictions,
        footwear: Footwear { probability: scores.footwear, threshold: footwear_threshold, is_footwear },
        image: ImageSummary {
            name,
            width: prepared.width,
            height: prepared.height,
            seen: prepared.seen,
            background_removed: prepared.background_removed,
        },
        timings_ms: Timings {
            decode: ms(prepared.decode),
            preprocess: ms(prepared.preprocess),
            background_removal: ms(prepared.background),
            queue: ms(timing.queue),
            inference: ms(timing.inference),
            batch_size: timing.batch_size,
        },
    })
}

/// The classifier's own top-K: ImageNet classes, shown when nothing names sneakers.
fn classifier_predictions(state: &AppState, options: &Options, scores: &Scores) -> Vec<Prediction> {
    let info = state.batcher.info();
    top_k(&scores.probs, options.top_k)
        .into_iter()
        .map(|i| {
            let label = info.labels.get(i).cloned().unwrap_or_else(|| format!("class {i}"));
            prediction(state, label, scores.probs[i], None, None, None)
        })
        .collect()
}

/// The identifier's decision (the one `predict` makes too) and the ranking shown with it: the
/// fused sneaker ranking, or ImageNet classes when there is no run and no enrolled product.
fn answer(state: &AppState, options: &Options, scores: &Scores) -> Result<(Verdict, Vec<Prediction>, f32)> {
    let gallery = &state.gallery;
    let identifier =
        gallery.identifier.read().map_err(|_| ServeError::Internal("the gallery lock was poisoned".into()))?;
    let answer = identifier.identify(scores).map_err(|e| ServeError::Internal(format!("identification: {e}")))?;
    let footwear_threshold = identifier.thresholds().footwear;
    let gallery_error = |e: &dyn std::fmt::Display| ServeError::Internal(format!("the gallery: {e}"));
    if !identifier.can_identify().map_err(|e| gallery_error(&e))? {
        return Ok((answer.verdict, classifier_predictions(state, options, scores), footwear_threshold));
    }
    let nearest = identifier
        .gallery()
        .map(|g| {
            crate::thumbnails::nearest_photos(g, &gallery.thumbnails, &scores.features, sneaker_identify::NEIGHBOURS)
        })
        .unwrap_or_default();
    let mut predictions = Vec::with_capacity(options.top_k);
    for r in answer.ranking.into_iter().take(options.top_k) {
        let enrolled = match identifier.gallery() {
            Some(g) => g.product(&r.label).map_err(|e| gallery_error(&e))?,
            None => None,
        };
        let photo = nearest.get(&r.label).map(|&id| crate::thumbnails::photo_url(id));
        predictions.push(prediction(state, r.label, r.probability, r.similarity, enrolled, photo));
    }
    Ok((answer.verdict, predictions, footwear_threshold))
}

fn prediction(
    state: &AppState,
    label: String,
    probability: f32,
    similarity: Option<f32>,
    enrolled: Option<Product>,
    photo: Option<String>,
) -> Prediction {
    let product = state.products.get(&label).cloned().or(enrolled);
    let thumbnail = state.thumbnails.contains_key(&label).then(|| crate::thumbnails::catalog_photo_url(&label));
    Prediction { label, probability, similarity, product, thumbnail, photo }
}

/// `GET /api/v1/model`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelDescription {
    pub kind: ModelKind,
    pub name: String,
    pub run_id: Option<String>,
    pub created: Option<String>,
    pub input_size: u32,
    pub labels: Vec<String>,
    pub products: usize,
    pub max_batch: usize,
    /// The thresholds answers are decided with, each with its source (`default`, `calibration`
    /// or `flag`).
    pub thresholds: ThresholdsInForce,
    pub ready: bool,
    /// Enrolled photos, fused into every answer.
    pub gallery: GallerySummary,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GallerySummary {
    /// Enrolled photos.
    pub photos: usize,
    /// Labels with at least one photo.
    pub labels: usize,
    /// Whether `POST /api/v1/gallery/products` accepts enrolments.
    pub enrollment: bool,
}

pub async fn model(State(state): State<AppState>) -> Result<Json<ModelDescription>> {
    let shared = state.clone();
    let (thresholds, gallery) = off_runtime("model", move || {
        let identifier = shared
            .gallery
            .identifier
            .read()
            .map_err(|_| ServeError::Internal("the gallery lock was poisoned".into()))?;
        let read = |e: sneaker_gallery::GalleryError| ServeError::Internal(format!("the gallery: {e}"));
        let (photos, labels) = match identifier.gallery() {
            Some(g) => (g.len().map_err(read)?, g.labels().map_err(read)?.len()),
            None => (0, 0),
        };
        let gallery = GallerySummary { photos, labels, enrollment: shared.gallery.enrollment_enabled() };
        Ok((identifier.thresholds_in_force(), gallery))
    })
    .await?;
    let info = state.batcher.info();
    Ok(Json(ModelDescription {
        kind: info.kind,
        name: info.name.clone(),
        run_id: info.run_id.clone(),
        created: info.created.clone(),
        input_size: info.input_size,
        labels: info.labels.clone(),
        products: state.products.len(),
        max_batch: state.batcher.max_batch(),
        thresholds,
        ready: state.batcher.is_ready(),
        gallery,
    }))
}

/// `GET /v2/health/live` (Open Inference Protocol): the process answers.
pub async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "live": true }))
}

/// `GET /v2/health/ready` (Open Inference Protocol): 200 only once the model is warmed up.
pub async fn ready(State(state): State<AppState>) -> Response {
    let ready = state.batcher.is_ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(serde_json::json!({ "ready": ready }))).into_response()
}

/// `GET /metrics`: Prometheus scrape target.
pub async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.set_queue_depth(state.batcher.depth());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
        .into_response()
}
