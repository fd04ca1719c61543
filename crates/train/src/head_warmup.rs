//! Linear probing before fine-tuning (LP-FT, Kumar et al. 2022): the embedding head trains alone
//! on the frozen ImageNet trunk's pooled features, then blocks and head are tuned together.
//!
//! Why: a fresh head sends large, nearly random gradients into the pretrained blocks in the first
//! steps, which bends features that generalise well (to phone photos, here) towards whatever
//! separates the studio shots fastest. A head that already classifies sends smaller, aligned
//! gradients. The probe is cheap: one forward pass of the trunk over the cached activations, then
//! a few epochs of a 1280×256 matrix product.
//!
//! Measured here it does the opposite on phone photos: fine-tuning from a probed head fits the
//! studio shots better and generalises worse (BENCHMARKS.md "Linear probing before
//! fine-tuning"), so it is off by default and kept for experiments.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::bottleneck::FeatureExamples;
use crate::config::TrainConfig;
use crate::embed_head::{EmbedHead, EmbedNet};
use crate::error::Result;
use crate::features::FeatureTable;
use crate::finetune::ActivationExamples;
use crate::fit::{self, Examples, Net};

/// Learning rate of the probe: a linear layer on fixed features tolerates far more than the
/// blocks' 4e-4.
const PROBE_LR: f64 = 1e-3;

/// Examples per trunk forward pass while pooling.
const POOL_BATCH: usize = 64;

/// The head alone, as a network over pooled features.
#[derive(Module, Debug)]
struct Probe {
    head: EmbedHead,
}

impl Net<2> for Probe {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.head.logits(x)
    }
    fn train_logits(&self, x: Tensor<2>, labels: &[usize]) -> Tensor<2> {
        self.head.margin_logits(x, labels)
    }
}

/// The trunk's pooled features of every training activation, in inference mode: a table with the
/// same rows (photo, draw) as the activations'.
fn pool(net: &EmbedNet, train: &ActivationExamples<'_>, device: &Device) -> Result<FeatureTable> {
    let trunk = net.trunk.valid();
    let inner = device.clone().inner();
    let (mut values, mut dim) = (Vec::new(), 0);
    let idx: Vec<usize> = (0..train.len()).collect();
    for chunk in idx.chunks(POOL_BATCH) {
        let f = trunk.features(train.batch(chunk, &inner)?);
        dim = f.dims()[1];
        values.extend(f.into_data().try_to_vec::<f32>().expect("features are f32"));
    }
    Ok(FeatureTable { dim, values, sample: train.table.sample.clone(), draw: train.table.draw.clone() })
}

/// `net` with its head trained for `cfg.head_warmup` epochs on the frozen trunk's pooled
/// features of `train` (the same examples, draws and label smoothing the fine-tuning sees), at
/// [`PROBE_LR`] with a cosine schedule. `device` is the autodiff device training runs on.
pub fn warm(net: EmbedNet, train: &ActivationExamples<'_>, cfg: &TrainConfig, device: &Device) -> Result<EmbedNet> {
    let started = Instant::now();
    let table = pool(&net, train, device)?;
    let pooled = FeatureExamples { table: &table, labels: train.labels.clone() };
    let pooled_secs = started.elapsed().as_secs_f64();
    let probe_cfg =
        TrainConfig { epochs: cfg.head_warmup, lr: PROBE_LR, warmup_epochs: 0, patience: 0, ema: 0.0, ..cfg.clone() };
    let none = FeatureExamples { table: &table, labels: Vec::new() };
    let classes = net.head.spec().labels;
    let EmbedNet { trunk, head } = net;
    // The probe is short (about 2 min for sneakers50, almost all of it the trunk's forward pass):
    // Ctrl-C is honoured once fine-tuning starts, and a resumed run restores the checkpoint's
    // head rather than probing again.
    let never = AtomicBool::new(false);
    let fitted = fit::fit(Probe { head }, &pooled, &none, classes, &probe_cfg, device, 0, &never, &mut |_| {})?;
    let last = fitted.history.last();
    tracing::info!(
        examples = pooled.len(),
        pooled_secs,
        probe_secs = started.elapsed().as_secs_f64() - pooled_secs,
        train_loss = last.map(|r| r.train_loss),
        train_acc = last.map(|r| r.train_acc),
        "head warmed up on the frozen trunk"
    );
    Ok(EmbedNet { trunk, head: fitted.last.head })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed_head::EmbedSpec;
    use crate::tail::Trunk;
    use sneaker_model::efficientnet_lite::activation_shape;

    const CUT: usize = 14;

    /// Activations after block 14 whose channels carry the label: channel c is raised on
    /// examples of label c.
    fn acts(n: usize, labels: usize) -> (FeatureTable, Vec<usize>) {
        let [c, h, w] = activation_shape(CUT).unwrap();
        let mut values = Vec::with_capacity(n * c * h * w);
        for i in 0..n {
            for ch in 0..c {
                let raised = if ch % labels == i % labels { 1.5 } else { 0.0 };
                values.extend((0..h * w).map(|k| raised + ((i * 31 + ch * 7 + k) % 11) as f32 / 22.0));
            }
        }
        let table = FeatureTable { dim: c * h * w, values, sample: (0..n).collect(), draw: vec![0; n] };
        (table, (0..n).map(|i| i % labels).collect())
    }

    fn mean_log_loss(net: &EmbedNet, data: &ActivationExamples<'_>, device: &Device) -> f64 {
        let p = fit::predict_all(net, data, 16, device).unwrap();
        let k = p.len() / data.len();
        (0..data.len()).map(|i| -(p[i * k + data.labels[i]].max(1e-12) as f64).ln()).sum::<f64>() / data.len() as f64
    }

    #[test]
    fn the_probe_trains_the_head_and_leaves_the_trunk_as_it_was() {
        let device = Device::flex().autodiff();
        device.seed(5);
        let layout = sneaker_model::efficientnet_lite::Layout::lite0();
        let trunk = Trunk::from_backbone(&crate::tail::tests::synthetic(CUT), &layout, CUT, &device).unwrap();
        let head = EmbedHead::new(EmbedSpec { dim: 16, labels: 3, scale: 10.0, margin: 0.0 }, 0.0, &device);
        let net = EmbedNet { trunk, head };
        let (table, labels) = acts(24, 3);
        let data = ActivationExamples { table: &table, shape: activation_shape(CUT).unwrap(), labels };
        let before = mean_log_loss(&net, &data, &device);
        let cfg = TrainConfig { head_warmup: 30, batch_size: 8, label_smoothing: 0.0, ..TrainConfig::default() };
        let warmed = warm(net.clone(), &data, &cfg, &device).unwrap();
        let after = mean_log_loss(&warmed, &data, &device);
        assert!(after < 0.5 * before, "log-loss {before:.3} -> {after:.3}: the probe did not learn");
        assert_eq!(warmed.trunk.state_dict(), net.trunk.state_dict(), "the probe changed the frozen trunk");
    }
}
