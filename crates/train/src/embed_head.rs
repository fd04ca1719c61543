//! The retrieval embedding: pooled backbone features → dense layer → L2-normalised vector, trained
//! through a cosine classifier over the training labels with CosFace's additive margin:
//! logit_c = s·(cos(e, p_c) − m·[c = y]), where p_c is a learned unit "proxy" per label.
//!
//! Why a proxy loss rather than pairs or triplets: a batch of 64 drawn from 100+ labels holds
//! few same-label pairs, while every proxy sees every batch; and the cosine logits double as a
//! classifier over the training labels, so the run's graph still answers `probs` like any other.
//! The margin makes a photo sit closer to its own label than to any other by at least m. Measured
//! here it costs retrieval of products never trained on (tighter clusters of the training labels
//! generalise worse to new ones) and did not help the classifier on phone photos, so the default
//! is m = 0: a plain normalised softmax (BENCHMARKS.md "Learned embedding").
//!
//! Weights travel as `head.project.{weight,bias}` (`[dim, 1280]`, PyTorch order) and
//! `head.proxies` (`[labels, dim]`, unnormalised).

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use sneaker_model::StateDict;
use sneaker_model::efficientnet_lite::FEATURE_DIM;

use crate::error::Result;
use crate::fit::Net;
use crate::head::{linear_from_torch, linear_to_torch};
use crate::tail::Trunk;

pub const PROJECT: &str = "head.project";
pub const PROXIES: &str = "head.proxies";

/// Guards the division of an all-zero row.
const NORM_EPS: f32 = 1e-12;

/// Rows scaled to unit length.
pub fn l2_rows(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(NORM_EPS);
    x / norm
}

/// Dense projection to the embedding + one proxy per training label.
#[derive(Module, Debug)]
pub struct EmbedHead {
    pub project: Linear,
    /// `[labels, dim]`; used normalised.
    pub proxies: Param<Tensor<2>>,
    pub dropout: Dropout,
    /// s: the cosine logits' scale (a fixed inverse temperature).
    #[module(skip)]
    pub scale: f32,
    /// m: subtracted from the true label's cosine while training.
    #[module(skip)]
    pub margin: f32,
}

/// Shape and loss settings of an [`EmbedHead`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbedSpec {
    pub dim: usize,
    pub labels: usize,
    pub scale: f32,
    pub margin: f32,
}

impl EmbedHead {
    /// Fresh weights, deterministic in the device seed.
    pub fn new(spec: EmbedSpec, dropout: f64, device: &Device) -> EmbedHead {
        let proxies = Tensor::<2>::random([spec.labels, spec.dim], Distribution::Normal(0.0, 1.0), device);
        EmbedHead {
            project: LinearConfig::new(FEATURE_DIM, spec.dim).init(device),
            proxies: Param::from_tensor(proxies),
            dropout: DropoutConfig::new(dropout).init(),
            scale: spec.scale,
            margin: spec.margin,
        }
    }

    /// Rebuilds a head from [`EmbedHead::state_dict`] output; shapes must match `spec`.
    pub fn from_state_dict(spec: EmbedSpec, dropout: f64, dict: &StateDict, device: &Device) -> Result<EmbedHead> {
        let p = sneaker_model::onnx::weight(dict, PROXIES, &[spec.labels, spec.dim])?;
        Ok(EmbedHead {
            project: linear_from_torch(dict, PROJECT, FEATURE_DIM, spec.dim, device)?,
            proxies: Param::from_tensor(Tensor::from_data(TensorData::new(p, [spec.labels, spec.dim]), device)),
            dropout: DropoutConfig::new(dropout).init(),
            scale: spec.scale,
            margin: spec.margin,
        })
    }

    pub fn spec(&self) -> EmbedSpec {
        let [labels, dim] = self.proxies.val().dims();
        EmbedSpec { dim, labels, scale: self.scale, margin: self.margin }
    }

    /// Unit embeddings `[batch, dim]` of pooled features `[batch, 1280]`.
    pub fn embed(&self, features: Tensor<2>) -> Tensor<2> {
        l2_rows(self.project.forward(self.dropout.forward(features)))
    }

    /// Cosine of each embedding with each label's proxy, `[batch, labels]`.
    pub fn cosines(&self, features: Tensor<2>) -> Tensor<2> {
        self.embed(features).matmul(l2_rows(self.proxies.val()).transpose())
    }

