//! The pipeline's last stage: calibration that ships with the run, chosen without the user's
//! help from the run's own held-out validation photos.
//!
//! 1. A temperature T (see [`crate::temperature`]) fitted on the validation log-loss of the raw
//!    `logits` (of the plain photos, or of their augmented versions: the preset says), then baked into `model.onnx` (`probs` = softmax(logits / T)), so predict, serve,
//!    evaluate and the gallery all read calibrated probabilities and nothing else changes.
//! 2. An answer threshold on the top-1 probability, chosen on the same validation photos passed
//!    through the training augmentation (crops, colour casts, blur, JPEG, new backgrounds: the
//!    stand-in for phone photos) so that the answers given are still ≥ 90 % right
//!    ([`sneaker_identify::precision`]), written as the run's `open_set.json`, which `predict` and
//!    `serve --model RUN` read with no flags. The footwear cut-off keeps its default, measured on
//!    real photos: catalog photos say nothing about non-shoes.
//! 3. What it found, in `calibration.json`, written last: a run with it is calibrated.
//!
//! With flip averaging or the zoomed view on (the preset says), the graph is first rewritten to
//! average each photo with its mirror image and a zoom on its centre, so the temperature and
//! threshold are chosen on what serving answers.
//!
//! Rerunning it gives the same result: it writes the uncalibrated graph again from the run's
//! weights first and reads its raw `logits`, which the temperature leaves alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sneaker_identify::{SampleKind, precision};
use sneaker_model::efficientnet_lite::Variant;

use crate::augment::Augmenter;
use crate::config::TrainConfig;
use crate::dataset::Dataset;
use crate::embed_head::EmbedSpec;
use crate::error::{Result, TrainError};
use crate::evaluate::{Decode, predict_images};
use crate::export::{self, Serving};
use crate::features::{Extractor, hash_samples};
use crate::head::HeadSpec;
use crate::pipeline::{Event, Pretrained};
use crate::plan::{CALIBRATION_AUGMENTED, CALIBRATION_PLAIN};
use crate::preset::{CalibrateConfig, TemperatureOn};
use crate::run::{self, RunDir};
use crate::temperature;

/// What the calibration found, written as `RUN/calibration.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// The graph's `probs` are softmax(`logits` / temperature).
    pub temperature: f64,
    /// The photos it was fitted on.
    pub temperature_on: TemperatureOn,
    /// The graph averages each photo with its mirror image.
    #[serde(default)]
    pub flip: bool,
    /// The graph also averages in a zoom on each photo's centre.
    #[serde(default)]
    pub zoom: bool,
    /// Validation photos, plain (as training validated).
    pub val_photos: usize,
    pub val_log_loss: f64,
    pub val_log_loss_calibrated: f64,
    /// Augmented validation photos (validation photos × draws) the threshold was chosen on.
    pub augmented_photos: usize,
    pub augmented_log_loss: f64,
    pub augmented_log_loss_calibrated: f64,
    pub augmented_top1: f64,
    /// Top-1 of the served graph on the plain validation photos (an ensemble's, with its flip).
    #[serde(default)]
    pub val_top1: f64,
    /// The precision the threshold had to keep.
    pub min_precision: f32,
    /// Answer ("match") when the top-1 probability is at least this; else "not sure".
    pub confidence_threshold: f32,
    /// Share of the augmented validation photos answered at the threshold, and how many of those
    /// answers are right.
    pub coverage: f32,
    pub precision: f32,
    /// The footwear cut-off in `open_set.json`: the default, not chosen here.
    pub footwear_threshold: f32,
    pub seconds: f64,
}

/// Photos per ONNX Runtime call.
const BATCH: usize = 16;
/// Validation photos the calibrated graph is checked on.
const CHECK: usize = 8;
/// Largest difference allowed between the graph's `probs` and softmax(logits / T) computed here.
const TOLERANCE: f64 = 1e-4;

