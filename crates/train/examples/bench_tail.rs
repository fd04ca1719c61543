//! Training speed of the `finetune` tail in burn, on random activations of the real shape, through
//! the same `fit` loop as `sneaker-id train --model finetune`: prints images/s as JSON, to compare
//! in the same run with `benches/torch_tail.py` (PyTorch CPU, same tail, batch and optimizer).
//!
//! usage: cargo run --release -p sneaker-train --example bench_tail -- [unfreeze] [batch] [steps]

use std::sync::atomic::AtomicBool;

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sneaker_model::assets::Assets;
use sneaker_model::efficientnet_lite::{Layout, NUM_BLOCKS, activation_shape};
use sneaker_train::TrainConfig;
use sneaker_train::fit::{self, Examples};
use sneaker_train::head::{Head, HeadSpec};
use sneaker_train::tail::{Tail, cut_point};

/// `n` random activations, labels cycling over `classes`.
struct Random {
    x: Vec<f32>,
    shape: [usize; 3],
    classes: usize,
}

impl Examples<4> for Random {
    fn len(&self) -> usize {
        self.x.len() / self.shape.iter().product::<usize>()
    }
    fn label(&self, i: usize) -> usize {
        i % self.classes
    }
    fn batch(&self, idx: &[usize], device: &Device) -> sneaker_train::Result<Tensor<4>> {
        let per: usize = self.shape.iter().product();
        let v: Vec<f32> = idx.iter().flat_map(|&i| self.x[i * per..(i + 1) * per].iter().copied()).collect();
        let [c, h, w] = self.shape;
        Ok(Tensor::from_data(TensorData::new(v, [idx.len(), c, h, w]), device))
    }
}

fn main() -> anyhow::Result<()> {
    let arg = |i: usize, d: usize| std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (unfreeze, batch, steps, classes) = (arg(1, 2), arg(2, 64), arg(3, 30), 50);
    let cut = cut_point(unfreeze, NUM_BLOCKS)?;
    let shape = activation_shape(cut)?;
    let weights = Assets::locate()?.weights()?;
    let device = Device::flex().autodiff();
    device.seed(0);
    let head = Head::new(HeadSpec { inputs: 1280, hidden: 0, classes }, 0.3, &device);
    let tail = Tail::from_backbone(&weights, &Layout::lite0(), cut, head, &device)?;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let per: usize = shape.iter().product();
    let mk = |n: usize, rng: &mut ChaCha8Rng| Random {
        x: (0..n * per).map(|_| rng.random_range(0.0..1.0f32)).collect(),
        shape,
        classes,
    };
    let (train, val) = (mk(batch * steps, &mut rng), mk(batch, &mut rng));
    let cfg =
        TrainConfig { epochs: 1, batch_size: batch, lr: 1e-4, warmup_epochs: 0, patience: 0, ..Default::default() };
    let stop = AtomicBool::new(false);
    let out = fit::fit(tail, &train, &val, classes, &cfg, &device, 0, &stop, &mut |_| {})?;
    let r = &out.history[0];
    println!(
        "{{\"framework\": \"burn 0.22 flex\", \"unfreeze\": {unfreeze}, \"batch\": {batch}, \"input\": [{batch}, {}, {}, {}], \"steps\": {steps}, \"images_per_s\": {:.1}}}",
        shape[0], shape[1], shape[2], r.train_images_per_s
    );
    Ok(())
}
