//! `sneaker-id serve`: the web page and HTTP API, on the pretrained network or a trained run.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use sneaker_gallery::model_id;
use sneaker_identify::Identifier;
use sneaker_model::assets::Assets;
use sneaker_serve::{App, GalleryOptions, Network, ServeConfig};

#[derive(clap::Args)]
pub struct Args {
    /// A trained run folder (from `sneaker-id train`); without it the pretrained ImageNet network
    /// answers (footwear check and general categories).
    #[arg(long, env = "SNEAKER_ID_MODEL")]
    pub model: Option<PathBuf>,
    /// A catalog folder whose products.csv describes the labels (default: the run's catalog).
    #[arg(long, env = "SNEAKER_ID_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// Gallery folder searched with every photo and enrolled into (default: RUN/gallery).
    /// Without it and without --model, enrolments live in memory until the server stops.
    #[arg(long, env = "SNEAKER_ID_GALLERY")]
    pub gallery: Option<PathBuf>,
    /// Token that enables `POST /api/v1/gallery/products` and the page's enrolment form; each
    /// enrolment must present it. Enrolment is off without it.
    #[arg(long, env = "SNEAKER_ID_ENROLL_TOKEN", hide_env_values = true)]
    pub enroll_token: Option<String>,
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, env = "SNEAKER_ID_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Matches returned when a request does not say.
    #[arg(long, env = "SNEAKER_ID_TOP_K", default_value_t = ServeConfig::default().default_top_k)]
    pub top_k: usize,
    /// Below this footwear probability the answer is "not a sneaker" (not yet calibrated).
    #[arg(long, env = "SNEAKER_ID_FOOTWEAR_THRESHOLD", default_value_t = ServeConfig::default().footwear_threshold)]
    pub footwear_threshold: f32,
    /// Below this top-1 probability the answer is "not sure" (not yet calibrated).
    #[arg(long, env = "SNEAKER_ID_CONFIDENCE_THRESHOLD", default_value_t = ServeConfig::default().confidence_threshold)]
    pub confidence_threshold: f32,
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
            footwear_threshold: self.footwear_threshold,
            confidence_threshold: self.confidence_threshold,
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
    let network = match &args.model {
        Some(dir) => Network::from_run(&assets, dir)?,
        None => Network::pretrained(&assets).context("loading the pretrained network")?,
    };
    let catalog = args.catalog.clone().or_else(|| network.catalog().map(PathBuf::from));
    let catalog = catalog.as_deref().map(sneaker_serve::open_catalog).transpose()?;
    let gallery = gallery_options(&assets, &args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("listening on {}", args.addr))?;
        let app = App::with_gallery(config, Box::new(network), catalog, Some(gallery))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        // The one line scripts (and the browser test) wait for; the port is the real one.
        println!("listening on http://{addr}/");
        app.serve(listener, shutdown_signal()).await?;
        anyhow::Ok(())
    })
}

/// Ctrl-C or SIGTERM: stop accepting, finish requests in flight.
/// The gallery (opened if there is one), the run's labels and calibrated thresholds, and the
/// enrolment token.
fn gallery_options(assets: &Assets, args: &Args) -> anyhow::Result<GalleryOptions> {
    let (identifier, dir) = Identifier::open(assets, args.model.as_deref(), args.gallery.as_deref())?;
    if dir.is_none() && args.enroll_token.is_some() {
        tracing::warn!("no --gallery folder: enrolled products are kept in memory only");
    }
    let model_id = model_id(assets, args.model.as_deref())?;
    Ok(GalleryOptions { identifier, dir, model_id, enroll_token: args.enroll_token.clone() })
}

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
