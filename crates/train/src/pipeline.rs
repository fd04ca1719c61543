//! What every model kind's training shares: the request, the events it reports, the pretrained
//! network's interface, and the steps before and after fitting (validate, open, split, create the
//! run folder; write weights, metrics, curves and summary; checkpoints). The model kinds depend on
//! this module, and [`crate::train`] on them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use sneaker_model::efficientnet_lite::{Layout, Variant};

use crate::config::TrainConfig;
use crate::dataset::Dataset;
use crate::error::{Result, TrainError};
use crate::features::Extractor;
use crate::fit::{EpochRecord, Progress};
use crate::head::HeadSpec;
use crate::run::{self, RunDir, Summary};

/// What training reports while it works, for the CLI's progress bars.
#[derive(Debug, Clone)]
pub enum Event {
    /// Frozen activations: `done` of `total` (image, draw) pairs ready.
    Extract {
        what: &'static str,
        done: usize,
        total: usize,
    },
    Fit(Progress),
    /// A one-line status message.
    Note(String),
    /// The whole pipeline (`train` without `--model`, [`crate::stages`]): a stage starts, is
    /// found finished, or ends.
    Stage(crate::stages::StageEvent),
    /// The whole pipeline's estimated work: `done` of `total` (milliseconds on the reference
    /// machine, see [`crate::plan`]); `jump` when work was found already done (cached
    /// activations, a stage finished earlier), so rates measured so far no longer apply.
    Overall {
        done: u64,
        total: u64,
        jump: bool,
    },
}

/// The pretrained network and ONNX Runtime, as training needs them. Implemented over
/// `sneaker-model` by [`crate::onnx_backbone::OrtBackbone`].
pub trait Pretrained {
    /// Stable identity of the backbone weights (part of cache keys).
    fn id(&self) -> String;
    /// Pooled features `[N, 1280]` of normalised input images.
    fn features(&mut self) -> Result<&mut dyn Extractor>;
    /// One extractor per backbone (`[N, 1280]` each, in the configured order), whose outputs
    /// concatenated are the bottleneck's features. Each caches its features on its own, so a run on
    /// Lite0+Lite2 reuses the features a Lite2 run extracted.
    fn feature_extractors(&mut self) -> Result<Vec<&mut dyn Extractor>> {
        Ok(vec![self.features()?])
    }
    /// The whole classifier — backbone + `head` — as ONNX bytes: input `input`, outputs
    /// `probs` (and `features`).
    fn export_with_head(&self, head: &sneaker_model::StateDict, spec: HeadSpec) -> Result<Vec<u8>>;
    /// A runner for an ONNX graph with input `input` and output `probs` of width `classes`.
    fn open_classifier(&self, onnx: &Path, classes: usize) -> Result<Box<dyn Extractor>>;
    /// The same graph's raw `logits` (what a temperature is fitted on).
    fn open_logits(&self, onnx: &Path, classes: usize) -> Result<Box<dyn Extractor>>;
    /// The ImageNet weights (PyTorch names, BatchNorm unfolded) of the backbone that fine-tuning
    /// tunes: the first configured.
    fn weights(&self) -> Result<&sneaker_model::StateDict>;
    /// The block layout of [`Pretrained::weights`].
    fn layout(&self) -> Result<Layout>;
    /// The ImageNet weights of `variant`, loaded or not (an ensemble's members may each have tuned
    /// another backbone).
    fn weights_of(&self, variant: Variant) -> Result<sneaker_model::StateDict>;
    /// The same runtime with `variant` as the backbone that fine-tuning tunes.
    fn tuning(&self, variant: Variant) -> Result<Box<dyn Pretrained>>;
    /// Activations after block `after_block` `[N, C·H·W]` of normalised input images.
    fn activations(&self, after_block: usize) -> Result<Box<dyn Extractor>>;
}

/// A training request: data, run folder, settings.
pub struct Request<'a> {
    pub data: PathBuf,
    pub out: PathBuf,
    pub cfg: TrainConfig,
    /// Continue from `out/checkpoint.safetensors`.
    pub resume: bool,
    /// Set by the Ctrl-C handler; training then writes a checkpoint and stops.
    pub stop: &'a AtomicBool,
}

/// The split a run used, in sample indices.
pub struct Prepared {
    pub data: Dataset,
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub run: RunDir,
}

