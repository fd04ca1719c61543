//! `sneaker-id fewshot`: how well products enrolled from K photos are recognised on their other
//! photos, for K = 1, 3, 5 (the gallery's promise for products released after training), and how
//! well every photo retrieves the others of its product (recall@1, recall@5, mAP). A run is
//! measured beside the pretrained features on the same photos and draws, so the two compare.
//! Photos are compared as the gallery compares them (shape and colour, `sneaker_gallery::Similarity`);
//! `--shape-only` measures the network's features alone.

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sneaker_catalog::Catalog;
use sneaker_gallery::{Embedder, Similarity};
use sneaker_identify::IdentifyError;
use sneaker_identify::fewshot::{self, FewShotResult, RetrievalResult};
use sneaker_model::assets::Assets;
use sneaker_model::colourway::colour_dims;
use sneaker_vision::{DecodeLimits, INPUT_SIZE, decode_file_for_input, to_input_tensor};

const BATCH: usize = 16;

#[derive(clap::Args)]
pub struct Args {
    /// Catalog whose labels are the products to enroll (label folders or a scraped catalog).
    #[arg(long, value_name = "CATALOG")]
    pub data: PathBuf,
    /// Embed with this run's `features` too (the pretrained backbone is always measured beside
    /// it unless --no-baseline).
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
    /// With --model, leave out the pretrained features' row.
    #[arg(long)]
    pub no_baseline: bool,
    /// Compare photos by the network's features alone, without the colour part the gallery weighs
    /// in (to measure what colour adds).
    #[arg(long)]
    pub shape_only: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Output {
    data: String,
    photos: usize,
    /// The run's embedding first (when given), then the pretrained features.
    models: Vec<Measured>,
}

#[derive(Serialize)]
struct Measured {
    model: String,
    /// Embedding width.
    dim: usize,
    retrieval: Option<RetrievalResult>,
    results: Vec<FewShotResult>,
}

const PRETRAINED: &str = "pretrained EfficientNet-Lite0";

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
    if photos.is_empty() {
        anyhow::bail!("{}: no photos left to measure on ({} excluded)", args.data.display(), excluded.len());
    }
    let mut embedders: Vec<(String, Embedder)> = Vec::new();
    if let Some(run) = &args.model {
        let e = Embedder::from_run(&assets, run).with_context(|| format!("loading run {}", run.display()))?;
        embedders.push((run.display().to_string(), e));
    }
    if args.model.is_none() || !args.no_baseline {
        embedders.push((PRETRAINED.into(), Embedder::pretrained(&assets).context("loading the pretrained network")?));
    }
    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(photos.len() as u64) };
    bar.set_style(ProgressStyle::with_template("embedding [{bar:30}] {pos}/{len} eta {eta}").expect("valid template"));
    let limits = DecodeLimits::default();
    let mut embeddings: Vec<Vec<Vec<f32>>> = vec![Vec::new(); embedders.len()];
    let (mut labels, mut skipped) = (Vec::new(), 0usize);
    for chunk in photos.chunks(BATCH) {
        let mut tensors = Vec::new();
        for (path, label) in chunk {
            match decode_file_for_input(path, &limits, INPUT_SIZE) {
                Ok(img) => {
                    tensors.push(to_input_tensor(&img));
                    labels.push(label.clone());
                }
                Err(e) => {
                    skipped += 1;
                    eprintln!("skipped: {e}");
                }
            }
        }
        for ((_, embedder), out) in embedders.iter_mut().zip(&mut embeddings) {
            out.extend(embedder.embed_tensors(&tensors)?);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if skipped > 0 {
        eprintln!("{skipped} photos could not be decoded and were left out (named above)");
    }
    let mut models = Vec::new();
    for ((name, embedder), vectors) in embedders.iter().zip(&embeddings) {
        let (similarity, shapes) = if args.shape_only {
            // The network's part alone: the colour part cut off each vector.
            let colour = colour_dims(embedder.model_id());
            (Similarity::cosine(), Some(vectors.iter().map(|v| v[..v.len() - colour].to_vec()).collect::<Vec<_>>()))
        } else {
            (Similarity::of(embedder.model_id()), None)
        };
        let vectors = shapes.as_deref().unwrap_or(vectors);
        let dim = vectors.first().map_or(embedder.dim(), Vec::len);
        models.push(measure(name, dim, vectors, &labels, &similarity, &args)?);
    }
    if args.json {
        let out = Output { data: args.data.display().to_string(), photos: labels.len(), models };
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    println!("{} ({} photos)", args.data.display(), labels.len());
    println!(
        "{:<40} {:>5} {:>8} {:>8} {:>6} | {:>3} {:>9} {:>8} {:>7} {:>9}",
        "embedding", "dim", "recall@1", "recall@5", "mAP", "K", "products", "queries", "top-1", "recall@5"
    );
    for m in &models {
        let r = m.retrieval;
        let cell = |f: fn(&RetrievalResult) -> f32| r.as_ref().map_or("-".into(), |r| format!("{:.3}", f(r)));
        let head = format!(
            "{:<40} {:>5} {:>8} {:>8} {:>6}",
            m.model,
            m.dim,
            cell(|r| r.recall_at_1),
            cell(|r| r.recall_at_5),
            cell(|r| r.map)
        );
        for (i, f) in m.results.iter().enumerate() {
            let lead = if i == 0 { head.clone() } else { " ".repeat(head.len()) };
            println!(
                "{lead} | {:>3} {:>9} {:>8} {:>7.3} {:>9.3}",
                f.shots, f.products, f.queries, f.top1, f.recall_at_5
            );
        }
        if m.results.is_empty() {
            println!("{head} |");
        }
    }
    Ok(())
}

/// Retrieval and few-shot numbers of one embedding.
fn measure(
    name: &str,
    dim: usize,
    vectors: &[Vec<f32>],
    labels: &[String],
    similarity: &Similarity,
    args: &Args,
) -> anyhow::Result<Measured> {
    let retrieval = match fewshot::retrieval(vectors, labels, similarity) {
        Ok(r) => Some(r),
        Err(IdentifyError::NotEnoughData(why)) => {
            eprintln!("retrieval skipped: needs {why}");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let mut results = Vec::new();
    for &k in &args.shots {
        match fewshot::evaluate(vectors, labels, k, args.trials, args.seed, similarity) {
            Ok(r) => results.push(r),
            // A K larger than most products' photo count says nothing; report and go on.
            Err(IdentifyError::NotEnoughData(why)) => eprintln!("K = {k} skipped: {why}"),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Measured { model: name.to_owned(), dim, retrieval, results })
}

fn excluded_labels(spec: Option<&str>) -> anyhow::Result<std::collections::HashSet<String>> {
    let Some(spec) = spec else { return Ok(Default::default()) };
    if spec.ends_with(".json") {
        let labels = sneaker_model::run::read_labels(std::path::Path::new(spec))?;
        return Ok(labels.into_iter().collect());
    }
    Ok(spec.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
}
