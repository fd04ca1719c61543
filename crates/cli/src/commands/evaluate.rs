//! `sneaker-id evaluate`: score a trained run on a labelled folder.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Run folder written by `train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled folder: `<label>/<image>`; labels must be ones the model knows.
    #[arg(long)]
    pub data: PathBuf,
    /// Print one JSON object (top1, top5, log_loss, mean_per_class, coverage_at_p90, n, per_class, confusion, ...).
    #[arg(long)]
    pub json: bool,
    /// Where to save scores.json and the charts (default: MODEL/eval/<data folder name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Images per ONNX Runtime call.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Also check unknown rejection: a catalog of sneakers the run does not know (labels it
    /// knows are skipped). Uses the run's calibration (`sneaker-id calibrate`) and gallery.
    #[arg(long, value_name = "CATALOG")]
    pub unknown: Option<PathBuf>,
    /// With --unknown: photos that are not footwear (plus generated pictures).
    #[arg(long, value_name = "DIR", requires = "unknown")]
    pub not_footwear: Option<PathBuf>,
    /// With --unknown: gallery folder (default: MODEL/gallery when it exists).
    #[arg(long, value_name = "DIR", requires = "unknown")]
    pub gallery: Option<PathBuf>,
}

// The work itself needs burn (crates/train), which the serving binary leaves out to build fast;
// there `main` hands the command to the training binary instead (see `crate::training`).
#[cfg(feature = "train")]
mod run;
#[cfg(feature = "train")]
pub use run::run;
