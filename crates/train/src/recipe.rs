//! The one training pipeline every fitted model kind (scratch, bottleneck, finetune) goes
//! through: prepare the run → examples → a fresh or resumed model → fit → checkpoint on Ctrl-C →
//! export one ONNX graph → check it against burn → finish the run folder. A [`Recipe`] supplies
//! only what differs between kinds: what the examples are, what the model starts as, how its
//! weights become a graph.

use std::time::Instant;

use burn::tensor::Device;
use sneaker_model::StateDict;

use crate::augment::Augmenter;
use crate::config::{AugmentConfig, TrainConfig};
use crate::error::{Result, TrainError};
use crate::evaluate::Decode;
use crate::features::{self, Extractor, FeatureTable};
use crate::fit::{self, Examples, Net};
use crate::pipeline::{Event, Prepared, Pretrained, Request, checkpoint, finish, prepare, read_checkpoint};
use crate::run::{self, Summary};

/// What [`Event::Extract`] calls the training and the validation rows.
pub const TRAINING_IMAGES: &str = "training images";
pub const VALIDATION_IMAGES: &str = "validation images";

/// Rows of a frozen network's output with the label of each row.
pub type Labelled = (FeatureTable, Vec<usize>);

/// The frozen part of the network run once over the split: training images with
/// `cfg.augment.draws` augmented draws each, validation images once and plain, each row with its
/// label (cached on disk by [`features::extract`]). `what` names the rows in progress and notes
/// ("features", "activations after block 11"). Returns the (train, validation) rows and the
/// seconds it took.
pub fn extract_split(
    p: &Prepared,
    cfg: &TrainConfig,
    ex: &mut dyn Extractor,
    what: &str,
    events: &mut dyn FnMut(Event),
) -> Result<([Labelled; 2], f64)> {
    let cache = cfg.cache_dir.clone().unwrap_or_else(features::default_cache_dir);
    let train_aug = Augmenter::for_training(cfg.augment.clone(), cfg.image_size)?;
    let plain = Augmenter::new(AugmentConfig::none(), cfg.image_size);
    let (train_t, s1) = features::extract(
        &p.data,
        &p.train,
        cfg.augment.draws,
        &train_aug,
        cfg.training_seed(),
        ex,
        &cache,
        32,
        &mut |done, total| events(Event::Extract { what: TRAINING_IMAGES, done, total }),
    )?;
    let (val_t, s2) = features::extract(&p.data, &p.val, 1, &plain, cfg.seed, ex, &cache, 32, &mut |done, total| {
        events(Event::Extract { what: VALIDATION_IMAGES, done, total })
    })?;
    let seconds = s1.seconds + s2.seconds;
    events(Event::Note(format!(
        "{what}: {} cached, {} computed in {seconds:.0}s",
        s1.cached + s2.cached,
        s1.computed + s2.computed
    )));
    let labels = |t: &FeatureTable| t.sample.iter().map(|&s| p.data.samples[s].label).collect::<Vec<_>>();
    let (train_l, val_l) = (labels(&train_t), labels(&val_t));
    Ok(([(train_t, train_l), (val_t, val_l)], seconds))
}

/// The first `n` rows of `table`, concatenated: the inputs burn is checked on.
pub fn first_rows(table: &FeatureTable, n: usize) -> Vec<f32> {
    (0..n).flat_map(|r| table.row(r).to_vec()).collect()
}

/// Probabilities the written `model.onnx` gives for the first `n` validation images, decoded in
/// full as training extracted them: row r of a validation table is `p.val[r]` (one draw each).
pub fn written_graph_probs(pre: &dyn Pretrained, p: &Prepared, n: usize) -> Result<Vec<f32>> {
    let mut runner = pre.open_classifier(&p.run.file(run::MODEL_ONNX), p.data.labels.len())?;
    crate::evaluate::predict_images(&p.data, &p.val[..n], runner.as_mut(), 8, Decode::Full, &mut |_, _| {})
}

