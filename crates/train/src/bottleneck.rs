//! `bottleneck`: frozen EfficientNet-Lite backbones (run by ONNX Runtime, features cached per
//! backbone and augmentation draw) + a top model trained in burn on their concatenated pooled
//! features, exported as one ONNX graph.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use sneaker_model::StateDict;

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::features::FeatureTable;
use crate::fit::Examples;
use crate::head::{self, Head, HeadSpec};
use crate::pipeline::{Event, Prepared, Pretrained, Request};
use crate::recipe::{self, Labelled, Recipe};
use crate::run::{self, Summary};

/// Rows of a feature table used as training or validation examples.
pub struct FeatureExamples<'a> {
    pub table: &'a FeatureTable,
    /// Label of each row.
    pub labels: Vec<usize>,
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
        // [batch, 1280 · backbones]
        Ok(Tensor::from_data(TensorData::new(v, [idx.len(), d]), device))
    }
}

fn spec_for(cfg: &TrainConfig, inputs: usize, classes: usize) -> HeadSpec {
    HeadSpec { inputs, hidden: cfg.hidden, classes }
}

/// Frozen features once per (image, augmentation draw), then a top model on them.
struct Bottleneck<'a> {
    pre: &'a mut dyn Pretrained,
    cfg: &'a TrainConfig,
    /// Train and validation features, with each row's label.
    tables: Option<[Labelled; 2]>,
}

impl Bottleneck<'_> {
    fn tables(&self) -> Result<&[Labelled; 2]> {
        self.tables.as_ref().ok_or_else(|| TrainError::Config("features used before they were extracted".into()))
    }

    fn spec(&self, p: &Prepared) -> Result<HeadSpec> {
        Ok(spec_for(self.cfg, self.tables()?[0].0.dim, p.data.labels.len()))
    }
}

impl Recipe<2> for Bottleneck<'_> {
    type Model = Head;

    fn load(&mut self, p: &Prepared, events: &mut dyn FnMut(Event)) -> Result<f64> {
        let mut parts: Vec<[Labelled; 2]> = Vec::new();
        let mut seconds = 0.0;
        for ex in self.pre.feature_extractors()? {
            let (tables, s) = recipe::extract_split(p, self.cfg, ex, "features", events)?;
            parts.push(tables);
            seconds += s;
        }
        let joined = |side: usize| -> Result<Labelled> {
            let tables: Vec<FeatureTable> = parts.iter().map(|t| t[side].0.clone()).collect();
            Ok((FeatureTable::concat(&tables)?, parts[0][side].1.clone()))
        };
        self.tables = Some(if parts.len() == 1 { parts.remove(0) } else { [joined(0)?, joined(1)?] });
        Ok(seconds)
    }

    fn examples(&self) -> Result<(Box<dyn Examples<2> + '_>, Box<dyn Examples<2> + '_>)> {
        let [(tr, tl), (va, vl)] = self.tables()?;
        Ok((
            Box::new(FeatureExamples { table: tr, labels: tl.clone() }),
            Box::new(FeatureExamples { table: va, labels: vl.clone() }),
        ))
    }

    fn fresh(&self, p: &Prepared, device: &Device) -> Result<Head> {
        Ok(Head::new(self.spec(p)?, self.cfg.dropout, device))
    }

    fn restore(&self, p: &Prepared, weights: &StateDict, device: &Device) -> Result<Head> {
        Head::from_state_dict(self.spec(p)?, self.cfg.dropout, weights, device)
    }

    fn weights(&self, model: &Head) -> StateDict {
        model.state_dict()
    }

    fn export(&self, model: &Head) -> Result<Vec<u8>> {
        self.pre.export_with_head(&model.state_dict(), model.spec())
    }

    fn export_pair(&self, model: &Head, p: &Prepared, n: usize) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
        let burn = head::predict(model, &recipe::first_rows(&self.tables()?[1].0, n), &Device::flex())?;
        Ok(Some((burn, recipe::written_graph_probs(&*self.pre, p, n)?)))
    }
}

/// Trains the top model and writes the run folder, `model.onnx` included.
pub fn train(req: &Request<'_>, pre: &mut dyn Pretrained, events: &mut dyn FnMut(Event)) -> Result<Summary> {
    recipe::run(req, &mut Bottleneck { pre, cfg: &req.cfg, tables: None }, events)
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
