//! The reference from-scratch CNN: 224×224×3 → four [Conv 3×3 valid (16/32/32/64 filters) → ReLU
//! → MaxPool 2] → Flatten (9216) → Dropout 0.3 → Dense M, trained in burn and exported through
//! `sneaker_model::onnx::SmallCnn` (same PyTorch-style weight names).

use std::sync::Mutex;
use std::time::Instant;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Tensor, TensorData, activation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use sneaker_model::StateDict;
use sneaker_model::onnx::{SmallCnn, SmallCnnSpec};

pub use crate::arch::{CONV_CHANNELS, flat_features};
use crate::config::TrainConfig;
use crate::dataset::Dataset;
use crate::error::{Result, TrainError};
use crate::fit::{Examples, Net};
use crate::head::{linear_from_torch, linear_to_torch};
use crate::pipeline::{Event, Prepared, Request};
use crate::recipe::{self, Recipe};
use crate::run::Summary;

/// The ONNX-side description of the same network.
pub fn onnx_spec(size: u32, classes: usize) -> SmallCnnSpec {
    SmallCnnSpec {
        input_size: size as usize,
        in_channels: 3,
        conv_channels: CONV_CHANNELS.to_vec(),
        kernel: 3,
        pool: 2,
        fc_widths: vec![classes],
    }
}

#[derive(Module, Debug)]
pub struct ScratchCnn {
    pub convs: Vec<Conv2d>,
    pub pool: MaxPool2d,
    pub dropout: Dropout,
    pub fc: Linear,
}

impl ScratchCnn {
    pub fn new(size: u32, classes: usize, dropout: f64, device: &Device) -> Result<Self> {
        let flat = flat_features(size)
            .ok_or_else(|| TrainError::Config(format!("image_size {size} too small for the scratch CNN")))?;
        let mut c_in = 3;
        let convs = CONV_CHANNELS
            .iter()
            .map(|&c| {
                let conv = Conv2dConfig::new([c_in, c], [3, 3]).init(device);
                c_in = c;
                conv
            })
            .collect();
        Ok(ScratchCnn {
            convs,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            dropout: DropoutConfig::new(dropout).init(),
            fc: burn::nn::LinearConfig::new(flat, classes).init(device),
        })
    }

    /// Logits `[batch, classes]` from images `[batch, 3, S, S]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x;
        for conv in &self.convs {
            x = self.pool.forward(activation::relu(conv.forward(x)));
        }
        // [batch, 64·s·s], channel-major like ONNX Flatten of NCHW.
        let x: Tensor<2> = x.flatten(1, 3);
        self.fc.forward(self.dropout.forward(x))
    }

    /// Weights under `SmallCnn`'s names.
    pub fn state_dict(&self) -> StateDict {
        let mut d = StateDict::new();
        for (i, conv) in self.convs.iter().enumerate() {
            let w = conv.weight.val();
            let shape = w.dims().to_vec();
            d.insert(
                format!("convs.{i}.weight"),
                sneaker_model::Tensor::from_f32(shape, &w.into_data().try_to_vec::<f32>().expect("f32 weights")),
            );
            let b = conv.bias.as_ref().expect("convs are built with bias").val();
            d.insert(
                format!("convs.{i}.bias"),
                sneaker_model::Tensor::from_f32(
                    b.dims().to_vec(),
                    &b.into_data().try_to_vec::<f32>().expect("f32 bias"),
                ),
            );
        }
        let (w, b) = linear_to_torch(&self.fc);
        d.insert("fcs.0.weight".into(), w);
        d.insert("fcs.0.bias".into(), b);
        d
    }

    pub fn from_state_dict(size: u32, classes: usize, dropout: f64, dict: &StateDict, device: &Device) -> Result<Self> {
        let mut net = ScratchCnn::new(size, classes, dropout, device)?;
        let mut c_in = 3;
        for (i, conv) in net.convs.iter_mut().enumerate() {
            let c = CONV_CHANNELS[i];
            let w = sneaker_model::onnx::weight(dict, &format!("convs.{i}.weight"), &[c, c_in, 3, 3])?;
            let b = sneaker_model::onnx::weight(dict, &format!("convs.{i}.bias"), &[c])?;
            conv.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [c, c_in, 3, 3]), device));
            conv.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(b, [c]), device)));
            c_in = c;
        }
        let flat = flat_features(size).expect("checked by ScratchCnn::new");
        net.fc = linear_from_torch(dict, "fcs.0", flat, classes, device)?;
        Ok(net)
    }

    /// The ONNX graph of these weights (`input` → `logits`, `probs`).
    pub fn to_onnx(&self, size: u32, classes: usize) -> Result<Vec<u8>> {
        let cnn = SmallCnn::new(onnx_spec(size, classes))?;
        Ok(sneaker_model::onnx::encode(&cnn.build(&self.state_dict())?))
    }
}

impl Net<4> for ScratchCnn {
    fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward(x)
    }
}

/// Images decoded once and kept resized as RGB bytes (150 KB each at 224²); batches are
/// normalised on the fly, with a random horizontal flip when `flip` is set.
pub struct ImageExamples {
    pub size: u32,
    pub pixels: Vec<Vec<u8>>,
    pub labels: Vec<usize>,
    pub flip: bool,
    rng: Mutex<ChaCha8Rng>,
}

