//! `evaluate`: run a trained classifier (its ONNX graph, through ONNX Runtime) over a labelled
//! folder and score it: top-1/top-5, log-loss, per-class numbers, confusion matrix, accuracy by
//! view angle and the worst-confused pairs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::dataset::Dataset;
use crate::error::Result;
use crate::features::Extractor;
use crate::metrics::{self, Scores};
use crate::plot;

/// Accuracy of the images of one view angle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AngleScore {
    pub angle: String,
    pub n: usize,
    pub top1: f64,
}

/// Everything `evaluate --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    #[serde(flatten)]
    pub scores: Scores,
    /// Empty when the catalog has no angle column.
    pub by_angle: Vec<AngleScore>,
    pub seconds: f64,
    pub images_per_s: f64,
    /// Each photo's probabilities, in the catalog's order (`[n × labels]`), for
    /// [`write_predictions`].
    #[serde(skip)]
    pub probs: Vec<f32>,
}

/// How photos are decoded for [`predict_images`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// In full, as training extracts its features: for checking an export against burn.
    Full,
    /// At the smallest JPEG scale still ≥ the input size, as predict and the server do.
    ForInput,
}

/// Probabilities `[n × classes]` of `model` on the plain (un-augmented) images `which`.
pub fn predict_images(
    data: &Dataset,
    which: &[usize],
    model: &mut dyn Extractor,
    batch: usize,
    decode: Decode,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<f32>> {
    let limits = sneaker_vision::DecodeLimits::default();
    let mut out = Vec::with_capacity(which.len() * model.dim());
    let size = model.input_size();
    for chunk in which.chunks(batch.max(1)) {
        let inputs: Vec<Vec<f32>> = chunk
            .par_iter()
            .map(|&i| {
                let path = &data.samples[i].path;
                let image = match decode {
                    Decode::Full => sneaker_vision::decode_file(path, &limits)?,
                    Decode::ForInput => sneaker_vision::decode_file_for_input(path, &limits, size)?,
                };
                Ok(sneaker_vision::to_tensor(&image, size))
            })
            .collect::<Result<_>>()?;
        out.extend(model.run(&inputs.concat(), chunk.len())?);
        progress(out.len() / model.dim(), which.len());
    }
    Ok(out)
}

/// Scores `model` (whose output columns are `data.labels`) on every image of `data`.
pub fn evaluate(
    data: &Dataset,
    model: &mut dyn Extractor,
    batch: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Evaluation> {
    let started = Instant::now();
    let all: Vec<usize> = (0..data.samples.len()).collect();
    let probs = predict_images(data, &all, model, batch, Decode::ForInput, progress)?;
    let labels: Vec<usize> = data.samples.iter().map(|s| s.label).collect();
    let scores = metrics::score(&probs, &data.labels, &labels);
    let m = data.labels.len();
    let mut angles: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (s, row) in data.samples.iter().zip(probs.chunks_exact(m)) {
        if let Some(a) = &s.angle {
            let e = angles.entry(a.clone()).or_default();
            e.0 += 1;
            e.1 += usize::from(metrics::argmax(row) == s.label);
        }
    }
    let by_angle =
        angles.into_iter().map(|(angle, (n, hit))| AngleScore { angle, n, top1: hit as f64 / n as f64 }).collect();
    let seconds = started.elapsed().as_secs_f64();
    Ok(Evaluation { scores, by_angle, seconds, images_per_s: data.samples.len() as f64 / seconds.max(1e-9), probs })
}

/// File name of the per-photo probabilities in an evaluation folder.
pub const PREDICTIONS_CSV: &str = "predictions.csv";

/// `predictions.csv`: one row per photo (its path, its label, then one probability per label),
/// for looking into single answers and for combining runs outside the product.
pub fn write_predictions(eval: &Evaluation, data: &Dataset, path: &Path) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = ["file", "label"].into_iter().map(str::to_owned).chain(data.labels.iter().cloned());
    let row_err = |e: csv::Error| crate::error::TrainError::io(path, std::io::Error::other(e));
    w.write_record(header).map_err(row_err)?;
    for (s, row) in data.samples.iter().zip(eval.probs.chunks_exact(data.labels.len())) {
        let fields = [s.path.display().to_string(), data.labels[s.label].clone()]
            .into_iter()
            .chain(row.iter().map(|p| format!("{p:.6}")));
        w.write_record(fields).map_err(row_err)?;
    }
    let bytes = w.into_inner().map_err(|e| crate::error::TrainError::io(path, std::io::Error::other(e.to_string())))?;
    sneaker_files::write_atomic(path, &bytes).map_err(|e| crate::error::TrainError::io(path, e))
}

/// `confusion.png`, and `by_angle.png` when there are angles, into `dir`.
pub fn write_charts(eval: &Evaluation, labels: &[String], dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| crate::error::TrainError::io(dir, e))?;
    plot::confusion(&dir.join("confusion.png"), &eval.scores.confusion, labels)?;
    if !eval.by_angle.is_empty() {
        let items: Vec<(String, f64)> =
            eval.by_angle.iter().map(|a| (format!("{} (n={})", a.angle, a.n), a.top1)).collect();
        plot::bars(&dir.join("by_angle.png"), "top-1 accuracy by view angle", &items)?;
    }
    Ok(())
}

/// A Markdown summary for the terminal.
pub fn markdown(eval: &Evaluation) -> String {
    let s = &eval.scores;
    let mut out = format!(
        "| n | top-1 | top-5 | log-loss | mean per-class | answerable at 90% precision |\n|---|---|---|---|---|---|\n\
         | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
        s.n, s.top1, s.top5, s.log_loss, s.mean_per_class, s.coverage_at_p90
    );
    if !eval.by_angle.is_empty() {
        out.push_str("\n| angle | n | top-1 |\n|---|---|---|\n");
        for a in &eval.by_angle {
            out.push_str(&format!("| {} | {} | {:.3} |\n", a.angle, a.n, a.top1));
        }
    }
    if !s.worst_pairs.is_empty() {
        out.push_str("\nMost confused (truth → predicted):\n");
        for p in &s.worst_pairs {
            out.push_str(&format!("- {} → {}: {}\n", p.truth, p.predicted, p.count));
        }
    }
    out
}
