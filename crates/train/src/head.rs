//! The top model of the `bottleneck` classifier: Dropout → [Dense → ReLU → Dropout] → Dense on
//! the 1280 pooled EfficientNet-Lite0 features, trained in burn.
//!
//! Weights travel as a PyTorch-style [`StateDict`] (`head.fc{j}.weight` `[out, in]`,
//! `head.fc{j}.bias`), the one format the ONNX writer and the safetensors file share.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData, activation};
use sneaker_model::StateDict;

use crate::error::{Result, TrainError};
use crate::fit::Net;

/// Shape of a top model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadSpec {
    pub inputs: usize,
    /// 0 = a single dense layer.
    pub hidden: usize,
    pub classes: usize,
}

impl HeadSpec {
    /// `[in, out]` of each dense layer in order.
    pub fn layers(&self) -> Vec<(usize, usize)> {
        if self.hidden == 0 {
            vec![(self.inputs, self.classes)]
        } else {
            vec![(self.inputs, self.hidden), (self.hidden, self.classes)]
        }
    }

    /// The shape of the top model whose weights `dict` holds (`head.fc0`, and `head.fc1` when it
    /// has a hidden layer); `None` when it holds none.
    pub fn of_weights(dict: &StateDict) -> Option<HeadSpec> {
        let shape = |j: usize| dict.get(&format!("head.fc{j}.weight")).map(|t| (t.shape[0], t.shape[1]));
        let (first_out, inputs) = shape(0)?;
        Some(match shape(1) {
            Some((classes, _)) => HeadSpec { inputs, hidden: first_out, classes },
            None => HeadSpec { inputs, hidden: 0, classes: first_out },
        })
    }
}

/// Top model: dropout before every dense layer, ReLU between them.
#[derive(Module, Debug)]
pub struct Head {
    pub fcs: Vec<Linear>,
    pub dropout: Dropout,
}

impl Head {
    /// Fresh weights (burn's default uniform init), deterministic in the device seed.
    pub fn new(spec: HeadSpec, dropout: f64, device: &Device) -> Self {
        let fcs = spec.layers().into_iter().map(|(i, o)| LinearConfig::new(i, o).init(device)).collect();
        Head { fcs, dropout: DropoutConfig::new(dropout).init() }
    }

    /// Logits `[batch, classes]` from features `[batch, inputs]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut x = x;
        let last = self.fcs.len() - 1;
        for (j, fc) in self.fcs.iter().enumerate() {
            x = fc.forward(self.dropout.forward(x));
            if j < last {
                x = activation::relu(x);
            }
        }
        x
    }

    /// Weights as `head.fc{j}.weight` `[out, in]` (PyTorch / ONNX Gemm transB order) and biases.
    pub fn state_dict(&self) -> StateDict {
        let mut dict = StateDict::new();
        for (j, fc) in self.fcs.iter().enumerate() {
            let (w, b) = linear_to_torch(fc);
            dict.insert(format!("head.fc{j}.weight"), w);
            dict.insert(format!("head.fc{j}.bias"), b);
        }
        dict
    }

    /// Rebuilds a head from [`Head::state_dict`] output; shapes must match `spec`.
    pub fn from_state_dict(spec: HeadSpec, dropout: f64, dict: &StateDict, device: &Device) -> Result<Self> {
        let mut fcs = Vec::new();
        for (j, (i, o)) in spec.layers().into_iter().enumerate() {
            fcs.push(linear_from_torch(dict, &format!("head.fc{j}"), i, o, device)?);
        }
        Ok(Head { fcs, dropout: DropoutConfig::new(dropout).init() })
    }

    /// The spec these weights have.
    pub fn spec(&self) -> HeadSpec {
        let dims = |fc: &Linear| {
            let [i, o] = fc.weight.val().dims();
            (i, o)
        };
        let (inputs, first_out) = dims(&self.fcs[0]);
        let (_, classes) = dims(self.fcs.last().expect("a head has at least one layer"));
        let hidden = if self.fcs.len() > 1 { first_out } else { 0 };
        HeadSpec { inputs, hidden, classes }
    }
}

impl Net<2> for Head {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }
}

/// burn keeps Linear weights `[in, out]`; PyTorch and ONNX Gemm(transB=1) use `[out, in]`.
pub fn linear_to_torch(fc: &Linear) -> (sneaker_model::Tensor, sneaker_model::Tensor) {
    let w = fc.weight.val();
    let [i, o] = w.dims();
    let wt: Vec<f32> = w.transpose().into_data().try_to_vec().expect("linear weights are f32");
    let b: Vec<f32> = match &fc.bias {
        Some(b) => b.val().into_data().try_to_vec().expect("linear bias is f32"),
        None => vec![0.0; o],
    };
    (sneaker_model::Tensor::from_f32(vec![o, i], &wt), sneaker_model::Tensor::from_f32(vec![o], &b))
}

/// The inverse of [`linear_to_torch`], checking the stored shapes.
pub fn linear_from_torch(
    dict: &StateDict,
    prefix: &str,
    inputs: usize,
    outputs: usize,
    device: &Device,
) -> Result<Linear> {
    let w = sneaker_model::onnx::weight(dict, &format!("{prefix}.weight"), &[outputs, inputs])?;
    let b = sneaker_model::onnx::weight(dict, &format!("{prefix}.bias"), &[outputs])?;
    let w = Tensor::<2>::from_data(TensorData::new(w, [outputs, inputs]), device).transpose();
    let b = Tensor::<1>::from_data(TensorData::new(b, [outputs]), device);
    let mut fc = LinearConfig::new(inputs, outputs).init(device);
    fc.weight = Param::from_tensor(w);
    fc.bias = Some(Param::from_tensor(b));
    Ok(fc)
}