/// Shared first steps: validate, open, split, create the run folder with config and labels.
pub fn prepare(req: &Request<'_>) -> Result<Prepared> {
    req.cfg.validate()?;
    let mut data = Dataset::open(&req.data, None)?;
    let mut held_out = Vec::new();
    if !req.cfg.extra_data.is_empty() {
        let extras = req.cfg.extra_data.iter().map(|d| Dataset::open(d, None)).collect::<Result<Vec<_>>>()?;
        held_out = crate::dataset::held_out_labels(&data, &extras, req.cfg.hold_out, req.cfg.seed);
        data = data.merge(extras, &held_out)?;
    }
    let (train, val) = data.split(req.cfg.split, req.cfg.val_fraction, req.cfg.seed);
    if train.is_empty() || val.is_empty() {
        return Err(TrainError::Catalog {
            path: req.data.clone(),
            detail: "too few images for a train/validation split".into(),
        });
    }
    let run = RunDir::create(&req.out)?;
    if !req.resume && run.file(run::CHECKPOINT).exists() {
        tracing::warn!("ignoring the checkpoint in {} (no --resume)", run.path.display());
    }
    run.write_config(&req.cfg)?;
    run.write_labels(&data.labels)?;
    if !held_out.is_empty() {
        run.write_held_out(&held_out, req.cfg.seed)?;
    }
    Ok(Prepared { data, train, val, run })
}

/// Shared last steps: weights, metrics, curves and summary.
#[allow(clippy::too_many_arguments)]
pub fn finish(
    p: &Prepared,
    cfg: &TrainConfig,
    weights: &sneaker_model::StateDict,
    history: &[EpochRecord],
    best_epoch: usize,
    extract_seconds: f64,
    started: Instant,
) -> Result<Summary> {
    let meta = HashMap::from([
        ("model".to_string(), cfg.model.name().to_string()),
        ("best_epoch".to_string(), best_epoch.to_string()),
    ]);
    run::write_safetensors(&p.run.file(run::WEIGHTS), weights, &meta)?;
    p.run.write_metrics(history)?;
    if !history.is_empty() {
        crate::plot::curves(&p.run.file(run::CURVES_PNG), history)?;
    }
    let best = history.iter().find(|r| r.epoch == best_epoch);
    let train_seconds: f64 = history.iter().map(|r| r.seconds).sum();
    let imgs: f64 = history.iter().map(|r| r.train_images_per_s).sum::<f64>() / history.len().max(1) as f64;
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let folder = p.run.path.file_name().map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned());
    let s = Summary {
        run_id: format!("{folder}-{}", created.replace(['-', ':'], "")),
        created,
        model: cfg.model.name().into(),
        data: p.data.root.clone(),
        classes: p.data.labels.len(),
        train_images: p.train.len(),
        val_images: p.val.len(),
        skipped_images: p.data.skipped.len(),
        best_epoch,
        epochs_run: history.last().map_or(0, |r| r.epoch),
        val_top1: best.map_or(f64::NAN, |r| r.val_top1),
        val_top5: best.map_or(f64::NAN, |r| r.val_top5),
        val_log_loss: best.map_or(f64::NAN, |r| r.val_loss),
        extract_seconds,
        train_seconds,
        train_images_per_s: imgs,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    p.run.write_summary(&s)?;
    write_manifest(p, cfg, &s)?;
    let _ = std::fs::remove_file(p.run.file(run::CHECKPOINT));
    Ok(s)
}

/// The run's manifest, written last: a folder with `run.json` is a finished run.
fn write_manifest(p: &Prepared, cfg: &TrainConfig, s: &Summary) -> Result<()> {
    let assets = sneaker_model::assets::Assets::locate()?;
    let metrics = [("val_top1", s.val_top1), ("val_top5", s.val_top5), ("val_log_loss", s.val_log_loss)]
        .into_iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let facts = sneaker_model::run::NewRun {
        run_id: s.run_id.clone(),
        created: s.created.clone(),
        kind: s.model.clone(),
        labels: p.data.labels.clone(),
        input_size: cfg.image_size,
        catalog: Some(s.data.clone()),
        metrics,
    };
    sneaker_model::run::Run::create(&assets, &p.run.path, facts)?;
    Ok(())
}

/// Writes a checkpoint (weights + next epoch + history so far) and returns the
/// `Interrupted` error that tells the caller where it is.
pub fn checkpoint(run: &RunDir, weights: &sneaker_model::StateDict, history: &[EpochRecord]) -> TrainError {
    let path = run.file(run::CHECKPOINT);
    let next = history.last().map_or(0, |r| r.epoch);
    let meta = HashMap::from([
        ("next_epoch".to_string(), next.to_string()),
        ("history".to_string(), serde_json::to_string(history).expect("records serialise")),
    ]);
    match run::write_safetensors(&path, weights, &meta) {
        Ok(()) => TrainError::Interrupted(path),
        Err(e) => e,
    }
}

/// Reads a checkpoint: weights, the epoch to continue from and the history so far.
pub fn read_checkpoint(run: &RunDir) -> Result<(sneaker_model::StateDict, usize, Vec<EpochRecord>)> {
    let path = run.file(run::CHECKPOINT);
    let (dict, meta) = run::read_safetensors(&path)?;
    let next =
        meta.get("next_epoch").and_then(|v| v.parse().ok()).ok_or_else(|| TrainError::parse(&path, "no next_epoch"))?;
    let history = meta
        .get("history")
        .map(|h| serde_json::from_str(h))
        .transpose()
        .map_err(|e| TrainError::parse(&path, e))?
        .unwrap_or_default();
    Ok((dict, next, history))
}
