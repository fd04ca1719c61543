//! `sneaker-id gallery`: build a run's gallery from a catalog, enroll a new product from a few
//! photos, and search it with photos. The work is in `sneaker_gallery`; this file parses
//! arguments and draws progress bars.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sneaker_catalog::{Catalog, Product};
use sneaker_gallery::{
    EnrollReport, GalleryBackend, GalleryLocation, LabelScore, Match, OpenMode, Progress, enroll_product,
    label_from_name, open_gallery, read_photo, run_gallery_dir, sync_catalog,
};
use sneaker_model::assets::Assets;
use sneaker_model::predictor::embedding_of;
use sneaker_vision::DecodeLimits;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: GalleryCommand,
}

#[derive(clap::Subcommand)]
pub enum GalleryCommand {
    /// Embed every image of a catalog into a new gallery (replacing the one there).
    Build(BuildArgs),
    /// Enroll a new product from a few photos; it is identifiable at once, without retraining.
    Add(AddArgs),
    /// Show the enrolled photos most similar to each photo.
    Search(SearchArgs),
}

/// Which network embeds, and where the gallery lives.
#[derive(clap::Args)]
#[group(required = true, multiple = true)]
pub struct Target {
    /// A trained run folder: its `model.onnx` embeds, its gallery is `RUN/gallery/`.
    #[arg(long, value_name = "RUN")]
    pub model: Option<PathBuf>,
    /// Where the gallery lives: a folder, or a PostgreSQL database with pgvector that several
    /// servers share, `postgres://USER[:PASSWORD]@HOST:PORT/DB?gallery=NAME` (NAME: a-z, 0-9, _;
    /// default `default`). Without --model, the pretrained ImageNet backbone embeds.
    #[arg(long, value_name = "DIR|postgres://...")]
    pub gallery: Option<GalleryLocation>,
}

#[derive(clap::Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub target: Target,
    /// Catalog folder: scraped (`images.csv`, `products.csv`) or `<label>/` photo folders.
    #[arg(long, value_name = "CATALOG")]
    pub data: PathBuf,
}

#[derive(clap::Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub target: Target,
    /// Photos of the product: a folder (read recursively) or image files.
    #[arg(long, value_name = "DIR", required = true, num_args = 1..)]
    pub images: Vec<PathBuf>,
    /// Product name, e.g. "Nike Air Max 90 Infrared".
    #[arg(long)]
    pub product: String,
    /// Label to file it under; default: made from the name (`nike_air_max_90_infrared`).
    #[arg(long)]
    pub label: Option<String>,
    /// Brand, e.g. Nike.
    #[arg(long)]
    pub brand: Option<String>,
    /// Colourway as the shop names it, e.g. "White/Infrared".
    #[arg(long)]
    pub colorway: Option<String>,
    /// Manufacturer style code, e.g. CT1685-100.
    #[arg(long)]
    pub style_id: Option<String>,
    /// The product's page.
    #[arg(long)]
    pub url: Option<String>,
    /// A picture of the product to show next to matches.
    #[arg(long)]
    pub thumbnail_url: Option<String>,
}

#[derive(clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub target: Target,
    /// Photos to look up.
    #[arg(required = true)]
    pub photos: Vec<PathBuf>,
    /// Matches to show per photo.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub top: u16,
    /// Print one JSON object per photo instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        GalleryCommand::Build(a) => build(a),
        GalleryCommand::Add(a) => add(a),
        GalleryCommand::Search(a) => search(a),
    }
}

impl Target {
    fn location(&self) -> anyhow::Result<GalleryLocation> {
        self.gallery
            .clone()
            .or_else(|| self.model.as_deref().map(|run| GalleryLocation::Folder(run_gallery_dir(run))))
            .context("pass --model RUN or --gallery DIR|postgres://...")
    }

    fn embedder(&self) -> anyhow::Result<sneaker_gallery::Embedder> {
        let assets = Assets::locate()?;
        Ok(match &self.model {
            Some(run) => sneaker_gallery::Embedder::from_run(&assets, run)
                .with_context(|| format!("loading run {}", run.display()))?,
            None => sneaker_gallery::Embedder::pretrained(&assets).context("loading the pretrained network")?,
        })
    }

    /// The gallery, opened for the embedder's network.
    fn open(&self, embedder: &sneaker_gallery::Embedder, mode: OpenMode) -> anyhow::Result<Box<dyn GalleryBackend>> {
        Ok(open_gallery(&self.location()?, embedder.model_id(), embedder.dim(), mode)?)
    }
}

fn bar(total: usize, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta}").expect("valid template"),
    );
    bar.set_message(what);
    bar
}

fn summarise(report: &EnrollReport, gallery: &dyn GalleryBackend) -> anyhow::Result<()> {
    for f in &report.failed {
        eprintln!("error: {}", f.error);
    }
    eprintln!(
        "{} photos added, {} already enrolled, {} failed; {} photos of {} products in {}",
        report.added,
        report.already_enrolled,
        report.failed.len(),
        gallery.len()?,
        gallery.labels()?.len(),
        gallery.location()
    );
    Ok(())
}

