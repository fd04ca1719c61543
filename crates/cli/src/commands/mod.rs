//! One module per subcommand.

pub mod calibrate;
pub mod catalog;
pub mod evaluate;
pub mod fewshot;
pub mod gallery;
pub mod predict;
pub mod report;
pub mod scrape;
pub mod serve;
pub mod thresholds;
pub mod train;

use std::path::Path;

use anyhow::Context;
use sneaker_model::assets::Assets;
use sneaker_model::predictor::Predictor;

/// The run folder's predictor (`--model RUN`), or the pretrained network without one; errors
/// name the folder.
pub fn open_predictor(assets: &Assets, model: Option<&Path>) -> anyhow::Result<Predictor> {
    Predictor::open(assets, model).with_context(|| match model {
        Some(run) => format!("loading run {}", run.display()),
        None => "loading the pretrained network".to_owned(),
    })
}
