//! `finetune`: the last N MBConv blocks + head conv + top model of EfficientNet-Lite0 trained in
//! burn, from the ImageNet blocks and a bottleneck run's top model. The frozen front (stem and
//! blocks 0..15-N) runs once per (image, augmentation draw) in ONNX Runtime and its output is
//! cached on disk, so only the tail runs forward and backward. The result is exported as one
//! ONNX classifier with the same inputs and outputs as a bottleneck run.

use std::path::Path;
use std::time::Instant;

use burn::nn::DropoutConfig;
use burn::tensor::{Device, Tensor, TensorData};

use crate::augment::Augmenter;
use crate::config::{AugmentConfig, ModelKind};
use crate::error::{Result, TrainError};
use crate::features::{self, FeatureTable};
use crate::fit::{self, Examples};
use crate::head::{Head, HeadSpec};
use crate::pipeline::{Event, Pretrained, Request, checkpoint, finish, prepare, read_checkpoint};
use crate::run::{self, RunDir, Summary};
use crate::tail::{self, Tail};

/// Cached activations at the freeze point as 4-D training examples.
pub struct ActivationExamples<'a> {
    pub table: &'a FeatureTable,
    pub shape: [usize; 3],
    pub labels: Vec<usize>,
}

impl Examples<4> for ActivationExamples<'_> {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn label(&self, i: usize) -> usize {
        self.labels[i]
    }
    fn batch(&self, idx: &[usize], device: &Device) -> Result<Tensor<4>> {
        let mut v = Vec::with_capacity(idx.len() * self.table.dim);
        for &i in idx {
            v.extend_from_slice(self.table.row(i));
        }
        let [c, h, w] = self.shape;
        // [batch, C, H, W]
        Ok(Tensor::from_data(TensorData::new(v, [idx.len(), c, h, w]), device))
    }
}

/// The bottleneck run to start from: it must be a bottleneck run over the same labels.
fn init_head(init: &Path, labels: &[String], dropout: f64, device: &Device) -> Result<Head> {
    let run = RunDir::open(init)?;
    let cfg = run.config()?;
    let bad = |detail: String| TrainError::Run { path: init.to_owned(), detail };
    if cfg.model != ModelKind::Bottleneck {
        return Err(bad(format!("init_from must be a bottleneck run, this one is {}", cfg.model.name())));
    }
    if run.labels()? != labels {
        return Err(bad("its labels differ from this catalog's (train the bottleneck run on the same catalog)".into()));
    }
    let mut head = crate::bottleneck::load_head(init, device)?;
    head.dropout = DropoutConfig::new(dropout).init();
    Ok(head)
}

/// Trains the tail and writes the run folder, `model.onnx` included.
pub fn train(req: &Request<'_>, pre: &mut dyn Pretrained, events: &mut dyn FnMut(Event)) -> Result<Summary> {
    let started = Instant::now();
    let cfg = &req.cfg;
    let cut = crate::arch::cut_point(cfg.unfreeze_blocks)?;
    let init = cfg
        .init_from
        .clone()
        .ok_or_else(|| TrainError::Config("finetune needs init_from (a bottleneck run folder)".into()))?;
    let p = prepare(req)?;
    let device = Device::flex().autodiff();
    device.seed(cfg.seed);
    let head = init_head(&init, &p.data.labels, cfg.dropout, &device)?;
    let spec: HeadSpec = head.spec();
    let cache = cfg.cache_dir.clone().unwrap_or_else(features::default_cache_dir);
    let train_aug = Augmenter::new(cfg.augment.clone(), cfg.image_size);
    let plain = Augmenter::new(AugmentConfig::none(), cfg.image_size);
    let mut ex = pre.activations(cut)?;
    let (train_t, s1) = features::extract(
        &p.data,
        &p.train,
        cfg.augment.draws,
        &train_aug,
        cfg.seed,
        ex.as_mut(),
        &cache,
        32,
        &mut |done, total| events(Event::Extract { what: "train activations", done, total }),
    )?;
    let (val_t, s2) =
        features::extract(&p.data, &p.val, 1, &plain, cfg.seed, ex.as_mut(), &cache, 32, &mut |done, total| {
            events(Event::Extract { what: "validation activations", done, total })
        })?;
    drop(ex);
    events(Event::Note(format!(
        "activations after block {cut}: {} cached, {} computed in {:.0}s",
        s1.cached + s2.cached,
        s1.computed + s2.computed,
        s1.seconds + s2.seconds
    )));
    let shape = sneaker_model::efficientnet_lite::activation_shape(cut)?;
    let label_of = |t: &FeatureTable| t.sample.iter().map(|&s| p.data.samples[s].label).collect::<Vec<_>>();
    let tr = ActivationExamples { table: &train_t, shape, labels: label_of(&train_t) };
    let va = ActivationExamples { table: &val_t, shape, labels: label_of(&val_t) };
    let stock = pre.weights()?;
    let (model, start, mut history) = if req.resume {
        let (dict, next, h) = read_checkpoint(&p.run)?;
        let head = Head::from_state_dict(spec, cfg.dropout, &dict, &device)?;
        (Tail::from_backbone(&tail::overlay(stock, &dict), cut, head, &device)?, next, h)
    } else {
        (Tail::from_backbone(stock, cut, head, &device)?, 0, Vec::new())
    };
    let m = p.data.labels.len();
    let fitted = fit::fit(model, &tr, &va, m, cfg, &device, start, req.stop, &mut |e| events(Event::Fit(e)))?;
    history.extend(fitted.history.iter().cloned());
    if fitted.interrupted {
        return Err(checkpoint(&p.run, &fitted.last.state_dict(), &history));
    }
    let best = fitted.best;
    let dict = best.state_dict();
    let onnx = crate::export::classifier(&tail::overlay(stock, &dict), &dict, spec)?;
    run::atomic_write(&p.run.file(run::MODEL_ONNX), &onnx)?;
    // The exported graph (frozen front + tuned tail) must give what burn gives on the cached
    // activations: check on a few validation images.
    let n = va.len().min(8);
    let acts: Vec<f32> = (0..n).flat_map(|r| val_t.row(r).to_vec()).collect();
    let burn_probs = tail::predict(&best, &acts, &Device::flex())?;
    let mut runner = pre.open_classifier(&p.run.file(run::MODEL_ONNX), m)?;
    let ort_probs = crate::evaluate::predict_images(&p.data, &p.val[..n], runner.as_mut(), 8, &mut |_, _| {})?;
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
