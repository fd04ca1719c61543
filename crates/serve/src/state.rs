//! What every handler shares: the config, the batcher, the catalog's products, and the
//! identification state (identifier, gallery, enrolment token); and how handlers run work off
//! the async runtime. Handlers depend on this module, never on each other or on the router.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use sneaker_catalog::Product;
use sneaker_identify::Identifier;

use crate::batcher::Batcher;
use crate::config::ServeConfig;
use crate::error::{Result, ServeError};
use crate::metrics::Metrics;
use crate::prepare::{PrepareOptions, Prepared, prepare};
use crate::thumbnails::Thumbnails;

/// What every handler sees.
pub struct Shared {
    pub config: ServeConfig,
    pub batcher: Batcher,
    pub metrics: Metrics,
    /// Catalog products by label, empty without a catalog.
    pub products: HashMap<String, Product>,
    /// A catalog photo per label, served as its thumbnail.
    pub thumbnails: HashMap<String, std::path::PathBuf>,
    /// Whether `remove_background=true` can be honoured.
    pub background_removal: bool,
    /// The identifier every answer comes from (labels, gallery, thresholds), and enrolment.
    pub gallery: Arc<GalleryState>,
}

/// Cheap-to-clone handle on [`Shared`].
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Runs `work` on tokio's blocking pool: decoding, gallery search (which takes the identifier's
/// lock, held for long while an enrolment rebuilds the index) and file writes never stall the
/// async workers that accept and answer requests.
pub(crate) async fn off_runtime<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> crate::error::Result<T> + Send + 'static,
) -> crate::error::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ServeError::Internal(format!("the {what} task failed: {e}")))?
}

pub(crate) async fn prepare_blocking(
    state: &AppState,
    bytes: axum::body::Bytes,
    name: String,
    options: PrepareOptions,
) -> Result<Prepared> {
    let limits = state.config.decode_limits();
    off_runtime("decode", move || prepare(&bytes, &name, &limits, options)).await
}

const DISABLED: &str = "enrolment is disabled on this server (it was started without an enrolment token)";

/// What `App::with_identifier` needs to identify against a gallery and enroll into it.
pub struct GalleryOptions {
    pub identifier: Identifier,
    /// The gallery folder: thumbnails of enrolled photos go there, and a gallery started by the
    /// first enrolment is saved there. `None` (a database gallery, or none at all) keeps
    /// thumbnails in memory, and a gallery started here too.
    pub dir: Option<PathBuf>,
    /// Embedding model id stored with a gallery created by the first enrolment.
    pub model_id: String,
    /// Enrolment is refused unless this is set and presented.
    pub enroll_token: Option<String>,
}

impl GalleryOptions {
    /// No labels, no gallery, enrolment off: the bare ImageNet network's identifier.
    pub fn without_gallery() -> GalleryOptions {
        GalleryOptions {
            identifier: Identifier::new(None, None, None),
            dir: None,
            // Only read when enrolling, which needs a token.
            model_id: String::new(),
            enroll_token: None,
        }
    }
}

/// Shared, lockable identification state.
pub struct GalleryState {
    pub identifier: RwLock<Identifier>,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) model_id: String,
    token: Option<String>,
    /// Thumbnails of enrolled photos, shown with matches.
    pub thumbnails: Thumbnails,
    /// One enrolment (and gallery write) at a time.
    pub(crate) writing: tokio::sync::Mutex<()>,
}

impl GalleryState {
    pub fn new(options: GalleryOptions) -> GalleryState {
        GalleryState {
            identifier: RwLock::new(options.identifier),
            thumbnails: Thumbnails::new(options.dir.clone()),
            dir: options.dir,
            model_id: options.model_id,
            token: options.enroll_token.filter(|t| !t.is_empty()),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn enrollment_enabled(&self) -> bool {
        self.token.is_some()
    }

    pub(crate) fn check_token(&self, headers: &HeaderMap) -> Result<()> {
        let Some(expected) = &self.token else {
            return Err(ServeError::Forbidden(DISABLED.into()));
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ServeError::Unauthorized("enrolment needs the header `Authorization: Bearer TOKEN`".into())
            })?;
        // Compare digests so the time taken does not reveal how much of the token matched.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(expected.as_bytes()) {
            return Err(ServeError::Unauthorized(
                "wrong enrolment token: use the one `sneaker-id serve` printed when it started".into(),
            ));
        }
        Ok(())
    }
}