fn build(args: BuildArgs) -> anyhow::Result<()> {
    let catalog = Catalog::open(&args.data).with_context(|| format!("opening catalog {}", args.data.display()))?;
    if catalog.images().is_empty() {
        anyhow::bail!("{}: the catalog has no images", args.data.display());
    }
    let embedder = args.target.embedder()?;
    let mut gallery = args.target.open(&embedder, OpenMode::Replace)?;
    let thumbs = gallery.thumbnails_dir().map(PathBuf::from);
    let bar = bar(catalog.images().len(), "embedding");
    let limits = DecodeLimits::default();
    let report =
        sync_catalog(&mut *gallery, || Ok(embedder), &catalog, &limits, thumbs.as_deref(), &mut |p: Progress| {
            bar.set_position(p.done as u64)
        })?;
    bar.finish_and_clear();
    if gallery.is_empty()? {
        anyhow::bail!("no photo of {} could be embedded", args.data.display());
    }
    gallery.save()?;
    summarise(&report.enrolled, &*gallery)
}

fn add(args: AddArgs) -> anyhow::Result<()> {
    let label = match &args.label {
        Some(l) => l.clone(),
        None => label_from_name(&args.product)
            .with_context(|| format!("cannot make a label from {:?}; pass --label", args.product))?,
    };
    let mut photos = Vec::new();
    for input in &args.images {
        if input.is_dir() {
            let found = sneaker_catalog::images_in(input)?;
            if found.is_empty() {
                anyhow::bail!("{}: no images in this folder", input.display());
            }
            photos.extend(found);
        } else {
            photos.push(input.clone());
        }
    }
    let mut embedder = args.target.embedder()?;
    let mut gallery = args.target.open(&embedder, OpenMode::Create)?;
    let thumbs = gallery.thumbnails_dir().map(PathBuf::from);
    let product = Product {
        label: label.clone(),
        name: Some(args.product),
        brand: args.brand,
        colorway: args.colorway,
        style_id: args.style_id,
        url: args.url,
        thumbnail_url: args.thumbnail_url,
        ..Default::default()
    };
    let bar = bar(photos.len(), "enrolling");
    let report = enroll_product(
        &mut *gallery,
        &mut embedder,
        product,
        &photos,
        &DecodeLimits::default(),
        thumbs.as_deref(),
        &mut |p| bar.set_position(p.done as u64),
    )?;
    bar.finish_and_clear();
    if report.added == 0 && report.already_enrolled == 0 {
        anyhow::bail!("none of the {} photos could be read; the gallery is unchanged", photos.len());
    }
    gallery.save()?;
    summarise(&report, &*gallery)?;
    println!("{label}");
    Ok(())
}

/// One line of `--json` output.
#[derive(Serialize)]
struct Found {
    image: String,
    matches: Vec<Match>,
    labels: Vec<LabelScore>,
}

fn search(args: SearchArgs) -> anyhow::Result<()> {
    // Opened (or found missing) before the network loads, which takes a second.
    let assets = Assets::locate()?;
    let run = args.target.model.as_deref().map(|run| sneaker_model::run::Run::open(&assets, run)).transpose()?;
    let (id, dim) = embedding_of(&assets, run.as_ref())?;
    let gallery = open_gallery(&args.target.location()?, &id, dim, OpenMode::Existing)?;
    let mut embedder = args.target.embedder()?;
    let k = usize::from(args.top);
    let limits = DecodeLimits::default();
    let mut failures = 0usize;
    let mut out = std::io::stdout().lock();
    for photo in &args.photos {
        let image = match read_photo(photo, &limits) {
            Ok((_, image)) => image,
            Err(e) => {
                failures += 1;
                eprintln!("error: {e}");
                continue;
            }
        };
        let embedding = embedder.embed_image(&image)?;
        let found = Found {
            image: photo.display().to_string(),
            matches: gallery.search(&embedding, k)?,
            labels: gallery.search_labels(&embedding, k)?,
        };
        match print_found(&mut out, &found, args.json) {
            // The reader went away (`| head`): stop quietly, as command-line tools do.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other.context("writing the matches")?,
        }
    }
    if failures > 0 {
        anyhow::bail!("{failures} of {} photos could not be read", args.photos.len());
    }
    Ok(())
}

fn print_found(out: &mut impl Write, found: &Found, json: bool) -> std::io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, found)?;
        return writeln!(out);
    }
    writeln!(out, "{}", found.image)?;
    for (rank, m) in found.matches.iter().enumerate() {
        let name = m.product.as_ref().and_then(|p| p.name.as_deref()).unwrap_or("");
        writeln!(out, "  {}. {:<32} {:>6.3}  {name}  ({})", rank + 1, m.label, m.similarity, m.source)?;
    }
    Ok(())
}