/// Softmax probabilities of a head on `features` (row-major `[n, inputs]`), inference mode.
pub fn predict(head: &Head, features: &[f32], device: &Device) -> Result<Vec<f32>> {
    let spec = head.spec();
    if !features.len().is_multiple_of(spec.inputs) {
        return Err(TrainError::Config(format!(
            "feature buffer of {} is not a multiple of {}",
            features.len(),
            spec.inputs
        )));
    }
    let n = features.len() / spec.inputs;
    let x = Tensor::<2>::from_data(TensorData::new(features.to_vec(), [n, spec.inputs]), device);
    let p = activation::softmax(head.valid().forward(x), 1);
    Ok(p.into_data().try_to_vec().expect("probabilities are f32"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dict_round_trips_and_is_torch_ordered() {
        let device = Device::flex();
        let spec = HeadSpec { inputs: 6, hidden: 4, classes: 3 };
        let head = Head::new(spec, 0.3, &device);
        let dict = head.state_dict();
        assert_eq!(dict["head.fc0.weight"].shape, vec![4, 6]);
        assert_eq!(dict["head.fc1.weight"].shape, vec![3, 4]);
        let back = Head::from_state_dict(spec, 0.3, &dict, &device).unwrap();
        assert_eq!(back.spec(), spec);
        assert_eq!(HeadSpec::of_weights(&dict), Some(spec));
        let one = HeadSpec { inputs: 6, hidden: 0, classes: 3 };
        assert_eq!(HeadSpec::of_weights(&Head::new(one, 0.0, &device).state_dict()), Some(one));
        let x: Vec<f32> = (0..12).map(|i| i as f32 / 7.0 - 0.8).collect();
        let (a, b) = (predict(&head, &x, &device).unwrap(), predict(&back, &x, &device).unwrap());
        assert_eq!(a.len(), 6);
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-6);
        }
        // Rows of probabilities sum to 1.
        assert!((a[..3].iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn wrong_shape_is_refused() {
        let device = Device::flex();
        let dict = Head::new(HeadSpec { inputs: 6, hidden: 0, classes: 3 }, 0.0, &device).state_dict();
        assert!(Head::from_state_dict(HeadSpec { inputs: 5, hidden: 0, classes: 3 }, 0.0, &dict, &device).is_err());
    }
}

/// `fit` on a real head: it must learn separable data, stop early and keep its best epoch.
#[cfg(test)]
mod fit_tests {
    use std::sync::atomic::AtomicBool;

    use burn::tensor::{Device, Tensor, TensorData};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::{Head, HeadSpec};
    use crate::config::{OptimizerKind, TrainConfig};
    use crate::error::Result;
    use crate::fit::*;

    /// Two Gaussian blobs per class in 4-D: linearly separable, so a head must learn them.
    struct Blobs {
        x: Vec<f32>,
        y: Vec<usize>,
    }

    impl Blobs {
        fn new(n: usize, seed: u64) -> Self {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for i in 0..n {
                let c = i % 3;
                for d in 0..4 {
                    let centre = if d == c { 2.0 } else { 0.0 };
                    x.push(centre + rng.random_range(-0.5..0.5));
                }
                y.push(c);
            }
            Blobs { x, y }
        }
    }

    impl Examples<2> for Blobs {
        fn len(&self) -> usize {
            self.y.len()
        }
        fn label(&self, i: usize) -> usize {
            self.y[i]
        }
        fn batch(&self, idx: &[usize], device: &Device) -> Result<Tensor<2>> {
            let v: Vec<f32> = idx.iter().flat_map(|&i| self.x[i * 4..i * 4 + 4].iter().copied()).collect();
            Ok(Tensor::from_data(TensorData::new(v, [idx.len(), 4]), device))
        }
    }

    #[test]
    fn learns_separable_blobs_with_every_optimizer() {
        for opt in [OptimizerKind::AdamW, OptimizerKind::Adam, OptimizerKind::Sgd] {
            let device = Device::flex().autodiff();
            device.seed(1);
            let head = Head::new(HeadSpec { inputs: 4, hidden: 0, classes: 3 }, 0.1, &device);
            let cfg =
                TrainConfig { epochs: 30, batch_size: 16, lr: 0.05, optimizer: opt, patience: 0, ..Default::default() };
            let (tr, va) = (Blobs::new(96, 1), Blobs::new(30, 2));
            let stop = AtomicBool::new(false);
            let mut events = 0;
            let out = fit(head, &tr, &va, 3, &cfg, &device, 0, &stop, &mut |_| events += 1).unwrap();
            let last = out.history.last().unwrap();
            assert!(last.val_top1 > 0.95, "{opt:?}: {last:?}");
            assert!(out.history[0].train_loss > last.train_loss, "{opt:?}: loss fell");
            assert!(events > 30);
        }
    }

    #[test]
    fn stop_flag_interrupts_before_the_first_batch() {
        let device = Device::flex().autodiff();
        let head = Head::new(HeadSpec { inputs: 4, hidden: 0, classes: 3 }, 0.0, &device);
        let stop = AtomicBool::new(true);
        let out =
            fit(head, &Blobs::new(9, 1), &Blobs::new(3, 2), 3, &TrainConfig::default(), &device, 0, &stop, &mut |_| {})
                .unwrap();
        assert!(out.interrupted);
        assert!(out.history.is_empty());
    }

    #[test]
    fn class_weights_have_mean_one_over_images() {
        // counts 3 and 1 → weights 4/(2·3) and 4/(2·1).
        assert_eq!(class_weights(&[0, 0, 0, 1], 2), vec![4.0 / 6.0, 2.0]);
    }
}
