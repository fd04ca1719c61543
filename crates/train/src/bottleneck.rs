//! `bottleneck`: EfficientNet-Lite0 frozen (run by ONNX Runtime, features cached per
//! augmentation draw) + a top model trained in burn, exported as one ONNX graph.

use std::path::Path;
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};

use crate::augment::Augmenter;
use crate::config::{AugmentConfig, TrainConfig};
use crate::error::{Result, TrainError};
use crate::features::{self, FeatureTable};
use crate::fit::{self, Examples};
use crate::head::{self, Head, HeadSpec};
use crate::pipeline::{Event, Pretrained, Request, checkpoint, finish, prepare, read_checkpoint};
use crate::run::{self, Summary};

/// Rows of a feature table used as training or validation examples.
pub struct FeatureExamples<'a> {
    pub table: &'a FeatureTable,
    /// Label of each row.
    pub labels: Vec<usize>,
}

impl<'a> FeatureExamples<'a> {
    pub fn new(table: &'a FeatureTable, sample_labels: impl Fn(usize) -> usize) -> Self {
        let labels = table.sample.iter().map(|&s| sample_labels(s)).collect();
        FeatureExamples { table, labels }
    }
}

impl Examples<2> for FeatureExamples<'_> {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn label(&self, i: usize) -> usize {
        self.labels[i]
    }
    fn batch(&self, idx: &[usize], device: &Device) -> Result<Tensor<2>> {
        let d = self.table.dim;
        let mut v = Vec::with_capacity(idx.len() * d);
        for &i in idx {
            v.extend_from_slice(self.table.row(i));
        }
        // [batch, 1280]
        Ok(Tensor::from_data(TensorData::new(v, [idx.len(), d]), device))
    }
}

fn spec_for(cfg: &TrainConfig, inputs: usize, classes: usize) -> HeadSpec {
    HeadSpec { inputs, hidden: cfg.hidden, classes }
}

/// Trains the top model and writes the run folder, `model.onnx` included.
pub fn train(req: &Request<'_>, pre: &mut dyn Pretrained, events: &mut dyn FnMut(Event)) -> Result<Summary> {
    let started = Instant::now();
    let cfg = &req.cfg;
    let p = prepare(req)?;
    let cache = cfg.cache_dir.clone().unwrap_or_else(features::default_cache_dir);
    let train_aug = Augmenter::new(cfg.augment.clone(), cfg.image_size);
    let plain = Augmenter::new(AugmentConfig::none(), cfg.image_size);
    let ex = pre.features()?;
    let (train_t, s1) = features::extract(
        &p.data,
        &p.train,
        cfg.augment.draws,
        &train_aug,
        cfg.seed,
        ex,
        &cache,
        32,
        &mut |done, total| events(Event::Extract { what: "train features", done, total }),
    )?;
    let (val_t, s2) = features::extract(&p.data, &p.val, 1, &plain, cfg.seed, ex, &cache, 32, &mut |done, total| {
        events(Event::Extract { what: "validation features", done, total })
    })?;
    events(Event::Note(format!(
        "features: {} cached, {} computed in {:.0}s",
        s1.cached + s2.cached,
        s1.computed + s2.computed,
        s1.seconds + s2.seconds
    )));
    let labels = |s: usize| p.data.samples[s].label;
    let (tr, va) = (FeatureExamples::new(&train_t, labels), FeatureExamples::new(&val_t, labels));
    let m = p.data.labels.len();
    let spec = spec_for(cfg, train_t.dim, m);
    let device = Device::flex().autodiff();
    device.seed(cfg.seed);
    let (model, start, mut history) = if req.resume {
        let (dict, next, h) = read_checkpoint(&p.run)?;
        (Head::from_state_dict(spec, cfg.dropout, &dict, &device)?, next, h)
    } else {
        (Head::new(spec, cfg.dropout, &device), 0, Vec::new())
    };
    let fitted = fit::fit(model, &tr, &va, m, cfg, &device, start, req.stop, &mut |e| events(Event::Fit(e)))?;
    history.extend(fitted.history.iter().cloned());
    if fitted.interrupted {
        return Err(checkpoint(&p.run, &fitted.last.state_dict(), &history));
    }
    let best = fitted.best;
    let dict = best.state_dict();
    let onnx = pre.export_with_head(&dict, spec)?;
    run::atomic_write(&p.run.file(run::MODEL_ONNX), &onnx)?;
    // The exported graph must give what burn gives: check on a few validation images.
    let n = va.len().min(8);
    let feats: Vec<f32> = (0..n).flat_map(|r| val_t.row(r).to_vec()).collect();
    let burn_probs = head::predict(&best, &feats, &Device::flex())?;
    let idx: Vec<usize> = p.val[..n].to_vec();
    let mut runner = pre.open_classifier(&p.run.file(run::MODEL_ONNX), m)?;
    let ort_probs = crate::evaluate::predict_images(&p.data, &idx, runner.as_mut(), 8, &mut |_, _| {})?;
    let delta = burn_probs.iter().zip(&ort_probs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    events(Event::Note(format!("ONNX vs burn on {n} validation images: max |Δprob| = {delta:.2e}")));
    if delta > 1e-3 {
        return Err(TrainError::Run {
            path: p.run.path.clone(),
            detail: format!("exported graph disagrees with burn: max |Δprob| {delta}"),
        });
    }
    finish(&p, cfg, &dict, &history, fitted.best_epoch, s1.seconds + s2.seconds, started)
}

/// Loads the trained top model of a bottleneck run (for fine-tuning or tests).
pub fn load_head(run_dir: &Path, device: &Device) -> Result<Head> {
    let run = run::RunDir::open(run_dir)?;
    let cfg = run.config()?;
    let (dict, _) = run::read_safetensors(&run.file(run::WEIGHTS))?;
    let classes = run.labels()?.len();
    let inputs = dict.get("head.fc0.weight").map(|t| t.shape[1]).ok_or_else(|| TrainError::Run {
        path: run_dir.to_owned(),
        detail: "weights have no head.fc0.weight".into(),
    })?;
    Head::from_state_dict(spec_for(&cfg, inputs, classes), cfg.dropout, &dict, device)
}
