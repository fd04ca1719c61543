//! `sneaker-id report`: comparison table (Markdown + PNG) of several training runs.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Run folders to compare.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Where to write the bar chart.
    #[arg(long, default_value = "report.png")]
    pub png: PathBuf,
}

// The work itself needs burn (crates/train), which the serving binary leaves out to build fast;
// there `main` hands the command to the training binary instead (see `crate::training`).
#[cfg(feature = "train")]
mod run;
#[cfg(feature = "train")]
pub use run::run;
