//! The training loop shared by every trained model: mini-batches, optimizer and schedule,
//! label smoothing, class balancing, validation each epoch, early stopping on validation
//! log-loss, best-epoch weights, Ctrl-C checkpoints, a moving average of the weights.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData, activation};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::average::Average;
use crate::config::{BalanceKind, OptimizerKind, TrainConfig};
use crate::error::Result;
use crate::metrics;

/// A network trained by [`fit`]: `D`-dimensional input batch → logits `[batch, classes]`.
pub trait Net<const D: usize>: Module + Clone + Send {
    fn logits(&self, x: Tensor<D>) -> Tensor<2>;

    /// The logits the training loss sees for a batch labelled `labels`: the same as
    /// [`Net::logits`] unless the loss is margin-based (the embedding's CosFace).
    fn train_logits(&self, x: Tensor<D>, labels: &[usize]) -> Tensor<2> {
        let _ = labels;
        self.logits(x)
    }
}

/// Where batches come from. Indices run over `0..len()`; `label(i)` is the class of example `i`.
pub trait Examples<const D: usize> {
    fn len(&self) -> usize;
    fn label(&self, i: usize) -> usize;
    /// The inputs of `idx`, stacked on `device`.
    fn batch(&self, idx: &[usize], device: &Device) -> Result<Tensor<D>>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Borrowed examples are examples too (a recipe lends the ones it keeps).
impl<const D: usize, T: Examples<D> + ?Sized> Examples<D> for &T {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn label(&self, i: usize) -> usize {
        (**self).label(i)
    }
    fn batch(&self, idx: &[usize], device: &Device) -> Result<Tensor<D>> {
        (**self).batch(idx, device)
    }
}

/// One row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_top1: f64,
    pub val_top5: f64,
    pub seconds: f64,
    /// Training examples per second (forward + backward + update).
    pub train_images_per_s: f64,
}

/// Progress events for the caller's progress bar.
#[derive(Debug, Clone)]
pub enum Progress {
    Batch { epoch: usize, done: usize, total: usize, loss: f64, acc: f64 },
    Epoch(EpochRecord),
}

/// What [`fit`] hands back.
pub struct Fitted<M> {
    /// Weights of the epoch with the lowest validation log-loss.
    pub best: M,
    pub best_epoch: usize,
    pub history: Vec<EpochRecord>,
    /// Set when Ctrl-C stopped the run; `last` then holds the latest weights.
    pub interrupted: bool,
    pub last: M,
}

fn optimizer(cfg: &TrainConfig) -> ModuleOptimizer {
    let wd = cfg.weight_decay as f32;
    match cfg.optimizer {
        OptimizerKind::AdamW => AdamWConfig::new().with_weight_decay(wd).init(),
        OptimizerKind::Adam => {
            AdamConfig::new().with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd))).init()
        }
        OptimizerKind::Sgd => SgdConfig::new()
            .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd)))
            // PyTorch's SGD has no dampening; burn's default 0.1 would silently differ.
            .with_momentum(Some(MomentumConfig::new().with_momentum(cfg.momentum).with_dampening(0.0)))
            .init(),
    }
}

/// Loss weight per class ∝ 1 / count, normalised to mean 1 (classes without images get 1).
pub fn class_weights(labels: &[usize], classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; classes];
    for &l in labels {
        counts[l] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count().max(1) as f32;
    let total = labels.len() as f32;
    counts.iter().map(|&c| if c == 0 { 1.0 } else { total / (present * c as f32) }).collect()
}

/// One epoch's order of training examples: a shuffle, or a class-balanced draw with
/// replacement when `balance = sampled`.
fn epoch_order<R: Rng>(labels: &[usize], classes: usize, balance: BalanceKind, rng: &mut R) -> Vec<usize> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    if balance == BalanceKind::Sampled {
        let mut by_class = vec![Vec::new(); classes];
        for (i, &l) in labels.iter().enumerate() {
            by_class[l].push(i);
        }
        by_class.retain(|c| !c.is_empty());
        order = (0..labels.len())
            .map(|_| {
                let c = &by_class[rng.random_range(0..by_class.len())];
                c[rng.random_range(0..c.len())]
            })
            .collect();
    } else {
        order.shuffle(rng);
    }
    order
}

/// Softmax probabilities of `model` on all of `data`, in inference mode, `[n × classes]`.
pub fn predict_all<const D: usize, M: Net<D>>(
    model: &M,
    data: &dyn Examples<D>,
    batch: usize,
    device: &Device,
) -> Result<Vec<f32>> {
    let model = model.valid();
    let mut out = Vec::new();
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let x = data.batch(chunk, &device.clone().inner())?;
        let p = activation::softmax(model.logits(x), 1);
        out.extend(p.into_data().try_to_vec::<f32>().expect("probabilities are f32"));
    }
    Ok(out)
}

fn int_tensor(values: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = values.iter().map(|&v| v as i64).collect();
    Tensor::<1, Int>::from_data(TensorData::new(v, [values.len()]), device)
}