/// Largest probability difference allowed between burn and ONNX Runtime on the same inputs.
const EXPORT_TOLERANCE: f32 = 1e-3;

/// Validation examples the exported graph is checked on.
const EXPORT_CHECK: usize = 8;

/// What one model kind brings to [`run`]. `D` is the rank of its input batches.
pub trait Recipe<const D: usize> {
    type Model: Net<D>;

    /// Refuses settings that cannot work with this catalog, before anything slow starts.
    fn check(&self, _: &Prepared) -> Result<()> {
        Ok(())
    }

    /// Computes (or reads from cache) the training and validation examples; returns the seconds
    /// it took.
    fn load(&mut self, p: &Prepared, events: &mut dyn FnMut(Event)) -> Result<f64>;

    /// The examples [`Recipe::load`] made: (train, validation).
    fn examples(&self) -> Result<(Box<dyn Examples<D> + '_>, Box<dyn Examples<D> + '_>)>;

    /// The model before its first epoch.
    fn fresh(&self, p: &Prepared, device: &Device) -> Result<Self::Model>;

    /// The model from a checkpoint's weights.
    fn restore(&self, p: &Prepared, weights: &StateDict, device: &Device) -> Result<Self::Model>;

    /// Its weights, under the names `restore` reads and `weights.safetensors` keeps.
    fn weights(&self, model: &Self::Model) -> StateDict;

    /// The whole classifier as ONNX bytes (input `input`, output `probs`).
    fn export(&self, model: &Self::Model) -> Result<Vec<u8>>;

    /// Probabilities burn gives for the first `n` validation examples, and those the written
    /// graph gives for the same images; `None` when the kind has nothing to compare.
    fn export_pair(&self, model: &Self::Model, p: &Prepared, n: usize) -> Result<Option<(Vec<f32>, Vec<f32>)>>;
}

/// Trains with `recipe` and writes the run folder, `model.onnx` included.
pub fn run<const D: usize, R: Recipe<D>>(
    req: &Request<'_>,
    recipe: &mut R,
    events: &mut dyn FnMut(Event),
) -> Result<Summary> {
    let started = Instant::now();
    let cfg = &req.cfg;
    let p = prepare(req)?;
    recipe.check(&p)?;
    let load_seconds = recipe.load(&p, events)?;
    let (train, val) = recipe.examples()?;
    let device = Device::flex().autodiff();
    device.seed(cfg.training_seed());
    let (model, start, mut history) = if req.resume {
        let (dict, next, h) = read_checkpoint(&p.run)?;
        (recipe.restore(&p, &dict, &device)?, next, h)
    } else {
        (recipe.fresh(&p, &device)?, 0, Vec::new())
    };
    let classes = p.data.labels.len();
    let fitted = fit::fit(model, train.as_ref(), val.as_ref(), classes, cfg, &device, start, req.stop, &mut |e| {
        events(Event::Fit(e))
    })?;
    history.extend(fitted.history.iter().cloned());
    if fitted.interrupted {
        return Err(checkpoint(&p.run, &recipe.weights(&fitted.last), &history));
    }
    let best = fitted.best;
    run::atomic_write(&p.run.file(run::MODEL_ONNX), &recipe.export(&best)?)?;
    let n = val.len().min(EXPORT_CHECK);
    if let Some((burn, onnx)) = recipe.export_pair(&best, &p, n)? {
        // The exported graph must give what burn gives, or every later answer is wrong.
        let delta = burn.iter().zip(&onnx).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        events(Event::Note(format!("ONNX vs burn on {n} validation images: max |Δprob| = {delta:.2e}")));
        if delta > EXPORT_TOLERANCE || burn.len() != onnx.len() {
            return Err(TrainError::Run {
                path: p.run.path.clone(),
                detail: format!("exported graph disagrees with burn: max |Δprob| {delta}"),
            });
        }
    }
    finish(&p, cfg, &recipe.weights(&best), &history, fitted.best_epoch, load_seconds, started)
}
