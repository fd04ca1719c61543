//! `train`: one entry point for every model kind. It validates the settings, reads the
//! catalog, splits it, trains, and leaves a complete run folder (see [`crate::run`]).

use crate::config::ModelKind;
use crate::error::{Result, TrainError};
pub use crate::pipeline::{Event, Pretrained, Request};
use crate::run::Summary;

/// Trains the model `req.cfg.model` and returns its summary.
pub fn train(
    req: &Request<'_>,
    pretrained: Option<&mut dyn Pretrained>,
    events: &mut dyn FnMut(Event),
) -> Result<Summary> {
    let missing = || TrainError::Config(format!("{} needs the pretrained backbone", req.cfg.model.name()));
    match req.cfg.model {
        ModelKind::Random => crate::random::train(req, events),
        ModelKind::Bottleneck => crate::bottleneck::train(req, pretrained.ok_or_else(missing)?, events),
        ModelKind::Scratch => crate::scratch::train(req, events),
        ModelKind::Finetune => crate::finetune::train(req, pretrained.ok_or_else(missing)?, events),
        ModelKind::Embedding => crate::embedding::train(req, pretrained.ok_or_else(missing)?, events),
    }
}
