//! The sneaker-id web app and HTTP API: a page to upload or snap a photo, and a JSON API
//! (`/api/v1/identify`), Open Inference Protocol health routes, Prometheus metrics and an
//! OpenAPI document, served by axum over a dynamic-batching inference thread.

mod api;
mod app;
mod batcher;
mod classifier;
mod config;
mod error;
mod gallery;
mod metrics;
mod network;
mod openapi;
mod page;
mod photos;
pub mod prepare;
pub mod setup;
mod state;
mod thumbnails;
mod upload;

use std::collections::HashMap;
use std::net::SocketAddr;

pub use api::{BatchAnswer, BatchItem, Footwear, Identification, ModelDescription, Prediction};
pub use batcher::BatchPolicy;
pub use classifier::{Classifier, ModelInfo, ModelKind, Scores, top_k};
pub use config::MAX_ENROLL_PHOTOS;
pub use config::ServeConfig;
pub use error::{ErrorBody, Result, ServeError};
pub use gallery::Enrolled;
pub use network::Network;
pub use openapi::PATHS as DOCUMENTED_PATHS;
pub use page::PAGE_COMMANDS;
use sneaker_catalog::Catalog;
pub use sneaker_identify::Verdict;
pub use state::GalleryOptions;

/// Opens the catalog folder `dir`, whose `products.csv` and photos describe the labels.
pub fn open_catalog(dir: &std::path::Path) -> Result<Catalog> {
    Catalog::open(dir).map_err(|e| ServeError::Setup(format!("catalog {}: {e}", dir.display())))
}

/// A ready-to-serve app: the router plus the inference thread behind it.
pub struct App {
    router: axum::Router,
    batcher: batcher::Batcher,
}

impl App {
    /// Starts the inference thread for `classifier` (warm-up runs in the background; readiness
    /// shows on `/v2/health/ready`) and builds the router. The `catalog`'s products and first
    /// photo per label are shown next to predictions.
    pub fn new(config: ServeConfig, classifier: Box<dyn Classifier>, catalog: Option<Catalog>) -> Result<App> {
        App::with_gallery(config, classifier, catalog, None)
    }

    /// As [`App::new`], answering through a gallery-aware identifier (trained labels + gallery,
    /// calibrated thresholds) and, with a token, accepting enrolments of new products. Without
    /// `gallery`, an identifier with no labels and no gallery decides (and enrolment is off).
    /// The config's threshold flags replace the identifier's calibrated thresholds.
    pub fn with_gallery(
        config: ServeConfig,
        classifier: Box<dyn Classifier>,
        catalog: Option<Catalog>,
        gallery: Option<GalleryOptions>,
    ) -> Result<App> {
        config.validate()?;
        let mut gallery = gallery.unwrap_or_else(GalleryOptions::without_gallery);
        gallery.identifier =
            gallery.identifier.with_overrides(config.thresholds).map_err(|e| ServeError::Setup(e.to_string()))?;
        let mut products = HashMap::new();
        let mut thumbnails = HashMap::new();
        if let Some(catalog) = &catalog {
            for label in catalog.labels() {
                if let Some(product) = catalog.product(label) {
                    products.insert(label.clone(), product.clone());
                }
                if let Some(image) = catalog.images_of(label).next() {
                    thumbnails.insert(label.clone(), catalog.path_of(image));
                }
            }
        }
        let metrics = metrics::Metrics::new();
        let batcher = batcher::Batcher::start(classifier, config.batch_policy(), metrics.clone())?;
        let state = state::AppState::new(state::Shared {
            config,
            batcher: batcher.clone(),
            metrics,
            products,
            thumbnails,
            background_removal: sneaker_vision::BACKGROUND_REMOVAL_AVAILABLE,
            gallery: std::sync::Arc::new(state::GalleryState::new(gallery)),
        });
        Ok(App { router: app::router(state), batcher })
    }

    /// The router, for serving or for in-process tests (`oneshot`).
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// True once the network is warmed up.
    pub fn is_ready(&self) -> bool {
        self.batcher.is_ready()
    }

    /// Serves on `listener` until `shutdown` resolves, then finishes requests in flight.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let addr: Option<SocketAddr> = listener.local_addr().ok();
        tracing::info!(?addr, "serving");
        axum::serve(listener, self.router.into_make_service())
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| ServeError::Setup(format!("the server stopped: {e}")))
    }
}
