//! `sneaker-id fewshot`: how well products enrolled from K photos are recognised on their other
//! photos, for K = 1, 3, 5 (the gallery's promise for products released after training).

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sneaker_catalog::Catalog;
use sneaker_gallery::Embedder;
use sneaker_identify::IdentifyError;
use sneaker_identify::fewshot::{self, FewShotResult};
use sneaker_model::assets::Assets;
use sneaker_vision::{DecodeLimits, INPUT_SIZE, decode_file_for_input, to_input_tensor};

const BATCH: usize = 16;

#[derive(clap::Args)]
pub struct Args {
    /// Catalog whose labels are the products to enroll (label folders or a scraped catalog).
    #[arg(long, value_name = "CATALOG")]
    pub data: PathBuf,
    /// Embed with this run's `features` (default: the pretrained backbone).
    #[arg(long, value_name = "RUN")]
    pub model: Option<PathBuf>,
    /// Photos enrolled per product, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 3, 5])]
    pub shots: Vec<usize>,
    /// Random enrolment draws averaged per K.
    #[arg(long, default_value_t = 5)]
    pub trials: usize,
    /// Leave out these labels (e.g. the ones a run was trained on), comma-separated or a
    /// run's labels.json.
    #[arg(long, value_name = "LABELS")]
    pub exclude: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Output {
    data: String,
    model: String,
    results: Vec<FewShotResult>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let assets = Assets::locate()?;
    let catalog = Catalog::open(&args.data).with_context(|| format!("reading {}", args.data.display()))?;
    let excluded = excluded_labels(args.exclude.as_deref())?;
    let photos: Vec<(PathBuf, String)> = catalog
        .images()
        .iter()
        .filter(|i| !excluded.contains(&i.label))
        .map(|i| (catalog.path_of(i), i.label.clone()))
        .collect();
    let mut embedder = match &args.model {
        Some(run) => Embedder::from_run(&assets, run).with_context(|| format!("loading run {}", run.display()))?,
        None => Embedder::pretrained(&assets).context("loading the pretrained network")?,
    };
    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(photos.len() as u64) };
    bar.set_style(ProgressStyle::with_template("embedding [{bar:30}] {pos}/{len} eta {eta}").expect("valid template"));
    let limits = DecodeLimits::default();
    let (mut embeddings, mut labels) = (Vec::new(), Vec::new());
    for chunk in photos.chunks(BATCH) {
        let mut tensors = Vec::new();
        for (path, label) in chunk {
            match decode_file_for_input(path, &limits, INPUT_SIZE) {
                Ok(img) => {
                    tensors.push(to_input_tensor(&img));
                    labels.push(label.clone());
                }
                Err(e) => eprintln!("skipped: {e}"),
            }
        }
        embeddings.extend(embedder.embed_tensors(&tensors)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let mut results = Vec::new();
    for &k in &args.shots {
        match fewshot::evaluate(&embeddings, &labels, k, args.trials, args.seed) {
            Ok(r) => results.push(r),
            // A K larger than most products' photo count says nothing; report and go on.
            Err(IdentifyError::NotEnoughData(why)) => eprintln!("K = {k} skipped: {why}"),
            Err(e) => return Err(e.into()),
        }
    }
    let model = args.model.as_ref().map_or("pretrained EfficientNet-Lite0".into(), |p| p.display().to_string());
    if args.json {
        println!("{}", serde_json::to_string(&Output { data: args.data.display().to_string(), model, results })?);
        return Ok(());
    }
    println!("{} ({} photos), embeddings from {model}", args.data.display(), labels.len());
    println!("{:>5} {:>9} {:>8} {:>7} {:>10}", "K", "products", "queries", "top-1", "recall@5");
    for r in &results {
        println!("{:>5} {:>9} {:>8} {:>7.3} {:>10.3}", r.shots, r.products, r.queries, r.top1, r.recall_at_5);
    }
    Ok(())
}

fn excluded_labels(spec: Option<&str>) -> anyhow::Result<std::collections::HashSet<String>> {
    let Some(spec) = spec else { return Ok(Default::default()) };
    if spec.ends_with(".json") {
        let labels = sneaker_model::run::read_labels(std::path::Path::new(spec))?;
        return Ok(labels.into_iter().collect());
    }
    Ok(spec.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
}