impl ImageExamples {
    pub fn load(data: &Dataset, which: &[usize], size: u32, flip: bool, seed: u64) -> Result<Self> {
        let limits = sneaker_vision::DecodeLimits::default();
        let pixels = which
            .par_iter()
            .map(|&i| {
                Ok(sneaker_vision::resize_exact(
                    &sneaker_vision::decode_file(&data.samples[i].path, &limits)?,
                    size,
                    size,
                )
                .into_raw())
            })
            .collect::<Result<_>>()?;
        let labels = which.iter().map(|&i| data.samples[i].label).collect();
        Ok(ImageExamples { size, pixels, labels, flip, rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)) })
    }
}

impl Examples<4> for ImageExamples {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn label(&self, i: usize) -> usize {
        self.labels[i]
    }
    fn batch(&self, idx: &[usize], device: &Device) -> Result<Tensor<4>> {
        let s = self.size as usize;
        let mut v = vec![0f32; idx.len() * 3 * s * s];
        let mut rng = self.rng.lock().expect("no panics while holding the flip RNG");
        for (k, &i) in idx.iter().enumerate() {
            let flip = self.flip && rng.random_bool(0.5);
            let img = image::RgbImage::from_raw(self.size, self.size, self.pixels[i].clone()).expect("stored at size²");
            let img = if flip { image::imageops::flip_horizontal(&img) } else { img };
            sneaker_vision::normalise_into(&img, &mut v[k * 3 * s * s..(k + 1) * 3 * s * s]);
        }
        Ok(Tensor::from_data(TensorData::new(v, [idx.len(), 3, s, s]), device))
    }
}

/// Photos decoded once and kept small; the whole network learns from them.
struct Scratch<'a> {
    cfg: &'a TrainConfig,
    classes: usize,
    examples: Option<[ImageExamples; 2]>,
}

impl Recipe<4> for Scratch<'_> {
    type Model = ScratchCnn;

    fn load(&mut self, p: &Prepared, events: &mut dyn FnMut(Event)) -> Result<f64> {
        let (cfg, started) = (self.cfg, Instant::now());
        events(Event::Note(format!("decoding {} images", p.train.len() + p.val.len())));
        let tr = ImageExamples::load(&p.data, &p.train, cfg.image_size, cfg.augment.flip, cfg.seed)?;
        let va = ImageExamples::load(&p.data, &p.val, cfg.image_size, false, cfg.seed)?;
        self.examples = Some([tr, va]);
        self.classes = p.data.labels.len();
        Ok(started.elapsed().as_secs_f64())
    }

    fn examples(&self) -> Result<(Box<dyn Examples<4> + '_>, Box<dyn Examples<4> + '_>)> {
        let [tr, va] =
            self.examples.as_ref().ok_or_else(|| TrainError::Config("images used before they were decoded".into()))?;
        Ok((Box::new(tr), Box::new(va)))
    }

    fn fresh(&self, p: &Prepared, device: &Device) -> Result<ScratchCnn> {
        ScratchCnn::new(self.cfg.image_size, p.data.labels.len(), self.cfg.dropout, device)
    }

    fn restore(&self, p: &Prepared, weights: &StateDict, device: &Device) -> Result<ScratchCnn> {
        ScratchCnn::from_state_dict(self.cfg.image_size, p.data.labels.len(), self.cfg.dropout, weights, device)
    }

    fn weights(&self, model: &ScratchCnn) -> StateDict {
        model.state_dict()
    }

    fn export(&self, model: &ScratchCnn) -> Result<Vec<u8>> {
        model.to_onnx(self.cfg.image_size, self.classes)
    }

    /// The small CNN's graph is written from the same weights by `SmallCnn`, whose agreement
    /// with burn `tests/parity.rs` checks; there are no cached inputs here to compare on.
    fn export_pair(&self, _: &ScratchCnn, _: &Prepared, _: usize) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
        Ok(None)
    }
}

pub fn train(req: &Request<'_>, events: &mut dyn FnMut(Event)) -> Result<Summary> {
    recipe::run(req, &mut Scratch { cfg: &req.cfg, classes: 0, examples: None }, events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_flatten_is_9216() {
        // 224 → 222/111 → 109/54 → 52/26 → 24/12: 64·12·12 = 9216, as in the reference model.
        assert_eq!(flat_features(224), Some(9216));
        assert_eq!(flat_features(20), None);
        assert_eq!(SmallCnn::new(onnx_spec(224, 5)).unwrap().flat_len(), 9216);
    }

    #[test]
    fn state_dict_round_trips() {
        let device = Device::flex();
        let net = ScratchCnn::new(46, 3, 0.3, &device).unwrap();
        let d = net.state_dict();
        assert_eq!(d["convs.0.weight"].shape, vec![16, 3, 3, 3]);
        assert_eq!(d["fcs.0.weight"].shape, vec![3, 64]);
        let back = ScratchCnn::from_state_dict(46, 3, 0.3, &d, &device).unwrap();
        assert_eq!(back.state_dict(), d);
    }
}
