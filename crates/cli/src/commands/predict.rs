//! `sneaker-id predict`: ImageNet top-K and a footwear check, or a trained run's sneaker labels.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use sneaker_model::assets::Assets;
use sneaker_model::classifier::{Classifier, Scores, top_k};
use sneaker_vision::{DecodeLimits, decode_file, is_image_path, to_input_tensor};

/// Images per ONNX Runtime call: large enough to use both cores well, small enough to keep
/// memory flat on big folders.
const BATCH: usize = 16;
/// Footwear probability above which a photo is said to show a shoe.
const FOOTWEAR_THRESHOLD: f32 = 0.5;

#[derive(clap::Args)]
pub struct Args {
    /// Image files or folders of images (a folder is read recursively).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// A trained run folder (from `sneaker-id train`); without it, the pretrained ImageNet
    /// network answers with ImageNet classes.
    #[arg(long, value_name = "RUN")]
    pub model: Option<PathBuf>,
    /// How many predictions to show per image.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub top: u16,
    /// Print one JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One line of `--json` output.
#[derive(Serialize)]
struct Prediction<'a> {
    image: String,
    predictions: Vec<Label<'a>>,
    footwear: Footwear,
}

#[derive(Serialize)]
struct Label<'a> {
    label: &'a str,
    probability: f32,
}

#[derive(Serialize)]
struct Footwear {
    probability: f32,
    is_footwear: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let files = expand(&args.images)?;
    let assets = Assets::locate()?;
    let mut classifier = match &args.model {
        Some(run) => Classifier::from_run(&assets, run).with_context(|| format!("loading run {}", run.display()))?,
        None => Classifier::pretrained(&assets).context("loading the pretrained network")?,
    };
    let limits = DecodeLimits::default();
    let mut failures = 0usize;
    for chunk in files.chunks(BATCH) {
        // Decode errors are per file: report them and go on with the rest.
        let mut ok = Vec::with_capacity(chunk.len());
        let mut tensors = Vec::with_capacity(chunk.len());
        for path in chunk {
            match decode_file(path, &limits) {
                Ok(img) => {
                    tensors.push(to_input_tensor(&img));
                    ok.push(path);
                }
                Err(e) => {
                    failures += 1;
                    eprintln!("error: {e}");
                }
            }
        }
        let scores = classifier.classify_tensors(&tensors)?;
        let mut out = std::io::stdout().lock();
        for (path, s) in ok.into_iter().zip(&scores) {
            match print_one(&mut out, path, s, classifier.labels(), usize::from(args.top), args.json) {
                // The reader went away (`| head`): stop quietly, as command-line tools do.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                other => other.context("writing the predictions")?,
            }
        }
    }
    if failures > 0 {
        anyhow::bail!("{failures} of {} images could not be read", files.len());
    }
    Ok(())
}

fn print_one(
    out: &mut impl Write,
    path: &Path,
    s: &Scores,
    labels: &[String],
    k: usize,
    json: bool,
) -> std::io::Result<()> {
    let predictions: Vec<Label> =
        top_k(&s.probs, k).into_iter().map(|i| Label { label: &labels[i], probability: s.probs[i] }).collect();
    let footwear = Footwear { probability: s.footwear, is_footwear: s.footwear >= FOOTWEAR_THRESHOLD };
    if json {
        let line = Prediction { image: path.display().to_string(), predictions, footwear };
        serde_json::to_writer(&mut *out, &line)?;
        return writeln!(out);
    }
    let verdict = if footwear.is_footwear { "looks like footwear" } else { "does not look like footwear" };
    writeln!(out, "{}  ({verdict}, {:.0}%)", path.display(), 100.0 * footwear.probability)?;
    for (rank, p) in predictions.iter().enumerate() {
        writeln!(out, "  {}. {:<32} {:>6.2}%", rank + 1, p.label, 100.0 * p.probability)?;
    }
    Ok(())
}

/// Files as given, folders expanded to the images inside them (sorted, so output is stable).
fn expand(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).with_context(|| format!("{}", input.display()))?;
        if !meta.is_dir() {
            files.push(input.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in walkdir::WalkDir::new(input) {
            let entry = entry.with_context(|| format!("reading {}", input.display()))?;
            if entry.file_type().is_file() && is_image_path(entry.path()) {
                found.push(entry.into_path());
            }
        }
        if found.is_empty() {
            anyhow::bail!("{}: no images in this folder", input.display());
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}
