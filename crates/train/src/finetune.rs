//! `finetune`: the last N MBConv blocks + head conv + top model of EfficientNet-Lite0 trained in
//! burn, from the ImageNet blocks and a bottleneck run's top model. The frozen front (stem and
//! blocks 0..15-N) runs once per (image, augmentation draw) in ONNX Runtime and its output is
//! cached on disk, so only the tail runs forward and backward. The result is exported as one
//! ONNX classifier with the same inputs and outputs as a bottleneck run.

use std::path::{Path, PathBuf};

use burn::nn::DropoutConfig;
use burn::tensor::{Device, Tensor, TensorData};
use sneaker_model::StateDict;
use sneaker_model::efficientnet_lite::Layout;

use crate::config::{ModelKind, TrainConfig};
use crate::error::{Result, TrainError};
use crate::features::FeatureTable;
use crate::fit::Examples;
use crate::head::Head;
use crate::pipeline::{Event, Prepared, Pretrained, Request};
use crate::recipe::{self, Labelled, Recipe};
use crate::run::{RunDir, Summary};
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
    if cfg.backbones != [sneaker_model::efficientnet_lite::Variant::Lite0] {
        return Err(bad(format!(
            "its top model was trained on backbones {:?}; finetune starts from a Lite0-only bottleneck run",
            cfg.backbones.iter().map(|v| v.name()).collect::<Vec<_>>()
        )));
    }
    if run.labels()? != labels {
        return Err(bad("its labels differ from this catalog's (train the bottleneck run on the same catalog)".into()));
    }
    let mut head = crate::bottleneck::load_head(init, device)?;
    head.dropout = DropoutConfig::new(dropout).init();
    Ok(head)
}

/// Activations at the freeze point once per (image, augmentation draw), train and validation,
/// with each row's label: what every recipe that tunes the trunk trains on.
pub(crate) struct Activations {
    /// The tuned network's blocks.
    pub layout: Layout,
    /// Freeze point: the trunk starts after this block.
    pub cut: usize,
    tables: Option<[Labelled; 2]>,
}

impl Activations {
    /// The activations where a tail of `unfreeze` blocks of `pre`'s tuned network starts.
    pub fn new(pre: &dyn Pretrained, unfreeze: usize) -> Result<Activations> {
        let layout = pre.layout()?;
        let cut = crate::arch::cut_point(unfreeze, layout.blocks.len())?;
        Ok(Activations { layout, cut, tables: None })
    }

    /// Extracts (or reads from cache) the split's activations; returns the seconds it took.
    pub fn load(
        &mut self,
        pre: &mut dyn Pretrained,
        p: &Prepared,
        cfg: &TrainConfig,
        events: &mut dyn FnMut(Event),
    ) -> Result<f64> {
        let mut ex = pre.activations(self.cut)?;
        let what = format!("activations after block {}", self.cut);
        let (tables, seconds) = recipe::extract_split(p, cfg, ex.as_mut(), &what, events)?;
        self.tables = Some(tables);
        Ok(seconds)
    }

    pub fn tables(&self) -> Result<&[Labelled; 2]> {
        self.tables.as_ref().ok_or_else(|| TrainError::Config("activations used before they were extracted".into()))
    }

    /// Training (0) or validation (1) examples.
    pub fn examples(&self, which: usize) -> Result<ActivationExamples<'_>> {
        let (table, labels) = &self.tables()?[which];
        let shape = self.layout.activation_shape(self.cut)?;
        Ok(ActivationExamples { table, shape, labels: labels.clone() })
    }

    /// Probabilities burn gives `net` (first tuned block `first`) on the first `n` validation
    /// activations, and those the written graph (frozen front + tuned tail) gives for the same
    /// images: what [`Recipe::export_pair`] compares.
    pub fn export_pair<N: crate::fit::Net<4>>(
        &self,
        net: &N,
        first: usize,
        pre: &dyn Pretrained,
        p: &Prepared,
        n: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let rows = recipe::first_rows(&self.tables()?[1].0, n);
        let burn = tail::predict(net, &self.layout, first, &rows, &Device::flex())?;
        Ok((burn, recipe::written_graph_probs(pre, p, n)?))
    }

    /// Both, boxed as [`Recipe::examples`] returns them.
    pub fn pair(&self) -> Result<(Box<dyn Examples<4> + '_>, Box<dyn Examples<4> + '_>)> {
        Ok((Box::new(self.examples(0)?), Box::new(self.examples(1)?)))
    }
}

/// The tail of the network and the top model on the cached activations, starting from the
/// ImageNet blocks and a bottleneck run.
struct Finetune<'a> {
    pre: &'a mut dyn Pretrained,
    cfg: &'a TrainConfig,
    /// The bottleneck run the top model starts from.
    init: PathBuf,
    acts: Activations,
}

impl Recipe<4> for Finetune<'_> {
    type Model = Tail;

    fn check(&self, p: &Prepared) -> Result<()> {
        init_head(&self.init, &p.data.labels, self.cfg.dropout, &Device::flex()).map(drop)
    }

    fn load(&mut self, p: &Prepared, events: &mut dyn FnMut(Event)) -> Result<f64> {
        self.acts.load(self.pre, p, self.cfg, events)
    }

    fn examples(&self) -> Result<(Box<dyn Examples<4> + '_>, Box<dyn Examples<4> + '_>)> {
        self.acts.pair()
    }

    fn fresh(&self, p: &Prepared, device: &Device) -> Result<Tail> {
        let head = init_head(&self.init, &p.data.labels, self.cfg.dropout, device)?;
        Tail::from_backbone(self.pre.weights()?, &self.acts.layout, self.acts.cut, head, device)
    }

    fn restore(&self, p: &Prepared, weights: &StateDict, device: &Device) -> Result<Tail> {
        let spec = init_head(&self.init, &p.data.labels, self.cfg.dropout, device)?.spec();
        let head = Head::from_state_dict(spec, self.cfg.dropout, weights, device)?;
        let backbone = tail::overlay(self.pre.weights()?, weights);
        Tail::from_backbone(&backbone, &self.acts.layout, self.acts.cut, head, device)
    }

    fn weights(&self, model: &Tail) -> StateDict {
        model.state_dict()
    }

    fn export(&self, model: &Tail) -> Result<Vec<u8>> {
        let dict = model.state_dict();
        crate::export::classifier(&tail::overlay(self.pre.weights()?, &dict), &dict, model.head.spec())
    }

    fn export_pair(&self, model: &Tail, p: &Prepared, n: usize) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
        self.acts.export_pair(model, model.trunk.first, &*self.pre, p, n).map(Some)
    }
}

/// Trains the tail and writes the run folder, `model.onnx` included.
pub fn train(req: &Request<'_>, pre: &mut dyn Pretrained, events: &mut dyn FnMut(Event)) -> Result<Summary> {
    let cfg = &req.cfg;
    let acts = Activations::new(pre, cfg.unfreeze_blocks)?;
    let init = cfg
        .init_from
        .clone()
        .ok_or_else(|| TrainError::Config("finetune needs init_from (a bottleneck run folder)".into()))?;
    recipe::run(req, &mut Finetune { pre, cfg, init, acts }, events)
}