    /// s·cos: the logits at inference.
    pub fn logits(&self, features: Tensor<2>) -> Tensor<2> {
        self.cosines(features).mul_scalar(self.scale)
    }

    /// s·(cos − m on each row's true label): the logits the loss sees.
    pub fn margin_logits(&self, features: Tensor<2>, labels: &[usize]) -> Tensor<2> {
        let cos = self.cosines(features);
        let [n, c] = cos.dims();
        let mut hot = vec![0.0f32; n * c];
        for (r, &l) in labels.iter().enumerate() {
            hot[r * c + l] = self.margin;
        }
        let hot = Tensor::<2>::from_data(TensorData::new(hot, [n, c]), &cos.device());
        (cos - hot).mul_scalar(self.scale)
    }

    pub fn state_dict(&self) -> StateDict {
        let (w, b) = linear_to_torch(&self.project);
        let [labels, dim] = self.proxies.val().dims();
        let p: Vec<f32> = self.proxies.val().into_data().try_to_vec().expect("proxies are f32");
        StateDict::from([
            (format!("{PROJECT}.weight"), w),
            (format!("{PROJECT}.bias"), b),
            (PROXIES.to_owned(), sneaker_model::Tensor::from_f32(vec![labels, dim], &p)),
        ])
    }
}

/// The tuned trunk + the embedding head: activation after the freeze point → logits over the
/// training labels (and, through [`EmbedNet::embed`], the embedding).
#[derive(Module, Debug)]
pub struct EmbedNet {
    pub trunk: Trunk,
    pub head: EmbedHead,
}

impl EmbedNet {
    pub fn embed(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.embed(self.trunk.features(x))
    }

    /// Trunk tensors (backbone names) + head tensors.
    pub fn state_dict(&self) -> StateDict {
        let mut d = self.trunk.state_dict();
        d.extend(self.head.state_dict());
        d
    }
}

impl Net<4> for EmbedNet {
    fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.logits(self.trunk.features(x))
    }

    fn train_logits(&self, x: Tensor<4>, labels: &[usize]) -> Tensor<2> {
        self.head.margin_logits(self.trunk.features(x), labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(margin: f32) -> EmbedHead {
        let device = Device::flex();
        device.seed(3);
        EmbedHead::new(EmbedSpec { dim: 8, labels: 5, scale: 10.0, margin }, 0.0, &device)
    }

    fn features(n: usize) -> Tensor<2> {
        let v: Vec<f32> = (0..n * FEATURE_DIM).map(|i| ((i * 7919) % 23) as f32 / 23.0 - 0.4).collect();
        Tensor::from_data(TensorData::new(v, [n, FEATURE_DIM]), &Device::flex())
    }

    #[test]
    fn embeddings_are_unit_and_logits_are_scaled_cosines() {
        let h = head(0.0);
        let e = h.embed(features(3));
        let norms: Vec<f32> = e.powf_scalar(2.0).sum_dim(1).into_data().try_to_vec().unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
        let l: Vec<f32> = h.logits(features(3)).into_data().try_to_vec().unwrap();
        assert!(l.iter().all(|x| x.abs() <= 10.0 + 1e-4), "{l:?}");
    }

    #[test]
    fn the_margin_lowers_only_the_true_label() {
        let h = head(0.25);
        let plain: Vec<f32> = h.logits(features(2)).into_data().try_to_vec().unwrap();
        let m: Vec<f32> = h.margin_logits(features(2), &[1, 4]).into_data().try_to_vec().unwrap();
        for (i, (p, q)) in plain.iter().zip(&m).enumerate() {
            let expected = if i == 1 || i == 5 + 4 { p - 2.5 } else { *p };
            assert!((q - expected).abs() < 1e-4, "logit {i}: {q} vs {expected}");
        }
    }

    #[test]
    fn state_dict_round_trips() {
        let h = head(0.2);
        let back = EmbedHead::from_state_dict(h.spec(), 0.0, &h.state_dict(), &Device::flex()).unwrap();
        let (a, b): (Vec<f32>, Vec<f32>) = (
            h.logits(features(2)).into_data().try_to_vec().unwrap(),
            back.logits(features(2)).into_data().try_to_vec().unwrap(),
        );
        let d = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(d < 1e-4, "max |Δ| {d} on logits of scale 10");
        assert_eq!(back.spec(), h.spec());
    }
}
