//! `sneaker-id predict`: sneaker labels from a trained run and/or a gallery (ImageNet top-K with
//! the bare network), with the same verdict as the HTTP API: `match`, `not_sure` or
//! `not_a_sneaker`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use sneaker_gallery::{GalleryLocation, OpenMode};
use sneaker_identify::{Identifier, Verdict};
use sneaker_model::assets::Assets;
use sneaker_model::predictor::{Predictor, Scores, top_k};
use sneaker_vision::{DecodeLimits, INPUT_SIZE, decode_file_for_input, to_input_tensor};

/// Images per ONNX Runtime call: large enough to use both cores well, small enough to keep
/// memory flat on big folders.
const BATCH: usize = 16;

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
    /// Gallery to search as well: a folder, or a PostgreSQL gallery shared with servers,
    /// `postgres://USER@HOST:PORT/DB?gallery=NAME` (NAME defaults to `default`). Default:
    /// RUN/gallery when the run has one.
    #[arg(long, value_name = "DIR|postgres://...")]
    pub gallery: Option<GalleryLocation>,
    #[command(flatten)]
    pub thresholds: super::thresholds::ThresholdFlags,
}

/// One line of `--json` output.
#[derive(Serialize)]
struct Prediction {
    image: String,
    predictions: Vec<Label>,
    footwear: Footwear,
    /// `match`, `not_sure` (always, at best, with the bare ImageNet network) or `not_a_sneaker`.
    verdict: Verdict,
    /// Whether the labels are sneakers (a run or gallery) rather than ImageNet classes.
    #[serde(skip)]
    named: bool,
}

#[derive(Serialize)]
struct Label {
    label: String,
    probability: f32,
    /// Best similarity to this label's gallery photos, when a gallery is loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    similarity: Option<f32>,
}

#[derive(Serialize)]
struct Footwear {
    probability: f32,
    is_footwear: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let files = expand(&args.images)?;
    let assets = Assets::locate()?;
    let mut predictor = super::open_predictor(&assets, args.model.as_deref())?;
    let identifier = identifier(&predictor, &args)?;
    let limits = DecodeLimits::default();
    let mut failures = 0usize;
    for chunk in files.chunks(BATCH) {
        let mut ok = Vec::with_capacity(chunk.len());
        let mut tensors = Vec::with_capacity(chunk.len());
        for path in chunk {
            match decode_file_for_input(path, &limits, INPUT_SIZE) {
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
        let scores = predictor.scores_of_tensors(&tensors)?;
        let mut out = std::io::stdout().lock();
        for (path, s) in ok.into_iter().zip(&scores) {
            let line = prediction(path, s, predictor.labels(), &identifier, usize::from(args.top))?;
            match print_one(&mut out, &line, args.json) {
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

/// Trained labels, the gallery (`--gallery`, else RUN/gallery) and the thresholds in force.
fn identifier(predictor: &Predictor, args: &Args) -> anyhow::Result<Identifier> {
    let (identifier, _) = Identifier::open(predictor, args.gallery.as_ref(), OpenMode::Existing)?;
    if let (Some(location), None) = (&args.gallery, identifier.gallery()) {
        anyhow::bail!("{location}: no gallery there (build one with `sneaker-id gallery build`)");
    }
    Ok(identifier.with_overrides(args.thresholds.overrides())?)
}

fn prediction(
    path: &Path,
    s: &Scores,
    labels: &[String],
    identifier: &Identifier,
    k: usize,
) -> anyhow::Result<Prediction> {
    let answer = identifier.identify(s)?;
    let named = identifier.can_identify()?;
    let footwear = Footwear { probability: s.footwear, is_footwear: answer.verdict != Verdict::NotASneaker };
    let predictions = if named {
        answer
            .ranking
            .into_iter()
            .take(k)
            .map(|r| Label { label: r.label, probability: r.probability, similarity: r.similarity })
            .collect()
    } else {
        // Nothing names sneakers: show what the ImageNet classes make of the photo.
        top_k(&s.probs, k)
            .into_iter()
            .map(|i| Label { label: labels[i].clone(), probability: s.probs[i], similarity: None })
            .collect()
    };
    Ok(Prediction { image: path.display().to_string(), predictions, footwear, verdict: answer.verdict, named })
}

fn print_one(out: &mut impl Write, p: &Prediction, json: bool) -> std::io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, p)?;
        return writeln!(out);
    }
    let verdict = match p.verdict {
        Verdict::Match => "match",
        Verdict::NotSure if !p.named => "footwear; no trained run or gallery to name it, ImageNet classes below",
        Verdict::NotSure => "not sure: maybe a sneaker we do not know",
        Verdict::NotASneaker => "does not look like a sneaker",
    };
    writeln!(out, "{}  ({verdict}, footwear {:.0}%)", p.image, 100.0 * p.footwear.probability)?;
    for (rank, l) in p.predictions.iter().enumerate() {
        let sim = l.similarity.map_or(String::new(), |s| format!("  (gallery similarity {s:.2})"));
        writeln!(out, "  {}. {:<32} {:>6.2}%{sim}", rank + 1, l.label, 100.0 * l.probability)?;
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
        let found = sneaker_catalog::images_in(input)?;
        if found.is_empty() {
            anyhow::bail!("{}: no images in this folder", input.display());
        }
        files.extend(found);
    }
    Ok(files)
}