/// Calibrates the finished run in `run_dir`, trained on the catalog at `data`, with the runs in
/// `members` (more embedding runs over the same labels and split) as one ensemble graph.
pub fn calibrate(
    run_dir: &Path,
    data: &Path,
    settings: &CalibrateConfig,
    members: &[PathBuf],
    pre: &dyn Pretrained,
    events: &mut dyn FnMut(Event),
) -> Result<CalibrationReport> {
    let started = Instant::now();
    let run = RunDir::open(run_dir)?;
    let (cfg, labels) = (run.config()?, run.labels()?);
    let data = Dataset::open(data, Some(&labels))?;
    let (_, val) = data.split(cfg.split, cfg.val_fraction, cfg.seed);
    let classes = labels.len();
    let uncalibrated = Serving { temperature: 1.0, flip: settings.flip, zoom: settings.zoom };
    let members = members.iter().map(|m| RunDir::open(m)).collect::<Result<Vec<_>>>()?;
    for m in &members {
        if m.labels()? != labels {
            let detail = format!("ensemble member {} has other labels than the run", m.path.display());
            return Err(TrainError::Run { path: run.path.clone(), detail });
        }
    }
    let src = Sources { run: &run, members: &members, cfg: &cfg, pre };
    let (bytes, _) = graph(&src, uncalibrated)?;
    run::atomic_write(&run.file(run::MODEL_ONNX), &bytes)?;
    let mut logits_of = pre.open_logits(&run.file(run::MODEL_ONNX), classes)?;
    let plain = predict_images(&data, &val, logits_of.as_mut(), BATCH, Decode::ForInput, &mut |done, total| {
        events(Event::Extract { what: CALIBRATION_PLAIN, done, total })
    })?;
    let plain_labels: Vec<usize> = val.iter().map(|&i| data.samples[i].label).collect();
    let (augmented, aug_labels) = augmented_logits(&data, &val, &cfg, settings.draws, logits_of.as_mut(), events)?;

    let t = match settings.temperature_on {
        TemperatureOn::Plain => temperature::fit(&plain, &plain_labels, classes)?,
        TemperatureOn::Augmented => temperature::fit(&augmented, &aug_labels, classes)?,
    };
    if t <= temperature::RANGE.0 || t >= temperature::RANGE.1 {
        events(Event::Note(format!(
            "temperature {t} is at the end of its range: the validation photos are too few or too easy to say more"
        )));
    }
    let samples = samples(&augmented, &aug_labels, &labels, t);
    let source = format!(
        "{} validation photos of {} (training augmentation, {} draws each), temperature {t:.3} (fitted on the {:?} \
         photos); footwear cut-off: the default",
        val.len(),
        data.root.display(),
        settings.draws,
        settings.temperature_on
    );
    let (calibration, point) = precision::known_only(&samples, settings.min_precision, &source)?;
    let report = CalibrationReport {
        temperature: t,
        temperature_on: settings.temperature_on,
        flip: settings.flip,
        zoom: settings.zoom,
        val_photos: val.len(),
        val_log_loss: temperature::log_loss(&plain, &plain_labels, classes, 1.0),
        val_log_loss_calibrated: temperature::log_loss(&plain, &plain_labels, classes, t),
        augmented_photos: aug_labels.len(),
        augmented_log_loss: temperature::log_loss(&augmented, &aug_labels, classes, 1.0),
        augmented_log_loss_calibrated: temperature::log_loss(&augmented, &aug_labels, classes, t),
        augmented_top1: samples.iter().filter(|s| s.top_label == s.label).count() as f64 / samples.len().max(1) as f64,
        val_top1: top1(&plain, &plain_labels, classes),
        min_precision: settings.min_precision,
        confidence_threshold: point.confidence,
        coverage: point.coverage,
        precision: point.precision,
        footwear_threshold: calibration.thresholds.footwear,
        seconds: 0.0,
    };
    events(Event::Note(format!(
        "temperature {t:.3}: validation log-loss {:.3} -> {:.3}, augmented {:.3} -> {:.3}",
        report.val_log_loss,
        report.val_log_loss_calibrated,
        report.augmented_log_loss,
        report.augmented_log_loss_calibrated
    )));
    events(Event::Note(if point.answered == 0 {
        format!(
            "answer threshold {:.3}: answers none of {} augmented held-out photos (even the surest answers are \
             right less than {:.0}% of the time)",
            point.confidence,
            point.n,
            100.0 * settings.min_precision
        )
    } else {
        format!(
            "answer threshold {:.3}: answers {:.1}% of {} augmented held-out photos, {:.1}% of them right",
            point.confidence,
            100.0 * point.coverage,
            point.n,
            100.0 * point.precision
        )
    }));

    let serving = Serving { temperature: t as f32, ..uncalibrated };
    write_calibrated_graph(&src, &data, &val, &plain, serving)?;
    update_manifest(run_dir, &report)?;
    sneaker_identify::write_calibration(run_dir, &calibration)?;
    let chart = run_dir.join("open_set.png");
    sneaker_identify::precision_coverage_png(&chart, &calibration, "Answer threshold: precision / coverage")?;
    let report = CalibrationReport { seconds: started.elapsed().as_secs_f64(), ..report };
    let text = serde_json::to_string_pretty(&report).expect("plain numbers serialise");
    run::atomic_write(&run.file(CALIBRATION_JSON), text.as_bytes())?;
    Ok(report)
}

