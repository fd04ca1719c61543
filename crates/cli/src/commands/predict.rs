//! `sneaker-id predict`: ImageNet top-K and a footwear check, or a trained classifier's labels.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Image files or folders of images.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// How many predictions to show per image.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Print one JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("predict is not implemented yet")
}
