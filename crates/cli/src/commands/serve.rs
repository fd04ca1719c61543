//! `sneaker-id serve`: the web page and HTTP API, on the pretrained network or a trained run, with
//! a gallery that names enrolled products (from the page, or from `--catalog`) without training.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sneaker_catalog::Catalog;
use sneaker_gallery::{BATCH, Embedder, GalleryLocation, OpenMode, open_gallery, sync_catalog};
use sneaker_identify::Identifier;
use sneaker_model::assets::Assets;
use sneaker_model::predictor::Predictor;
use sneaker_serve::setup::{cache_dir, default_gallery_dir, new_token, startup_line};
use sneaker_serve::{App, GalleryOptions, Network, ServeConfig};
use sneaker_vision::DecodeLimits;

#[derive(clap::Args)]
pub struct Args {
    /// A trained run folder (from `sneaker-id train`). Without it the pretrained network answers:
    /// the footwear check, and the gallery's products (enrolled on the page or from --catalog)
    /// named by its features; ImageNet categories while the gallery is empty.
    #[arg(long, env = "SNEAKER_ID_MODEL")]
    pub model: Option<PathBuf>,
    /// A catalog folder: scraped (images.csv, products.csv) or one sub-folder of photos per label.
    /// Without --model its photos are embedded into the gallery at start (only new or changed
    /// ones; a second start is instant) so its products are named with no training. With --model
    /// it describes the run's labels (default: the run's catalog).
    #[arg(long, env = "SNEAKER_ID_CATALOG", value_name = "DIR")]
    pub catalog: Option<PathBuf>,
    /// Gallery searched with every photo and enrolled into: a folder, or a PostgreSQL database
    /// with pgvector, `postgres://USER[:PASSWORD]@HOST:PORT/DB?gallery=NAME`, which several
    /// servers share (a product enrolled through one is identified by all at once; NAME: a-z,
    /// 0-9, _, default `default`). Default: RUN/gallery with --model; else
    /// ~/.cache/sneaker-id/galleries/<catalog>-<digest>/ with --catalog, else
    /// ~/.cache/sneaker-id/gallery/ ($XDG_CACHE_HOME is honoured). Kept across restarts.
    #[arg(long, env = "SNEAKER_ID_GALLERY", hide_env_values = true, value_name = "DIR|postgres://...")]
    pub gallery: Option<GalleryLocation>,
    /// Token that "Add a sneaker" and `POST /api/v1/gallery/products` must present. Default: a
    /// random one made at each start and printed with the page's address.
    #[arg(long, env = "SNEAKER_ID_ENROLL_TOKEN", hide_env_values = true)]
    pub enroll_token: Option<String>,
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, env = "SNEAKER_ID_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Matches returned when a request does not say.
    #[arg(long, env = "SNEAKER_ID_TOP_K", default_value_t = ServeConfig::default().default_top_k)]
    pub top_k: usize,
    #[command(flatten)]
    pub thresholds: super::thresholds::ThresholdFlags,
    /// Largest request body, in MiB.
    #[arg(long, env = "SNEAKER_ID_BODY_LIMIT_MB", default_value_t = 20)]
    pub body_limit_mb: usize,
    /// Most photos per network call (and per batch request).
    #[arg(long, env = "SNEAKER_ID_MAX_BATCH", default_value_t = ServeConfig::default().max_batch)]
    pub max_batch: usize,
    /// Milliseconds a request waits for others to share its network call.
    #[arg(long, env = "SNEAKER_ID_BATCH_WAIT_MS", default_value_t = ServeConfig::default().batch_wait_ms)]
    pub batch_wait_ms: u64,
    /// Requests that may wait for the network before new ones get 503.
    #[arg(long, env = "SNEAKER_ID_QUEUE", default_value_t = ServeConfig::default().queue_capacity)]
    pub queue: usize,
    /// Whole-request time limit in seconds.
    #[arg(long, env = "SNEAKER_ID_TIMEOUT_S", default_value_t = ServeConfig::default().request_timeout_s)]
    pub timeout_s: u64,
}