/// What the calibration writes last.
pub const CALIBRATION_JSON: &str = "calibration.json";

/// Logits of `draws` augmented versions of each validation photo, with their labels.
fn augmented_logits(
    data: &Dataset,
    val: &[usize],
    cfg: &TrainConfig,
    draws: usize,
    model: &mut dyn Extractor,
    events: &mut dyn FnMut(Event),
) -> Result<(Vec<f32>, Vec<usize>)> {
    let augmenter = Augmenter::for_training(cfg.augment.clone(), cfg.image_size)?;
    let shas = hash_samples(data, val)?;
    // Draw 0 is the plain photo; 1.. are augmented.
    let jobs: Vec<(usize, usize)> = (0..val.len()).flat_map(|k| (1..=draws).map(move |d| (k, d))).collect();
    let limits = sneaker_vision::DecodeLimits::default();
    let mut out = Vec::with_capacity(jobs.len() * model.dim());
    for (c, chunk) in jobs.chunks(BATCH).enumerate() {
        let inputs: Vec<Vec<f32>> = chunk
            .par_iter()
            .map(|&(k, d)| {
                let img = sneaker_vision::decode_file(&data.samples[val[k]].path, &limits)?;
                Ok(sneaker_vision::to_input_tensor(&augmenter.apply(&img, &shas[k], cfg.seed, d)))
            })
            .collect::<Result<_>>()?;
        out.extend(model.run(&inputs.concat(), chunk.len())?);
        let done = (c * BATCH + chunk.len()).min(jobs.len());
        events(Event::Extract { what: CALIBRATION_AUGMENTED, done, total: jobs.len() });
    }
    Ok((out, jobs.iter().map(|&(k, _)| data.samples[val[k]].label).collect()))
}

/// Share of rows of `logits` [n × classes] whose largest entry is the truth.
fn top1(logits: &[f32], truth: &[usize], classes: usize) -> f64 {
    let right = logits
        .chunks_exact(classes)
        .zip(truth)
        .filter(|(row, y)| (0..classes).max_by(|&a, &b| row[a].total_cmp(&row[b])) == Some(**y))
        .count();
    right as f64 / truth.len().max(1) as f64
}

/// One calibration sample per photo: its calibrated top-1 and whether it is right. The footwear
/// check is not measured here (its cut-off is the default), so it lets every photo through.
fn samples(logits: &[f32], truth: &[usize], labels: &[String], t: f64) -> Vec<sneaker_identify::Sample> {
    logits
        .chunks_exact(labels.len())
        .zip(truth)
        .map(|(row, &y)| {
            let p = temperature::softmax(row, t);
            let top = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0);
            sneaker_identify::Sample {
                kind: SampleKind::Known,
                label: Some(labels[y].clone()),
                footwear: 1.0,
                best_similarity: None,
                top_label: Some(labels[top].clone()),
                top_probability: p[top] as f32,
            }
        })
        .collect()
}

/// What the served graph is made of: the run, its ensemble's other members and the pretrained
/// weights their frozen front keeps.
struct Sources<'a> {
    run: &'a RunDir,
    members: &'a [RunDir],
    cfg: &'a TrainConfig,
    pre: &'a dyn Pretrained,
}