/// Trains `model` on `train`, validating on `val` after each epoch.
///
/// `device` must be an autodiff device. `start_epoch` > 0 resumes (the schedule continues
/// from there). `stop` is polled between batches (Ctrl-C); `checkpoint` is called with the
/// current weights and the next epoch when it is set.
#[allow(clippy::too_many_arguments)]
pub fn fit<const D: usize, M: Net<D>>(
    mut model: M,
    train: &dyn Examples<D>,
    val: &dyn Examples<D>,
    classes: usize,
    cfg: &TrainConfig,
    device: &Device,
    start_epoch: usize,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(Progress),
) -> Result<Fitted<M>> {
    let mut optim = optimizer(cfg);
    let train_labels: Vec<usize> = (0..train.len()).map(|i| train.label(i)).collect();
    let val_labels: Vec<usize> = (0..val.len()).map(|i| val.label(i)).collect();
    let mut loss_cfg = CrossEntropyLossConfig::new();
    if cfg.label_smoothing > 0.0 {
        loss_cfg = loss_cfg.with_smoothing(Some(cfg.label_smoothing));
    }
    if cfg.balance == BalanceKind::Weighted {
        loss_cfg = loss_cfg.with_weights(Some(class_weights(&train_labels, classes)));
    }
    let loss_fn = loss_cfg.init(device);
    let steps_per_epoch = train.len().div_ceil(cfg.batch_size);
    let total_steps = steps_per_epoch * cfg.epochs;
    let mut history = Vec::new();
    let mut best = (f64::INFINITY, model.clone(), start_epoch);
    let mut since_best = 0;
    // With `ema`, the average is what is validated and kept. A resumed run starts it afresh from
    // the checkpoint, which holds the trained weights (the ones training continues from).
    let mut average = (cfg.ema > 0.0).then(|| Average::new(&model, cfg.ema));
    for epoch in start_epoch..cfg.epochs {
        let started = Instant::now();
        // Each epoch's order depends only on (seed, epoch), so a resumed run sees the same data.
        let mut erng =
            ChaCha8Rng::seed_from_u64(cfg.training_seed() ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let order = epoch_order(&train_labels, classes, cfg.balance, &mut erng);
        let (mut loss_sum, mut hits, mut seen) = (0f64, 0usize, 0usize);
        let mut lr = cfg.lr;
        for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
            if stop.load(Ordering::Relaxed) {
                return Ok(Fitted { best: best.1, best_epoch: best.2, history, interrupted: true, last: model });
            }
            lr = cfg.lr_at(epoch * steps_per_epoch + b, steps_per_epoch, total_steps);
            let x = train.batch(chunk, device)?;
            let y: Vec<usize> = chunk.iter().map(|&i| train_labels[i]).collect();
            let logits = model.train_logits(x, &y);
            let loss = loss_fn.forward(logits.clone(), int_tensor(&y, device));
            let pred: Vec<i64> = logits.argmax(1).into_data().convert::<i64>().try_to_vec().expect("argmax gives ints");
            let grads = GradientsParams::from_grads(loss.clone().backward(), &model);
            model = optim.step(lr, model, grads);
            if let Some(a) = average.as_mut() {
                a.update(&model);
            }
            let l: f64 = loss.into_scalar::<f32>() as f64;
            loss_sum += l * chunk.len() as f64;
            hits += pred.iter().zip(&y).filter(|(p, y)| **p as usize == **y).count();
            seen += chunk.len();
            progress(Progress::Batch {
                epoch,
                done: b + 1,
                total: steps_per_epoch,
                loss: loss_sum / seen as f64,
                acc: hits as f64 / seen as f64,
            });
        }
        let train_secs = started.elapsed().as_secs_f64();
        let kept = average.as_ref().map_or(&model, Average::model);
        let (val_top1, val_top5, val_loss) = if val.is_empty() {
            (f64::NAN, f64::NAN, f64::NAN)
        } else {
            let probs = predict_all(kept, val, cfg.batch_size.max(64), device)?;
            let (t1, t5, ll) = metrics::quick(&probs, classes, &val_labels);
            (t1, t5, ll)
        };
        let rec = EpochRecord {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: hits as f64 / seen.max(1) as f64,
            val_loss,
            val_top1,
            val_top5,
            seconds: started.elapsed().as_secs_f64(),
            train_images_per_s: seen as f64 / train_secs.max(1e-9),
        };
        tracing::info!(?rec, "epoch done");
        progress(Progress::Epoch(rec.clone()));
        history.push(rec);
        // Without a validation set the last epoch is the best one.
        if val.is_empty() || val_loss < best.0 {
            best = (if val.is_empty() { f64::INFINITY } else { val_loss }, kept.clone(), epoch + 1);
            since_best = 0;
        } else {
            since_best += 1;
            if cfg.patience > 0 && since_best >= cfg.patience {
                tracing::info!(epoch = epoch + 1, best_epoch = best.2, "early stop");
                break;
            }
        }
    }
    Ok(Fitted { best: best.1, best_epoch: best.2, history, interrupted: false, last: model })
}