impl Args {
    fn config(&self) -> anyhow::Result<ServeConfig> {
        let config = ServeConfig {
            body_limit: self.body_limit_mb.checked_mul(1024 * 1024).context("--body-limit-mb is too large")?,
            default_top_k: self.top_k,
            thresholds: self.thresholds.overrides(),
            max_batch: self.max_batch,
            batch_wait_ms: self.batch_wait_ms,
            queue_capacity: self.queue,
            request_timeout_s: self.timeout_s,
            ..ServeConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = args.config()?;
    let assets = Assets::locate().context("finding the network's assets")?;
    let predictor = super::open_predictor(&assets, args.model.as_deref())?;
    // One spelling of the folder, so the gallery recognises its photos whatever path was typed.
    let catalog_dir = args
        .catalog
        .clone()
        .or_else(|| predictor.run().and_then(|r| r.catalog()))
        .map(|d| d.canonicalize().unwrap_or(d));
    let catalog = catalog_dir.as_deref().map(sneaker_serve::open_catalog).transpose()?;
    let location = gallery_location(&args)?;
    if let (None, Some(catalog), Some(location)) = (&args.model, &catalog, &location) {
        update_gallery(&assets, (predictor.embedding_id(), predictor.embedding_dim()), catalog, location)?;
    }
    let token = match args.enroll_token.clone().filter(|t| !t.trim().is_empty()) {
        Some(token) => token,
        None => new_token(),
    };
    let gallery = gallery_options(&predictor, location.as_ref(), token.clone())?;
    let network = Network::new(predictor);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("listening on {}", args.addr))?;
        let app = App::with_gallery(config, Box::new(network), catalog, Some(gallery))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        // The one line scripts (and the browser test) wait for; the port is the real one.
        println!("{}", startup_line(&format!("http://{addr}/"), Some(&token)));
        app.serve(listener, shutdown_signal()).await?;
        anyhow::Ok(())
    })
}

/// `--gallery`, else the run's, else the per-user default (see `--gallery`'s help).
fn gallery_location(args: &Args) -> anyhow::Result<Option<GalleryLocation>> {
    if let Some(location) = &args.gallery {
        return Ok(Some(location.clone()));
    }
    if args.model.is_some() {
        return Ok(None); // Identifier::open uses RUN/gallery
    }
    let cache = cache_dir().context("no home folder to keep the gallery in: pass --gallery DIR")?;
    Ok(Some(GalleryLocation::Folder(default_gallery_dir(&cache, args.catalog.as_deref()))))
}

/// Embeds the catalog's new or changed photos into the gallery at `location` (pretrained
/// features, named `id`), drawing progress on stderr, and saves it when anything changed.
/// `embedding`: the pretrained predictor's embedding id and width.
fn update_gallery(
    assets: &Assets,
    (id, dim): (&str, usize),
    catalog: &Catalog,
    location: &GalleryLocation,
) -> anyhow::Result<()> {
    let mut gallery = open_gallery(location, id, dim, OpenMode::Create)?;
    let thumbs = gallery.thumbnails_dir().map(PathBuf::from);
    let products = gallery.products()?;
    let total = catalog.images().len();
    eprintln!("sneaker-id: checking {total} catalog photos against the gallery in {}", gallery.location());
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta}").expect("valid template"),
    );
    bar.set_message("embedding");
    let limits = DecodeLimits::default();
    let load = || Embedder::pretrained(assets);
    let report = sync_catalog(&mut *gallery, load, catalog, &limits, thumbs.as_deref(), &mut |p| {
        bar.set_position(p.done as u64);
        if !bar.is_hidden() {
            return;
        }
        // No terminal (a log, CI): a line every 10%.
        if p.total > 0 && (p.done * 10 / p.total) != ((p.done.saturating_sub(BATCH)) * 10 / p.total) {
            eprintln!("sneaker-id: {}/{} catalog photos checked or embedded", p.done, p.total);
        }
    })?;
    bar.finish_and_clear();
    for f in &report.enrolled.failed {
        eprintln!("sneaker-id: skipped {}: {}", f.path.display(), f.error);
    }
    let changed = report.enrolled.added > 0 || report.removed > 0 || gallery.products()? != products;
    if changed {
        gallery.save().with_context(|| format!("saving the gallery in {}", gallery.location()))?;
    }
    eprintln!(
        "sneaker-id: gallery {}: {} photos of {} products ({} new, {} unchanged, {} removed, {} unreadable)",
        gallery.location(),
        gallery.len()?,
        gallery.labels()?.len(),
        report.enrolled.added,
        report.enrolled.already_enrolled,
        report.removed,
        report.enrolled.failed.len()
    );
    Ok(())
}

/// The gallery (opened, or started empty), the run's labels and calibrated thresholds, and the
/// enrolment token.
fn gallery_options(
    predictor: &Predictor,
    location: Option<&GalleryLocation>,
    token: String,
) -> anyhow::Result<GalleryOptions> {
    let (identifier, location) = Identifier::open(predictor, location, OpenMode::Create)?;
    let dir = match location {
        Some(GalleryLocation::Folder(dir)) => Some(dir),
        Some(GalleryLocation::Postgres(_)) => None,
        None => {
            tracing::warn!("no gallery folder: enrolled products are kept in memory only");
            None
        }
    };
    let model_id = predictor.embedding_id().to_owned();
    Ok(GalleryOptions { identifier, dir, model_id, enroll_token: Some(token) })
}

/// Ctrl-C or SIGTERM: stop accepting, finish requests in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