/// The graph of the run (with its ensemble's members) from their weights, served as `serving`
/// says, and its number of classes.
fn graph(src: &Sources<'_>, serving: Serving) -> Result<(Vec<u8>, usize)> {
    let Sources { run, members, cfg, pre } = *src;
    let (dict, _) = run::read_safetensors(&run.file(run::WEIGHTS))?;
    let backbone = crate::tail::overlay(pre.weights()?, &dict);
    match (HeadSpec::of_weights(&dict), dict.get(crate::embed_head::PROXIES)) {
        (Some(spec), _) if members.is_empty() => {
            Ok((export::calibrated_classifier(&backbone, &dict, spec, serving)?, spec.classes))
        }
        (None, Some(proxies)) => {
            let (labels, dim) = (proxies.shape[0], proxies.shape[1]);
            let spec = EmbedSpec { dim, labels, scale: cfg.cosine_scale, margin: 0.0 };
            // Each member says in its settings which backbone it tuned.
            let mut tuned = vec![(cfg.tuned_backbone(), dict.clone())];
            for m in members {
                tuned.push((m.config()?.tuned_backbone(), run::read_safetensors(&m.file(run::WEIGHTS))?.0));
            }
            let mut stock: Vec<(Variant, sneaker_model::StateDict)> = Vec::new();
            for (v, _) in &tuned {
                if !stock.iter().any(|(s, _)| s == v) {
                    stock.push((*v, pre.weights_of(*v)?));
                }
            }
            let stock: Vec<(Variant, &sneaker_model::StateDict)> = stock.iter().map(|(v, w)| (*v, w)).collect();
            let refs: Vec<(Variant, &sneaker_model::StateDict)> = tuned.iter().map(|(v, d)| (*v, d)).collect();
            Ok((export::ensemble_embedder(&stock, &refs, spec, serving)?, labels))
        }
        (Some(_), _) => {
            let detail = "only embedding runs make an ensemble".into();
            Err(TrainError::Run { path: run.path.clone(), detail })
        }
        (None, None) => {
            let detail = "weights have neither head.fc0.weight nor head.proxies".into();
            Err(TrainError::Run { path: run.path.clone(), detail })
        }
    }
}

/// Writes `model.onnx` again with `probs` = softmax(logits / T), after checking the new graph
/// against softmax(logits / T) of the uncalibrated one on the first validation photos.
fn write_calibrated_graph(
    src: &Sources<'_>,
    data: &Dataset,
    val: &[usize],
    plain_logits: &[f32],
    serving: Serving,
) -> Result<()> {
    let t = serving.temperature as f64;
    let (run, pre) = (src.run, src.pre);
    let (bytes, classes) = graph(src, serving)?;
    let staged = run.file("model.calibrating.onnx");
    run::atomic_write(&staged, &bytes)?;
    let n = val.len().min(CHECK);
    let mut graph = pre.open_classifier(&staged, classes)?;
    let probs = predict_images(data, &val[..n], graph.as_mut(), BATCH, Decode::ForInput, &mut |_, _| {})?;
    let expected = plain_logits[..n * classes].chunks_exact(classes).flat_map(|r| temperature::softmax(r, t));
    let delta = probs.iter().zip(expected).map(|(&a, b)| (a as f64 - b).abs()).fold(0.0, f64::max);
    if delta > TOLERANCE {
        return Err(TrainError::Run {
            path: run.path.clone(),
            detail: format!("the calibrated graph disagrees with softmax(logits / {t}): max |Δprob| {delta}"),
        });
    }
    let model = run.file(run::MODEL_ONNX);
    std::fs::rename(&staged, &model).map_err(|e| TrainError::io(&model, e))
}

/// The manifest names the new graph's embedding (its digest changed) and adds what was chosen.
fn update_manifest(run_dir: &Path, report: &CalibrationReport) -> Result<()> {
    let assets = sneaker_model::assets::Assets::locate()?;
    let opened = sneaker_model::run::Run::open(&assets, run_dir)?;
    let mut manifest = opened.manifest().clone();
    manifest.embedding = sneaker_model::run::embedding_for(&assets, &run_dir.join(run::MODEL_ONNX), &manifest.outputs)?;
    for (key, value) in [
        ("temperature", report.temperature),
        ("val_log_loss_calibrated", report.val_log_loss_calibrated),
        ("confidence_threshold", f64::from(report.confidence_threshold)),
        ("augmented_coverage_at_threshold", f64::from(report.coverage)),
        ("augmented_precision_at_threshold", f64::from(report.precision)),
    ] {
        manifest.metrics.insert(key.to_owned(), value);
    }
    sneaker_model::run::Run::write(run_dir, &manifest)?;
    Ok(())
}
