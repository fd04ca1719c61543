//! `embedding`: the last N MBConv blocks + head conv of an EfficientNet-Lite (Lite0, or the
//! backbone the settings name) and an [`EmbedHead`] trained for retrieval (CosFace over the
//! training labels), so that the gallery's nearest-neighbour search recognises products the
//! classifier never saw.
//!
//! It trains like `finetune` (frozen front run once per image and draw in ONNX Runtime, cached;
//! only the tail runs forward and backward) but starts from the ImageNet blocks alone: the
//! projection and the proxies are new. The run's graph outputs the unit embedding as `features`
//! (galleries store it) and the cosine classifier's `probs` over the training labels.

use burn::tensor::Device;
use sneaker_model::StateDict;

use crate::config::TrainConfig;
use crate::embed_head::{EmbedHead, EmbedNet, EmbedSpec};
use crate::error::Result;
use crate::finetune::Activations;
use crate::fit::Examples;
use crate::pipeline::{Event, Prepared, Pretrained, Request};
use crate::recipe::{self, Recipe};
use crate::run::Summary;
use crate::tail::{self, Trunk};

struct Embedding<'a> {
    pre: &'a mut dyn Pretrained,
    cfg: &'a TrainConfig,
    acts: Activations,
}

impl Embedding<'_> {
    fn spec(&self, p: &Prepared) -> EmbedSpec {
        EmbedSpec {
            dim: self.cfg.embedding_dim,
            labels: p.data.labels.len(),
            scale: self.cfg.cosine_scale,
            margin: self.cfg.margin,
        }
    }
}

impl Recipe<4> for Embedding<'_> {
    type Model = EmbedNet;

    fn load(&mut self, p: &Prepared, events: &mut dyn FnMut(Event)) -> Result<f64> {
        self.acts.load(self.pre, p, self.cfg, events)
    }

    fn examples(&self) -> Result<(Box<dyn Examples<4> + '_>, Box<dyn Examples<4> + '_>)> {
        self.acts.pair()
    }

    fn fresh(&self, p: &Prepared, device: &Device) -> Result<EmbedNet> {
        let trunk = Trunk::from_backbone(self.pre.weights()?, &self.acts.layout, self.acts.cut, device)?;
        let net = EmbedNet { trunk, head: EmbedHead::new(self.spec(p), self.cfg.dropout, device) };
        if self.cfg.head_warmup == 0 {
            return Ok(net);
        }
        crate::head_warmup::warm(net, &self.acts.examples(0)?, self.cfg, device)
    }

    fn restore(&self, p: &Prepared, weights: &StateDict, device: &Device) -> Result<EmbedNet> {
        let backbone = tail::overlay(self.pre.weights()?, weights);
        let trunk = Trunk::from_backbone(&backbone, &self.acts.layout, self.acts.cut, device)?;
        Ok(EmbedNet { trunk, head: EmbedHead::from_state_dict(self.spec(p), self.cfg.dropout, weights, device)? })
    }

    fn weights(&self, model: &EmbedNet) -> StateDict {
        model.state_dict()
    }

    fn export(&self, model: &EmbedNet) -> Result<Vec<u8>> {
        let dict = model.state_dict();
        crate::export::embedder(
            self.acts.layout.variant,
            &tail::overlay(self.pre.weights()?, &dict),
            &dict,
            model.head.spec(),
            crate::export::Serving::PLAIN,
        )
    }

    fn export_pair(&self, model: &EmbedNet, p: &Prepared, n: usize) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
        self.acts.export_pair(model, model.trunk.first, &*self.pre, p, n).map(Some)
    }
}

/// Trains the embedding and writes the run folder, `model.onnx` included.
pub fn train(req: &Request<'_>, pre: &mut dyn Pretrained, events: &mut dyn FnMut(Event)) -> Result<Summary> {
    let acts = Activations::new(pre, req.cfg.unfreeze_blocks)?;
    recipe::run(req, &mut Embedding { pre, cfg: &req.cfg, acts }, events)
}
